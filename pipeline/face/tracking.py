"""68-point landmarks for every frame of a video: detect on keyframes, track in between, fill
gaps, smooth, and measure how it went.

Detection (HOG, ~6 ms a frame) runs every `detect_every` frames, in the region around the tracked
face when there is one, and on the whole frame whenever tracking is lost; in between, the
predictor (~0.7 ms) fits inside a box carried over from the previous frame's landmarks. The
carried box keeps the geometry the detector gave at the last keyframe, relative to the
landmarks, because the predictor was trained on detector boxes. Tracking counts as lost when the
new landmarks imply a box that drifted from the one they were fitted in, or when the face patch
no longer looks like the keyframe's (the face left the frame or was covered).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from pipeline.face.detector import FaceLandmarks

MISSING, DETECTED, TRACKED, INTERPOLATED = 0, 1, 2, 3
STATUS_NAMES = {MISSING: "missing", DETECTED: "detected", TRACKED: "tracked", INTERPOLATED: "interpolated"}
STABLE_POINTS = np.array([27, 28, 29, 30, 36, 39, 42, 45])  # nose bridge and eye corners
_PATCH = 32
DETECT_WIDTH = 100  # face width (px) keyframe detection scans at


class Landmarker(Protocol):
    def find_box(self, image: np.ndarray) -> tuple[int, int, int, int] | None: ...

    def detect(self, image: np.ndarray) -> FaceLandmarks | None: ...

    def predict(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray: ...


@dataclass(frozen=True)
class TrackingParams:
    """The tracking part of `landmarks` in params.yaml."""

    detect_every: int = 10
    min_box_iou: float = 0.6
    min_patch_similarity: float = 0.5
    smoothing_window: int = 3


@dataclass
class Track:
    """Per-frame landmarks (T, 68, 2), boxes (T, 4) and status (T,), plus detector counts."""

    points: np.ndarray
    boxes: np.ndarray
    status: np.ndarray
    detector_calls: int = 0
    detections: int = 0


def _shape_frame(points: np.ndarray) -> tuple[np.ndarray, float]:
    centre = points.mean(axis=0)
    return centre, float(np.sqrt(((points - centre) ** 2).sum(axis=1).mean()))


def box_relation(points: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """A detector box in the landmarks' own frame: (left, top, right, bottom) offsets / scale."""
    centre, scale = _shape_frame(points)
    corners = np.asarray(box, np.float64).reshape(2, 2)
    return ((corners - centre) / scale).reshape(4)


def box_from_points(points: np.ndarray, relation: np.ndarray) -> np.ndarray:
    """The box a detector would give around these landmarks (inverse of box_relation)."""
    centre, scale = _shape_frame(points)
    return (relation.reshape(2, 2) * scale + centre).reshape(4)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def face_patch(gray: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The box's content, resized to 32x32 and standardised (zero mean, unit variance)."""
    left, top, right, bottom = (int(round(v)) for v in box)
    height, width = gray.shape[:2]
    left, top = max(0, left), max(0, top)
    right, bottom = min(width, right), min(height, bottom)
    if right - left < 4 or bottom - top < 4:
        return np.zeros((_PATCH, _PATCH), np.float32)
    patch = cv2.resize(gray[top:bottom, left:right], (_PATCH, _PATCH), interpolation=cv2.INTER_AREA)
    patch = patch.astype(np.float32)
    return (patch - patch.mean()) / (patch.std() + 1e-6)


def track(frames: np.ndarray, landmarker: Landmarker, params: TrackingParams) -> Track:
    """Landmarks for every frame of `frames` (T, H, W) grayscale; frames without a face get
    status MISSING and NaN points (see `fill_gaps`)."""
    n_frames = len(frames)
    points = np.full((n_frames, 68, 2), np.nan, np.float32)
    boxes = np.full((n_frames, 4), np.nan, np.float32)
    status = np.full(n_frames, MISSING, np.uint8)
    result = Track(points, boxes, status)
    # Set together at each detection: the box-to-landmarks geometry, the face patch to compare
    # with, and the points that the next frame's box is carried from.
    relation: np.ndarray | None = None
    reference: np.ndarray | None = None
    previous: np.ndarray | None = None
    for t, frame in enumerate(frames):
        if previous is not None and relation is not None and t % params.detect_every != 0:
            box = box_from_points(previous, relation)
            left, top, right, bottom = (int(round(v)) for v in box)
            fitted = landmarker.predict(frame, (left, top, right, bottom))
            drift = iou(box_from_points(fitted, relation), box)
            similarity = float((face_patch(frame, box) * reference).mean())
            if drift >= params.min_box_iou and similarity >= params.min_patch_similarity:
                points[t], boxes[t], status[t] = fitted, box, TRACKED
                previous = fitted
                continue
        found = _detect(landmarker, frame, boxes[t - 1] if previous is not None else None, result)
        if found is None:
            previous = None
            continue
        result.detections += 1
        points[t], boxes[t], status[t] = found.points, found.box, DETECTED
        relation = box_relation(found.points, found.box)
        reference = face_patch(frame, np.asarray(found.box, np.float64))
        previous = found.points
    return result


def _detect(landmarker: Landmarker, frame: np.ndarray, near: np.ndarray | None, result: Track) -> FaceLandmarks | None:
    """Detect the face. While tracking holds, HOG first scans only the region around the tracked
    box, shrunk so the face is ~DETECT_WIDTH px wide (HOG's cost grows with the area it scans and
    it finds faces down to ~80 px); the predictor then fits at full resolution. If that finds
    nothing, or there is no tracked box, the whole frame is scanned."""
    if near is not None:
        left, top, right, bottom = near
        margin_x, margin_y = 0.25 * (right - left), 0.25 * (bottom - top)
        x0, y0 = max(0, int(left - margin_x)), max(0, int(top - margin_y))
        x1, y1 = min(frame.shape[1], int(right + margin_x)), min(frame.shape[0], int(bottom + margin_y))
        scale = min(1.0, DETECT_WIDTH / max(right - left, 1.0))
        region = cv2.resize(frame[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        result.detector_calls += 1
        found = landmarker.find_box(region)
        if found is not None:
            left, top, right, bottom = (int(round(v / scale)) for v in found)
            box = (left + x0, top + y0, right + x0, bottom + y0)
            return FaceLandmarks(box, landmarker.predict(frame, box))
    result.detector_calls += 1
    return landmarker.detect(frame)


def fill_gaps(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Linear interpolation over time between valid frames; nearest valid frame at the edges."""
    if not valid.any():
        raise ValueError("no valid frame to fill from")
    flat = values.reshape(len(values), -1).astype(np.float64)
    times = np.arange(len(values))
    known = times[valid]
    filled = np.stack([np.interp(times, known, flat[valid, k]) for k in range(flat.shape[1])], axis=1)
    return filled.reshape(values.shape).astype(values.dtype)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over time (odd window; edges repeat the end values)."""
    if window <= 1:
        return values
    if window % 2 == 0:
        raise ValueError(f"smoothing window must be odd, got {window}")
    half = window // 2
    padded = np.concatenate([np.repeat(values[:1], half, 0), values, np.repeat(values[-1:], half, 0)])
    cumulative = np.cumsum(padded.astype(np.float64), axis=0)
    cumulative = np.concatenate([np.zeros_like(cumulative[:1]), cumulative])
    return ((cumulative[window:] - cumulative[:-window]) / window).astype(values.dtype)


def finish(result: Track, smoothing_window: int) -> Track:
    """Fill frames without a face (INTERPOLATED between faces, MISSING at the edges) and smooth."""
    valid = result.status != MISSING
    if not valid.all():
        first, last = np.flatnonzero(valid)[[0, -1]]
        inside = (np.arange(len(valid)) > first) & (np.arange(len(valid)) < last) & ~valid
        result.points = fill_gaps(result.points, valid)
        result.boxes = fill_gaps(result.boxes, valid)
        result.status = np.where(inside, INTERPOLATED, result.status).astype(np.uint8)
    result.points = smooth(result.points, smoothing_window)
    return result


def quality(result: Track) -> dict[str, float]:
    """Share of frames per status, detector success rate and jitter (mean frame-to-frame motion
    of the nose bridge and eye corners, in pixels)."""
    n_frames = len(result.status)
    shares = {name: round(float(np.mean(result.status == code)), 4) for code, name in STATUS_NAMES.items()}
    stable = result.points[:, STABLE_POINTS]
    jitter = float(np.linalg.norm(np.diff(stable, axis=0), axis=2).mean()) if n_frames > 1 else 0.0
    return {
        "frames": n_frames,
        **shares,
        "detector_calls": result.detector_calls,
        "detection_rate": round(result.detections / result.detector_calls, 4) if result.detector_calls else 0.0,
        "jitter_px": round(jitter, 4),
    }
