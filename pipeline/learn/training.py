"""Training the lip-to-speech model: data and model from the stores, the loop, DDP, curves.

Adam, ReduceLROnPlateau and early stopping on the val loss; the checkpoint of the best epoch by
val loss is kept. CUDA with bf16 autocast when present (recurrent layers stay in float32), else
the CPU. Under torchrun (`WORLD_SIZE` set) each process takes the GPU of its `LOCAL_RANK`, joins a
process group (gloo for CPU tensors, NCCL for CUDA ones) and wraps the model in
DistributedDataParallel: each process sees its share of every batch, gradients are averaged
across processes, losses summed across them, and the run fails if the processes end with
different weights. Curves go to dvclive (`dvc plots show`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import distributed, nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, Sampler

from models.lipreading import CHARACTERS, word_vocabulary
from models.model import Decoder, LipToSpeech, ModelParams, Shapes
from pipeline.compute.device import resolve_device
from pipeline.corpora import grid
from pipeline.errors import StageError
from pipeline.io.files import remove, replacing
from pipeline.io.manifest import read_manifest, speakers_by_id
from pipeline.io.splits import load_split
from pipeline.io.store import StoreReader
from pipeline.learn.checkpoint import preprocessing, write_checkpoint
from pipeline.learn.dataset import (
    Batch,
    EpochSampler,
    LipSpeechDataset,
    collate,
    transcripts,
    worker_init_fn,
)
from pipeline.learn.normalization import BatchNormalizer, Normalization

log = logging.getLogger(__name__)


Schedule = Literal["plateau", "onecycle"]


@dataclass(frozen=True)
class TrainParams:
    """`train` in params.yaml; defaults as params.yaml (the thesis: lr 1e-4, up to 128 epochs)."""

    batch_size: int = 8
    lr: float = 3e-3  # onecycle: the peak
    ctc_lr_scale: float = 3.0  # the lip-reading head learns at this multiple of lr
    schedule: Schedule = "onecycle"  # plateau: ReduceLROnPlateau on val loss | onecycle: warm up, anneal to 0
    lr_factor: float = 0.2  # plateau
    lr_patience: int = 4
    early_stopping: int = 8  # epochs without val improvement
    max_epochs: int = 20
    seed: int = 1337
    window: int | None = None  # frames per example; the mlp decoder needs one (default: median length)
    shift: int = 0  # augmentation: move each training video by up to this many pixels (jitter)
    time_mask: int = 0  # augmentation: blank a span of up to this many frames of each training video
    num_workers: int = 0
    device: str = "auto"  # auto | cpu | cuda
    resume: bool = True  # a killed run continues from its last finished epoch (same params and data)


# What a run may change and still resume (they do not change what each epoch computes; max_epochs
# does under onecycle, whose learning rate runs out at the last epoch).
RESUMABLE = ("max_epochs", "early_stopping", "num_workers", "device", "resume")
LENGTH_POOL_BATCHES = 16  # batches' worth of drawn utterances sorted by length together (EpochSampler)


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


@dataclass(frozen=True)
class Processes:
    """Where this process trains: its device, its rank among `world` processes, and whether they
    train together in a process group (under torchrun, even a group of one)."""

    device: torch.device
    rank: int = 0
    world: int = 1
    distributed: bool = False


def backend_for(device: torch.device) -> str:
    """The process group's backends: gloo serves CPU tensors always, NCCL the CUDA ones."""
    return "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"


@contextlib.contextmanager
def process_group(device_name: str) -> Iterator[Processes]:
    """This process's place in training. Under torchrun, a CUDA process is bound to the GPU of
    its LOCAL_RANK before any CUDA work (else every rank opens a context on GPU 0 and NCCL has to
    guess), then the process group starts; it ends afterwards."""
    device = resolve_device(device_name)
    if "WORLD_SIZE" not in os.environ:
        yield Processes(device)
        return
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not distributed.is_initialized():
        distributed.init_process_group(backend_for(device), device_id=device if device.type == "cuda" else None)
    try:
        yield Processes(device, distributed.get_rank(), distributed.get_world_size(), distributed=True)
        distributed.barrier()
    finally:
        distributed.destroy_process_group()


def build(decoder: Decoder, model: ModelParams, train: TrainParams, normalize: Normalization,
          data: TrainingData) -> Setup:
    """Datasets, the model (shaped by the stores), the stats and the preprocessing record."""
    stats = json.loads(data.stats.read_text())
    utterances = read_manifest(data.manifest)
    features, mels = StoreReader(data.features), StoreReader(data.mels)
    window = train.window
    if decoder == "mlp" and window is None:
        window = int(np.median(list(features.lengths.values())))
    speaker_of = speakers_by_id(utterances)
    if model.speaker_embedding == "table":
        _refuse_unseen_speakers(data.split, speaker_of, stats["speakers"])
    common = dict(stats=stats, speaker_of=speaker_of, normalize=normalize, window=window,
                  text_of=transcripts(utterances), voices=model.speaker_embedding == "voice")
    train_set = LipSpeechDataset(load_split(data.split, "train"), features, mels, seed=train.seed, **common)
    # Validation sees every frame once: whole utterances, or consecutive windows when windowed.
    val_set = LipSpeechDataset(load_split(data.split, "val"), features, mels, stride=window, **common)
    first = train_set[0]
    shapes = Shapes(in_channels=first.video.shape[0], n_mels=first.mel.shape[0], k=train_set.k,
                    frames=window or first.video.shape[1], n_speakers=len(stats["speakers"]),
                    output="sigmoid" if normalize == "minmax" else "linear")
    texts = [train_set.text_of.get(i, "") for i in train_set.ids]
    if model.ctc_weight > 0 and not any(texts):
        log.warning("no training utterance has a transcript: training without the lip-reading head")
        model = dataclasses.replace(model, ctc_weight=0.0)
    if model.ctc_units == "auto":
        closed = all(grid.is_sentence(text.split()) for text in texts if text)
        model = dataclasses.replace(model, ctc_units="words" if closed else "characters")
        log.info("model.ctc_units auto: the lip reader reads %s (%s)", model.ctc_units,
                 "GRID's closed vocabulary" if closed else "an open vocabulary")
    vocabulary = word_vocabulary(texts) if model.ctc_units == "words" else CHARACTERS
    return Setup(train_set, val_set, LipToSpeech(decoder, model, shapes, vocabulary), stats,
                 preprocessing(features, mels))


def _refuse_unseen_speakers(split: Path, speaker_of: dict[str, str], table: list[str]) -> None:
    """A speaker table has trained rows for the training speakers only: a split whose val or test
    speakers are not among them is refused in one line (their speech would come from untrained,
    random rows, and so would the val loss that picks the checkpoint)."""
    absent = {name: sorted({speaker_of[i] for i in load_split(split, name) if i in speaker_of} - set(table))
              for name in ("val", "test")}
    if any(absent.values()):
        listed = "; ".join(f"{name}: {', '.join(speakers[:5])}{' ...' if len(speakers) > 5 else ''}"
                           for name, speakers in absent.items() if speakers)
        raise StageError(f"model.speaker_embedding: table has no trained vector for speakers absent from training "
                         f"({listed}); use voice (a vector from another recording of the speaker) or none")


def autocast_for(device: torch.device):
    """bf16 autocast on CUDA; nothing on the CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


def to_device(batch: Batch, device: torch.device, normalizer: BatchNormalizer) -> tuple[torch.Tensor, ...]:
    """video, mel (normalised there, from the stored dtypes), video lengths, mel lengths, speakers
    on `device`; the copies are asynchronous from pinned memory."""
    video_lengths, mel_lengths = batch.video_lengths.to(device), batch.mel_lengths.to(device)
    video, mel = normalizer(batch.video.to(device, non_blocking=True), batch.mel.to(device, non_blocking=True),
                            video_lengths, mel_lengths)
    return video, mel, video_lengths, mel_lengths, batch.speakers.to(device)


def voice_on(batch: Batch, device: torch.device, normalizer: BatchNormalizer) -> dict[str, torch.Tensor]:
    """The model's `voice` and `voice_lengths` arguments for a batch with enrolment recordings
    (normalised on `device`); none for a batch without."""
    if batch.voice is None or batch.voice_lengths is None:
        return {}
    lengths = batch.voice_lengths.to(device)
    return {"voice": normalizer.mel(batch.voice.to(device, non_blocking=True), lengths), "voice_lengths": lengths}


def augment(video: torch.Tensor, lengths: torch.Tensor, shift: int, time_mask: int) -> torch.Tensor:
    """Training-time augmentation of normalised videos (B, C, T, S, S), from torch's random state:
    each video moved by up to `shift` pixels in x and y (edges repeated), and a span of up to
    `time_mask` of its frames set to 0 (the mean, under standard normalisation)."""
    if shift:
        moved = []
        for sample in video:
            dy, dx = (int(v) for v in torch.randint(-shift, shift + 1, (2,)))
            padded = nn.functional.pad(sample, (shift, shift, shift, shift), mode="replicate")
            size = video.shape[-1]
            moved.append(padded[..., shift + dy:shift + dy + size, shift + dx:shift + dx + size])
        video = torch.stack(moved)
    if time_mask:
        video = video.clone()
        for index, length in enumerate(lengths.tolist()):
            span = int(torch.randint(0, time_mask + 1, ()))
            if 0 < span < length:
                start = int(torch.randint(0, length - span + 1, ()))
                video[index, :, start:start + span] = 0
    return video


def train_step(network: torch.nn.Module, model: LipToSpeech, batch: Batch, optimizer: torch.optim.Optimizer,
               device: torch.device, normalizer: BatchNormalizer, shift: int = 0, time_mask: int = 0) -> float:
    """One optimisation step on a batch (augmented as asked); `network` is the model or its DDP
    wrapper (which averages the gradients across processes in `backward`). The lip-reading head
    runs only on batches with a transcript (random windows have none). Returns the loss."""
    video, mel, video_lengths, mel_lengths, speakers = to_device(batch, device, normalizer)
    video = augment(video, video_lengths, shift, time_mask)
    with autocast_for(device):
        outputs = network(video, video_lengths, speakers, mel, mel_lengths, lipread=any(batch.texts),
                          **voice_on(batch, device, normalizer))
        loss = model.loss(outputs, mel, mel_lengths, batch.texts, video_lengths)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def sum_across(values: list[float], processes: Processes) -> list[float]:
    """`values` summed over the processes, reduced on the training device (NCCL reduces CUDA
    tensors only)."""
    if not processes.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=processes.device)
    distributed.all_reduce(tensor)
    return tensor.tolist()


def same_weights(model: torch.nn.Module, processes: Processes) -> bool:
    """Whether every process holds exactly rank 0's parameters (DDP keeps them equal; were they
    not, the checkpoint would be one process's model of several)."""
    if not processes.distributed:
        return True
    with torch.no_grad():
        weights = torch.cat([p.detach().flatten() for p in model.parameters()]).to(processes.device)
        first = weights.clone()
        distributed.broadcast(first, src=0)
        same = torch.tensor([float(torch.equal(first, weights))], device=processes.device)
        distributed.all_reduce(same, op=distributed.ReduceOp.MIN)
    return bool(same.item() == 1.0)


def _ratio(totals: list[float]) -> float:
    return totals[0] / max(totals[1], 1.0)


@torch.no_grad()
def validation_loss(network: torch.nn.Module, model: LipToSpeech, loader: DataLoader, device: torch.device,
                    normalizer: BatchNormalizer, processes: Processes | None = None) -> float:
    """Mean mel loss per utterance over the loader (all processes together): the speech part
    only, so recipes with and without the lip-reading head compare."""
    network.eval()
    totals = [0.0, 0.0]
    for batch in loader:
        video, mel, video_lengths, mel_lengths, speakers = to_device(batch, device, normalizer)
        with autocast_for(device):
            outputs = network(video, video_lengths, speakers, mel, mel_lengths, lipread=False,
                              **voice_on(batch, device, normalizer))
            loss = model.mel_loss(outputs, mel, mel_lengths)
        totals[0] += loss.item() * len(batch.ids)
        totals[1] += len(batch.ids)
    return _ratio(sum_across(totals, processes or Processes(device)))


def _live(directory: Path):
    """dvclive's logger of the curves. dvc.yaml declares the plots itself; dvclive only writes its
    files. In a git repository without a commit yet (a new project, an unpacked archive) dvclive
    stops at reading the revision ("Empty git repo"): there it is told to skip DVC's repository
    and write its files only."""
    from dvclive import Live

    if not _has_commit():
        log.warning("this git repository has no commit yet: the training curves go to %s without an "
                    "experiment revision (commit, then `dvc exp run`, to compare experiments)", directory)

        class FilesOnly(Live):
            def _init_dvc(self) -> None:
                """No DVC repository, no revision: files only."""

        return FilesOnly(dir=str(directory), dvcyaml=None, save_dvc_exp=False, report=None)
    return Live(dir=str(directory), dvcyaml=None, save_dvc_exp=False, report=None)


def _has_commit() -> bool:
    """False only inside a git work tree that has no commit (outside one, dvclive needs none)."""
    def git(*args: str) -> bool:
        try:
            return subprocess.run(["git", *args], capture_output=True).returncode == 0
        except OSError:
            return False

    return not git("rev-parse", "--is-inside-work-tree") or git("rev-parse", "--verify", "-q", "HEAD")


def parameter_groups(model: LipToSpeech, train: TrainParams) -> list[dict]:
    """The speech model's parameters at `lr`, then the lip-reading head's (if any) at
    `ctc_lr_scale` x `lr`: a small head on features that keep moving learns too slowly at the
    speech model's rate in a short run."""
    head = [] if model.ctc is None else list(model.ctc.parameters())
    in_head = {id(parameter) for parameter in head}
    speech = [parameter for parameter in model.parameters() if id(parameter) not in in_head]
    return [{"params": speech, "lr": train.lr}] + ([{"params": head, "lr": train.lr * train.ctc_lr_scale}]
                                                    if head else [])


def make_scheduler(optimizer: torch.optim.Optimizer, train: TrainParams, steps_per_epoch: int):
    """The learning-rate schedule: plateau steps once per epoch on the val loss, onecycle once per
    batch (30 % warm-up to `lr`, then cosine annealing towards 0 at `max_epochs`)."""
    if train.schedule == "onecycle":
        # One step more than batches: the loop steps after every batch, the last one included, and
        # the schedule's floor is its last step.
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[group["lr"] for group in optimizer.param_groups],
                                                   total_steps=train.max_epochs * steps_per_epoch + 1)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=train.lr_factor, patience=train.lr_patience)


def resume_path(checkpoint: Path) -> Path:
    """Where a run keeps the state it resumes from (next to the checkpoint, out of git and DVC)."""
    return checkpoint.with_name(checkpoint.name + ".resume")


def fingerprint(params: dict, stats: dict, setup: Setup) -> str:
    """What a run's epochs depend on: params (but RESUMABLE ones), the stats, the train and val ids."""
    resumable = [k for k in RESUMABLE if not (k == "max_epochs" and params["train"]["schedule"] == "onecycle")]
    kept = {**params, "train": {k: v for k, v in params["train"].items() if k not in resumable}}
    text = json.dumps([kept, stats, setup.train_set.ids, setup.val_set.ids], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _loader(dataset: LipSpeechDataset, sampler: Sampler | None, train: TrainParams, device: torch.device,
            drop_last: bool = False) -> DataLoader:
    """Batches of `dataset` in the sampler's order; worker processes (if any) live for the whole
    run, and batches wait in pinned memory when they go to a GPU."""
    workers = train.num_workers
    return DataLoader(dataset, sampler=sampler, batch_size=train.batch_size, collate_fn=collate, drop_last=drop_last,
                      num_workers=workers, worker_init_fn=worker_init_fn if workers else None,
                      pin_memory=device.type == "cuda", persistent_workers=workers > 0)


def fit(decoder: Decoder, model_params: ModelParams, train: TrainParams, normalize: Normalization,
        data: TrainingData, checkpoint: Path, live_dir: Path, processes: Processes | None = None) -> dict:
    """Train; the best epoch's checkpoint goes to `checkpoint` and the curves to `live_dir` (rank
    0 only). `processes`: from `process_group` (default: one process on `train.device`). Returns
    the run's summary (the train metrics)."""
    processes = processes or Processes(resolve_device(train.device))
    device, rank, world = processes.device, processes.rank, processes.world
    torch.manual_seed(train.seed)
    setup = build(decoder, model_params, train, normalize, data)
    model, train_set = setup.model.to(device), setup.train_set
    normalizer = train_set.normalizer.module().to(device)
    # The lip-reading head sits out batches without a transcript: DDP is told it may idle.
    network = (torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None,
                                                         find_unused_parameters=model.ctc is not None)
               if processes.distributed else model)
    generator = torch.Generator().manual_seed(train.seed)
    order: Sampler[int] = (DistributedSampler(train_set, world, rank, shuffle=True, seed=train.seed)
                           if processes.distributed else RandomSampler(train_set, generator=generator))
    sampler = EpochSampler(order, train_set.item_frames(), LENGTH_POOL_BATCHES * train.batch_size, train.batch_size,
                           train.seed)
    train_loader = _loader(train_set, sampler, train, device,
                           drop_last=decoder == "mlp" and len(train_set) > train.batch_size)
    val_loader = _loader(setup.val_set, DistributedSampler(setup.val_set, world, rank, shuffle=False)
                         if processes.distributed else None, train, device)
    optimizer = torch.optim.Adam(parameter_groups(model, train), lr=train.lr)
    scheduler = make_scheduler(optimizer, train, len(train_loader))
    params = {"decoder": decoder, "model": dataclasses.asdict(model_params), "train": dataclasses.asdict(train),
              "normalize": normalize}
    live = _live(live_dir) if rank == 0 else None
    progress = Progress(train.early_stopping)
    history: list[dict[str, float]] = []  # per epoch: the curves, re-logged when resuming
    state_path, key = resume_path(checkpoint), fingerprint(params, setup.stats, setup)
    first_epoch, best = 1, None  # best: the best epoch's checkpoint contents, kept for resuming
    if train.resume and state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        if state["fingerprint"] != key:
            log.warning("%s is from other params or data: starting afresh", state_path)
        else:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["torch_rng"].cpu())
            if device.type == "cuda" and state.get("cuda_rng") is not None:  # dropout's random stream there
                torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
            generator.set_state(state["sampler_rng"].cpu())
            progress = Progress(train.early_stopping, *state["progress"])
            history, first_epoch, best = state["history"], state["epoch"] + 1, state["best"]
            if best is not None and rank == 0:
                write_checkpoint(checkpoint, **best)
            if live is not None:
                for logged in history:
                    for name, value in logged.items():
                        live.log_metric(name, value)
                    live.next_step()
            log.info("resuming after epoch %d of %s (best val loss %.5f at epoch %d)", state["epoch"], state_path,
                     progress.best, progress.best_epoch)
    epochs, samples, compute_seconds, wait_seconds = first_epoch - 1, 0, 0.0, 0.0
    for epoch in range(first_epoch, train.max_epochs + 1):
        if progress.stop:
            break
        epochs = epoch
        sampler.set_epoch(epoch)
        network.train()
        totals = [0.0, 0.0]
        ready = time.perf_counter()
        for batch in train_loader:
            started = time.perf_counter()
            wait_seconds += started - ready
            loss = train_step(network, model, batch, optimizer, device, normalizer, train.shift, train.time_mask)
            if train.schedule == "onecycle":
                scheduler.step()
            totals[0] += loss * len(batch.ids)
            totals[1] += len(batch.ids)
            samples += len(batch.ids)
            ready = time.perf_counter()
            compute_seconds += ready - started
        train_loss = _ratio(sum_across(totals, processes))
        val_loss = validation_loss(network, model, val_loader, device, normalizer, processes)
        if train.schedule == "plateau":
            scheduler.step(val_loss)
        improved = progress.update(epoch, val_loss)
        history.append({"train/loss": train_loss, "val/loss": val_loss, "lr": optimizer.param_groups[0]["lr"]})
        if improved and rank == 0:
            best = {"state_dict": {name: t.detach().cpu().clone() for name, t in model.state_dict().items()},
                    "config": model.config(), "stats": setup.stats, "preprocessed": setup.preprocessing,
                    "params": params, "epoch": epoch, "val_loss": val_loss}
            write_checkpoint(checkpoint, **best)
        if live is not None:
            for name, value in history[-1].items():
                live.log_metric(name, value)
            live.next_step()
        log.info("epoch %d: train %.5f, val %.5f%s", epoch, train_loss, val_loss, " (best)" if improved else "")
        if rank == 0:
            with replacing(state_path) as partial:
                torch.save({"fingerprint": key, "epoch": epoch, "model": model.state_dict(),
                            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                            "torch_rng": torch.get_rng_state(), "sampler_rng": generator.get_state(),
                            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                            "progress": [progress.best, progress.best_epoch, progress.since_best],
                            "history": history, "best": best}, partial)
        if progress.stop:
            log.info("no val improvement for %d epochs: stopping", progress.since_best)
    if live is not None:
        live.end()
    if processes.distributed:
        if not same_weights(model, processes):
            raise StageError(f"the {world} training processes ended with different weights: {checkpoint} is one "
                             "of them; DDP did not keep them in step")
        log.info("the %d training processes end with the same weights", world)
    if rank == 0:
        remove(state_path)  # the run is complete: nothing to resume
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
