"""An utterance's video frames and audio samples as the manifest describes them: the whole file,
or the piece (`start`, `end`) a long clip was cut into."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.io.manifest import Utterance
from pipeline.io.media import read_audio, read_video


def utterance_frames(utterance: Utterance, grayscale: bool = False) -> np.ndarray:
    """The utterance's frames at its `fps`: (T, H, W[, 3]) uint8, T = utterance.frames."""
    return read_video(Path(utterance.video), grayscale=grayscale, fps=utterance.fps, clip=utterance.clip)


def utterance_audio(utterance: Utterance) -> tuple[np.ndarray, int]:
    """The utterance's mono samples and their rate (the piece's samples for a cut)."""
    samples, rate = read_audio(utterance.audio, Path(utterance.video))
    if utterance.clip is None:
        return samples, rate
    start, end = utterance.clip
    return samples[round(start * rate):round(end * rate)], rate
