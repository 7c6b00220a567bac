"""The train stage on the tiny corpus: checkpoints, metrics, curves, and DDP with two CPU processes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from pipeline.learn.checkpoint import load_checkpoint
from pipeline.learn.dataset import LipSpeechDataset, collate
from pipeline.learn.training import TrainParams
from tests.conftest import REPO, TINY_TRAIN, train_model


@pytest.mark.parametrize("decoder", ["mlp", "conv", "flow"])
def test_training_writes_a_loadable_checkpoint_metrics_and_curves(stores, tmp_path: Path, decoder: str):
    summary = train_model(stores, tmp_path, decoder)
    assert summary["epochs"] == 2 and summary["decoder"] == decoder and summary["samples_per_s"] > 0
    assert json.loads((tmp_path / "train.json").read_text())["best_val_loss"] == summary["best_val_loss"]
    curves = {p.name for p in (tmp_path / "dvclive" / "plots" / "metrics").rglob("*.tsv")}
    assert {"loss.tsv", "lr.tsv"} <= curves

    model, checkpoint = load_checkpoint(tmp_path / "model.pt")  # torch.load(weights_only=True) inside
    assert checkpoint["params"]["decoder"] == decoder and checkpoint["stats"]["speakers"] == ["s1", "s2"]
    assert checkpoint["params"]["train"] == TINY_TRAIN.__dict__
    assert checkpoint["val_loss"] == pytest.approx(summary["best_val_loss"], abs=1e-5)
    dataset = LipSpeechDataset.from_files(stores["split"], "test", stores["features"], stores["mels"],
                                          stores["stats"], stores["manifest"], window=16, stride=16)
    batch = collate([dataset[0]])
    video, _ = dataset.normalizer.module()(batch.video, batch.mel, batch.video_lengths, batch.mel_lengths)
    mel = model.infer(video, batch.video_lengths, batch.speakers, sigma=0.0)
    assert mel.shape == batch.mel.shape and torch.isfinite(mel).all()


def test_training_is_reproducible(stores, tmp_path: Path):
    results = [train_model(stores, tmp_path / f"run{i}", train=TrainParams(batch_size=2, max_epochs=1, window=16))
               for i in range(2)]
    assert results[0]["best_val_loss"] == results[1]["best_val_loss"]
    first, second = (torch.load(tmp_path / f"run{i}" / "model.pt", weights_only=True) for i in range(2))
    for name, tensor in first["state_dict"].items():
        assert torch.equal(tensor, second["state_dict"][name]), name


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(stores, tmp_path: Path):
    """torchrun starts two processes (gloo backend) of `python -m pipeline train`; they train together."""
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({
        "decoder": "conv", "normalize": "standard",
        "model": {"width": 0.125, "gru_hidden": 16, "conv_channels": 16},
        "train": {"batch_size": 1, "max_epochs": 1, "window": 16, "device": "cpu"},
    }))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
                "-m", "pipeline", "train", "--params", str(params), "--features", str(stores["features"]),
                "--mels", str(stores["mels"]), "--split", str(stores["split"]), "--stats", str(stores["stats"]),
                "--manifest", str(stores["manifest"]), "--out", str(tmp_path / "model.pt"),
                "--metrics", str(tmp_path / "train.json"), "--live", str(tmp_path / "dvclive")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(torchrun, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((tmp_path / "train.json").read_text())
    assert summary["processes"] == 2 and summary["epochs"] == 1
    model, _ = load_checkpoint(tmp_path / "model.pt")
    assert sum(p.numel() for p in model.parameters()) == summary["parameters"]
