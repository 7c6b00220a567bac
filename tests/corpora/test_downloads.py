"""GRID and Lombard GRID as people download them: miniature copies of each archive's tree (and of
the archives themselves), built from the four real GRID videos in tests/data, with the defects
the real ones have (DESIGN.md: real corpora as downloaded)."""
from __future__ import annotations

import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

from pipeline.audio.mels import resample
from pipeline.corpora import grid
from pipeline.corpora.unpack import main as unpack_main
from pipeline.corpora.unpack import unpack
from pipeline.io.manifest import Word, read_manifest
from pipeline.io.media import VIDEO_TRACK, read_audio, read_video, write_video
from tests.conftest import REPO
from tests.corpora.test_sources import _run

REAL = REPO / "tests" / "data" / "real_grid"
S1, S2 = ("bbaf2n", "swwp2s"), ("lbax4n", "pwij3p")  # the real videos, as two speakers' sentences


def _track(name: str) -> tuple[np.ndarray, int]:
    return read_audio(VIDEO_TRACK, REAL / f"{name}.mpg")


def _put(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _wav(path: Path, samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), samples, rate, subtype=subtype, format="WAV")
    return path


def _align(name: str, said: str | None = None) -> bytes:
    """A GRID alignment of `said` (default: the id's own sentence): sil, six words, sil."""
    if name == "swwp2s" and said is None:
        return (REAL / "swwp2s.align").read_bytes()
    words = grid.sentence_from_id(said or name)
    timed = [Word("sil", 0.0, 0.5), *[Word(w, 0.5 + 0.3 * i, 0.8 + 0.3 * i) for i, w in enumerate(words)],
             Word("sil", 2.3, 3.0)]
    return grid.format_align(timed).encode()


def _trimmed_25k(name: str) -> np.ndarray:
    """Zenodo's audio_25k: the speech at 25 kHz with the silence around it cut (1.6 s of 3 s)."""
    samples, rate = _track(name)
    return resample(samples, rate, 25000)[round(0.7 * 25000):round(2.3 * 25000)]


def zenodo_tree(root: Path) -> Path:
    """`sN/*.mpg`, `__MACOSX` junk, trimmed `audio_25k/sN/*.wav`, and `alignments/` whose s1 and
    s2 folders hold each other's files (as about 20 of Zenodo's do); one alignment whose words are
    another sentence's."""
    for speaker, names in (("s1", S1), ("s2", S2)):
        for name in names:
            _put(root / speaker / f"{name}.mpg", (REAL / f"{name}.mpg").read_bytes())
            _put(root / "__MACOSX" / speaker / f"._{name}.mpg", b"\x00\x05\x16\x07 resource fork")
            _wav(root / "audio_25k" / speaker / f"{name}.wav", _trimmed_25k(name), 25000)
    for folder, names in (("s1", S2), ("s2", S1)):  # swapped
        for name in names:
            _put(root / "alignments" / folder / f"{name}.align", _align(name, "pwij4p" if name == "pwij3p" else None))
    return root


def sheffield_tree(root: Path) -> Path:
    """`sN/video/mpg_6000/*.mpg` and `sN/*.mpg`, a full-length 50 kHz wav, and one `align/` folder
    that every speaker's tar wrote into: s2 says swwp2s too, so its alignment is ambiguous."""
    for name in S1:
        _put(root / "s1/video/mpg_6000" / f"{name}.mpg", (REAL / f"{name}.mpg").read_bytes())
    for name in S2:
        _put(root / "s2" / f"{name}.mpg", (REAL / f"{name}.mpg").read_bytes())
    _put(root / "s2/video/mpg_6000/swwp2s.mpg", (REAL / "swwp2s.mpg").read_bytes())
    samples, rate = _track("bbaf2n")
    _wav(root / "s1/bbaf2n.wav", resample(samples, rate, 50000), 50000)
    for name in ("bbaf2n", "swwp2s", "lbax4n"):
        _put(root / "align" / f"{name}.align", _align(name))
    return root


LOMBARD_VIDEOS = {  # file stem -> (real video, what it says)
    "s2_l_bbaf2n": ("bbaf2n", "bbaf2n"),
    "s2_p_lbax4n": ("lbax4n", "lbax4n"),
    "s3_2_38_8_r_pwij3p": ("pwij3p", "pwij3p"),  # old-style name
    "s3_l_pwij3p_WRONG_swwp2s": ("swwp2s", "swwp2s"),  # filed under pwij3p, says swwp2s
    "s3_p_lbax4n_WRONG_#sil": ("lbax4n", None),
}


def lombard_tree(root: Path) -> Path:
    """Lombard GRID's zips extracted into root: `lombardgrid/front/*.mov` (24 fps), 32-bit float
    16 kHz wavs in `lombardgrid/audio/`, phone-level JSON in `lombardgrid/alignment/`, both name
    styles, `_WRONG_` files, macOS junk."""
    base = root / "lombardgrid"
    for stem, (real, _) in LOMBARD_VIDEOS.items():
        frames = read_video(REAL / f"{real}.mpg")[:72]  # 3 s at 24 fps
        samples, rate = _track(real)
        speech = resample(samples, rate, 16000)
        (base / "front").mkdir(parents=True, exist_ok=True)
        write_video(base / "front" / f"{stem}.mov", frames, 24, np.round(speech * 32767).astype(np.int16), 16000)
        _wav(base / "audio" / f"{stem}.wav", speech, 16000, subtype="FLOAT")
    _put(root / "__MACOSX/lombardgrid/front/._s2_l_bbaf2n.mov", b"\x00\x05\x16\x07")
    phones = [{"phone": "SIL_S", "offset": 0.0, "duration": 0.5}]
    for w in range(6):
        phones += [{"phone": "b_B", "offset": 0.5 + 0.3 * w, "duration": 0.1},
                   {"phone": "ih_E", "offset": 0.6 + 0.3 * w, "duration": 0.2}]
    _put(base / "alignment/s2_l_bbaf2n.json", json.dumps({"s2_l_bbaf2n": phones}).encode())
    return root


def test_zenodos_tree_keeps_every_video_with_its_own_track_and_the_right_alignments(tmp_path: Path, caplog):
    root = zenodo_tree(tmp_path / "downloads" / "GRID")
    manifest, rejects, metrics = _run(tmp_path, source="grid", root=str(tmp_path / "downloads"))
    by_id = {u.id: u for u in manifest}
    assert rejects == {} and sorted(by_id) == ["s1_bbaf2n", "s1_swwp2s", "s2_lbax4n", "s2_pwij3p"]
    for utterance in manifest:
        assert utterance.audio == VIDEO_TRACK and utterance.duration == pytest.approx(3.0)
        assert [w.word for w in utterance.words] == list(grid.sentence_from_id(utterance.id[3:]))
    # s1's alignments were in s2's folder: GRID's own times for swwp2s reach s1's video.
    assert by_id["s1_swwp2s"].words[0].start == pytest.approx(12250 / 25000)
    assert by_id["s2_lbax4n"].words[0].start == pytest.approx(0.5)
    assert not by_id["s2_pwij3p"].words[0].timed  # its alignment says "four": times dropped
    assert metrics["audio_from"] == {"video track": 4} and metrics["audio_files_passed_over"] == 4
    assert metrics["skipped_files"] == {"macOS metadata": 4}
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert metrics["warnings"] == 3 and len(warned) == 3
    assert warned[0] == (f"{root / 'alignments/s1'} holds s2's alignments, not s1's (100% of its ids are s2's "
                         "videos, 0% s1's): used as s2's")
    assert warned[1].startswith(f"{root / 'alignments/s2'} holds s1's alignments, not s2's")
    assert warned[2] == (f"{root / 'alignments/s1/pwij3p.align'}: its words 'place white in j four please' are "
                         "not its id's 'place white in j three please'; words from the id, without times")


def test_sheffields_tree_takes_the_full_length_wav_and_no_shared_alignment(tmp_path: Path, caplog):
    root = sheffield_tree(tmp_path / "GRID")
    manifest, rejects, metrics = _run(tmp_path, source="grid", root=str(root))
    by_id = {u.id: u for u in manifest}
    assert rejects == {} and sorted(by_id) == ["s1_bbaf2n", "s1_swwp2s", "s2_lbax4n", "s2_pwij3p", "s2_swwp2s"]
    assert by_id["s1_bbaf2n"].audio.endswith("s1/bbaf2n.wav") and by_id["s1_bbaf2n"].sample_rate == 50000
    assert by_id["s2_lbax4n"].audio == VIDEO_TRACK and metrics["audio_from"] == {"audio file": 1, "video track": 4}
    assert by_id["s1_bbaf2n"].words[0].timed and by_id["s2_lbax4n"].words[0].timed
    # Both speakers say swwp2s; the one align/swwp2s.align may be either's: neither gets its times.
    for utterance in (by_id["s1_swwp2s"], by_id["s2_swwp2s"]):
        assert utterance.words == grid.untimed(grid.sentence_from_id("swwp2s"))
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == [f"{root / 'align/swwp2s.align'}: in no speaker folder, and s1, s2 all say swwp2s: not used "
                      "(unpack each speaker's alignments into its own folder: python -m pipeline.corpora.unpack)"]


def test_lombard_grid_as_extracted(tmp_path: Path):
    lombard_tree(tmp_path / "extracted")
    manifest, rejects, metrics = _run(tmp_path, source="lombardgrid", root=str(tmp_path / "extracted"))
    by_id = {u.id: u for u in manifest}
    assert sorted(by_id) == ["lombard_s2_l_bbaf2n", "lombard_s2_p_lbax4n", "lombard_s3_2_38_8_r_pwij3p",
                             "lombard_s3_l_pwij3p_WRONG_swwp2s"]
    assert rejects == {"s3_p_lbax4n_WRONG_#sil.mov": "marked _WRONG_#sil: the recording holds no sentence"}
    assert {u.speaker for u in manifest} == {"lombard_s2", "lombard_s3"}  # never GRID's s2, s3
    for stem, (_, said) in LOMBARD_VIDEOS.items():
        if said is not None:
            utterance = by_id[f"lombard_{stem}"]
            assert [w.word for w in utterance.words] == list(grid.sentence_from_id(said))
            assert utterance.audio.endswith(f"audio/{stem}.wav") and utterance.sample_rate == 16000
            assert utterance.fps == 25.0 and utterance.source_fps == pytest.approx(24.0)
    assert by_id["lombard_s2_l_bbaf2n"].words[1].start == pytest.approx(0.8)
    assert metrics["audio_from"] == {"audio file": 4} and metrics["skipped_files"] == {"macOS metadata": 1}


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    return path


def _tar(path: Path, tree: Path, names: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as bundle:
        for name in names:
            bundle.add(tree / name, arcname=name)
    return path


def test_unpacking_the_archives_makes_one_tree_that_keeps_speakers_apart(tmp_path: Path, capsys):
    """Zenodo's zips and Sheffield's tars of the same speakers, unpacked into one tree twice."""
    zenodo = zenodo_tree(tmp_path / "zenodo")
    downloads = tmp_path / "downloads"
    for speaker in ("s1", "s2"):
        _zip(downloads / f"{speaker}.zip", {f"{p.relative_to(zenodo)}": p.read_bytes()
                                            for p in sorted(zenodo.rglob(f"*{speaker}/*.mpg"))})
    _zip(downloads / "audio_25k.zip", {f"{p.relative_to(zenodo)}": p.read_bytes()
                                       for p in sorted((zenodo / "audio_25k").rglob("*.wav"))})
    sheffield = sheffield_tree(tmp_path / "sheffield")
    _tar(downloads / "s1.mpg_6000.part1.tar", sheffield, [f"s1/video/mpg_6000/{n}.mpg" for n in S1])
    _tar(downloads / "audio" / "s1_50kHz.tar", sheffield, ["s1/bbaf2n.wav"])
    # Sheffield's align tars: every one writes into the same align/ folder.
    for speaker, names in (("s1", S1), ("s2", S2)):
        folder = tmp_path / f"{speaker}_align"
        for name in names:
            _put(folder / "align" / f"{name}.align", _align(name))
        _tar(downloads / "align" / f"{speaker}.tar", folder, [f"align/{n}.align" for n in names])
    (downloads / "notes.txt").write_text("not an archive, inside a folder: passed over")

    tree = tmp_path / "GRID"
    unpack_main([str(downloads), "--to", str(tree)])
    table = capsys.readouterr().out
    assert "| s1 | 2 | 1 | 2 | 2 | 998 videos missing |" in table
    assert "| s21 | 0 | 0 | 0 | 0 | GRID has no video of s21 |" in table
    assert sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()) == [
        "align/s1/bbaf2n.align", "align/s1/swwp2s.align", "align/s2/lbax4n.align", "align/s2/pwij3p.align",
        "audio/s1/bbaf2n.wav", "audio_25k/s1/bbaf2n.wav", "audio_25k/s1/swwp2s.wav", "audio_25k/s2/lbax4n.wav",
        "audio_25k/s2/pwij3p.wav", "video/s1/bbaf2n.mpg", "video/s1/swwp2s.mpg", "video/s2/lbax4n.mpg",
        "video/s2/pwij3p.mpg"]
    again = unpack(sorted(p for p in downloads.rglob("*") if p.suffix in (".zip", ".tar")), tree)
    assert again["written"] == 0 and again["already there"] == 15  # s1's videos come in two archives

    manifest, rejects, metrics = _run(tmp_path, source="grid", root=str(tree))
    assert rejects == {} and metrics["warnings"] == 0 and len(manifest) == 4
    assert all(u.words[0].timed for u in manifest)  # each speaker's own alignments
    assert metrics["audio_from"] == {"audio file": 1, "video track": 3}


def test_an_archive_that_does_not_open_is_named(tmp_path: Path):
    from pipeline.errors import PipelineError

    broken = _put(tmp_path / "s1.zip", b"PK\x03\x04 truncated")
    with pytest.raises(PipelineError, match="s1.zip: not a readable archive"):
        unpack([broken], tmp_path / "GRID")
    assert not (tmp_path / "GRID").exists() or not any((tmp_path / "GRID").rglob("*.mpg"))


def test_video_names_that_are_not_grid_ids_or_lack_a_speaker_folder_are_rejected(tmp_path: Path):
    _put(tmp_path / "GRID/s1/bbaf2n.mpg", (REAL / "bbaf2n.mpg").read_bytes())
    _put(tmp_path / "GRID/s1/copy of bbaf2n.mpg", (REAL / "bbaf2n.mpg").read_bytes())
    _put(tmp_path / "GRID/extra/lbax4n.mpg", (REAL / "lbax4n.mpg").read_bytes())
    _, rejects, _ = _run(tmp_path, source="grid", root=str(tmp_path / "GRID"), max_reject_fraction=1.0)
    assert rejects == {"copy of bbaf2n.mpg": "'copy of bbaf2n' is not a GRID sentence id (command colour "
                                            "preposition letter digit adverb, e.g. bbaf2n)",
                       "lbax4n.mpg": "no folder named sN above it names the speaker"}


@pytest.mark.slow
@pytest.mark.parametrize("tree,source,expected", [
    (zenodo_tree, "grid", 4), (sheffield_tree, "grid", 5), (lombard_tree, "lombardgrid", 4)])
def test_dvc_repro_prepares_a_downloaded_tree_with_only_source_and_root_set(tmp_path: Path, tree, source: str,
                                                                           expected: int):
    """`dvc repro mouths mels` in a fresh copy of the project, pointed at a tree as downloaded."""
    from pipeline.io.store import StoreReader
    from tests.test_dvc_pipeline import _copy_repo, _dvc, _edit_params

    root = tree(tmp_path / "downloads")
    repo = _copy_repo(tmp_path / "repo")
    _edit_params(repo, corpus={"source": source, "root": str(root)})
    _dvc(repo, "repro", "mouths", "mels")
    manifest = read_manifest(repo / "data/manifest.jsonl")
    assert len(manifest) == expected
    for utterance in manifest:
        said = utterance.id.rsplit("_", 1)[-1]
        assert [w.word for w in utterance.words] == list(grid.sentence_from_id(said))
        samples, rate = read_audio(utterance.audio, Path(utterance.video))
        assert abs(len(samples) / rate - utterance.duration) <= 0.25
    for store in ("mouths", "mels"):
        reader = StoreReader(repo / "data" / store)
        assert len(reader) == expected and all(u.id in reader for u in manifest)
