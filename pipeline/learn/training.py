"""Training the lip-to-speech model: data and model from the stores, the loop, DDP, curves.

Adam, ReduceLROnPlateau and early stopping on the val loss; the checkpoint of the best epoch by
val loss is kept. CUDA with bf16 autocast when present, else the CPU. Under torchrun (several
processes, `WORLD_SIZE` set) the model is wrapped in DistributedDataParallel: each process sees
its share of every batch, gradients are averaged across processes, losses summed across them.
Curves go to dvclive (`dvc plots show`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import distributed
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from models.model import Decoder, LipToSpeech, ModelParams, Shapes
from pipeline.compute.device import resolve_device
from pipeline.io.manifest import read_manifest, speakers_by_id
from pipeline.io.splits import load_split
from pipeline.io.store import StoreReader
from pipeline.learn.checkpoint import preprocessing, save_checkpoint
from pipeline.learn.dataset import Batch, LipSpeechDataset, collate, worker_init_fn
from pipeline.learn.normalization import Normalization

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainParams:
    """`train` in params.yaml; defaults as params.yaml (the thesis: lr 1e-4, up to 128 epochs)."""

    batch_size: int = 8
    lr: float = 1e-3
    lr_factor: float = 0.2  # ReduceLROnPlateau
    lr_patience: int = 4
    early_stopping: int = 8  # epochs without val improvement
    max_epochs: int = 6
    seed: int = 1337
    window: int | None = None  # frames per example; the mlp decoder needs one (default: median length)
    num_workers: int = 0
    device: str = "auto"  # auto | cpu | cuda


@dataclass(frozen=True)
class TrainingData:
    """Where the training stage reads from."""

    features: Path
    mels: Path
    split: Path
    stats: Path
    manifest: Path


@dataclass
class Setup:
    """What training starts from: datasets, the model shaped by the stores, what the checkpoint keeps."""

    train_set: LipSpeechDataset
    val_set: LipSpeechDataset
    model: LipToSpeech
    stats: dict
    preprocessing: dict


@dataclass
class Progress:
    """The best val loss so far and the epochs since: when to keep a checkpoint, when to stop."""

    patience: int
    best: float = float("inf")
    best_epoch: int = 0
    since_best: int = 0

    def update(self, epoch: int, val_loss: float) -> bool:
        """Record an epoch's val loss; True when it is a new best (keep this epoch's weights)."""
        if val_loss < self.best:
            self.best, self.best_epoch, self.since_best = val_loss, epoch, 0
            return True
        self.since_best += 1
        return False

    @property
    def stop(self) -> bool:
        return self.since_best >= self.patience


@contextlib.contextmanager
def process_group() -> Iterator[tuple[int, int]]:
    """(rank, world size); under torchrun, starts the process group and ends it afterwards."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        yield 0, 1
        return
    if not distributed.is_initialized():
        distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        yield distributed.get_rank(), world
        distributed.barrier()
    finally:
        distributed.destroy_process_group()


def build(decoder: Decoder, model: ModelParams, train: TrainParams, normalize: Normalization,
          data: TrainingData) -> Setup:
    """Datasets, the model (shaped by the stores), the stats and the preprocessing record."""
    stats = json.loads(data.stats.read_text())
    speaker_of = speakers_by_id(read_manifest(data.manifest))
    features, mels = StoreReader(data.features), StoreReader(data.mels)
    window = train.window
    if decoder == "mlp" and window is None:
        window = int(np.median(list(features.lengths.values())))
    common = dict(stats=stats, speaker_of=speaker_of, normalize=normalize, window=window)
    train_set = LipSpeechDataset(load_split(data.split, "train"), features, mels, seed=train.seed, **common)
    # Validation sees every frame once: whole utterances, or consecutive windows when windowed.
    val_set = LipSpeechDataset(load_split(data.split, "val"), features, mels, stride=window, **common)
    first = train_set[0]
    shapes = Shapes(in_channels=first.video.shape[0], n_mels=first.mel.shape[0], k=train_set.k,
                    frames=window or first.video.shape[1], n_speakers=len(stats["speakers"]),
                    output="sigmoid" if normalize == "minmax" else "linear")
    return Setup(train_set, val_set, LipToSpeech(decoder, model, shapes), stats, preprocessing(features, mels))


def autocast_for(device: torch.device):
    """bf16 autocast on CUDA; nothing on the CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


def to_device(batch: Batch, device: torch.device) -> tuple[torch.Tensor, ...]:
    """video, mel, video lengths, mel lengths, speakers on `device`."""
    return (batch.video.to(device, non_blocking=True), batch.mel.to(device, non_blocking=True),
            batch.video_lengths.to(device), batch.mel_lengths.to(device), batch.speakers.to(device))


def train_step(network: torch.nn.Module, model: LipToSpeech, batch: Batch, optimizer: torch.optim.Optimizer,
               device: torch.device) -> float:
    """One optimisation step on a batch; `network` is the model or its DDP wrapper (which averages
    the gradients across processes in `backward`). Returns the batch's loss."""
    video, mel, video_lengths, mel_lengths, speakers = to_device(batch, device)
    with autocast_for(device):
        outputs = network(video, video_lengths, speakers, mel, mel_lengths)
        loss = model.loss(outputs, mel, mel_lengths)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def _sum_across(values: list[float], world: int) -> list[float]:
    if world == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64)
    distributed.all_reduce(tensor)
    return tensor.tolist()


def _ratio(totals: list[float]) -> float:
    return totals[0] / max(totals[1], 1.0)


@torch.no_grad()
def validation_loss(network: torch.nn.Module, model: LipToSpeech, loader: DataLoader, device: torch.device,
                    world: int = 1) -> float:
    """Mean loss per utterance over the loader (all processes together)."""
    network.eval()
    totals = [0.0, 0.0]
    for batch in loader:
        video, mel, video_lengths, mel_lengths, speakers = to_device(batch, device)
        with autocast_for(device):
            loss = model.loss(network(video, video_lengths, speakers, mel, mel_lengths), mel, mel_lengths)
        totals[0] += loss.item() * len(batch.ids)
        totals[1] += len(batch.ids)
    return _ratio(_sum_across(totals, world))


def _live(directory: Path):
    from dvclive import Live

    # dvc.yaml declares the plots itself; dvclive only writes its files.
    return Live(dir=str(directory), dvcyaml=None, save_dvc_exp=False, report=None)


def fit(decoder: Decoder, model_params: ModelParams, train: TrainParams, normalize: Normalization,
        data: TrainingData, checkpoint: Path, live_dir: Path, rank: int = 0, world: int = 1) -> dict:
    """Train; the best epoch's checkpoint goes to `checkpoint` and the curves to `live_dir` (rank
    0 only). Returns the run's summary (the train metrics)."""
    torch.manual_seed(train.seed)
    device = resolve_device(train.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", rank % torch.cuda.device_count())
    setup = build(decoder, model_params, train, normalize, data)
    model, train_set = setup.model.to(device), setup.train_set
    network = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    generator = torch.Generator().manual_seed(train.seed)
    sampler = (DistributedSampler(train_set, world, rank, shuffle=True, seed=train.seed) if world > 1
               else RandomSampler(train_set, generator=generator))
    loader_options = dict(batch_size=train.batch_size, collate_fn=collate, num_workers=train.num_workers,
                          worker_init_fn=worker_init_fn if train.num_workers else None,
                          pin_memory=device.type == "cuda", persistent_workers=train.num_workers > 0)
    train_loader = DataLoader(train_set, sampler=sampler, drop_last=decoder == "mlp" and len(train_set) > train.batch_size,
                              **loader_options)
    val_loader = DataLoader(setup.val_set, sampler=DistributedSampler(setup.val_set, world, rank, shuffle=False)
                            if world > 1 else None, **loader_options)
    optimizer = torch.optim.Adam(model.parameters(), lr=train.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=train.lr_factor, patience=train.lr_patience)
    params = {"decoder": decoder, "model": dataclasses.asdict(model_params), "train": dataclasses.asdict(train),
              "normalize": normalize}
    live = _live(live_dir) if rank == 0 else None
    progress = Progress(train.early_stopping)
    epochs, samples, compute_seconds, wait_seconds = 0, 0, 0.0, 0.0
    for epoch in range(1, train.max_epochs + 1):
        epochs = epoch
        train_set.set_epoch(epoch)
        if world > 1:
            sampler.set_epoch(epoch)
        network.train()
        totals = [0.0, 0.0]
        ready = time.perf_counter()
        for batch in train_loader:
            started = time.perf_counter()
            wait_seconds += started - ready
            loss = train_step(network, model, batch, optimizer, device)
            totals[0] += loss * len(batch.ids)
            totals[1] += len(batch.ids)
            samples += len(batch.ids)
            ready = time.perf_counter()
            compute_seconds += ready - started
        train_loss = _ratio(_sum_across(totals, world))
        val_loss = validation_loss(network, model, val_loader, device, world)
        scheduler.step(val_loss)
        improved = progress.update(epoch, val_loss)
        if improved and rank == 0:
            save_checkpoint(checkpoint, model, setup.stats, setup.preprocessing, params, epoch, val_loss)
        if live is not None:
            live.log_metric("train/loss", train_loss)
            live.log_metric("val/loss", val_loss)
            live.log_metric("lr", optimizer.param_groups[0]["lr"])
            live.next_step()
        log.info("epoch %d: train %.5f, val %.5f%s", epoch, train_loss, val_loss, " (best)" if improved else "")
        if progress.stop:
            log.info("no val improvement for %d epochs: stopping", progress.since_best)
            break
    if live is not None:
        live.end()
    elapsed = max(compute_seconds + wait_seconds, 1e-9)
    return {
        "decoder": decoder,
        "best_val_loss": round(progress.best, 6),
        "best_epoch": progress.best_epoch,
        "epochs": epochs,
        "samples_per_s": round(samples * world / elapsed, 2),
        "data_wait_share": round(wait_seconds / elapsed, 4),
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": device.type,
        "processes": world,
    }
