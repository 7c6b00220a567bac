"""Indexing real-corpus layouts made in tmp dirs, with good and bad inputs side by side."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.corpora import grid
from pipeline.corpora.grid import GridLayout
from pipeline.corpora.sources import Checks
from pipeline.errors import ParamsError, StageError
from pipeline.io.manifest import Word, read_manifest, read_rejects
from pipeline.io.media import VIDEO_TRACK, VideoParams, write_video, write_wav
from pipeline.io.params import section
from pipeline.stages.corpus import CorpusParams, run
from tests.conftest import SEQUENTIAL, frames_with_motion, tone

RATE = 16000


def _video(path: Path, seconds: float = 1.2, audio: bool = True, fps: int = 25) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = frames_with_motion(round(seconds * fps))
    write_video(path, frames, fps, tone(seconds, RATE) if audio else None, RATE if audio else None)
    return path


def _wav(path: Path, samples: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, samples, RATE)
    return path


def _run(tmp_path: Path, **corpus) -> tuple[list, dict[str, str], dict]:
    params = CorpusParams(**corpus)
    out = tmp_path / "out"
    metrics = run(params, VideoParams(), SEQUENTIAL, out / "corpus", out / "manifest.jsonl", out / "rejects.tsv",
                  out / "metrics.json")
    rejects = {Path(r.path).name: r.reason for r in read_rejects(out / "rejects.tsv")}
    return read_manifest(out / "manifest.jsonl"), rejects, metrics


@pytest.fixture
def grid_tree(tmp_path: Path) -> Path:
    """A GRID tree: two good utterances (one with a wav, one with only its video's track) and
    five bad ones: corrupt video, empty file, no audio at all, silent wav, a name that is no GRID id."""
    root = tmp_path / "GRID"
    _video(root / "video/s1/bbaf2n.mpg", audio=False)
    _wav(root / "audio/s1/bbaf2n.wav", tone(1.2))
    (root / "align/s1").mkdir(parents=True)
    (root / "align/s1/bbaf2n.align").write_text(grid.format_align([
        Word("sil", 0, 0.2), *[Word(w, 0.2 + 0.1 * i, 0.3 + 0.1 * i)
                                         for i, w in enumerate(grid.sentence_from_id("bbaf2n"))],
        Word("sil", 0.8, 1.2)]))
    _video(root / "video/s2/lrip9a.mpg", audio=True)
    (root / "video/s2/bgaa1a.mpg").write_bytes(np.random.default_rng(0).bytes(5000))  # corrupt
    (root / "video/s2/bgaa2a.mpg").touch()  # empty
    _video(root / "video/s2/bgaa3a.mpg", audio=False)  # mute
    _video(root / "video/s1/bgaa4a.mpg", audio=False)  # silent wav
    _wav(root / "audio/s1/bgaa4a.wav", np.zeros(round(1.2 * RATE), np.int16))
    _video(root / "video/s2/holiday.mpg", audio=True)
    return root


def test_grid_tree_indexes_good_utterances_and_rejects_bad_ones(grid_tree: Path, tmp_path: Path):
    manifest, rejects, metrics = _run(tmp_path, source="grid", root=str(grid_tree), max_reject_fraction=0.9)
    by_id = {u.id: u for u in manifest}
    assert sorted(by_id) == ["s1_bbaf2n", "s2_lrip9a"]
    with_wav, from_track = by_id["s1_bbaf2n"], by_id["s2_lrip9a"]
    assert with_wav.audio.endswith("audio/s1/bbaf2n.wav") and with_wav.sample_rate == RATE
    assert [w.word for w in with_wav.words] == list(grid.sentence_from_id("bbaf2n"))
    assert with_wav.words[0].start == pytest.approx(0.2) and with_wav.words[-1].end == pytest.approx(0.8)
    # Words from the id, without times, when there is no alignment.
    assert from_track.audio == VIDEO_TRACK and from_track.words == grid.untimed(grid.sentence_from_id("lrip9a"))
    assert (from_track.frames, from_track.fps, from_track.width, from_track.height) == (30, 25.0, 128, 96)
    assert from_track.duration == pytest.approx(1.2) and from_track.speaker == "s2"

    assert set(rejects) == {"bgaa1a.mpg", "bgaa2a.mpg", "bgaa3a.mpg", "bgaa4a.wav", "holiday.mpg"}
    assert rejects["bgaa2a.mpg"] == "empty file (0 bytes)"
    assert "does not" in rejects["bgaa1a.mpg"] or "no decodable" in rejects["bgaa1a.mpg"]
    assert rejects["bgaa3a.mpg"].startswith("no audio")
    assert rejects["bgaa4a.wav"].startswith("silent audio")
    assert rejects["holiday.mpg"].startswith("'holiday' is not a GRID sentence id")
    assert metrics["utterances"] == 2 and metrics["rejected"] == 5 and metrics["speakers"] == 2
    assert metrics["audio_from"] == {"audio file": 1, "video track": 1}


def test_too_many_rejects_fail_the_stage_but_keep_the_rejects_file(grid_tree: Path, tmp_path: Path):
    with pytest.raises(StageError, match="max_reject_fraction"):
        _run(tmp_path, source="grid", root=str(grid_tree), max_reject_fraction=0.2)
    assert len(read_rejects(tmp_path / "out" / "rejects.tsv")) == 5


def test_nothing_usable_fails_with_a_clear_message(tmp_path: Path):
    root = tmp_path / "GRID"
    (root / "video/s1").mkdir(parents=True)
    (root / "video/s1/bbaf2n.mpg").touch()
    with pytest.raises(StageError, match="no usable utterance"):
        _run(tmp_path, source="grid", root=str(root), max_reject_fraction=1.0)


def test_missing_root_and_unknown_source_are_reported(tmp_path: Path):
    with pytest.raises(StageError, match="not a folder"):
        _run(tmp_path, source="grid", root=str(tmp_path / "nowhere"))
    with pytest.raises(ParamsError, match="corpus.source must be one of synthetic, grid, lombardgrid, lrs3, lrs2, "
                                          "lip2wav, folder"):
        section(CorpusParams, {"source": "timit"}, "corpus")


def test_an_audio_file_of_another_length_gives_way_to_the_video_track(tmp_path: Path):
    """A wav of another length is passed over for the video's own track; without a track the
    utterance is rejected, with the wav's length as the reason."""
    root = tmp_path / "GRID"
    _video(root / "video/s1/bbaf2n.mpg", seconds=1.2, audio=False)
    _wav(root / "audio/s1/bbaf2n.wav", tone(2.0))
    _video(root / "video/s1/bbaf3n.mpg", seconds=1.2, audio=True)
    _wav(root / "audio/s1/bbaf3n.wav", tone(0.7))
    manifest, rejects, metrics = _run(tmp_path, source="grid", root=str(root), max_reject_fraction=0.5)
    assert rejects == {"bbaf2n.wav": "audio lasts 2.00 s but video 1.20 s"}
    assert [(u.id, u.audio) for u in manifest] == [("s1_bbaf3n", VIDEO_TRACK)]
    assert metrics["audio_files_passed_over"] == 1 and metrics["audio_from"] == {"video track": 1}


def test_grid_patterns_override_the_search(tmp_path: Path):
    """With patterns set, only files at the patterns count: the video outside them is not found,
    and a speaker folder need not be called sN."""
    root = tmp_path / "GRID"
    _video(root / "talker3/bgwb4a.mpg", audio=False)
    _wav(root / "sound/talker3/bgwb4a.wav", tone(1.2))
    _video(root / "elsewhere/s4/bgwb5a.mpg", audio=True)
    layout = GridLayout(video="{speaker}/{id}.mpg", audio="sound/{speaker}/{id}.wav",
                        align="alignments/{speaker}/{id}.align")
    manifest, rejects, _ = _run(tmp_path, source="grid", root=str(root), grid=layout)
    assert [(u.id, u.speaker, Path(u.audio).name) for u in manifest] == [("talker3_bgwb4a", "talker3", "bgwb4a.wav")]
    assert rejects == {}


def _lombard_alignment(path: Path, name: str, word_count: int) -> None:
    phones = [{"phone": "SIL_S", "offset": 0.0, "duration": 0.2}]
    for w in range(word_count):
        start = 0.2 + 0.15 * w
        phones += [{"phone": "b_B", "offset": start, "duration": 0.05},
                   {"phone": "ih_I", "offset": start + 0.05, "duration": 0.05},
                   {"phone": "n_E", "offset": start + 0.10, "duration": 0.05}]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({name: phones}))


def test_lombard_tree_indexes_front_view_with_json_alignments(tmp_path: Path):
    root = tmp_path / "lombardgrid"
    _video(root / "front/s2_l_bbaf2n.mov", audio=False)
    _wav(root / "audio/s2_l_bbaf2n.wav", tone(1.2))
    _lombard_alignment(root / "alignment/s2_l_bbaf2n.json", "s2_l_bbaf2n", 6)
    _video(root / "front/s2_p_lrip9a.mov", audio=True)  # no wav: its own audio track
    _video(root / "front/s3_l_sgbizp.mov", audio=True)
    _lombard_alignment(root / "alignment/s3_l_sgbizp.json", "s3_l_sgbizp", 4)  # wrong word count
    _video(root / "front/holiday.mov", audio=True)
    _video(root / "side/s2_l_bbaf2n.mov", audio=True)  # other view: ignored
    manifest, rejects, metrics = _run(tmp_path, source="lombardgrid", root=str(root), max_reject_fraction=0.9)
    by_id = {u.id: u for u in manifest}
    assert sorted(by_id) == ["lombard_s2_l_bbaf2n", "lombard_s2_p_lrip9a", "lombard_s3_l_sgbizp"]
    lombard = by_id["lombard_s2_l_bbaf2n"]
    assert lombard.speaker == "lombard_s2" and lombard.audio.endswith("audio/s2_l_bbaf2n.wav")
    assert [w.word for w in lombard.words] == ["bin", "blue", "at", "f", "two", "now"]
    assert lombard.words[1].start == pytest.approx(0.35) and lombard.words[1].end == pytest.approx(0.5)
    assert by_id["lombard_s2_p_lrip9a"].audio == VIDEO_TRACK
    # A bad alignment never rejects good audio and video: the words of its id, without times.
    assert by_id["lombard_s3_l_sgbizp"].words == grid.untimed(grid.sentence_from_id("sgbizp"))
    assert metrics["warnings"] == 1
    assert list(rejects) == ["holiday.mov"] and "Lombard GRID naming" in rejects["holiday.mov"]


def test_folder_of_own_recordings(tmp_path: Path):
    root = tmp_path / "recordings"
    _video(root / "alice/hello there.mp4", audio=True)
    _video(root / "alice/take2.avi", audio=True)
    (root / "alice/take2.txt").write_text("good morning\n")
    _video(root / "clip.mov", audio=False)
    _wav(root / "clip.wav", tone(1.2))
    _video(root / "bob/silent.mp4", audio=False)
    (root / "notes.txt").write_text("not a video")
    manifest, rejects, metrics = _run(tmp_path, source="folder", root=str(root), max_reject_fraction=0.5)
    by_id = {u.id: u for u in manifest}
    assert sorted(by_id) == ["alice_hello_there", "alice_take2", "speaker_clip"]
    assert by_id["alice_hello_there"].audio == VIDEO_TRACK and by_id["alice_hello_there"].speaker == "alice"
    assert [(w.word, w.start) for w in by_id["alice_take2"].words] == [("good", None), ("morning", None)]
    assert by_id["speaker_clip"].audio.endswith("clip.wav") and by_id["speaker_clip"].speaker == "speaker"
    assert list(rejects) == ["silent.mp4"] and rejects["silent.mp4"].startswith("no audio")
    assert metrics["rejects_by_reason"] == {"no audio": 1}


def test_distinct_files_get_distinct_ids_and_a_second_copy_is_rejected_up_front(tmp_path: Path):
    """`a/b c.mp4` and `a/b_c.mp4` (or `a/x/y.mp4` and `a/x_y.mp4`) would flatten to one id: each
    keeps it readable with its path's hash after it. Two copies of one Lombard GRID file under the
    root: the first is kept, the second rejected with the reason, before any later stage."""
    root = tmp_path / "recordings"
    for name in ("a/b c.mp4", "a/b_c.mp4", "a/x/y.mp4", "a/x_y.mp4", "a/plain.mp4"):
        _video(root / name, audio=True)
    manifest, rejects, _ = _run(tmp_path / "folder", source="folder", root=str(root))
    ids = sorted(u.id for u in manifest)
    assert len(ids) == len(set(ids)) == 5 and rejects == {}
    assert "a_plain" in ids and sum(i.startswith("a_b_c-") for i in ids) == 2 and sum(i.startswith("a_x_y-")
                                                                                    for i in ids) == 2
    again, _, _ = _run(tmp_path / "again", source="folder", root=str(root))
    assert sorted(u.id for u in again) == ids  # the same every time

    lombard = tmp_path / "lombard"
    _video(lombard / "copy1/lombardgrid/front/s2_l_bbaf2n.mov", audio=True)
    _video(lombard / "copy2/lombardgrid/front/s2_l_bbaf2n.mov", audio=True)
    manifest, rejects, metrics = _run(tmp_path / "l", source="lombardgrid", root=str(lombard), max_reject_fraction=0.5)
    assert [u.id for u in manifest] == ["lombard_s2_l_bbaf2n"] and "copy1" in manifest[0].video
    assert list(rejects) == ["s2_l_bbaf2n.mov"]
    assert rejects["s2_l_bbaf2n.mov"].startswith("utterance id lombard_s2_l_bbaf2n is already ") and \
        "copy1/lombardgrid/front/s2_l_bbaf2n.mov's (a second copy?); kept that one" in rejects["s2_l_bbaf2n.mov"]
    assert metrics["rejected"] == 1


def test_a_manifest_with_an_id_twice_is_refused(tmp_path: Path):
    row = {"id": "s1_a", "speaker": "s1", "video": "a.mp4", "audio": "video track", "frames": 30, "fps": 25.0,
           "width": 64, "height": 64, "duration": 1.2, "sample_rate": 16000, "words": []}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(row) + "\n" + json.dumps({**row, "video": "b.mp4"}) + "\n")
    with pytest.raises(StageError, match="utterance id s1_a names two videos, a.mp4 and b.mp4"):
        read_manifest(tmp_path / "manifest.jsonl")


def test_checks_are_params(tmp_path: Path):
    root = tmp_path / "GRID"
    _video(root / "video/s1/bbaf2n.mpg", seconds=1.2, audio=True)
    with pytest.raises(StageError):
        _run(tmp_path / "b", source="grid", root=str(root), checks=Checks(min_frames=40))
    assert read_rejects(tmp_path / "b/out/rejects.tsv")[0].reason == "only 30 frames at 25 fps (min_frames 40)"


def test_phone_style_and_variable_frame_rate_videos_are_indexed_at_the_pipelines_rate(tmp_path: Path):
    """A folder of an NTSC 29.97 fps MP4 with AAC audio and a variable-frame-rate one: both enter
    the manifest resampled to video.fps (25), next to their own rates."""
    from tests.conftest import index_frames, write_timed_video

    root = tmp_path / "phone"
    root.mkdir()
    write_timed_video(root / "ntsc.mp4", index_frames(90), [i * 1001 / 30000 for i in range(90)],
                      tone(3.003, 44100), 44100)
    times = list(np.cumsum([0.0] + [0.02] * 40 + [0.05] * 39))
    write_timed_video(root / "vfr.mp4", index_frames(80), times, tone(times[-1] + 0.05, 44100), 44100)
    manifest, rejects, _ = _run(tmp_path, source="folder", root=str(root))
    assert rejects == {}
    by_id = {u.id: u for u in manifest}
    ntsc, vfr = by_id["speaker_ntsc"], by_id["speaker_vfr"]
    assert (ntsc.fps, ntsc.frames, ntsc.source_frames) == (25.0, 75, 90)
    assert ntsc.source_fps == pytest.approx(29.97, abs=1e-3) and ntsc.duration == pytest.approx(3.003)
    assert (vfr.fps, vfr.source_frames) == (25.0, 80) and vfr.frames == round(vfr.duration * 25)
    assert vfr.source_fps == pytest.approx(80 / vfr.duration)


def test_a_real_grid_video_is_indexed_with_its_own_audio_track(tmp_path: Path):
    """GRID as it ships: MPEG-1 with a 44.1 kHz stereo MPEG layer II track, and GRID's .align."""
    from tests.conftest import REPO

    real = REPO / "tests" / "data" / "real_grid"
    root = tmp_path / "GRID"
    for name in ("bbaf2n", "swwp2s"):
        (root / "video/s1").mkdir(parents=True, exist_ok=True)
        (root / "video/s1" / f"{name}.mpg").write_bytes((real / f"{name}.mpg").read_bytes())
    (root / "align/s1").mkdir(parents=True)
    (root / "align/s1/swwp2s.align").write_bytes((real / "swwp2s.align").read_bytes())
    manifest, rejects, metrics = _run(tmp_path, source="grid", root=str(root))
    assert rejects == {} and metrics["warnings"] == 0
    by_id = {u.id: u for u in manifest}
    for utterance in by_id.values():
        assert utterance.audio == VIDEO_TRACK and utterance.sample_rate == 44100
        assert (utterance.frames, utterance.fps, utterance.source_fps, utterance.duration) == (75, 25.0, 25.0, 3.0)
    assert [w.word for w in by_id["s1_swwp2s"].words] == list(grid.sentence_from_id("swwp2s"))
    assert by_id["s1_swwp2s"].words[0].start == pytest.approx(12250 / 25000)
    assert by_id["s1_bbaf2n"].words == grid.untimed(grid.sentence_from_id("bbaf2n"))


@pytest.mark.parametrize("content,problem", [
    (b"0 12250 sil\n12250 \xff\xfe bin\n", "alignment is not UTF-8 text (byte 18)"),
    (b"0 12250 sil\n12250 19250\n", "alignment line 2: expected 'start end word', got '12250 19250'"),
])
def test_a_broken_alignment_keeps_the_utterance_without_words(tmp_path: Path, content: bytes, problem: str, caplog):
    root = tmp_path / "GRID"
    _video(root / "video/s1/bbaf2n.mpg", audio=True)
    (root / "align/s1").mkdir(parents=True)
    (root / "align/s1/bbaf2n.align").write_bytes(content)
    manifest, rejects, metrics = _run(tmp_path, source="grid", root=str(root))
    assert rejects == {} and [u.id for u in manifest] == ["s1_bbaf2n"]
    assert manifest[0].words == grid.untimed(grid.sentence_from_id("bbaf2n")) and metrics["warnings"] == 1
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == [f"{root / 'align/s1/bbaf2n.align'}: {problem}; words from its id, without times"]
