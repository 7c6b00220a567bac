"""The embedded corpus: GRID format, determinism, real speech, and a mouth that moves with it."""
from __future__ import annotations

import hashlib
import re
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import soundfile

from pipeline.corpora import grid
from pipeline.corpora.synthetic import face as faces
from pipeline.corpora.synthetic.espeak import Phoneme
from pipeline.corpora.synthetic.generator import DURATION, SyntheticParams, generate, plan, read_truth
from pipeline.corpora.synthetic.visemes import mouth_tracks, viseme
from pipeline.face.detector import DlibLandmarker
from pipeline.io.media import probe_video, read_audio, read_video

GRID_ID = re.compile(r"^[blps][bgrw][abiw][a-vx-z][0-9z][anps]$")


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _utterances(root: Path) -> list[tuple[str, str]]:
    return [(p.parent.name, p.stem) for p in sorted((root / "video").glob("*/*.mpg"))]


def test_same_params_give_byte_identical_files(tiny_corpus, tmp_path):
    root, params = tiny_corpus
    again = tmp_path / "again"
    for job in plan(again, params):
        generate(job)
    assert _hashes(again) == _hashes(root)
    assert len(_hashes(root)) == 4 * params.speakers * params.utterances_per_speaker


def test_a_different_seed_gives_a_different_corpus(tiny_corpus, tmp_path):
    _, params = tiny_corpus
    other = SyntheticParams(speakers=1, utterances_per_speaker=1, seed=params.seed + 1)
    jobs = plan(tmp_path, other)
    same_seed = plan(tmp_path, SyntheticParams(speakers=1, utterances_per_speaker=1, seed=params.seed))
    assert jobs[0].sentence != same_seed[0].sentence or jobs[0].speaker != same_seed[0].speaker


def test_layout_and_names_are_grids(tiny_corpus):
    root, params = tiny_corpus
    utterances = _utterances(root)
    assert len(utterances) == params.speakers * params.utterances_per_speaker
    assert sorted({speaker for speaker, _ in utterances}) == ["s1", "s2"]
    for speaker, uid in utterances:
        assert GRID_ID.match(uid), uid
        for kind, ext in (("audio", "wav"), ("align", "align"), ("truth", "npy")):
            assert (root / kind / speaker / f"{uid}.{ext}").is_file()
    per_speaker = [uid for speaker, uid in utterances if speaker == "s1"]
    assert len(set(per_speaker)) == len(per_speaker)


def test_videos_and_wavs_have_grids_format(tiny_corpus):
    root, _ = tiny_corpus
    for speaker, uid in _utterances(root):
        info = probe_video(root / "video" / speaker / f"{uid}.mpg")
        assert (info.frames, info.fps, info.width, info.height) == (75, 25.0, 360, 288)
        wav = soundfile.info(str(root / "audio" / speaker / f"{uid}.wav"))
        assert wav.subtype == "PCM_16" and wav.channels == 1
        assert wav.frames == round(DURATION * wav.samplerate)
        track, rate = read_audio("video track", root / "video" / speaker / f"{uid}.mpg")
        assert abs(len(track) / rate - DURATION) < 0.1


def test_alignments_cover_three_seconds_and_spell_the_sentence(tiny_corpus):
    root, _ = tiny_corpus
    for speaker, uid in _utterances(root):
        words = grid.read_align(root / "align" / speaker / f"{uid}.align")
        assert words[0].word == words[-1].word == "sil"
        assert words[0].start == 0.0 and words[-1].end == pytest.approx(3.0)
        assert all(a.end == pytest.approx(b.start) for a, b in pairwise(words))
        assert tuple(w.word for w in words[1:-1]) == grid.sentence_from_id(uid)
        assert all(w.end > w.start for w in words)


def _frame_levels(samples: np.ndarray, rate: int, hop_s: float = 0.01) -> np.ndarray:
    hop = int(rate * hop_s)
    frames = samples[: len(samples) // hop * hop].reshape(-1, hop)
    return 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)


def test_audio_is_speech_where_the_alignment_says(tiny_corpus):
    root, _ = tiny_corpus
    for speaker, uid in _utterances(root):
        samples, rate = read_audio(root / "audio" / speaker / f"{uid}.wav")
        words = grid.read_align(root / "align" / speaker / f"{uid}.align")
        levels = _frame_levels(samples, rate)
        times = (np.arange(len(levels)) + 0.5) * 0.01
        speech_start, speech_end = words[1].start, words[-2].end
        in_speech = (times > speech_start) & (times < speech_end)
        silence = (times < speech_start - 0.02) | (times > speech_end + 0.02)
        # Speech is loud, the rest is only faint noise.
        assert np.median(levels[in_speech]) > np.median(levels[silence]) + 25
        # Energy starts and stops where the first word starts and the last word ends (within 40 ms).
        loud = times[levels > np.median(levels[silence]) + 20]
        assert abs(loud[0] - speech_start) < 0.04 and abs(loud[-1] - speech_end) < 0.04
        for word in words[1:-1]:
            inside = (times >= word.start) & (times < word.end)
            assert levels[inside].max() > np.median(levels[silence]) + 20, word


def test_dlib_finds_the_face_and_the_mouth_opens_with_the_jaw(tiny_corpus):
    """dlib's 68 points on the decoded frames: a face in every frame, and an inner-lip opening
    (points 63 and 67, 1-based) that follows the generator's own jaw-opening track."""
    root, _ = tiny_corpus
    landmarker = DlibLandmarker(upsample=0)
    openings, commanded = [], []
    for speaker, uid in _utterances(root):
        frames = read_video(root / "video" / speaker / f"{uid}.mpg")
        truth = read_truth(root, speaker, uid)
        for frame, mouth in zip(frames, truth["mouth"], strict=True):
            face = landmarker.detect(frame)
            assert face is not None, f"no face in a frame of {speaker}/{uid}"
            openings.append(face.points[66, 1] - face.points[62, 1])
            commanded.append(mouth[0])
    correlation = np.corrcoef(openings, commanded)[0, 1]
    assert correlation >= 0.8, correlation


def test_truth_landmarks_sit_on_the_detected_mouth(tiny_corpus):
    root, _ = tiny_corpus
    speaker, uid = _utterances(root)[0]
    frames = read_video(root / "video" / speaker / f"{uid}.mpg")
    truth = read_truth(root, speaker, uid)["landmarks"]
    landmarker = DlibLandmarker(upsample=0)
    errors = [np.linalg.norm(landmarker.detect(f).points[48:68] - t[48:68], axis=1).mean()
              for f, t in zip(frames[::5], truth[::5], strict=True)]
    assert np.mean(errors) < 4.0


def test_closed_visemes_bring_the_inner_lips_together():
    for phoneme in ("p", "b", "m"):
        assert viseme(phoneme).opening == 0.0
    face = faces.Face(faces.Look.random(np.random.default_rng(0)))
    closed = face.articulate(0.0, 1.0, 0.0)
    assert np.allclose(closed[faces.UPPER_INNER, 1], closed[faces.LOWER_INNER, 1])
    opened = face.articulate(1.0, 1.0, 0.0)
    gap = opened[faces.LOWER_INNER, 1] - opened[faces.UPPER_INNER, 1]
    assert np.all(gap > 0.8 * face.max_opening)


def test_mouth_rests_outside_speech():
    phonemes = [Phoneme("a", 0), Phoneme("a", 11025)]
    tracks = mouth_tracks(phonemes, 0, 22050, offset=1.0, sample_rate=22050, n_frames=75, fps=25)
    assert tracks.shape == (75, 4)
    assert np.all(tracks[:20, 0] < 0.01) and np.all(tracks[-20:, 0] < 0.01)
    assert tracks[37, 0] > 0.95  # the middle of one second of "a", one second in


def test_kept_photo_landmarks_are_what_dlib_finds():
    """PHOTO_LANDMARKS as it was made: dlib on the photo upscaled by PHOTO_UPSCALE, divided back."""
    import cv2

    scale = faces.PHOTO_UPSCALE
    upscaled = cv2.resize(faces.photo(), None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    found = DlibLandmarker(upsample=0).detect(upscaled)
    assert found is not None
    assert np.abs(found.points / scale - faces.PHOTO_LANDMARKS).max() < 0.06
