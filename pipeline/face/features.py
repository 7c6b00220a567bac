"""Video features from mouth crops: the frames and their first and second temporal differences.

As in the thesis: the first difference pads the first frame at the edge (so frame 0's
difference is 0) and subtracts each frame from the next; the second difference is the same
operation on the first. From uint8 frames the differences lie in [-255, 255] and [-510, 510]:
int16 holds all three channels without loss (half the bytes of float32, exact).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEATURE_DTYPE = np.int16


@dataclass(frozen=True)
class FeatureParams:
    """`features` in params.yaml."""

    derivatives: bool = True


def channel_names(derivatives: bool, colour: bool) -> list[str]:
    """What each feature channel is: frame, delta, delta2 (per colour, r g b, for colour crops)."""
    channels = ["frame", "delta", "delta2"] if derivatives else ["frame"]
    return [f"{c}_{name}" for name in channels for c in "rgb"] if colour else channels


def temporal_difference(frames: np.ndarray) -> np.ndarray:
    """x[t] - x[t-1] along axis 0, with x[-1] := x[0] (edge padding): same length as the input."""
    padded = np.concatenate([frames[:1], frames], axis=0).astype(np.int32)
    return np.diff(padded, axis=0)


def video_features(crops: np.ndarray, derivatives: bool = True) -> np.ndarray:
    """(T, C, S, S) int16 from (T, S, S) uint8 crops: C = 3 (frame, delta, delta-delta) or 1.
    Colour crops (T, S, S, 3) give C = 3 (RGB) or 9 (each colour with its two differences)."""
    frames = crops.astype(np.int32)
    if frames.ndim == 4:  # colour: channels first, per colour
        frames = np.moveaxis(frames, -1, 1)
    else:
        frames = frames[:, None]
    channels = [frames]
    if derivatives:
        first = temporal_difference(frames)
        channels += [first, temporal_difference(first)]
    return np.concatenate(channels, axis=1).astype(FEATURE_DTYPE)
