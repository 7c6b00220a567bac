"""Mouth crops: each mode's geometry on known boxes, and the stage on a tiny corpus."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.face.crop import (
    FIXED_POINTS,
    MOUTH,
    CropParams,
    aligned_side,
    apply,
    crop_box,
    fixed_box,
    mouth_crops,
    smoothed_landmarks,
    tracked_boxes,
)
from pipeline.face.reference import REFERENCE


def _face_points(shift=(0.0, 0.0), frames: int = 4) -> np.ndarray:
    """The reference face placed in a 200x200 frame, optionally shifted."""
    points = REFERENCE + (100, 90) + np.asarray(shift)
    return np.repeat(points[None], frames, axis=0).astype(np.float32)


def _textured(height: int = 200, width: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (height, width)).astype(np.uint8), (0, 0), 1.5)


def test_fixed_box_is_the_first_frames_mouth_plus_padding():
    points = _face_points(frames=3)
    points[1:] += 30  # later frames must not matter
    selected = points[0, FIXED_POINTS]
    box = fixed_box(points, padding=10)
    np.testing.assert_array_equal(box, np.round([*(selected.min(0) - 10), *(selected.max(0) + 10)]))


def test_a_known_box_gives_the_known_crop():
    """A box of exactly size x size pixels crops without resampling: the frame's own pixels."""
    frame = _textured()
    points = np.zeros((1, 68, 2), np.float32)
    points[0, FIXED_POINTS] = [(60, 90), (100, 90), (80, 80), (80, 100)]  # corners, lip middles
    crops = mouth_crops(frame[None], points, CropParams(mode="fixed", size=64, padding=12)).crops
    # box = (60-12, 80-12, 100+12, 100+12) = (48, 68, 112, 112): 64 x 44, stretched to 64 x 64
    expected = cv2.resize(frame[68:112, 48:112], (64, 64), interpolation=cv2.INTER_LINEAR)
    difference = np.abs(crops[0].astype(int) - expected.astype(int))
    assert difference.max() <= 3 and difference.mean() < 0.5  # OpenCV's two resamplers round differently
    points[0, FIXED_POINTS] = [(60, 80), (100, 80), (80, 70), (80, 110)]  # a 40 x 40 mouth
    square = mouth_crops(frame[None], points, CropParams(mode="fixed", size=64, padding=12)).crops
    np.testing.assert_array_equal(square[0], frame[58:122, 48:112])


def test_tracked_boxes_follow_the_mouth_with_one_size():
    points = _face_points(frames=5)
    points[:, :, 0] += np.arange(5)[:, None] * 7  # the head moves right
    boxes = tracked_boxes(points, padding=8)
    sizes = boxes[:, 2:] - boxes[:, :2]
    assert np.allclose(sizes, sizes[0]) and np.isclose(sizes[0, 0], sizes[0, 1])
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    np.testing.assert_allclose(np.diff(centres[:, 0]), 7)
    crops = mouth_crops(np.repeat(_textured()[None], 5, 0), points, CropParams("tracked", 32, 8)).crops
    assert crops.shape == (5, 32, 32) and crops.dtype == np.uint8


@pytest.mark.parametrize("params", [CropParams("aligned", 48, 10), CropParams("avsr", 96)], ids=["aligned", "avsr"])
def test_aligned_crops_undo_rotation_scale_and_shift(params: CropParams):
    """A frame and its rotated, scaled, shifted copy give the same crop, and the transforms differ
    by exactly that motion."""
    frame = _textured(seed=3)
    points = _face_points(frames=1)
    matrix = cv2.getRotationMatrix2D((100, 100), 12, 1.15)
    matrix[:, 2] += (6, -4)
    moved = cv2.warpAffine(frame, matrix, (200, 200), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    moved_points = points @ matrix[:, :2].T + matrix[:, 2]
    still, turned = mouth_crops(frame[None], points, params), mouth_crops(moved[None], moved_points, params)
    inner = (slice(4, -4), slice(4, -4))
    a, b = still.crops[0][inner].astype(int), turned.crops[0][inner].astype(int)
    inside = (a > 0) & (b > 0)  # avsr's patch reaches past the 200 px frame: black there
    assert inside.mean() > 0.6 and np.abs(a - b)[inside].mean() < 6
    mouth = points[0, MOUTH].astype(np.float64)
    np.testing.assert_allclose(apply(turned.transforms, (mouth @ matrix[:, :2].T + matrix[:, 2])[None]),
                               apply(still.transforms, mouth[None]), atol=0.6)  # avsr: whole-pixel patch


def test_an_aligned_crop_of_the_reference_face_is_the_square_around_its_mouth():
    frame = _textured(seed=3)
    still = mouth_crops(frame[None], _face_points(frames=1), CropParams("aligned", 48, 10)).crops[0]
    centre, half = REFERENCE[MOUTH].mean(axis=0) + (100, 90), aligned_side(10) / 2
    # crop_box's box edges sit half a pixel after the landmarks' (pixel centres at integers).
    direct = crop_box(frame, np.concatenate([centre - half, centre + half]) + 0.5, 48)
    assert np.abs(still.astype(int) - direct.astype(int)).mean() < 1.0


def test_smoothing_averages_the_shape_and_keeps_each_frames_position():
    rng = np.random.default_rng(0)
    points = _face_points(frames=20).astype(np.float64) + rng.normal(0, 1, (20, 68, 2))
    points[:, :, 0] += np.arange(20)[:, None] * 3  # the head moves
    smoothed = smoothed_landmarks(points)
    np.testing.assert_allclose(smoothed.mean(axis=1), points.mean(axis=1), atol=1e-9)
    shape = smoothed - smoothed.mean(axis=1, keepdims=True)
    raw_shape = points - points.mean(axis=1, keepdims=True)
    assert np.abs(np.diff(shape, axis=0)).mean() < 0.5 * np.abs(np.diff(raw_shape, axis=0)).mean()
    np.testing.assert_allclose(smoothed[[0, -1]], points[[0, -1]])  # the window shrinks to the frame itself


def test_colour_crops():
    frame = np.stack([_textured(seed=s) for s in range(3)], axis=2)
    crops = mouth_crops(frame[None], _face_points(frames=1), CropParams("fixed", 40, 5, grayscale=False)).crops
    assert crops.shape == (1, 40, 40, 3)
