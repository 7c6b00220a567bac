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


def corpus_sheet(utterances: list[Utterance], path: Path, columns: int = 7, scale: float = 0.5) -> None:
    """One row per speaker (first utterance of each): frames at word midpoints, labelled."""
    first_of_speaker: dict[str, Utterance] = {}
    for utterance in sorted(utterances, key=lambda u: u.id):
        first_of_speaker.setdefault(utterance.speaker, utterance)
    rows = []
    for speaker, utterance in sorted(first_of_speaker.items()):
        try:
            frames = read_video(Path(utterance.video))
        except MediaError:
            continue
        tiles = []
        for index, word in _moments(utterance, len(frames), columns):
            small = cv2.resize(frames[index], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            tiles.append(_label(small, f"{utterance.id} {word}" if not tiles else word))
        blank = np.full_like(tiles[0], 255)
        rows.append(np.concatenate(tiles + [blank] * (columns - len(tiles)), axis=1))
    if not rows:
        return
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows), cv2.COLOR_RGB2BGR))
