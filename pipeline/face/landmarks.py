"""68-point landmarks of one utterance's video with a chosen backend, and their quality figures.

`dlib` (offline) detects on keyframes and tracks in between (pipeline.face.tracking);
`face_alignment` keeps dlib's boxes and lets FAN predict the points, in batches.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from pipeline.face.tracking import MISSING, STATUS_NAMES, Track, TrackingParams, finish, quality, track
from pipeline.io.clips import utterance_frames
from pipeline.io.manifest import Reject, Utterance
from pipeline.io.media import MediaError


@dataclass(frozen=True)
class LandmarksParams:
    """`landmarks` in params.yaml."""

    backend: Literal["dlib", "face_alignment"] = "dlib"
    upsample: int = 0
    detect_every: int = 10
    min_box_iou: float = 0.6
    min_patch_similarity: float = 0.5
    smoothing_window: int = 3
    min_face_fraction: float = 0.5
    max_reject_fraction: float = 0.2
    weights: str | None = None  # face_alignment: local FAN weights instead of the download
    device: str = "auto"  # face_alignment: auto | cpu | cuda
    batch_size: int = 16  # face_alignment: frames per network call

    @property
    def tracking(self) -> TrackingParams:
        return TrackingParams(self.detect_every, self.min_box_iou, self.min_patch_similarity, self.smoothing_window)


@dataclass
class Landmarks:
    """One utterance's result: arrays for the store and its quality figures."""

    id: str
    points: np.ndarray
    boxes: np.ndarray
    status: np.ndarray
    quality: dict


@functools.lru_cache(maxsize=2)
def make_landmarker(params: LandmarksParams):
    """The backend's landmarker, once per process."""
    if params.backend == "face_alignment":
        from pipeline.face.fan import FanLandmarker

        return FanLandmarker(weights=params.weights, device=params.device, upsample=params.upsample,
                             batch_size=params.batch_size)
    from pipeline.face.detector import DlibLandmarker

    return DlibLandmarker(upsample=params.upsample)


def landmarks_of(frames: np.ndarray, params: LandmarksParams) -> Track | str:
    """Track the face through grayscale frames: the finished (gap-filled, smoothed) track, or the
    reason why the face is not found often enough."""
    landmarker = make_landmarker(params)
    # FAN refines what dlib tracked: dlib gives every frame's box, FAN the points, in batches.
    refiner = landmarker if hasattr(landmarker, "predict_batch") else None
    result = track(frames, refiner.detector if refiner else landmarker, params.tracking)
    found = int(np.count_nonzero(result.status))
    if found == 0:
        return f"no face in any of {len(frames)} frames"
    if found < params.min_face_fraction * len(frames):
        return f"face found in {found}/{len(frames)} frames (min_face_fraction {params.min_face_fraction:g})"
    if refiner is not None:
        seen = result.status != MISSING
        result.points[seen] = refiner.predict_batch(frames[seen], result.boxes[seen])
    return finish(result, params.smoothing_window)


def process(utterance: Utterance, params: LandmarksParams) -> Landmarks | Reject:
    """Track one utterance; a Reject with the reason when its face is not found often enough."""
    try:
        frames = utterance_frames(utterance, grayscale=True)
    except MediaError as error:
        return Reject(utterance.video, str(error))
    result = landmarks_of(frames, params)
    if isinstance(result, str):
        return Reject(utterance.video, result)
    return Landmarks(utterance.id, result.points, result.boxes, result.status, quality(result))


def summarise(qualities: list[dict], rejects: list[Reject]) -> dict:
    """Corpus-wide figures from each utterance's `quality`: status shares and jitter weighted by
    frames, detector use and success."""
    total = len(qualities) + len(rejects)
    frames = sum(q["frames"] for q in qualities)

    def frame_weighted(key: str) -> float:
        return round(sum(q[key] * q["frames"] for q in qualities) / frames, 4) if frames else 0.0

    calls = sum(q["detector_calls"] for q in qualities)
    return {
        "utterances": len(qualities),
        "rejected": len(rejects),
        "reject_fraction": round(len(rejects) / total, 4) if total else 0.0,
        "frames": frames,
        **{name: frame_weighted(name) for name in STATUS_NAMES.values()},
        "detector_calls_per_frame": round(calls / frames, 4) if frames else 0.0,
        "detection_rate": round(sum(q["detection_rate"] * q["detector_calls"] for q in qualities)
                                / calls, 4) if calls else 0.0,
        "jitter_px": frame_weighted("jitter_px"),
    }
