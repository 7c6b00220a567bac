"""Shared fixtures: tiny corpora made in temporary folders with the real components."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.manifest import Utterance
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


def manifest_of(root: Path) -> list[Utterance]:
    """The checked utterances of a generated corpus at root."""
    from pipeline.sources import Checks, GridLayout, check, find_grid

    return [check(c, Checks()) for c in find_grid(root, GridLayout())]


@pytest.fixture(scope="session")
def stores(tiny_corpus, tmp_path_factory) -> dict[str, Path]:
    """The tiny corpus through landmarks, mouths, derivatives, mels, split and stats."""
    import json

    from pipeline import derivatives, mels, stats
    from pipeline.audio import AudioParams
    from pipeline.crop import CropParams
    from pipeline.landmarks import LandmarksParams
    from pipeline.landmarks import run as run_landmarks
    from pipeline.manifest import read_manifest, write_manifest
    from pipeline.mouths import run as run_mouths
    from pipeline.parallel import ParallelParams
    from pipeline.split import SplitParams, split_ids
    from pipeline.store import StoreParams

    root, _ = tiny_corpus
    out = tmp_path_factory.mktemp("stores")
    sequential = ParallelParams(n_jobs=1)
    paths = {name: out / name for name in ("landmarks", "mouths", "features", "mels")}
    paths.update(manifest=out / "manifest.jsonl", split=out / "split.json", stats=out / "stats.json")
    write_manifest(paths["manifest"], manifest_of(root))
    run_landmarks(LandmarksParams(), StoreParams(), sequential, paths["manifest"], paths["landmarks"],
                  out / "rejects.tsv", out / "m.json", out / "pu.json", None)
    run_mouths(CropParams(), StoreParams(), sequential, paths["manifest"], paths["landmarks"], paths["mouths"], None)
    derivatives.run(derivatives.FeatureParams(), StoreParams(), paths["mouths"], paths["features"])
    mels.run(AudioParams(), StoreParams(), sequential, paths["manifest"], paths["mels"])
    # Three utterances per speaker: one each for train, val and test.
    splits = split_ids(read_manifest(paths["manifest"]), SplitParams(train=0.34, val=0.33))
    paths["split"].write_text(json.dumps(splits))
    stats.run(paths["features"], paths["mels"], paths["split"], paths["manifest"], paths["stats"])
    return paths
