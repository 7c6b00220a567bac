"""Shared fixtures: tiny corpora made in temporary folders with the real components."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench.common import SEQUENTIAL, manifest_of, preprocess, store_paths  # noqa: F401 (shared with the tests)
from models.model import ModelParams
from pipeline.audio.vocoder import VocoderParams
from pipeline.corpora.synthetic.generator import SyntheticParams, generate_corpus
from pipeline.learn.evaluation import EvaluateParams
from pipeline.learn.training import TrainParams

REPO = Path(__file__).resolve().parents[1]
# The settings the tests were calibrated on (the thesis' encoder and schedule), small.
TINY_MODEL = ModelParams(width=0.125, gru_hidden=16, mlp_hidden=32, conv_channels=16, flow_hidden=16,
                         bidirectional=False, speaker_embedding="none", ctc_weight=0.0)
# On the CPU, also where a GPU is present: tests compare these runs with CPU figures, bit for bit.
TINY_TRAIN = TrainParams(batch_size=2, lr=1e-3, schedule="plateau", max_epochs=2, window=16, device="cpu")
FAST = EvaluateParams(vocoder=VocoderParams(iterations=16), samples=2)


def pytest_collection_modifyitems(config, items) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA GPU here (torch.cuda.is_available() is False)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


TINY_CORPUS = SyntheticParams(speakers=2, utterances_per_speaker=3, seed=7)
# A folder written by `python -m tests.stores FOLDER`: the `stores` fixture copies it instead of
# preprocessing, so a machine without dlib and espeak-ng (a GPU node) runs the training tests.
PREPARED_STORES = "LIP2SPEECH_TEST_STORES"


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> tuple[Path, SyntheticParams]:
    """Two speakers x three utterances of the embedded corpus, generated once per test session."""
    root = tmp_path_factory.mktemp("tiny_corpus")
    generate_corpus(root, TINY_CORPUS, SEQUENTIAL)
    return root, TINY_CORPUS


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


@pytest.fixture(scope="session")
def stores(request, tmp_path_factory) -> dict[str, Path]:
    """The tiny corpus through landmarks, mouths, derivatives, mels, split and stats (or a copy of
    the prepared ones that $LIP2SPEECH_TEST_STORES names)."""
    out = tmp_path_factory.mktemp("stores")
    prepared = os.environ.get(PREPARED_STORES)
    if prepared:
        shutil.copytree(prepared, out, dirs_exist_ok=True)
        return store_paths(out)
    return preprocess(request.getfixturevalue("tiny_corpus")[0], out)


def train_model(stores: dict[str, Path], out: Path, decoder: str = "conv", model=None, train=None,
                normalize: str = "standard", split: Path | None = None) -> dict:
    """The train stage on prepared stores (tiny model and settings unless given); returns its summary."""
    from pipeline.learn.recipes import Recipes
    from pipeline.stages import train as train_stage

    return train_stage.run(decoder, Recipes(), model or TINY_MODEL, train or TINY_TRAIN, normalize,
                           features=stores["features"],
                           mels=stores["mels"], split=split or stores["split"], stats=stores["stats"],
                           manifest=stores["manifest"], out=out / "model.pt", metrics=out / "train.json",
                           live=out / "dvclive")


def subprocess_env() -> dict[str, str]:
    """This environment for a child `python -m ...`, with the repository first on its PYTHONPATH
    (what the environment has there stays after it) and one thread per process."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}


def train_command(params: Path, stores: dict[str, Path], out: Path, split: Path | None = None) -> list[str]:
    """`python -m pipeline train` on prepared stores with a params file, outputs under `out`
    (prefix it with torchrun's arguments to run it under DDP)."""
    return ["-m", "pipeline", "train", "--params", str(params), "--features", str(stores["features"]),
            "--mels", str(stores["mels"]), "--split", str(split or stores["split"]), "--stats", str(stores["stats"]),
            "--manifest", str(stores["manifest"]), "--out", str(out / "model.pt"), "--metrics", str(out / "train.json"),
            "--live", str(out / "dvclive")]


@pytest.fixture(scope="session")
def fitted(stores, tmp_path_factory) -> dict[str, Path]:
    """A conv model trained on all six utterances until it fits them, and a split whose test
    part is those same utterances: with six utterances this checks that training taught the
    model the video-to-speech mapping it was shown (not that it generalises; the README's figures
    on the embedded corpus measure that, on held-out utterances)."""
    import json

    out = tmp_path_factory.mktemp("fitted")
    every = sorted(i for ids in json.loads(stores["split"].read_text()).values() for i in ids)
    split = out / "split.json"
    split.write_text(json.dumps({"train": every, "val": every, "test": every}))
    train = TrainParams(batch_size=2, lr=3e-3, schedule="plateau", max_epochs=40, early_stopping=40, window=None,
                        device="cpu")
    train_model(stores, out, train=train, split=split)
    return {"model": out / "model.pt", "split": split}


def evaluate_model(params: EvaluateParams, parallel, model: Path, paths: dict[str, Path], split: Path,
                   out: Path) -> dict:
    """The references and evaluate stages for `model`, outputs under `out` as dvc.yaml lays them
    out (the references made once per `out`)."""
    from pipeline.stages import evaluate as evaluate_stage
    from pipeline.stages import references as references_stage

    references = out / "data" / "references"
    if not references.exists():
        references_stage.run(params.vocoder, params.samples, parallel, mels=paths["mels"], split=split,
                             manifest=paths["manifest"], out=references)
    return evaluate_stage.run(params, parallel, model=model, features=paths["features"], mels=paths["mels"],
                              split=split, manifest=paths["manifest"], references=references,
                              metrics=out / "evaluate.json", per_utterance=out / "per_utterance.json",
                              plots=out / "plots" / "evaluate", samples=out / "data" / "samples",
                              page=out / "plots" / "listening.html")


def evaluate(stores, fitted, out: Path, params: EvaluateParams = FAST) -> dict:
    """The references and evaluate stages on the fitted model, outputs under `out`."""
    return evaluate_model(params, SEQUENTIAL, fitted["model"], stores, fitted["split"], out)


@pytest.fixture(scope="session")
def evaluated(stores, fitted, tmp_path_factory) -> tuple[dict, Path]:
    """One evaluation of the fitted model: its summary and its output folder."""
    out = tmp_path_factory.mktemp("evaluated")
    return evaluate(stores, fitted, out), out


def index_frames(count: int, height: int = 96, width: int = 128, bits: int = 8) -> np.ndarray:
    """RGB frames that carry their own index in `bits` black/white strips (bit b in strip b), so
    it survives lossy coding: `frame_index` reads it back."""
    frames = np.zeros((count, height, width, 3), np.uint8)
    strip = width // bits
    for index in range(count):
        for bit in range(bits):
            if index >> bit & 1:
                frames[index, :, bit * strip:(bit + 1) * strip] = 255
    return frames


def frame_index(frame: np.ndarray, bits: int = 8) -> int:
    """The index `index_frames` drew into a decoded frame (RGB or grayscale)."""
    gray = frame if frame.ndim == 2 else frame.mean(axis=2)
    strip = gray.shape[1] // bits
    return sum(1 << bit for bit in range(bits) if gray[:, bit * strip + 2:(bit + 1) * strip - 2].mean() > 128)


def write_timed_video(path: Path, frames: np.ndarray, times: list[float], audio: np.ndarray | None = None,
                      sample_rate: int | None = None) -> Path:
    """An MP4 showing frame i from times[i] seconds (a variable frame rate when the steps differ,
    1001/30000 s steps for NTSC's 29.97 fps), with AAC audio when given (int16 mono)."""
    from fractions import Fraction

    from pipeline.io.media import write_video

    write_video(path, frames, Fraction(30000, 1001), audio, sample_rate, bit_rate=4_000_000, times=times)
    return path
