"""Shared fixtures: tiny corpora made in temporary folders with the real components."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.synth.generator import SyntheticParams, generate, plan

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> tuple[Path, SyntheticParams]:
    """Two speakers x three utterances of the embedded corpus, generated once per test session."""
    root = tmp_path_factory.mktemp("tiny_corpus")
    params = SyntheticParams(speakers=2, utterances_per_speaker=3, seed=7)
    for job in plan(root, params):
        generate(job)
    return root, params


def frames_with_motion(n_frames: int = 30, height: int = 96, width: int = 128) -> np.ndarray:
    """Simple moving-gradient RGB frames for indexing tests (content does not matter there)."""
    x = np.linspace(0, 255, width)[None, :]
    frames = [np.broadcast_to(((x + 8 * t) % 256)[..., None], (height, width, 3)) for t in range(n_frames)]
    return np.ascontiguousarray(np.stack(frames)).astype(np.uint8)


def tone(seconds: float, sample_rate: int = 16000, level: float = 0.3, seed: int = 0) -> np.ndarray:
    """int16 audio: a 220 Hz tone with a little noise (clearly not silent)."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    rng = np.random.default_rng(seed)
    signal = level * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(len(t))
    return np.round(signal * 32767).astype(np.int16)
