"""The train stage on the tiny corpus: checkpoints, metrics, curves, and DDP with two CPU processes."""
from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from pipeline.learn.checkpoint import load_checkpoint
from pipeline.learn.dataset import LipSpeechDataset, collate
from pipeline.learn.training import TrainParams
from tests.conftest import TINY_MODEL, TINY_TRAIN, subprocess_env, train_command, train_model


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
    train = TrainParams(batch_size=2, max_epochs=1, window=16, device="cpu")  # bit for bit holds on the CPU
    results = [train_model(stores, tmp_path / f"run{i}", train=train) for i in range(2)]
    assert results[0]["best_val_loss"] == results[1]["best_val_loss"]
    first, second = (torch.load(tmp_path / f"run{i}" / "model.pt", weights_only=True) for i in range(2))
    for name, tensor in first["state_dict"].items():
        assert torch.equal(tensor, second["state_dict"][name]), name


def _torchrun(tmp_path: Path, stores, out: Path, processes: int, port: int, model: dict, train: dict,
              split: Path | None = None) -> subprocess.CompletedProcess:
    """`torchrun --nproc_per_node N -m pipeline train` with these model and train params."""
    params = out / "params.yaml"
    out.mkdir(parents=True, exist_ok=True)
    params.write_text(yaml.safe_dump({"decoder": "conv", "normalize": "standard", "model": model, "train": train}))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
               "--master_port", str(port), *train_command(params, stores, out, split)]
    return subprocess.run(command, cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=600)


# A lip reader on the encoder (DDP must let it sit out batches without a transcript) and windows
# shorter than the utterances (which carry no transcript).
DDP_MODEL = {"width": 0.125, "gru_hidden": 16, "conv_channels": 16, "ctc_weight": 1.0, "ctc_hidden": 8}
DDP_TRAIN = {"batch_size": 1, "max_epochs": 2, "window": 40, "schedule": "plateau", "lr": 0.003}


def _four_train_utterances(stores, out: Path) -> Path:
    """A split with four training utterances: two steps per process and epoch with two processes."""
    ids = sorted(i for part in json.loads(stores["split"].read_text()).values() for i in part)
    split = out / "split.json"
    out.mkdir(parents=True, exist_ok=True)
    split.write_text(json.dumps({"train": ids[:4], "val": ids[4:], "test": ids[4:]}))
    return split


@pytest.mark.slow
def test_torchrun_trains_windows_with_a_lip_reader_and_dataloader_workers_over_two_epochs(stores, tmp_path: Path):
    """Two CPU processes (gloo), random windows, the lip-reading head and two persistent DataLoader
    workers each: both epochs finish, the processes end with the same weights (the stage checks
    and says so), and the workers place every epoch's windows as the main process does (the same
    weights as a run without workers: with epoch 1's windows repeated they differ)."""
    split = _four_train_utterances(stores, tmp_path)
    runs = {}
    for workers, port in ((2, 29517), (0, 29518)):
        out = tmp_path / f"workers{workers}"
        done = _torchrun(tmp_path, stores, out, 2, port, DDP_MODEL, {**DDP_TRAIN, "num_workers": workers,
                                                                      "device": "cpu"}, split)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "the 2 training processes end with the same weights" in done.stderr
        summary = json.loads((out / "train.json").read_text())
        assert summary["processes"] == 2 and summary["epochs"] == 2 and summary["device"] == "cpu"
        runs[workers] = torch.load(out / "model.pt", weights_only=True)["state_dict"]
        model, _ = load_checkpoint(out / "model.pt")
        assert model.ctc is not None and sum(p.numel() for p in model.parameters()) == summary["parameters"]
    for name, tensor in runs[0].items():
        assert torch.equal(tensor, runs[2][name]), name


@pytest.mark.cuda
def test_torchrun_on_cuda_trains_through_nccl(stores, tmp_path: Path):
    """One process per GPU (at most two; one where there is one): each on its own GPU, NCCL for
    the gradients and the loss sums on the GPU, gloo beside it; bf16 autocast, windows, the lip
    reader and DataLoader workers, two epochs."""
    processes = min(2, torch.cuda.device_count())
    split = _four_train_utterances(stores, tmp_path)
    out = tmp_path / "cuda"
    done = _torchrun(tmp_path, stores, out, processes, 29519, DDP_MODEL,
                     {**DDP_TRAIN, "num_workers": 2, "device": "cuda"}, split)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"the {processes} training processes end with the same weights" in done.stderr
    summary = json.loads((out / "train.json").read_text())
    assert summary["processes"] == processes and summary["epochs"] == 2 and summary["device"] == "cuda"
    model, checkpoint = load_checkpoint(out / "model.pt")  # on the CPU
    assert math.isfinite(checkpoint["val_loss"])


@pytest.mark.cuda
def test_bf16_training_on_cuda_learns_as_on_the_cpu(stores, tmp_path: Path):
    """The train stage on CUDA (bf16 autocast, recurrent layers in float32): its val loss is within
    a few percent of the same run's on the CPU, and its checkpoint runs on the CPU."""
    model = dataclasses.replace(TINY_MODEL, dropout=0.0)  # the same computation on both, but for precision
    summaries = {device: train_model(stores, tmp_path / device, model=model,
                                     train=dataclasses.replace(TINY_TRAIN, device=device))
                 for device in ("cpu", "cuda")}
    assert summaries["cuda"]["device"] == "cuda"
    assert summaries["cuda"]["best_val_loss"] == pytest.approx(summaries["cpu"]["best_val_loss"], rel=0.05)
    model, _ = load_checkpoint(tmp_path / "cuda" / "model.pt")
    assert next(model.parameters()).device.type == "cpu"


def test_the_train_stage_trains_the_chosen_decoder_with_its_recipe(stores, tmp_path: Path):
    """`python -m pipeline train` lays `recipes.mlp` over model and train for the mlp decoder and
    leaves the other decoders' recipes out; the checkpoint records what it trained with."""
    out = tmp_path / "run"
    out.mkdir()
    params = out / "params.yaml"
    model = {"width": 0.125, "gru_hidden": 16, "mlp_hidden": 32, "ctc_weight": 0.0}
    params.write_text(yaml.safe_dump({
        "decoder": "mlp", "normalize": "standard", "model": model,
        "train": {"batch_size": 2, "max_epochs": 3, "window": 16, "device": "cpu"},
        "recipes": {"mlp": {"model": {"mlp_hidden": 24}, "train": {"max_epochs": 1, "window": 8}},
                    "conv": {"train": {"max_epochs": 5}}}}))
    done = subprocess.run([sys.executable, *train_command(params, stores, out)], cwd=tmp_path, env=subprocess_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    checkpoint = torch.load(out / "model.pt", weights_only=True)
    assert checkpoint["params"]["decoder"] == "mlp"
    assert (checkpoint["params"]["model"]["mlp_hidden"], checkpoint["params"]["model"]["gru_hidden"]) == (24, 16)
    assert (checkpoint["params"]["train"]["max_epochs"], checkpoint["params"]["train"]["window"]) == (1, 8)
    assert json.loads((out / "train.json").read_text())["epochs"] == 1
