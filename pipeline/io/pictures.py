"""Contact sheets: captioned tiles laid out in rows, written as PNG (deterministic bytes)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.io.manifest import Utterance

LABEL_HEIGHT = 18


def label(image: np.ndarray, text: str) -> np.ndarray:
    """The image with a white caption strip under it (RGB)."""
    strip = np.full((LABEL_HEIGHT, image.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (4, LABEL_HEIGHT - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([image, strip])


SHEET_SPEAKERS = 16  # rows a contact sheet shows at most (LRS3 has thousands of speakers)


def first_per_speaker(utterances: list[Utterance], limit: int = SHEET_SPEAKERS) -> list[Utterance]:
    """Each speaker's first utterance by id, speakers in order, the first `limit` speakers."""
    first: dict[str, Utterance] = {}
    for utterance in sorted(utterances, key=lambda u: u.id):
        first.setdefault(utterance.speaker, utterance)
    return [first[speaker] for speaker in sorted(first)[:limit]]


def write_grid(rows: list[list[np.ndarray]], path: Path) -> None:
    """Tiles (RGB, same size within a row) laid out row by row on white, written as PNG."""
    strips = [np.concatenate(tiles, axis=1) for tiles in rows if tiles]
    if not strips:
        return
    width = max(s.shape[1] for s in strips)
    padded = [np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0)), constant_values=255) for s in strips]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(padded), cv2.COLOR_RGB2BGR))
