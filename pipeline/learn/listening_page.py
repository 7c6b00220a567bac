"""The listening page of an evaluation: hear the recording next to each system's speech.

One static, self-contained HTML file (plain HTML and CSS, no script, no CDN, relative links
only, so it opens from the file system): the run's summary at the top (decoder, key params, the
overall metrics with the references, each with its 95 % interval, the commit), then for each
sample utterance its id, speaker
and transcript, one row per condition (recording, oracle, model, mean) with an audio player, the
words the judge heard (errors marked) and that utterance's MCD / STOI / PESQ / WER, and the
target and predicted mel pictures. On a narrow screen the rows stack.
"""
from __future__ import annotations

import html
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from pipeline.audio.judge import align_words, normalise
from pipeline.io.files import write_text

CONDITION_ORDER = ("recording", "oracle", "model", "mean")
CONDITION_NOTES = {
    "recording": "the original audio (the judge's own floor)",
    "oracle": "the true mel through the same vocoder (the best a mel model can reach)",
    "model": "the model's speech, from the video alone",
    "mean": "the speaker's mean voice at every frame (knowing only the voice)",
}
FIGURES = (("mcd_db", "MCD dB", 2), ("stoi", "STOI", 3), ("estoi", "ESTOI", 3), ("pesq", "PESQ", 2),
           ("wer", "WER", 3))

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1rem; color: #222; line-height: 1.4; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-top: 1px solid #ccc; padding-top: 1rem; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1rem; }
th, td { border-bottom: 1px solid #e2e2e2; padding: 0.35rem 0.5rem; text-align: left; vertical-align: middle; }
th { background: #f4f4f4; } td.number { text-align: right; font-variant-numeric: tabular-nums; }
audio { width: 100%; min-width: 12rem; }
.note { color: #666; font-size: 0.85rem; }
.scroll { overflow-x: auto; }
.heard .wrong { background: #ffd6d6; text-decoration: underline wavy #c00; }
.heard .missing { color: #c00; text-decoration: line-through; }
.heard .extra { background: #ffe9b3; }
figure { margin: 0.5rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
dl.run { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; }
dl.run dt { font-weight: 600; } dl.run dd { margin: 0; }
@media (max-width: 700px) {
  table.conditions thead { display: none; }
  table.conditions tr { display: block; border: 1px solid #ddd; margin-bottom: 0.75rem; padding: 0.4rem; }
  table.conditions td { display: flex; justify-content: space-between; gap: 1rem; border: none; text-align: right; }
  table.conditions td::before { content: attr(data-label); font-weight: 600; text-align: left; }
  table.conditions td.player { display: block; } table.conditions td.player::before { content: none; }
  th, td { padding: 0.3rem; font-size: 0.9rem; }
}
"""


@dataclass(frozen=True)
class SampleUtterance:
    """One utterance on the page: its figures and where its wavs and mel picture are."""

    id: str
    speaker: str
    transcript: str
    figures: dict  # condition -> {metric: value, "heard": words}
    wavs: dict[str, Path]  # condition -> wav
    picture: Path  # target (top) and predicted (bottom) mel
    seconds: float  # how long the utterance is


def _figure(value, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _with_interval(block: dict, key: str, digits: int) -> str:
    """A mean and, under it, its 95 % interval (when the block has one)."""
    low, high = block.get(f"{key}_ci_low"), block.get(f"{key}_ci_high")
    interval = "" if low is None or high is None else \
        f'<br><span class="note">{_figure(low, digits)} to {_figure(high, digits)}</span>'
    return _figure(block.get(key), digits) + interval


def heard_html(transcript: str, heard: str | None) -> str:
    """The heard words, each wrong one marked with what was said, missing ones struck through."""
    if heard is None:
        return '<span class="note">not judged (no transcript)</span>'
    if not heard:
        return '<span class="note">nothing recognised</span>'
    words = []
    for said, got in align_words(normalise(transcript), heard.split()):
        if got is None:
            words.append(f'<span class="missing" title="not heard">{html.escape(said or "")}</span>')
        elif said is None:
            words.append(f'<span class="extra" title="not said">{html.escape(got)}</span>')
        elif said != got:
            words.append(f'<span class="wrong" title="said: {html.escape(said)}">{html.escape(got)}</span>')
        else:
            words.append(html.escape(got))
    return " ".join(words)


def _summary_table(summary: dict) -> str:
    blocks = {"model": summary, **{c: summary.get(c, {}) for c in ("oracle", "mean", "recording")}}
    header = "".join(f"<th>{label}</th>" for _, label, _ in FIGURES)
    rows = []
    for condition in ("model", "oracle", "mean", "recording"):
        cells = "".join(f'<td class="number">{_with_interval(blocks[condition], key, digits)}</td>'
                        for key, _, digits in FIGURES)
        rows.append(f"<tr><th>{condition}</th>{cells}</tr>")
    return (f'<div class="scroll"><table><thead><tr><th></th>{header}</tr></thead><tbody>{"".join(rows)}</tbody>'
            "</table></div>")


def link(path: Path, page_dir: Path) -> str:
    """A `src`/`href` value for `path`, relative to the page: URL-encoded (a `#`, `%`, `?`, space or
    non-ASCII letter in a speaker folder or id would otherwise point elsewhere), then HTML-escaped."""
    return html.escape(urllib.parse.quote(Path(os.path.relpath(path, page_dir)).as_posix()))


def _utterance(sample: SampleUtterance, page_dir: Path) -> str:
    rows = []
    for condition in CONDITION_ORDER:
        figures = sample.figures.get(condition, {})
        wav = link(sample.wavs[condition], page_dir)
        cells = "".join(f'<td class="number" data-label="{label}">{_figure(figures.get(key), digits)}</td>'
                        for key, label, digits in FIGURES)
        rows.append(
            f'<tr><td data-label="condition"><strong>{condition}</strong><br>'
            f'<span class="note">{CONDITION_NOTES[condition]}</span></td>'
            f'<td class="player"><audio controls preload="metadata" src="{wav}" '
            f'data-seconds="{sample.seconds:.3f}"></audio></td>'
            f'<td class="heard" data-label="heard">{heard_html(sample.transcript, figures.get("heard"))}</td>'
            f"{cells}</tr>")
    header = "".join(f"<th>{label}</th>" for _, label, _ in FIGURES)
    picture = link(sample.picture, page_dir)
    return (f'<section id="{html.escape(sample.id)}"><h2>{html.escape(sample.id)}</h2>'
            f"<p>speaker <strong>{html.escape(sample.speaker)}</strong>; said: "
            f"<strong>{html.escape(sample.transcript) or '(no transcript)'}</strong></p>"
            f"{_lip_reading(sample)}"
            f'<table class="conditions"><thead><tr><th>condition</th><th>listen</th><th>the judge heard</th>'
            f"{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f'<figure><img src="{picture}" alt="target and predicted log-mel of {html.escape(sample.id)}">'
            f"<figcaption class=\"note\">target (top) and predicted (bottom) log-mel</figcaption></figure>"
            f"</section>")


def _lip_reading(sample: SampleUtterance) -> str:
    """What the model's lip-reading head read off the video alone (nothing without a head)."""
    read = sample.figures.get("model", {}).get("lipread")
    if read is None:
        return ""
    return (f'<p>the lip reader read, from the video alone: <span class="heard">'
            f"{heard_html(sample.transcript, read)}</span></p>")


def _lip_reading_summary(summary: dict) -> str:
    wer = summary.get("lipreading_wer")
    return "" if wer is None else (f" The model's lip reader, from the video alone, has WER "
                                   f"<strong>{_figure(wer, 3)}</strong>.")


def write_listening_page(path: Path, summary: dict, run: dict[str, str], samples: list[SampleUtterance]) -> None:
    """Write the page to `path`; `run` is shown as the run's description (decoder, params, commit)."""
    page_dir = Path(path).parent
    described = "".join(f"<dt>{html.escape(key)}</dt><dd>{html.escape(value)}</dd>" for key, value in run.items())
    gap = summary.get("mcd_gap_closed")
    body = "".join(_utterance(sample, page_dir) for sample in samples)
    text = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lip2speech: listening page</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Listening page: {summary.get("utterances", 0)} test utterances, {len(samples)} to hear</h1>
<dl class="run">{described}</dl>
<p>Means over the test split, each with its 95 % bootstrap interval over the utterances under it. The model
closes <strong>{_figure(gap, 2)}</strong> ({_figure(summary.get("mcd_gap_closed_ci_low"), 2)} to
{_figure(summary.get("mcd_gap_closed_ci_high"), 2)}) of the MCD gap between the mean voice and the oracle.
WER is what an offline recogniser hears (judge: {html.escape(str(summary.get("judge") or "none"))}); its WER on the
recordings is its own floor.{_lip_reading_summary(summary)}</p>
{_summary_table(summary)}
{body}
</body>
</html>
"""
    write_text(path, text)
