"""The reference face of the `aligned` mouth crop: a canonical frontal mean face of real speakers.

`reference_face.json`, next to this module, holds its 68 points (dlib/iBUG order): the
similarity-normalised mean of dlib's landmarks over every frame of real GRID videos, made by
`python -m pipeline.face.make_reference_face` (which says how). Canonical frame: the eye line
horizontal, the outer eye corners REFERENCE_EYES pixels apart, the stable points (eye corners,
nose bridge and base) centred on the origin.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

REFERENCE_FILE = Path(__file__).with_name("reference_face.json")
STABLE_POINTS = np.array([36, 39, 42, 45, 27, 30, 31, 35])  # eye corners, nose bridge and base
LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 36, 45
REFERENCE_EYES = 100.0


def canonical(points: np.ndarray) -> np.ndarray:
    """68 points moved into the canonical frame (rotation, uniform scale, shift only)."""
    points = np.asarray(points, np.float64)
    eyes = points[RIGHT_EYE_OUTER] - points[LEFT_EYE_OUTER]
    angle = np.arctan2(eyes[1], eyes[0])
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    turned = (points - points[STABLE_POINTS].mean(axis=0)) @ rotation.T
    return turned * REFERENCE_EYES / np.linalg.norm(eyes)


def similarity_fit(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """`source` points moved by the least-squares similarity transform onto `target` (Umeyama)."""
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    src, dst = source - source_mean, target - target_mean
    u, singular, vt = np.linalg.svd(dst.T @ src)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / (src ** 2).sum()
    return scale * src @ rotation.T + target_mean


def load_reference(path: Path = REFERENCE_FILE) -> np.ndarray:
    """The reference face's 68 points (float64, canonical frame)."""
    return np.asarray(json.loads(Path(path).read_text())["points"], np.float64)


REFERENCE = load_reference()
