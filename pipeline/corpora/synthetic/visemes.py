"""Phonemes to mouth shapes: each espeak phoneme maps to a viseme, and the viseme targets are
smoothed over time (coarticulation) into per-video-frame mouth tracks."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from pipeline.corpora.synthetic.espeak import Phoneme


@dataclass(frozen=True)
class Viseme:
    """Mouth targets: jaw opening (0 closed .. 1 widest), lip width factor, rounding and teeth (0..1)."""

    opening: float
    width: float
    rounding: float
    teeth: float


REST = Viseme(0.0, 1.0, 0.0, 0.0)
BILABIAL = Viseme(0.0, 0.97, 0.0, 0.0)  # p b m: lips pressed together

# Longest-prefix match on espeak's English mnemonics (stress marks stripped).
_VISEMES: dict[str, Viseme] = {
    "p": BILABIAL, "b": BILABIAL, "m": BILABIAL,
    "f": Viseme(0.12, 1.0, 0.0, 1.0), "v": Viseme(0.12, 1.0, 0.0, 1.0),
    "T": Viseme(0.25, 1.0, 0.0, 1.0), "D": Viseme(0.25, 1.0, 0.0, 1.0),
    "t": Viseme(0.25, 1.02, 0.0, 1.0), "d": Viseme(0.25, 1.02, 0.0, 1.0),
    "n": Viseme(0.25, 1.02, 0.0, 0.8), "l": Viseme(0.3, 1.0, 0.0, 0.8),
    "s": Viseme(0.15, 1.05, 0.0, 1.0), "z": Viseme(0.15, 1.05, 0.0, 1.0),
    "S": Viseme(0.25, 0.85, 0.6, 1.0), "Z": Viseme(0.25, 0.85, 0.6, 1.0),
    "tS": Viseme(0.25, 0.85, 0.6, 1.0), "dZ": Viseme(0.25, 0.85, 0.6, 1.0),
    "k": Viseme(0.35, 1.0, 0.0, 0.5), "g": Viseme(0.35, 1.0, 0.0, 0.5), "N": Viseme(0.3, 1.0, 0.0, 0.5),
    "h": Viseme(0.4, 1.0, 0.0, 0.3), "j": Viseme(0.3, 1.08, 0.0, 0.8),
    "w": Viseme(0.15, 0.78, 1.0, 0.0), "r": Viseme(0.3, 0.9, 0.4, 0.5),
    "aI": Viseme(0.9, 1.05, 0.0, 0.6), "aU": Viseme(0.85, 0.95, 0.3, 0.5),
    "a": Viseme(1.0, 1.05, 0.0, 0.6), "A": Viseme(1.0, 1.0, 0.0, 0.5),
    "eI": Viseme(0.55, 1.1, 0.0, 0.8), "e": Viseme(0.55, 1.1, 0.0, 0.8), "E": Viseme(0.6, 1.08, 0.0, 0.8),
    "i": Viseme(0.3, 1.12, 0.0, 1.0), "I": Viseme(0.35, 1.1, 0.0, 0.9),
    "oU": Viseme(0.6, 0.85, 0.8, 0.2), "o": Viseme(0.6, 0.85, 0.8, 0.2), "O": Viseme(0.75, 0.88, 0.7, 0.2),
    "u": Viseme(0.3, 0.78, 1.0, 0.0), "U": Viseme(0.35, 0.82, 0.8, 0.1),
    "V": Viseme(0.6, 1.0, 0.0, 0.5), "@": Viseme(0.45, 1.0, 0.0, 0.5), "3": Viseme(0.45, 0.95, 0.3, 0.5),
    "0": Viseme(0.8, 0.9, 0.5, 0.3),
}
_BY_LENGTH = sorted(_VISEMES, key=len, reverse=True)


def viseme(phoneme: str) -> Viseme:
    """The viseme of an espeak phoneme mnemonic; pauses and unknown symbols rest the mouth."""
    if not phoneme or phoneme.startswith("_"):
        return REST
    for prefix in _BY_LENGTH:
        if phoneme.startswith(prefix):
            return _VISEMES[prefix]
    return Viseme(0.35, 1.0, 0.0, 0.5)


def mouth_tracks(
    phonemes: list[Phoneme],
    speech_start: int,
    speech_end: int,
    offset: float,
    sample_rate: int,
    n_frames: int,
    fps: float,
    coarticulation_s: float = 0.035,
) -> np.ndarray:
    """Per-frame viseme parameters, shape (n_frames, 4): opening, width, rounding, teeth.

    Phoneme targets are laid out on a 5 ms grid (held until the next phoneme, rest outside
    [speech_start, speech_end)), shifted by the utterance's `offset` in seconds, smoothed with a
    Gaussian of `coarticulation_s` (neighbouring phonemes blend) and read at the frame centres.
    """
    step = 0.005
    n_steps = int(np.ceil(n_frames / fps / step))
    times = np.arange(n_steps) * step
    targets = np.tile(np.array([REST.opening, REST.width, REST.rounding, REST.teeth]), (n_steps, 1))
    spans = [(p.start, phonemes[i + 1].start if i + 1 < len(phonemes) else speech_end, p.name)
             for i, p in enumerate(phonemes)]
    for start, end, name in spans:
        start, end = max(start, speech_start), min(end, speech_end)
        if end <= start:
            continue
        v = viseme(name)
        in_span = (times >= offset + start / sample_rate) & (times < offset + end / sample_rate)
        targets[in_span] = (v.opening, v.width, v.rounding, v.teeth)
    smooth = gaussian_filter1d(targets, coarticulation_s / step, axis=0, mode="nearest")
    frame_centres = (np.arange(n_frames) + 0.5) / fps
    return np.stack([np.interp(frame_centres, times, smooth[:, k]) for k in range(4)], axis=1)
