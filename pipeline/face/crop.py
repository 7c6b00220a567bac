"""Mouth crops from frames and their 68 landmarks, with the map from frame to crop pixels.

- fixed: one box for the whole utterance from the first frame's mouth corners and lip middles
  plus `padding` pixels, resized to size x size (aspect not kept, as in the thesis). The thesis
  text names points [49, 55, 53, 57]; its code takes the corners 49/55 and the lip top/bottom, so
  we use the corners (1-based 49, 55) and the middles of the upper and lower lip (52, 58).
- tracked: per frame, a square centred on the mouth landmarks; one side length per utterance (the
  widest mouth plus twice the padding), so the scale never changes within an utterance.
- aligned: each frame is mapped by the similarity transform that takes its stable points (eye
  corners, nose) onto the reference face (pipeline.face.reference: the mean face of real GRID
  speakers, outer eye corners 100 px apart), so head motion and the face's size are removed; the
  crop is a square of that frame centred on the mouth in every frame, of side
  `reference mouth width / ALIGNED_MOUTH_SHARE + 2 * padding` reference pixels, so an ordinary
  mouth spans about half of it. Transform and centre come from landmarks smoothed over ±6 frames
  (`smoothed_landmarks`), so the crop follows the mouth without jittering.
- avsr: the mouth region of auto_avsr / AV-HuBERT / Ma et al.'s lip-reading preparation: the
  same smoothing, the similarity transform of points 28, 33, 36, 39, 42, 45, 48, 54 (0-based)
  onto their mean face (avsr_mean_face.npy, its 256 x 256 frame), and the 96 x 96 patch of that
  frame centred on the mean of the mouth points 48-67 (kept inside the frame; black outside the
  video). `size` 96 is their patch exactly (models take its 88 x 88 centre); another size
  resamples the same patch; `padding` is not used.

Coordinates follow OpenCV and the landmarks: pixel centres at integers. A crop spans -0.5 to
size - 0.5, its centre is at (size - 1) / 2; `MouthCrops.transforms[t]` maps frame t's pixel
coordinates to its crop's (x' = A @ (x, y) + b, as a 2 x 3 matrix [A | b]).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import cv2
import numpy as np

from pipeline.face.reference import REFERENCE, STABLE_POINTS

FIXED_POINTS = np.array([48, 54, 51, 57])  # 1-based 49, 55, 52, 58
MOUTH = np.arange(48, 68)
LEFT_CORNER, RIGHT_CORNER = 48, 54
SMOOTHING_HALF_WINDOW = 6  # auto_avsr's 12 // 2
ALIGNED_MOUTH_SHARE = 0.6  # of the aligned crop's side (before padding) that the reference mouth spans
AVSR_MEAN_FACE = np.load(Path(__file__).with_name("avsr_mean_face.npy"))
AVSR_STABLE_POINTS = np.array([28, 33, 36, 39, 42, 45, 48, 54])
AVSR_FRAME, AVSR_PATCH = 256, 96

Mode = Literal["fixed", "tracked", "aligned", "avsr"]


@dataclass(frozen=True)
class CropParams:
    """`mouths` in params.yaml."""

    mode: Mode = "fixed"
    size: int = 64
    padding: int = 10
    grayscale: bool = True


class MouthCrops(NamedTuple):
    """An utterance's crops (T, S, S) or (T, S, S, 3) uint8 and per frame the 2 x 3 map from frame
    pixels to crop pixels (T, 2, 3) float64."""

    crops: np.ndarray
    transforms: np.ndarray


def fixed_box(points: np.ndarray, padding: int) -> np.ndarray:
    """(left, top, right, bottom) around the first frame's corners and lip middles plus padding."""
    selected = points[0, FIXED_POINTS]
    low, high = selected.min(axis=0) - padding, selected.max(axis=0) + padding
    return np.round(np.concatenate([low, high])).astype(np.int64)


def tracked_boxes(points: np.ndarray, padding: int) -> np.ndarray:
    """Per-frame square boxes (T, 4) centred on the mouth, one side length per utterance."""
    mouth = points[:, MOUTH]
    centres = (mouth.min(axis=1) + mouth.max(axis=1)) / 2
    extent = (mouth.max(axis=1) - mouth.min(axis=1)).max()
    half = extent / 2 + padding
    return np.concatenate([centres - half, centres + half], axis=1)


def box_transform(box: np.ndarray, size: int) -> np.ndarray:
    """The 2 x 3 map from frame pixels to the pixels of `box` resampled to size x size."""
    left, top, right, bottom = (float(v) for v in box)
    scale_x, scale_y = (right - left) / size, (bottom - top) / size
    return np.array([[1 / scale_x, 0, (0.5 - left) / scale_x - 0.5], [0, 1 / scale_y, (0.5 - top) / scale_y - 0.5]])


def crop_box(frame: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Resample the box (float corners) to size x size; outside the frame repeats the border."""
    left, top, right, bottom = (float(v) for v in box)
    scale_x, scale_y = (right - left) / size, (bottom - top) / size
    # Output pixel centre (i + 0.5) maps to left + (i + 0.5) * scale in the frame.
    matrix = np.array([[scale_x, 0, left + 0.5 * scale_x - 0.5], [0, scale_y, top + 0.5 * scale_y - 0.5]])
    return cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def smoothed_landmarks(points: np.ndarray, half_window: int = SMOOTHING_HALF_WINDOW) -> np.ndarray:
    """auto_avsr's smoothing: per frame the mean of the points over ±half_window frames (the
    window shrinking evenly near the ends), shifted so that its mean equals the frame's own
    points' mean (the face stays where it is; its shape is averaged)."""
    points = np.asarray(points, np.float64)
    times = np.arange(len(points))
    margin = np.minimum(half_window, np.minimum(times, len(points) - 1 - times))
    cumulative = np.concatenate([np.zeros_like(points[:1]), np.cumsum(points, axis=0)])
    window_mean = (cumulative[times + margin + 1] - cumulative[times - margin]) / (2 * margin + 1)[:, None, None]
    return window_mean + points.mean(axis=1, keepdims=True) - window_mean.mean(axis=1, keepdims=True)


def similarity_transforms(points: np.ndarray, stable: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per frame, the 2 x 3 similarity (rotation, uniform scale, shift) taking the frame's
    `stable` points onto `target`: (T, 2, 3), least median of squares as auto_avsr fits it."""
    matrices = []
    for frame_points in points[:, stable]:
        matrix, _ = cv2.estimateAffinePartial2D(frame_points.astype(np.float32), target.astype(np.float32),
                                                method=cv2.LMEDS)
        if matrix is None:
            raise ValueError("no similarity transform fits the stable landmarks (degenerate points)")
        matrices.append(matrix)
    return np.stack(matrices)


def apply(transforms: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (T, N, 2) moved by their frame's 2 x 3 transform (T, 2, 3)."""
    return np.einsum("tij,tnj->tni", transforms[:, :, :2], points) + transforms[:, None, :, 2]


def then_place(transforms: np.ndarray, edge: np.ndarray, scale: float) -> np.ndarray:
    """`transforms` followed, per frame, by the map that puts the point `edge` (T, 2) at the crop's
    top-left edge (-0.5, -0.5) and scales by `scale`: x' = (x - edge) * scale - 0.5."""
    placed = transforms * scale
    placed[:, :, 2] -= edge * scale + 0.5
    return placed


def aligned_side(padding: int) -> float:
    """The aligned crop's side in reference-face pixels."""
    width = float(np.linalg.norm(REFERENCE[RIGHT_CORNER] - REFERENCE[LEFT_CORNER]))
    return width / ALIGNED_MOUTH_SHARE + 2 * padding


def onto_face(points: np.ndarray, stable: np.ndarray, face: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The alignment both aligned modes share: the landmarks smoothed (`smoothed_landmarks`), per
    frame the similarity taking their `stable` points onto `face`'s (T, 2, 3), and the mouth's
    centre (mean of points 48-67) in the face's frame (T, 2)."""
    smoothed = smoothed_landmarks(points)
    to_face = similarity_transforms(smoothed, stable, face[stable])
    return to_face, apply(to_face, smoothed[:, MOUTH]).mean(axis=1)


def aligned_transforms(points: np.ndarray, size: int, padding: int) -> np.ndarray:
    """Frame -> reference face -> a square centred on the (smoothed) mouth, size x size."""
    to_face, centre = onto_face(points, STABLE_POINTS, REFERENCE)
    side = aligned_side(padding)
    return then_place(to_face, centre - side / 2, size / side)


def avsr_transforms(points: np.ndarray, size: int) -> np.ndarray:
    """Frame -> auto_avsr's 256 x 256 mean-face frame -> its 96 x 96 mouth patch (-> size x size)."""
    to_face, centre = onto_face(points, AVSR_STABLE_POINTS, AVSR_MEAN_FACE)
    # auto_avsr cuts whole pixels of the warped frame; the patch is kept inside that frame.
    corner = np.clip(np.round(centre - AVSR_PATCH / 2), 0, AVSR_FRAME - AVSR_PATCH)
    return then_place(to_face, corner - 0.5, size / AVSR_PATCH)  # pixel `corner` spans corner ± 0.5


def warp(frames: np.ndarray, transforms: np.ndarray, size: int, border: int) -> np.ndarray:
    """Each frame resampled (bilinear) through its transform into a size x size crop."""
    return np.stack([cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=border,
                                    borderValue=0)
                     for frame, matrix in zip(frames, transforms, strict=True)])


def mouth_crops(frames: np.ndarray, points: np.ndarray, params: CropParams) -> MouthCrops:
    """The crops of `params.mode` and their frame-to-crop transforms."""
    size = params.size
    if params.mode == "fixed":
        box = fixed_box(points, params.padding)
        crops = np.stack([crop_box(frame, box, size) for frame in frames])
        return MouthCrops(crops, np.repeat(box_transform(box, size)[None], len(frames), axis=0))
    if params.mode == "tracked":
        boxes = tracked_boxes(points, params.padding)
        crops = np.stack([crop_box(frame, box, size) for frame, box in zip(frames, boxes, strict=True)])
        return MouthCrops(crops, np.stack([box_transform(box, size) for box in boxes]))
    if params.mode == "aligned":
        transforms = aligned_transforms(points, size, params.padding)
        return MouthCrops(warp(frames, transforms, size, cv2.BORDER_REPLICATE), transforms)
    if params.mode == "avsr":
        transforms = avsr_transforms(points, size)
        return MouthCrops(warp(frames, transforms, size, cv2.BORDER_CONSTANT), transforms)
    raise ValueError(f"unknown mouths.mode {params.mode!r}")
