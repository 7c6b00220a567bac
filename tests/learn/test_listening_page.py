"""The listening page: every link resolves from the file system, errors are marked, and a real
browser (headless Chromium) plays every sample and shows every picture without a console error."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile

from pipeline.learn.listening_page import CONDITION_ORDER, SampleUtterance, heard_html, write_listening_page
from tests.conftest import REPO

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# What Chromium needs on this closed network and as root (see the env's machine page).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]
SCREENSHOT = REPO / "plots" / "listening_page_test.png"  # kept as a CI artefact
# Injected into a copy of the page (the page itself has no script): reports every audio element's
# duration once its metadata loads, every image's natural width, and every error or console error.
CHECK = """<script>
const problems = [];
window.addEventListener("error", e => problems.push(
  "error: " + (e.message || (e.target && (e.target.src || e.target.currentSrc)))), true);
for (const level of ["error", "warn"]) {
  const original = console[level];
  console[level] = (...args) => { problems.push(level + ": " + args.join(" ")); original(...args); };
}
window.addEventListener("load", async () => {
  const audios = await Promise.all([...document.querySelectorAll("audio")].map(a => new Promise(resolve => {
    const report = () => resolve({src: a.getAttribute("src"), duration: a.duration, seconds: Number(a.dataset.seconds),
                                  error: a.error ? a.error.code : null});
    if (a.readyState >= 1 || a.error) { report(); return; }
    a.addEventListener("loadedmetadata", report, {once: true});
    a.addEventListener("error", report, {once: true});
  })));
  const images = [...document.images].map(i => ({src: i.getAttribute("src"), width: i.naturalWidth}));
  const out = document.createElement("pre");
  out.id = "browser-check";
  out.textContent = JSON.stringify({audios, images, problems});
  document.body.appendChild(out);
});
</script>"""


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.audio: list[str] = []
        self.images: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        if tag == "audio":
            self.audio.append(attrs["src"])
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag in ("script", "link"):
            self.scripts += 1


def _page(evaluated) -> Path:
    return evaluated[1] / "plots" / "listening.html"


def test_heard_words_mark_what_the_judge_got_wrong():
    marked = heard_html("bin blue at f two now", "bin red at two now please")
    assert marked.startswith("bin ") and '<span class="wrong" title="said: blue">red</span>' in marked
    assert '<span class="missing" title="not heard">f</span>' in marked
    assert '<span class="extra" title="not said">please</span>' in marked
    assert "nothing recognised" in heard_html("bin blue at f two now", "")
    assert "not judged" in heard_html("hello there", None)


def test_the_page_shows_what_the_lip_reader_read_with_its_errors_marked(tmp_path: Path):
    def page(lipread: str | None, summary: dict) -> str:
        model = {"heard": "bin blue at f two now"} | ({} if lipread is None else {"lipread": lipread})
        sample = SampleUtterance("s1_bbaf2n", "s1", "bin blue at f two now", {"model": model},
                                 {c: tmp_path / f"{c}.wav" for c in CONDITION_ORDER}, tmp_path / "mel.png", 3.0)
        write_listening_page(tmp_path / "page.html", summary, {"decoder": "conv"}, [sample])
        return (tmp_path / "page.html").read_text()

    read = page("bin blue at e two", {"utterances": 1, "lipreading_wer": 0.3333})
    assert "lip reader, from the video alone, has WER <strong>0.333</strong>" in read
    assert 'bin blue at <span class="wrong" title="said: f">e</span> two' in read
    assert '<span class="missing" title="not heard">now</span>' in read
    assert "lip reader" not in page(None, {"utterances": 1, "lipreading_wer": None})


def test_the_page_links_only_relative_files_that_exist(evaluated):
    page = _page(evaluated)
    text = page.read_text()
    links = Links()
    links.feed(text)
    assert links.scripts == 0 and "http://" not in text and "https://" not in text  # no CDN, no script
    assert len(links.audio) == 2 * len(CONDITION_ORDER) and len(links.images) == 2
    for src in links.audio + links.images:
        assert not src.startswith("/") and (page.parent / src).is_file(), src
    summary = evaluated[0]
    assert f"{summary['wer']:.3f}" in text and f"{summary['mcd_db']:.2f}" in text and "code" in text
    assert re.search(r'<meta name="viewport" content="width=device-width', text)


NO_CHROMIUM = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install "
                                                          "chromium; `make test` installs it when run as root)")


def _browser_report(page: Path, profile: Path) -> dict:
    """What headless Chromium finds on the page: each player's duration (or error), each picture's
    width, every error or console message."""
    check = page.with_name("browser_check.html")
    check.write_text(page.read_text().replace("<head>", "<head>\n" + CHECK, 1))
    done = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000",
                           "--dump-dom", check.as_uri()], capture_output=True, text=True, timeout=180)
    found = re.search(r'<pre id="browser-check">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def _every_sample_plays(report: dict, samples: int) -> None:
    assert report["problems"] == []
    assert len(report["audios"]) == samples * len(CONDITION_ORDER)
    for audio in report["audios"]:
        assert audio["error"] is None and abs(audio["duration"] - audio["seconds"]) <= 0.05, audio
    assert len(report["images"]) == samples and all(image["width"] > 0 for image in report["images"]), \
        report["images"]


def test_links_are_url_encoded_and_load_whatever_the_speaker_and_id_are_called(tmp_path: Path):
    """A speaker folder and an id with `#`, `%`, `?`, spaces and non-ASCII letters: every link is
    encoded, points at its file, and (where Chromium is installed) every player and picture loads."""
    speaker = "spk #1 50% é?"
    utterance = f"{speaker}_take #2?%ü"
    samples = tmp_path / "data" / "samples" / utterance
    samples.mkdir(parents=True)
    seconds = 1.0
    wavs = {c: samples / f"{c}.wav" for c in CONDITION_ORDER}
    for path in wavs.values():
        soundfile.write(path, 0.3 * np.sin(np.arange(round(seconds * 22050)) / 5.0), 22050, subtype="PCM_16")
    picture = tmp_path / "plots" / "evaluate" / f"{utterance}.png"
    picture.parent.mkdir(parents=True)
    assert cv2.imwrite(str(picture), np.full((40, 80, 3), 128, np.uint8))
    page = tmp_path / "plots" / "listening.html"
    write_listening_page(page, {"utterances": 1}, {"decoder": "conv"},
                         [SampleUtterance(utterance, speaker, "bin blue at f two now", {}, wavs, picture, seconds)])
    links = Links()
    links.feed(page.read_text())
    assert len(links.audio) == len(CONDITION_ORDER) and len(links.images) == 1
    for src in links.audio + links.images:
        assert not set(src) & set("#? é") and "%23" in src and "%25" in src and "%3F" in src and "%20" in src, src
        assert (page.parent / urllib.parse.unquote(src)).is_file(), src
    if CHROMIUM is not None:
        _every_sample_plays(_browser_report(page, tmp_path / "profile"), samples=1)


@NO_CHROMIUM
def test_chromium_plays_every_sample_and_shows_every_picture(evaluated, tmp_path: Path):
    page = _page(evaluated)
    _every_sample_plays(_browser_report(page, tmp_path / "profile"), samples=2)
    profile = tmp_path / "profile"
    SCREENSHOT.parent.mkdir(exist_ok=True)
    subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1200,2400",
                    "--virtual-time-budget=10000", f"--screenshot={SCREENSHOT}", page.as_uri()],
                   capture_output=True, timeout=180, check=True)
    assert SCREENSHOT.stat().st_size > 50_000
