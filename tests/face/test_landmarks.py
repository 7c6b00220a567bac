"""Landmarks: on the generated mouths, through gaps, identical however they are run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.corpora.synthetic.generator import read_truth
from pipeline.face.landmarks import Landmarks, LandmarksParams, process
from pipeline.face.tracking import DETECTED, INTERPOLATED, MISSING, TRACKED, fill_gaps, smooth
from pipeline.io.manifest import Reject, Utterance
from pipeline.io.media import probe_video, read_video, write_video
from tests.conftest import frames_with_motion, manifest_of


def _truth(root: Path, utterance: Utterance) -> np.ndarray:
    return read_truth(root, utterance.speaker, utterance.id.split("_", 1)[1])["landmarks"]


def test_fill_gaps_interpolates_inside_and_repeats_at_the_edges():
    values = np.array([np.nan, 1.0, np.nan, np.nan, 4.0, np.nan])[:, None]
    valid = ~np.isnan(values[:, 0])
    np.testing.assert_allclose(fill_gaps(values, valid)[:, 0], [1, 1, 2, 3, 4, 4])
    with pytest.raises(ValueError):
        fill_gaps(values, np.zeros(6, bool))


def test_smoothing_is_centred_and_keeps_lines_straight():
    ramp = np.arange(10, dtype=np.float64)[:, None, None] * np.ones((1, 68, 2))
    smoothed = smooth(ramp, 5)
    np.testing.assert_allclose(smoothed[2:-2], ramp[2:-2])  # centred: no lag
    assert smoothed[0, 0, 0] == pytest.approx((0 + 0 + 0 + 1 + 2) / 5)  # edges repeat end values
    spike = np.zeros((9, 68, 2))
    spike[4] = 9
    assert smooth(spike, 3)[4, 0, 0] == pytest.approx(3) and smooth(spike, 1) is spike
    with pytest.raises(ValueError, match="odd"):
        smooth(ramp, 4)


def test_landmarks_land_on_the_generated_mouths(tiny_corpus):
    root, _ = tiny_corpus
    params = LandmarksParams()
    errors = []
    for utterance in manifest_of(root):
        result = process(utterance, params)
        assert isinstance(result, Landmarks)
        assert result.points.shape == (75, 68, 2) and result.boxes.shape == (75, 4)
        assert set(np.unique(result.status)) <= {DETECTED, TRACKED}
        assert result.quality["detected"] < 0.2  # the detector ran on keyframes only
        truth = _truth(root, utterance)
        errors.append(np.linalg.norm(result.points[:, 48:68] - truth[:, 48:68], axis=2).mean())
    assert np.mean(errors) < 3.0, errors


def test_a_video_without_a_face_is_rejected(tmp_path: Path):
    video = tmp_path / "empty_room.mpg"
    write_video(video, frames_with_motion(20, 288, 360), 25)
    info = probe_video(video)
    utterance = Utterance("x_empty", "x", str(video), "video track", info.frames, info.fps, info.width,
                          info.height, info.span, 16000)
    result = process(utterance, LandmarksParams())
    assert isinstance(result, Reject) and result.reason == "no face in any of 20 frames"


def _vanishing(root: Path, tmp_path: Path) -> tuple[Utterance, np.ndarray]:
    """A generated utterance whose face is replaced by an empty background from frame 40 on."""
    utterance = manifest_of(root)[0]
    frames = read_video(Path(utterance.video))
    background = np.full_like(frames[0], 200)
    frames[40:] = background
    video = tmp_path / "vanish.mpg"
    write_video(video, frames, 25)
    return Utterance(**{**utterance.__dict__, "id": "s1_vanish", "video": str(video)}), _truth(root, utterance)


def test_a_face_that_vanishes_halfway_is_noticed(tiny_corpus, tmp_path: Path):
    root, _ = tiny_corpus
    utterance, truth = _vanishing(root, tmp_path)
    result = process(utterance, LandmarksParams(min_face_fraction=0.5))
    assert isinstance(result, Landmarks)
    assert set(np.unique(result.status[:40])) <= {DETECTED, TRACKED}
    assert np.all(result.status[41:] == MISSING)  # tracking let go within a frame of the cut
    assert result.quality["missing"] == pytest.approx(35 / 75, abs=1 / 75)
    np.testing.assert_allclose(result.points[45:], np.repeat(result.points[39:40], 30, axis=0), atol=1.5)
    error = np.linalg.norm(result.points[:38, 48:68] - truth[:38, 48:68], axis=2).mean()
    assert error < 3.0

    rejected = process(utterance, LandmarksParams(min_face_fraction=0.6))
    assert isinstance(rejected, Reject) and rejected.reason.startswith("face found in 40/75 frames")


def test_frames_between_faces_are_interpolated(tiny_corpus, tmp_path: Path):
    root, _ = tiny_corpus
    utterance = manifest_of(root)[0]
    frames = read_video(Path(utterance.video))
    frames[30:36] = 200
    video = tmp_path / "blink.mpg"
    write_video(video, frames, 25)
    result = process(Utterance(**{**utterance.__dict__, "video": str(video)}), LandmarksParams())
    assert np.all(result.status[31:35] == INTERPOLATED)
    assert np.all(np.isfinite(result.points))
