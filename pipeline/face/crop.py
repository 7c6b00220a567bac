"""Mouth crops from frames and their 68 landmarks: fixed (the thesis), tracked, or aligned.

- fixed: one box for the whole utterance from the first frame's mouth corners and lip middles
  plus `padding` pixels, resized to size x size (aspect not kept, as in the thesis). The thesis
  text names points [49, 55, 53, 57]; its code takes the corners 49/55 and the lip top/bottom, so
  we use the corners (1-based 49, 55) and the middles of the upper and lower lip (52, 58).
- tracked: per frame, a square centred on the mouth landmarks; one side length per utterance (the
  widest mouth plus twice the padding), so the scale never changes within an utterance.
- aligned: each frame is mapped by the similarity transform that takes its stable points (eye
  corners, nose) onto the reference face (pipeline.face.reference: the mean face of real GRID
  speakers, outer eye corners 100 px apart), then a fixed mouth box of the reference face is cut
  out (as AV-HuBERT's and auto_avsr's lip preparation do): head motion and scale are removed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from pipeline.face.reference import REFERENCE, STABLE_POINTS

FIXED_POINTS = np.array([48, 54, 51, 57])  # 1-based 49, 55, 52, 58
MOUTH = np.arange(48, 68)


@dataclass(frozen=True)
class CropParams:
    """`mouths` in params.yaml."""

    mode: Literal["fixed", "tracked", "aligned"] = "fixed"
    size: int = 64
    padding: int = 10
    grayscale: bool = True


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


def crop_box(frame: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Resample the box (float corners) to size x size; outside the frame repeats the border."""
    left, top, right, bottom = (float(v) for v in box)
    scale_x, scale_y = (right - left) / size, (bottom - top) / size
    # Output pixel centre (i + 0.5) maps to left + (i + 0.5) * scale in the frame.
    matrix = np.array([[scale_x, 0, left + 0.5 * scale_x - 0.5], [0, scale_y, top + 0.5 * scale_y - 0.5]])
    return cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def aligned_matrices(points: np.ndarray) -> np.ndarray:
    """Per frame, the 2x3 similarity (rotation, uniform scale, shift) taking the frame's stable
    points onto the reference face's, least squares."""
    target = REFERENCE[STABLE_POINTS]
    matrices = []
    for frame_points in points[:, STABLE_POINTS]:
        matrix, _ = cv2.estimateAffinePartial2D(frame_points.astype(np.float32), target.astype(np.float32),
                                                method=cv2.LMEDS)
        matrices.append(matrix)
    return np.stack(matrices)


def aligned_box(padding: int) -> np.ndarray:
    """The reference face's mouth box: a square around its mouth points plus padding."""
    mouth = REFERENCE[MOUTH]
    centre = (mouth.min(axis=0) + mouth.max(axis=0)) / 2
    half = (mouth.max(axis=0) - mouth.min(axis=0)).max() / 2 + padding
    return np.concatenate([centre - half, centre + half])


def mouth_crops(frames: np.ndarray, points: np.ndarray, params: CropParams) -> np.ndarray:
    """Crops (T, S, S) uint8, or (T, S, S, 3) for colour frames, per `params.mode`."""
    size = params.size
    if params.mode == "fixed":
        box = fixed_box(points, params.padding)
        return np.stack([crop_box(frame, box, size) for frame in frames])
    if params.mode == "tracked":
        boxes = tracked_boxes(points, params.padding)
        return np.stack([crop_box(frame, box, size) for frame, box in zip(frames, boxes, strict=True)])
    left, top, right, bottom = aligned_box(params.padding)
    scale = (right - left) / size
    crops = []
    for frame, matrix in zip(frames, aligned_matrices(points), strict=True):
        # Frame -> reference face -> crop pixels, in one warp.
        to_crop = np.vstack([matrix, [0, 0, 1]])
        to_crop = np.array([[1 / scale, 0, -left / scale - 0.5 + 0.5 / scale],
                            [0, 1 / scale, -top / scale - 0.5 + 0.5 / scale], [0, 0, 1]]) @ to_crop
        crops.append(cv2.warpAffine(frame, to_crop[:2], (size, size), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE))
    return np.stack(crops)
