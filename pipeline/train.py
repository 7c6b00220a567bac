"""Stage `train`: fit the lip-to-speech model on the train split, keep the best by val loss.

    python -m pipeline.train --out data/model.pt --metrics metrics/train.json
    torchrun --nproc_per_node 4 -m pipeline.train ...      # several GPUs (DDP), same outputs

Adam, ReduceLROnPlateau and early stopping on the val loss (the thesis' settings are the
defaults in TrainParams). CUDA with bf16 autocast when present, else the CPU. Curves go to
dvclive (`dvc plots show`); the checkpoint holds the weights, the model config, the params, the
normalisation stats and the preprocessing (crop, features, audio settings), and loads with `torch.load(path, weights_only=True)`.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import distributed
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from models.model import DECODERS, LipToSpeech, ModelParams, Shapes
from pipeline import params as params_io
from pipeline.dataset import LipSpeechDataset, collate, worker_init_fn
from pipeline.device import resolve_device
from pipeline.manifest import read_manifest, write_json
from pipeline.split import load_split
from pipeline.stage import StageError, run_stage
from pipeline.store import StoreReader

log = logging.getLogger("pipeline.train")


@dataclass(frozen=True)
class TrainParams:
    """`train` in params.yaml; defaults are the thesis'."""

    batch_size: int = 8
    lr: float = 1e-4
    lr_factor: float = 0.2
    lr_patience: int = 4
    early_stopping: int = 8
    max_epochs: int = 128
    seed: int = 1337
    window: int | None = None  # frames per example; the mlp decoder needs one (default: median length)
    num_workers: int = 0
    device: str = "auto"  # auto | cpu | cuda


@dataclass(frozen=True)
class Inputs:
    features: Path
    mels: Path
    split: Path
    stats: Path
    manifest: Path


def _distributed() -> tuple[int, int]:
    """(rank, world size); starts the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not distributed.is_initialized():
        distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (distributed.get_rank(), world) if world > 1 else (0, 1)


def _sum_across(values: list[float], world: int) -> list[float]:
    if world == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64)
    distributed.all_reduce(tensor)
    return tensor.tolist()


def build(decoder: str, model: ModelParams, train: TrainParams, normalize: str, inputs: Inputs):
    """Datasets, the model (shaped by the stores), the stats and the preprocessing record."""
    stats = json.loads(inputs.stats.read_text())
    speaker_of = {u.id: u.speaker for u in read_manifest(inputs.manifest)}
    features, mels = StoreReader(inputs.features), StoreReader(inputs.mels)
    window = train.window
    if decoder == "mlp" and window is None:
        window = int(np.median(list(features.lengths.values())))
    common = dict(stats=stats, speaker_of=speaker_of, normalize=normalize, window=window)
    train_set = LipSpeechDataset(load_split(inputs.split, "train"), features, mels, seed=train.seed, **common)
    # Validation sees every frame once: whole utterances, or consecutive windows when windowed.
    val_set = LipSpeechDataset(load_split(inputs.split, "val"), features, mels, stride=window, **common)
    first = train_set[0]
    shapes = Shapes(in_channels=first.video.shape[0], n_mels=first.mel.shape[0], k=train_set.k,
                    frames=window or first.video.shape[1], n_speakers=len(stats["speakers"]),
                    output="sigmoid" if normalize == "minmax" else "linear")
    return train_set, val_set, LipToSpeech(decoder, model, shapes), stats, preprocessing(features, mels)


CROP_KEYS = ("mode", "size", "padding", "grayscale", "derivatives", "channels")


def preprocessing(features: StoreReader, mels: StoreReader) -> dict:
    """What turned videos and audio into the model's inputs and targets (crop, features, audio
    settings), kept in the checkpoint so `speak` and `evaluate` redo exactly that."""
    from pipeline.audio import AudioParams

    audio_keys = (*AudioParams.__dataclass_fields__, "hop_length")
    return {"features": {k: features.attrs[k] for k in CROP_KEYS if k in features.attrs},
            "audio": {k: mels.attrs[k] for k in audio_keys}}


def run(decoder: str, model_params: ModelParams, train: TrainParams, normalize: str, inputs: Inputs,
        out: Path, metrics_path: Path, live_dir: Path) -> dict:
    if decoder not in DECODERS:
        raise StageError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
    rank, world = _distributed()
    torch.manual_seed(train.seed)
    device = resolve_device(train.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", rank % torch.cuda.device_count())
    train_set, val_set, model, stats, preprocessed = build(decoder, model_params, train, normalize, inputs)
    model.to(device)
    network = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    generator = torch.Generator().manual_seed(train.seed)
    sampler = (DistributedSampler(train_set, world, rank, shuffle=True, seed=train.seed) if world > 1
               else RandomSampler(train_set, generator=generator))
    loader_options = dict(batch_size=train.batch_size, collate_fn=collate, num_workers=train.num_workers,
                          worker_init_fn=worker_init_fn if train.num_workers else None,
                          pin_memory=device.type == "cuda", persistent_workers=train.num_workers > 0)
    train_loader = DataLoader(train_set, sampler=sampler, drop_last=decoder == "mlp" and len(train_set) > train.batch_size,
                              **loader_options)
    val_loader = DataLoader(val_set, sampler=DistributedSampler(val_set, world, rank, shuffle=False) if world > 1
                            else None, **loader_options)
    optimizer = torch.optim.Adam(model.parameters(), lr=train.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=train.lr_factor, patience=train.lr_patience)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext())
    live = _live(live_dir) if rank == 0 else None
    best, best_epoch, since_best, epochs = float("inf"), 0, 0, 0
    samples, compute_seconds, wait_seconds = 0, 0.0, 0.0
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
            video, mel, video_lengths, mel_lengths, speakers = _to(device, batch)
            with autocast:
                outputs = network(video, video_lengths, speakers, mel, mel_lengths)
                loss = model.loss(outputs, mel, mel_lengths)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            totals[0] += loss.item() * len(batch.ids)
            totals[1] += len(batch.ids)
            samples += len(batch.ids)
            ready = time.perf_counter()
            compute_seconds += ready - started
        train_loss = _ratio(_sum_across(totals, world))
        val_loss = evaluate(network, model, val_loader, device, autocast, world)
        scheduler.step(val_loss)
        improved = val_loss < best
        if improved:
            best, best_epoch, since_best = val_loss, epoch, 0
            if rank == 0:
                save_checkpoint(out, model, stats, preprocessed, decoder, model_params, train, normalize, epoch, val_loss)
        else:
            since_best += 1
        if live is not None:
            live.log_metric("train/loss", train_loss)
            live.log_metric("val/loss", val_loss)
            live.log_metric("lr", optimizer.param_groups[0]["lr"])
            live.next_step()
        log.info("epoch %d: train %.5f, val %.5f%s", epoch, train_loss, val_loss, " (best)" if improved else "")
        if since_best >= train.early_stopping:
            log.info("no val improvement for %d epochs: stopping", since_best)
            break
    summary = {
        "decoder": decoder,
        "best_val_loss": round(best, 6),
        "best_epoch": best_epoch,
        "epochs": epochs,
        "samples_per_s": round(samples * world / max(compute_seconds + wait_seconds, 1e-9), 2),
        "data_wait_share": round(wait_seconds / max(compute_seconds + wait_seconds, 1e-9), 4),
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": device.type,
        "processes": world,
    }
    if rank == 0:
        write_json(metrics_path, summary)
        live.end()
    if world > 1:
        distributed.barrier()
        distributed.destroy_process_group()
    return summary


def _ratio(totals: list[float]) -> float:
    return totals[0] / max(totals[1], 1.0)


def _to(device: torch.device, batch):
    return (batch.video.to(device, non_blocking=True), batch.mel.to(device, non_blocking=True),
            batch.video_lengths.to(device), batch.mel_lengths.to(device), batch.speakers.to(device))


@torch.no_grad()
def evaluate(network, model: LipToSpeech, loader: DataLoader, device, autocast, world: int) -> float:
    """Mean loss per utterance over the loader (all processes together)."""
    network.eval()
    totals = [0.0, 0.0]
    for batch in loader:
        video, mel, video_lengths, mel_lengths, speakers = _to(device, batch)
        with autocast:
            loss = model.loss(network(video, video_lengths, speakers, mel, mel_lengths), mel, mel_lengths)
        totals[0] += loss.item() * len(batch.ids)
        totals[1] += len(batch.ids)
    return _ratio(_sum_across(totals, world))


def save_checkpoint(path: Path, model: LipToSpeech, stats: dict, preprocessed: dict, decoder: str,
                    model_params: ModelParams, train: TrainParams, normalize: str, epoch: int, val_loss: float) -> None:
    """Weights + everything needed to use them, as plain types (loads with weights_only=True);
    written next to `path`, then renamed."""
    checkpoint = {
        "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
        "config": model.config(),
        "stats": stats,
        "preprocessing": preprocessed,
        "params": {"decoder": decoder, "model": dataclasses.asdict(model_params),
                   "train": dataclasses.asdict(train), "normalize": normalize},
        "epoch": epoch,
        "val_loss": float(val_loss),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(checkpoint, partial)
    os.replace(partial, path)


def load_checkpoint(path: Path, device: str | torch.device = "cpu") -> tuple[LipToSpeech, dict]:
    """The model (eval mode) and the checkpoint's other contents."""
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    model = LipToSpeech.from_config(checkpoint["config"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.to(device).eval(), checkpoint


def _live(directory: Path):
    from dvclive import Live

    # dvc.yaml declares the plots itself; dvclive only writes its files.
    return Live(dir=str(directory), dvcyaml=None, save_dvc_exp=False, report=None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=params_io.DEFAULT_PATH)
    parser.add_argument("--features", type=Path, default=Path("data/features"))
    parser.add_argument("--mels", type=Path, default=Path("data/mels"))
    parser.add_argument("--split", type=Path, default=Path("data/split.json"))
    parser.add_argument("--stats", type=Path, default=Path("data/stats.json"))
    parser.add_argument("--manifest", type=Path, default=Path("data/manifest.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("data/model.pt"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/train.json"))
    parser.add_argument("--live", type=Path, default=Path("dvclive"))
    args = parser.parse_args(argv)
    inputs = Inputs(args.features, args.mels, args.split, args.stats, args.manifest)
    run_stage(log, lambda values: run(
        values.get("decoder", "conv"),
        params_io.section(ModelParams, values.get("model"), "model"),
        params_io.section(TrainParams, values.get("train"), "train"),
        values.get("normalize", "standard"), inputs, args.out, args.metrics, args.live), args.params)


if __name__ == "__main__":
    from pipeline.train import main as stage_main

    stage_main()
