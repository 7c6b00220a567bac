"""The reference face of the `aligned` crop: a canonical mean face of real GRID speakers."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.face.crop import MOUTH
from pipeline.face.landmarks import LandmarksParams, landmarks_of
from pipeline.face.make_reference_face import frame_landmarks, procrustes_mean
from pipeline.face.reference import REFERENCE, REFERENCE_EYES, STABLE_POINTS, canonical, similarity_fit
from pipeline.face.tracking import DETECTED, TRACKED
from pipeline.io.media import read_video
from tests.conftest import REPO

REAL = REPO / "tests" / "data" / "real_grid"


def test_the_reference_is_in_its_canonical_frame_and_frontal():
    assert REFERENCE.shape == (68, 2)
    np.testing.assert_allclose(REFERENCE[STABLE_POINTS].mean(axis=0), 0, atol=0.01)
    np.testing.assert_allclose(np.linalg.norm(REFERENCE[45] - REFERENCE[36]), REFERENCE_EYES, atol=0.01)
    assert REFERENCE[36, 1] == pytest.approx(REFERENCE[45, 1], abs=0.01)  # eye line level
    # Frontal: the nose and chin on the midline, the mouth corners mirror each other.
    assert abs(REFERENCE[30, 0]) < 2 and abs(REFERENCE[8, 0]) < 3
    assert REFERENCE[48, 0] == pytest.approx(-REFERENCE[54, 0], abs=2)
    # Not the synthetic photo: its mouth is wider (a smile with teeth).
    from pipeline.corpora.synthetic.face import PHOTO_LANDMARKS

    assert np.abs(canonical(PHOTO_LANDMARKS)[MOUTH] - REFERENCE[MOUTH]).max() > 5


def test_canonical_and_similarity_fit_undo_rotation_scale_and_shift():
    angle = np.deg2rad(17)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = 1.7 * REFERENCE @ rotation.T + (40, -12)
    np.testing.assert_allclose(canonical(moved), REFERENCE, atol=0.01)  # the file keeps 3 decimals
    np.testing.assert_allclose(similarity_fit(moved, REFERENCE), REFERENCE, atol=1e-6)


def test_the_mean_face_of_real_speakers_is_the_kept_reference():
    """Rebuilt from two of the four real GRID videos it was made from, the mean face stays within
    a few pixels (of a 100 px eye distance) of the kept one."""
    mean = procrustes_mean(frame_landmarks(sorted(REAL.glob("*.mpg"))))
    assert np.abs(mean - REFERENCE).max() < 6
    assert np.linalg.norm(mean - REFERENCE, axis=1).mean() < 2.5


def test_a_real_face_is_tracked_in_every_frame():
    frames = read_video(REAL / "bbaf2n.mpg", grayscale=True)
    track = landmarks_of(frames, LandmarksParams())
    assert not isinstance(track, str), track
    assert set(np.unique(track.status)) <= {DETECTED, TRACKED}  # the real face is found in every frame
