"""The corpus contact sheet: a row per speaker, frames at the middle of each word."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.io.clips import utterance_frames
from pipeline.io.manifest import Utterance
from pipeline.io.media import MediaError
from pipeline.io.pictures import first_per_speaker, label, write_grid


def _moments(utterance: Utterance, n_frames: int, columns: int) -> list[tuple[int, str]]:
    """Frames to show: the middle of each timed word, else evenly spaced frames."""
    timed = [(w.span(), w.word) for w in utterance.words if w.timed]
    if timed:
        picks = [(min(n_frames - 1, int((start + end) / 2 * utterance.fps)), word) for (start, end), word in timed]
        return [(0, "(start)")] + picks[: columns - 1]
    return [(int(i), f"frame {int(i)}") for i in np.linspace(0, n_frames - 1, columns)]


def corpus_sheet(utterances: list[Utterance], path: Path, columns: int = 7, scale: float = 0.5) -> None:
    """One row per speaker (first utterance of each): frames at word midpoints, labelled."""
    rows = []
    for utterance in first_per_speaker(utterances):
        try:
            frames = utterance_frames(utterance)
        except MediaError:
            continue
        tiles: list[np.ndarray] = []
        for index, word in _moments(utterance, len(frames), columns):
            small = cv2.resize(frames[index], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            tiles.append(label(small, f"{utterance.id} {word}" if not tiles else word))
        rows.append(tiles)
    write_grid(rows, path)
