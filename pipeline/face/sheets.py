"""Contact sheets of the face stages: landmarks drawn on frames, mouth crops over time."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.face.tracking import DETECTED, INTERPOLATED, MISSING, STATUS_NAMES, TRACKED
from pipeline.io.clips import utterance_frames
from pipeline.io.manifest import Utterance
from pipeline.io.pictures import first_per_speaker, label, write_grid

MAPPED_COLOUR = (0, 230, 0)
STATUS_COLOURS = {MISSING: (255, 0, 0), DETECTED: (0, 200, 0), TRACKED: (0, 160, 255), INTERPOLATED: (255, 160, 0)}


def landmarks_sheet(items: list[tuple[Utterance, np.ndarray, np.ndarray]], path: Path, columns: int = 6,
                    scale: float = 0.75) -> None:
    """One row per speaker: frames with their 68 landmarks drawn, coloured by status (green
    detected, blue tracked, orange interpolated, red missing), cropped around the face."""
    by_id = {u.id: (u, points, status) for u, points, status in items}
    rows = []
    for utterance in first_per_speaker([u for u, _, _ in items]):
        _, points, status = by_id[utterance.id]
        frames = utterance_frames(utterance)
        tiles: list[np.ndarray] = []
        for t in np.linspace(0, len(frames) - 1, columns).astype(int):
            frame = frames[t].copy()
            for x, y in points[t]:
                cv2.circle(frame, (int(round(x)), int(round(y))), 2, STATUS_COLOURS[int(status[t])], -1, cv2.LINE_AA)
            low = np.maximum(points[t].min(axis=0) - 20, 0).astype(int)
            high = np.minimum(points[t].max(axis=0) + 20, frame.shape[1::-1]).astype(int)
            face = cv2.resize(frame[low[1]:high[1], low[0]:high[0]], (int(160 * scale), int(180 * scale)))
            caption = f"{utterance.id} t={t}" if not tiles else f"t={t} {STATUS_NAMES[int(status[t])]}"
            tiles.append(label(face, caption))
        rows.append(tiles)
    write_grid(rows, path)


def crops_sheet(items: list[tuple[str, np.ndarray, np.ndarray]], path: Path, columns: int = 10, zoom: int = 2) -> None:
    """One row per utterance: evenly spaced mouth crops, enlarged, with the utterance's mouth
    landmarks mapped into each crop (`items`: id, crops, mapped points (T, N, 2)) drawn as dots,
    so the framing shows at a glance."""
    rows = []
    for utterance_id, crops, mapped in items:
        tiles: list[np.ndarray] = []
        for t in np.linspace(0, len(crops) - 1, columns).astype(int):
            crop = crops[t] if crops.ndim == 4 else cv2.cvtColor(crops[t], cv2.COLOR_GRAY2RGB)
            big = cv2.resize(crop, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
            for x, y in (mapped[t] + 0.5) * zoom:  # crop pixel centres sit at integers
                cv2.circle(big, (int(x), int(y)), 1, MAPPED_COLOUR, -1, cv2.LINE_AA)
            tiles.append(label(big, f"{utterance_id} t={t}" if not tiles else f"t={t}"))
        rows.append(tiles)
    write_grid(rows, path)
