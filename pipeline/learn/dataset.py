"""PyTorch access to the feature stores: (video features, mel, speaker index, utterance id, text,
and for a voice-conditioned model the mel of an enrolment utterance: another of the speaker's).

    dataset = LipSpeechDataset.from_files("data/split.json", "train", "data/features", "data/mels",
                                          "data/stats.json", "data/manifest.jsonl", normalize="standard")
    loader = DataLoader(dataset, batch_size=8, collate_fn=collate, num_workers=2,
                        worker_init_fn=worker_init_fn)
    video, mel = dataset.normalizer.module()(batch.video, batch.mel, batch.video_lengths, batch.mel_lengths)

Samples are what the stores hold, no conversion: video C x T x S x S int16 (a channels-first view
of the stored T x C x S x S), the mel n_mels x (k * T) float32 log-mel. Normalisation with the
train-split stats (`standard`, `minmax` or `none`: pipeline.learn.normalization) runs on whole
batches where the model is (`normalizer.module()`, on the GPU when training there), so the
reader, its worker processes and the host-to-device copies move half the bytes of float32.

Stores open lazily, in whichever process reads first; `worker_init_fn` drops handles inherited
through fork, so each DataLoader worker opens its own. Optional fixed-length windows (in video
frames): random placement per epoch for training, or every window at a stride (overlapping when
stride < window) for evaluating long recordings. Training draws items through an `EpochSampler`,
which hands each index over with its epoch: DataLoader workers hold their own copy of the dataset
(for the whole run, with persistent workers), so `set_epoch` in the main process never reaches it.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from pipeline.errors import StageError
from pipeline.io.manifest import Utterance, read_manifest, speakers_by_id
from pipeline.io.splits import load_split
from pipeline.io.store import StoreReader
from pipeline.learn.normalization import Normalization, Normalizer

log = logging.getLogger(__name__)


@dataclass
class Sample:
    video: torch.Tensor  # C x T x S x S, the stored integers
    mel: torch.Tensor  # n_mels x kT, raw log-mel
    speaker: int  # its row in the speaker table (-1: a speaker the table has none for)
    id: str
    text: str = ""  # the transcript, for whole utterances only (a window's text is unknown)
    voice: torch.Tensor | None = None  # n_mels x L raw log-mel of its enrolment utterance (voice conditioning)


@dataclass
class Batch:
    video: torch.Tensor  # B x C x T x S x S, the stored integers, zero-padded
    mel: torch.Tensor  # B x n_mels x kT, raw, zero-padded
    video_lengths: torch.Tensor  # B
    mel_lengths: torch.Tensor  # B
    speakers: torch.Tensor  # B
    ids: list[str]
    texts: list[str]
    voice: torch.Tensor | None = None  # B x n_mels x L, raw, zero-padded (voice conditioning)
    voice_lengths: torch.Tensor | None = None  # B (0: no enrolment utterance)

    def pin_memory(self) -> Batch:
        """Page-locked copies, so copies to the GPU run asynchronously (DataLoader pin_memory)."""
        return Batch(self.video.pin_memory(), self.mel.pin_memory(), self.video_lengths.pin_memory(),
                     self.mel_lengths.pin_memory(), self.speakers.pin_memory(), self.ids, self.texts,
                     None if self.voice is None else self.voice.pin_memory(),
                     None if self.voice_lengths is None else self.voice_lengths.pin_memory())


ENROLMENT_FRAMES = 250  # video frames of an enrolment utterance the voice encoder hears (10 s at 25 fps)


def enrolments(ids: list[str], speaker_of: dict[str, str]) -> dict[str, str | None]:
    """{id: the utterance whose recording says whose voice it is}: the next id of the same speaker
    among `ids`, sorted, wrapping around (deterministic, never itself); None for a speaker with one."""
    by_speaker: dict[str, list[str]] = {}
    for utterance_id in sorted(ids):
        by_speaker.setdefault(speaker_of[utterance_id], []).append(utterance_id)
    chosen: dict[str, str | None] = {}
    for own in by_speaker.values():
        for index, utterance_id in enumerate(own):
            chosen[utterance_id] = own[(index + 1) % len(own)] if len(own) > 1 else None
    return chosen


class LipSpeechDataset(Dataset):
    """Utterances of one split, as stored (normalise batches with `normalizer.module()`)."""

    def __init__(self, ids: list[str], features: StoreReader, mels: StoreReader, stats: dict,
                 speaker_of: dict[str, str], normalize: Normalization = "standard", window: int | None = None,
                 stride: int | None = None, seed: int = 0, text_of: dict[str, str] | None = None,
                 voices: bool = False) -> None:
        """`voices`: each sample comes with its enrolment utterance's mel (`enrolments` among these
        ids), for a voice-conditioned model."""
        self.ids = [i for i in ids if i in features and i in mels]
        if len(self.ids) < len(ids):
            absent = sorted(set(ids) - set(self.ids))
            log.warning("%d of %d utterances are not in the stores (rejected upstream?), e.g. %s",
                        len(absent), len(ids), ", ".join(absent[:3]))
        if not self.ids:
            raise StageError(f"none of the {len(ids)} ids is in both stores ({features.path}, {mels.path})")
        self.features, self.mels = features, mels
        self.normalizer = Normalizer(stats, normalize)
        self.speaker_index = {s: i for i, s in enumerate(stats["speakers"])}
        self.speaker_of = speaker_of
        self.enrolment = enrolments(self.ids, speaker_of) if voices else {}
        if voices:
            alone = sorted({speaker_of[i] for i, other in self.enrolment.items() if other is None})
            if alone:
                log.warning("%d speakers have one utterance here, none to enrol their voice from (e.g. %s): "
                            "they are spoken with no voice vector", len(alone), ", ".join(alone[:3]))
        self.text_of = text_of or {}
        self.k = mels.lengths[self.ids[0]] // features.lengths[self.ids[0]]
        self.window, self.stride, self.seed, self.epoch = window, stride, seed, 0
        # With a stride, every window of every utterance is one item (deterministic); otherwise
        # one item per utterance, its window placed at random per epoch.
        self.items: list[tuple[str, int | None]] = [(i, None) for i in self.ids]
        if window and stride:
            self.items = [(i, start) for i in self.ids
                          for start in range(0, max(1, features.lengths[i] - window + stride), stride)]

    @classmethod
    def from_files(cls, split_path: Path, split: str, features_path: Path, mels_path: Path, stats_path: Path,
                   manifest_path: Path, **options) -> LipSpeechDataset:
        stats = json.loads(Path(stats_path).read_text())
        utterances = read_manifest(manifest_path)
        return cls(load_split(split_path, split), StoreReader(features_path), StoreReader(mels_path), stats,
                   speakers_by_id(utterances), text_of=transcripts(utterances), **options)

    def set_epoch(self, epoch: int) -> None:
        """The epoch of items asked for by index alone (an EpochSampler passes its own): random
        windows differ per epoch, reproducibly."""
        self.epoch = epoch

    def reopen(self) -> None:
        """Forget open store handles (after a fork)."""
        self.features.close()
        self.mels.close()

    def __len__(self) -> int:
        return len(self.items)

    def item_frames(self) -> list[int]:
        """Video frames each item spans (at most `window`), for batching by length."""
        return [min(self.features.lengths[i], self.window or self.features.lengths[i]) for i, _ in self.items]

    def _window(self, index: int, epoch: int, utterance_id: str, start: int | None) -> tuple[int, int]:
        length = self.features.lengths[utterance_id]
        if not self.window or length <= self.window:
            return 0, length
        if start is None:
            rng = np.random.default_rng([self.seed, epoch, index])
            start = int(rng.integers(0, length - self.window + 1))
        start = min(start, length - self.window)
        return start, start + self.window

    def __getitem__(self, key: int | tuple[int, int]) -> Sample:
        """Item `key`, or `(index, epoch)` as an EpochSampler draws them."""
        index, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        utterance_id, start = self.items[index]
        first, last = self._window(index, epoch, utterance_id, start)
        video = self.features.read(utterance_id, ["video"])["video"][first:last]
        mel = self.mels.read(utterance_id, ["mel"])["mel"][first * self.k:last * self.k]
        speaker = self.speaker_index.get(self.speaker_of[utterance_id], -1)
        whole = last - first == self.features.lengths[utterance_id]
        return Sample(torch.from_numpy(video).transpose(0, 1), torch.from_numpy(mel).T, speaker, utterance_id,
                      self.text_of.get(utterance_id, "") if whole else "", self.voice(utterance_id))

    def voice(self, utterance_id: str) -> torch.Tensor | None:
        """The raw mel (n_mels, L) of the utterance's enrolment (its first ENROLMENT_FRAMES video
        frames; L = 0 when its speaker has no other utterance here), or None without voices."""
        if utterance_id not in self.enrolment:
            return None
        other = self.enrolment[utterance_id]
        if other is None:
            return torch.zeros((len(self.normalizer.mel_scale), 0), dtype=torch.float32)
        return torch.from_numpy(self.mels.read(other, ["mel"])["mel"][:ENROLMENT_FRAMES * self.k]).T


class EpochSampler(Sampler[tuple[int, int]]):
    """Draws the indices of `sampler` as `(index, epoch)` pairs, so that the epoch which places
    random windows travels with each index into the DataLoader's worker processes.

    With `lengths` (frames per index), each run of `pool` drawn indices is ordered by length
    (a stable sort) and cut into batches of `batch`, which are then drawn in random order (seeded
    by `seed` and the epoch): a batch holds utterances of similar length and pads little
    (open-vocabulary corpora mix 1 s and 15 s utterances), and batches do not run from short to
    long (that order trained worse: gap closed 0.435 against 0.472). A pool whose lengths are all
    equal (GRID) is left as drawn, so such a corpus is batched exactly as without lengths."""

    def __init__(self, sampler: Sampler[int], lengths: list[int] | None = None, pool: int = 0, batch: int = 1,
                 seed: int = 0) -> None:
        self.sampler, self.epoch, self.lengths, self.pool, self.batch, self.seed = \
            sampler, 0, lengths, pool, batch, seed

    def set_epoch(self, epoch: int) -> None:
        """The epoch of the next pass (a DistributedSampler reshuffles by it too)."""
        self.epoch = epoch
        set_inner = getattr(self.sampler, "set_epoch", None)
        if set_inner is not None:
            set_inner(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, lengths = self.epoch, self.lengths
        if lengths is None or self.pool < 2:
            return ((index, epoch) for index in self.sampler)
        drawn = list(self.sampler)
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        order: list[int] = []
        for start in range(0, len(drawn), self.pool):
            pool = drawn[start:start + self.pool]
            if len({lengths[i] for i in pool}) == 1:
                order += pool
                continue
            ranked = sorted(pool, key=lambda i: lengths[i])
            batches = [ranked[k:k + self.batch] for k in range(0, len(ranked), self.batch)]
            order += [i for b in torch.randperm(len(batches), generator=generator).tolist() for i in batches[b]]
        return ((index, epoch) for index in order)

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]  # the samplers used here are sized


def transcripts(utterances: list[Utterance]) -> dict[str, str]:
    """{utterance id: its words joined by spaces} for the utterances that have words."""
    return {u.id: u.transcript for u in utterances if u.words}


def collate(samples: list[Sample]) -> Batch:
    """Zero-pad to the longest in the batch (in the stored dtypes); lengths say how much is real.
    The video is gathered time-first, as the store holds it (contiguous copies, 4x faster than
    copying channels-first views), and handed out as a channels-first view of that (B, C, T, S, S);
    the batch normaliser's float copy makes it contiguous where the model runs."""
    video_lengths = torch.tensor([s.video.shape[1] for s in samples])
    mel_lengths = torch.tensor([s.mel.shape[1] for s in samples])
    first = samples[0]
    frames, mel_frames = int(video_lengths.max()), int(mel_lengths.max())
    video = first.video.new_empty((len(samples), frames, first.video.shape[0], *first.video.shape[2:]))
    mel = first.mel.new_empty((len(samples), first.mel.shape[0], mel_frames))
    for i, sample in enumerate(samples):
        length, mel_length = sample.video.shape[1], sample.mel.shape[1]
        video[i, :length] = sample.video.transpose(0, 1)
        video[i, length:] = 0
        mel[i, :, :mel_length] = sample.mel
        mel[i, :, mel_length:] = 0
    voices = [s.voice for s in samples]
    voice, voice_lengths = None, None
    if all(v is not None for v in voices):
        voice_lengths = torch.tensor([v.shape[1] for v in voices if v is not None])
        voice = first.mel.new_zeros((len(samples), first.mel.shape[0], max(1, int(voice_lengths.max()))))
        for i, recording in enumerate(voices):
            if recording is not None:
                voice[i, :, :recording.shape[1]] = recording
    return Batch(video.transpose(1, 2), mel, video_lengths, mel_lengths, torch.tensor([s.speaker for s in samples]),
                 [s.id for s in samples], [s.text for s in samples], voice, voice_lengths)


def worker_init_fn(_: int) -> None:
    """DataLoader hook: each worker opens its own store handles."""
    info = torch.utils.data.get_worker_info()
    if info is not None and isinstance(info.dataset, LipSpeechDataset):
        info.dataset.reopen()
