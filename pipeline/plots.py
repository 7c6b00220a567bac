"""Pictures that let a person check a stage's output at a glance (PNG, deterministic bytes)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.manifest import Utterance
from pipeline.media import MediaError, read_video

LABEL_HEIGHT = 18


def _label(image: np.ndarray, text: str) -> np.ndarray:
    """The image with a white caption strip under it (RGB)."""
    strip = np.full((LABEL_HEIGHT, image.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (4, LABEL_HEIGHT - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([image, strip])


def _moments(utterance: Utterance, n_frames: int, columns: int) -> list[tuple[int, str]]:
    """Frames to show: the middle of each timed word, else evenly spaced frames."""
    timed = [w for w in utterance.words if w.start is not None and w.end is not None]
    if timed:
        picks = [(min(n_frames - 1, int((w.start + w.end) / 2 * utterance.fps)), w.word) for w in timed]
        return [(0, "(start)")] + picks[: columns - 1]
    return [(int(i), f"frame {int(i)}") for i in np.linspace(0, n_frames - 1, columns)]


def _first_per_speaker(utterances: list[Utterance]) -> list[Utterance]:
    first: dict[str, Utterance] = {}
    for utterance in sorted(utterances, key=lambda u: u.id):
        first.setdefault(utterance.speaker, utterance)
    return [first[speaker] for speaker in sorted(first)]


def write_grid(rows: list[list[np.ndarray]], path: Path) -> None:
    """Tiles (RGB, same size within a row) laid out row by row on white, written as PNG."""
    rows = [np.concatenate(tiles, axis=1) for tiles in rows if tiles]
    if not rows:
        return
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows), cv2.COLOR_RGB2BGR))


def corpus_sheet(utterances: list[Utterance], path: Path, columns: int = 7, scale: float = 0.5) -> None:
    """One row per speaker (first utterance of each): frames at word midpoints, labelled."""
    rows = []
    for utterance in _first_per_speaker(utterances):
        try:
            frames = read_video(Path(utterance.video))
        except MediaError:
            continue
        tiles = []
        for index, word in _moments(utterance, len(frames), columns):
            small = cv2.resize(frames[index], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            tiles.append(_label(small, f"{utterance.id} {word}" if not tiles else word))
        rows.append(tiles)
    write_grid(rows, path)


def landmarks_sheet(items: list[tuple[Utterance, np.ndarray, np.ndarray]], path: Path, columns: int = 6,
                    scale: float = 0.75) -> None:
    """One row per speaker: frames with their 68 landmarks drawn, coloured by status (green
    detected, blue tracked, orange interpolated, red missing), cropped around the face."""
    from pipeline.tracking import DETECTED, INTERPOLATED, MISSING, STATUS_NAMES, TRACKED

    colours = {MISSING: (255, 0, 0), DETECTED: (0, 200, 0), TRACKED: (0, 160, 255), INTERPOLATED: (255, 160, 0)}
    by_id = {u.id: (u, points, status) for u, points, status in items}
    rows = []
    for utterance in _first_per_speaker([u for u, _, _ in items]):
        _, points, status = by_id[utterance.id]
        frames = read_video(Path(utterance.video))
        tiles = []
        for t in np.linspace(0, len(frames) - 1, columns).astype(int):
            frame = frames[t].copy()
            for x, y in points[t]:
                cv2.circle(frame, (int(round(x)), int(round(y))), 2, colours[int(status[t])], -1, cv2.LINE_AA)
            low = np.maximum(points[t].min(axis=0) - 20, 0).astype(int)
            high = np.minimum(points[t].max(axis=0) + 20, frame.shape[1::-1]).astype(int)
            face = cv2.resize(frame[low[1]:high[1], low[0]:high[0]], (int(160 * scale), int(180 * scale)))
            caption = f"{utterance.id} t={t}" if not tiles else f"t={t} {STATUS_NAMES[int(status[t])]}"
            tiles.append(_label(face, caption))
        rows.append(tiles)
    write_grid(rows, path)


def crops_sheet(items: list[tuple[str, np.ndarray]], path: Path, columns: int = 10, zoom: int = 2) -> None:
    """One row per utterance: evenly spaced mouth crops, enlarged."""
    rows = []
    for utterance_id, crops in items:
        tiles = []
        for t in np.linspace(0, len(crops) - 1, columns).astype(int):
            crop = crops[t] if crops.ndim == 4 else cv2.cvtColor(crops[t], cv2.COLOR_GRAY2RGB)
            big = cv2.resize(crop, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
            tiles.append(_label(big, f"{utterance_id} t={t}" if not tiles else f"t={t}"))
        rows.append(tiles)
    write_grid(rows, path)
