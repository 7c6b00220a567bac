"""The training loop: the best epoch is what is kept, early stopping and the plateau scheduler act,
and DDP really averages gradients across processes."""
from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import distributed

from models.model import LipToSpeech, ModelParams, Shapes
from pipeline.learn.checkpoint import load_checkpoint
from pipeline.learn.dataset import EpochSampler, LipSpeechDataset, collate
from pipeline.learn.training import (
    Processes,
    Progress,
    TrainParams,
    make_scheduler,
    parameter_groups,
    same_weights,
    sum_across,
    train_step,
    validation_loss,
)
from tests.conftest import TINY_MODEL, train_model


def _curve(live: Path, name: str) -> list[float]:
    with open(live / "plots" / "metrics" / name) as rows:
        return [float(row[-1]) for row in csv.reader(rows, delimiter="\t") if row[0] != "step"]


def test_progress_keeps_the_best_and_counts_epochs_without_improvement():
    progress = Progress(patience=2)
    assert [progress.update(e, loss) for e, loss in enumerate([3.0, 2.0, 2.5, 1.5, 1.6, 1.7], 1)] == \
        [True, True, False, True, False, False]
    assert (progress.best, progress.best_epoch, progress.since_best, progress.stop) == (1.5, 4, 2, True)


def test_a_run_whose_val_loss_rises_keeps_the_best_epoch_stops_early_and_lowers_the_lr(stores, tmp_path: Path):
    """lr 0.03 on the tiny corpus: val loss falls for three epochs, then rises."""
    train = TrainParams(batch_size=2, lr=0.03, schedule="plateau", lr_factor=0.2, lr_patience=0, early_stopping=3,
                        max_epochs=12, window=16, device="cpu")
    summary = train_model(stores, tmp_path, train=train)
    val, lr = _curve(tmp_path / "dvclive", "val/loss.tsv"), _curve(tmp_path / "dvclive", "lr.tsv")
    best = min(range(len(val)), key=val.__getitem__) + 1
    assert 1 < best < len(val) and val[-1] > min(val), val  # the run this test needs
    # Early stopping: `early_stopping` epochs without improvement, then no more.
    assert summary["epochs"] == len(val) == best + train.early_stopping < train.max_epochs
    # The plateau scheduler (patience 0) cut the lr after every epoch that did not improve.
    assert lr[:best] == [train.lr] * best
    assert lr[best:] == pytest.approx([train.lr * train.lr_factor ** n for n in range(1, len(val) - best + 1)])
    # The kept checkpoint is the best epoch's weights: they score that epoch's val loss again.
    model, checkpoint = load_checkpoint(tmp_path / "model.pt")
    assert checkpoint["epoch"] == summary["best_epoch"] == best
    assert checkpoint["val_loss"] == pytest.approx(min(val), abs=1e-6)
    val_set = LipSpeechDataset.from_files(stores["split"], "val", stores["features"], stores["mels"], stores["stats"],
                                          stores["manifest"], window=16, stride=16)
    loader = torch.utils.data.DataLoader(val_set, batch_size=2, collate_fn=collate)
    normalizer = val_set.normalizer.module()
    assert validation_loss(model, model, loader, torch.device("cpu"), normalizer) == pytest.approx(min(val), rel=1e-5)


def test_the_onecycle_schedule_warms_up_then_anneals_to_zero_at_the_last_epoch(stores, tmp_path: Path):
    train = TrainParams(batch_size=1, lr=0.01, schedule="onecycle", early_stopping=99, max_epochs=6, window=16,
                        device="cpu")
    summary = train_model(stores, tmp_path, train=train)
    lr = _curve(tmp_path / "dvclive", "lr.tsv")  # at the end of each epoch
    peak = lr.index(max(lr))
    assert summary["epochs"] == len(lr) == 6
    assert lr[0] < max(lr) and peak < len(lr) - 1, lr  # warmed up, then annealed
    assert lr[:peak + 1] == sorted(lr[:peak + 1]) and lr[peak:] == sorted(lr[peak:], reverse=True), lr
    assert max(lr) <= train.lr and lr[-1] < train.lr * 1e-3, lr


@pytest.mark.parametrize("schedule", ["onecycle", "plateau"])
def test_the_lip_reading_head_learns_at_its_own_multiple_of_the_learning_rate(schedule: str):
    model = LipToSpeech("conv", dataclasses.replace(TINY_MODEL, ctc_weight=1.0, ctc_hidden=4),
                        Shapes(3, 8, 2, 8, n_speakers=2), ("bin", "blue"))
    train = TrainParams(lr=0.002, ctc_lr_scale=5.0, schedule=schedule, max_epochs=3)
    groups = parameter_groups(model, train)
    head = {id(p) for p in model.ctc.parameters()}
    assert [len(g["params"]) for g in groups] == [len(list(model.parameters())) - len(head), len(head)]
    assert {id(p) for p in groups[1]["params"]} == head
    optimizer = torch.optim.Adam(groups, lr=train.lr)
    scheduler = make_scheduler(optimizer, train, steps_per_epoch=4)
    peaks = [0.0, 0.0]
    for _ in range(12):
        optimizer.step()
        scheduler.step() if schedule == "onecycle" else scheduler.step(1.0)
        peaks = [max(peak, group["lr"]) for peak, group in zip(peaks, optimizer.param_groups, strict=True)]
    speech, head_lr = (group["lr"] for group in optimizer.param_groups)
    assert head_lr == pytest.approx(5.0 * speech)  # the ratio holds all along the schedule
    assert peaks == pytest.approx([0.002, 0.01], rel=1e-3)
    assert len(parameter_groups(LipToSpeech("conv", TINY_MODEL, Shapes(3, 8, 2, 8, n_speakers=2)), train)) == 1


def _batches(stores) -> tuple[list, torch.nn.Module]:
    """Two training windows and the normalisation the training step applies to them."""
    dataset = LipSpeechDataset.from_files(stores["split"], "train", stores["features"], stores["mels"],
                                          stores["stats"], stores["manifest"], window=16, seed=3)
    return [dataset[0], dataset[1]], dataset.normalizer.module()


def _model(samples, params: ModelParams = TINY_MODEL) -> LipToSpeech:
    torch.manual_seed(0)
    first = samples[0]
    shapes = Shapes(first.video.shape[0], first.mel.shape[0], 3, 16, n_speakers=2)
    # eval(): BatchNorm on its running statistics and no dropout, so a step does not depend on
    # how the batch is split between processes: only the gradient averaging does.
    return LipToSpeech("conv", params, shapes).eval()


def _ddp_step(rank: int, samples, normalizer, rendezvous: str, out: str) -> None:
    distributed.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        model = _model(samples)
        network = torch.nn.parallel.DistributedDataParallel(model)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        train_step(network, model, collate([samples[rank]]), optimizer, torch.device("cpu"), normalizer)
        torch.save(model.state_dict(), f"{out}/rank{rank}.pt")
    finally:
        distributed.destroy_process_group()


def test_ddp_processes_end_a_step_with_the_weights_of_one_process_on_the_union_batch(stores, tmp_path: Path):
    samples, normalizer = _batches(stores)
    mp.spawn(_ddp_step, args=(samples, normalizer, str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    single = _model(samples)
    train_step(single, single, collate(samples), torch.optim.SGD(single.parameters(), lr=0.1), torch.device("cpu"),
               normalizer)
    before = _model(samples).state_dict()
    moved = 0
    for name, weights in single.state_dict().items():
        assert torch.equal(ranks[0][name], ranks[1][name]), f"{name} differs between the two processes"
        torch.testing.assert_close(ranks[0][name], weights, atol=1e-6, rtol=1e-5, msg=f"{name} != union batch")
        moved += int(not torch.equal(weights, before[name]))
    assert moved > 10  # the step changed the weights (each rank saw a different utterance)


def _recording(collective, devices: list[torch.device]):
    def call(tensor: torch.Tensor, *args, **kwargs):
        devices.append(tensor.device)
        return collective(tensor, *args, **kwargs)
    return call


def _agreement(rank: int, rendezvous: str, out: str, perturb: bool) -> None:
    distributed.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=2)
    try:
        processes = Processes(torch.device("cpu"), rank, 2, distributed=True)
        devices: list[torch.device] = []
        for name in ("all_reduce", "broadcast"):  # record where every reduced tensor lives
            setattr(distributed, name, _recording(getattr(distributed, name), devices))
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        if perturb and rank == 1:
            with torch.no_grad():
                model.weight[0, 0] += 1e-6
        torch.save({"same": same_weights(model, processes), "sums": sum_across([rank + 1.0, 2.0], processes),
                    "devices": devices}, f"{out}/rank{rank}.pt")
    finally:
        distributed.destroy_process_group()


@pytest.mark.parametrize("perturb", [False, True])
def test_the_processes_check_that_they_hold_the_same_weights(tmp_path: Path, perturb: bool):
    """What ends a DDP run: every process compares its weights with rank 0's (one weight off by
    1e-6 on one process is found, by both), and reductions happen on the training device."""
    mp.spawn(_agreement, args=(str(tmp_path / "rendezvous"), str(tmp_path), perturb), nprocs=2, join=True)
    for rank in range(2):
        result = torch.load(tmp_path / f"rank{rank}.pt", weights_only=False)
        assert result["same"] is not perturb and result["sums"] == [3.0, 4.0]
        assert result["devices"] and set(result["devices"]) == {torch.device("cpu")}


@pytest.mark.cuda
def test_a_bf16_training_step_on_cuda_follows_the_fp32_cpu_step(stores):
    """train_step on CUDA runs under bf16 autocast: its loss matches the CPU's fp32 loss to bf16
    precision, and the weights move the same way. Not closer: on an H200 the whole update's cosine
    with the CPU's was 0.946 (1.00000 with autocast off, so precision is the only difference),
    because a bias or convolution just before a BatchNorm has a (near) zero gradient in exact
    arithmetic, which bf16 leaves as rounding noise."""
    samples, normalizer = _batches(stores)
    losses, updates = {}, {}
    for device in ("cpu", "cuda"):
        # Training mode (cuDNN's GRU has no backward in eval mode) without dropout: the same step on both.
        model = _model(samples, dataclasses.replace(TINY_MODEL, dropout=0.0)).train().to(device)
        before = {name: p.detach().clone().cpu() for name, p in model.named_parameters()}
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        losses[device] = train_step(model, model, collate(samples), optimizer, torch.device(device),
                                    normalizer.to(device))
        updates[device] = torch.cat([(p.detach().cpu() - before[name]).flatten()
                                     for name, p in model.named_parameters()])
    assert losses["cuda"] == pytest.approx(losses["cpu"], rel=2e-3)  # 6e-5 on an H200
    assert torch.nn.functional.cosine_similarity(updates["cuda"], updates["cpu"], dim=0) > 0.9


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_a_killed_run_resumes_from_its_last_epoch_to_the_same_result(stores, tmp_path: Path, device: str):
    """`python -m pipeline train` killed (SIGKILL) after its second epoch, then run again:
    it continues from the saved epoch and ends with the uninterrupted run's best val loss,
    curves and weights: bit for bit on the CPU; on CUDA, whose kernels (CTC's backward among
    them) are not deterministic, within 1 %."""
    import json
    import signal
    import subprocess
    import sys
    import time

    import yaml

    from tests.conftest import subprocess_env, train_command

    epochs = 5 if device == "cpu" else 20  # a GPU runs the tiny epochs too fast to be caught after the second
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({
        "decoder": "conv", "normalize": "standard",
        "model": {"width": 0.125, "gru_hidden": 16, "conv_channels": 16, "dropout": 0.25},
        "train": {"batch_size": 1, "max_epochs": epochs, "lr": 0.003, "schedule": "onecycle", "shift": 2,
                  "time_mask": 5, "early_stopping": epochs, "device": device},
    }))

    def command(out: Path) -> list[str]:
        return [sys.executable, *train_command(params, stores, out)]

    env = subprocess_env()
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(command(whole), env=env, check=True, capture_output=True, timeout=300)
    state = killed / "model.pt.resume"
    process = subprocess.Popen(command(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if state.is_file() and torch.load(state, weights_only=True)["epoch"] >= 2:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    stopped_after = torch.load(state, weights_only=True)["epoch"]
    assert 2 <= stopped_after < epochs
    (killed / "model.pt").unlink(missing_ok=True)  # as `dvc repro` removes outputs before rerunning
    again = subprocess.run(command(killed), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resuming after epoch {stopped_after}" in again.stderr
    assert not state.exists()  # complete: nothing left to resume
    summaries = [json.loads((run / "train.json").read_text()) for run in (whole, killed)]
    assert summaries[0]["epochs"] == summaries[1]["epochs"] == epochs and summaries[1]["device"] == device
    curves = {name: [_curve(run / "dvclive", name) for run in (whole, killed)] for name in ("val/loss.tsv", "lr.tsv")}
    weights = [torch.load(run / "model.pt", weights_only=True)["state_dict"] for run in (whole, killed)]
    if device == "cpu":
        assert summaries[0]["best_val_loss"] == summaries[1]["best_val_loss"]
        for curve, (uninterrupted, resumed) in curves.items():  # lr: the one-cycle schedule went on
            assert uninterrupted == resumed, curve
        for name, tensor in weights[0].items():
            assert torch.equal(tensor, weights[1][name]), name
    else:
        assert summaries[0]["best_val_loss"] == pytest.approx(summaries[1]["best_val_loss"], rel=1e-2)
        assert curves["lr.tsv"][0] == curves["lr.tsv"][1]
        assert curves["val/loss.tsv"][0] == pytest.approx(curves["val/loss.tsv"][1], rel=1e-2)


def test_every_epoch_draws_its_items_with_its_own_epoch(stores, tmp_path: Path, monkeypatch):
    """The loop hands each epoch to the sampler, which passes it with every index into the
    DataLoader workers (tests/learn/test_dataset.py: they place the windows by it)."""
    drawn: list[list[tuple[int, int]]] = []
    iterate = EpochSampler.__iter__

    def recording(self):
        keys = list(iterate(self))
        drawn.append(keys)
        return iter(keys)

    monkeypatch.setattr(EpochSampler, "__iter__", recording)
    train = TrainParams(batch_size=1, max_epochs=3, window=16, num_workers=2, device="cpu", schedule="plateau")
    assert train_model(stores, tmp_path, train=train)["epochs"] == 3
    assert [{epoch for _, epoch in keys} for keys in drawn] == [{1}, {2}, {3}]


def test_the_curves_are_written_in_a_git_repository_without_a_commit(tmp_path: Path, monkeypatch, caplog):
    """dvclive reads the revision of the repository it runs in; a new one has none ("Empty git
    repo"), so the training stage tells it to write its files only, and says so."""
    import subprocess

    from pipeline.learn.training import _live

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    live = _live(tmp_path / "dvclive")
    for step in range(2):
        live.log_metric("train/loss", 1.0 / (step + 1))
        live.next_step()
    live.end()
    rows = list(csv.reader((tmp_path / "dvclive" / "plots" / "metrics" / "train" / "loss.tsv").open(), delimiter="\t"))
    assert rows == [["step", "loss"], ["0", "1.0"], ["1", "0.5"]]
    assert any("no commit yet" in record.getMessage() for record in caplog.records)
