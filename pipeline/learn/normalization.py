"""Normalisation of video features and mels: the train-split statistics (the `stats` stage) and
the per-channel affine maps the reader applies with them (stores always keep raw values).

- `standard`: (x - mean) / std per channel (video) and per mel bin;
- `minmax`: video to [-1, 1] per channel (as the thesis), mel to [0, 1] per bin (a sigmoid
  output's range);
- `none`: raw values as float32.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from pipeline.errors import StageError
from pipeline.io.params import choices
from pipeline.io.store import StoreReader

Normalization = Literal["standard", "minmax", "none"]
NORMALIZATIONS = choices(Normalization)


def channel_stats(store: StoreReader, field: str, ids: list[str], channel_axis: int) -> dict[str, list[float]]:
    """Mean, std, min, max per channel (`channel_axis` of one frame's array), over all frames of
    `ids`; float64 running sums, so the order of utterances does not matter."""
    total, moments = 0, None  # moments: per channel, the sum, the sum of squares, the min, the max
    for utterance_id in tqdm(ids, desc=f"stats: {field}", unit="utt", mininterval=0.5):
        values = store.read(utterance_id, [field])[field].astype(np.float64)
        values = np.moveaxis(values, channel_axis + 1, 0).reshape(values.shape[channel_axis + 1], -1)
        if moments is None:
            channels = len(values)
            moments = np.stack([np.zeros(channels), np.zeros(channels), np.full(channels, np.inf),
                                np.full(channels, -np.inf)])
        total += values.shape[1]
        moments[0] += values.sum(axis=1)
        moments[1] += np.square(values).sum(axis=1)
        moments[2] = np.minimum(moments[2], values.min(axis=1))
        moments[3] = np.maximum(moments[3], values.max(axis=1))
    if moments is None:
        raise StageError(f"no utterance to compute the {field} statistics over")
    mean = moments[0] / total
    std = np.sqrt(np.maximum(moments[1] / total - mean ** 2, 0.0))
    return {name: [round(float(v), 6) for v in array]
            for name, array in (("mean", mean), ("std", std), ("min", moments[2]), ("max", moments[3]))}


class Normalizer:
    """Per-channel affine maps for video and mel, from the stats file's train-split figures."""

    def __init__(self, stats: dict, method: Normalization) -> None:
        self.method = method
        self.video_scale, self.video_shift = self._affine(stats["video"], method, low=-1.0)
        self.mel_scale, self.mel_shift = self._affine(stats["mel"], method, low=0.0)
        self._video_scale, self._video_shift = torch.from_numpy(self.video_scale), torch.from_numpy(self.video_shift)
        self._mel_scale, self._mel_shift = torch.from_numpy(self.mel_scale), torch.from_numpy(self.mel_shift)

    @staticmethod
    def _affine(stats: dict, method: Normalization, low: float) -> tuple[np.ndarray, np.ndarray]:
        """scale, shift such that normalised = raw * scale + shift."""
        mean, std = np.asarray(stats["mean"]), np.asarray(stats["std"])
        minimum, maximum = np.asarray(stats["min"]), np.asarray(stats["max"])
        if method == "standard":
            scale = 1 / np.maximum(std, 1e-8)
            return scale.astype(np.float32), (-mean * scale).astype(np.float32)
        if method == "minmax":
            scale = (1 - low) / np.maximum(maximum - minimum, 1e-8)
            return scale.astype(np.float32), (low - minimum * scale).astype(np.float32)
        return np.ones_like(mean, np.float32), np.zeros_like(mean, np.float32)

    def video(self, raw: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(T, C, S, S) raw (as stored) -> (C, T, S, S) normalised float32 (a channels-first view)."""
        shape = (1, -1) + (1,) * (raw.ndim - 2)
        normalised = torch.as_tensor(raw).to(torch.float32)
        normalised.mul_(self._video_scale.view(shape)).add_(self._video_shift.view(shape))
        return normalised.transpose(0, 1)

    def mel(self, raw: np.ndarray) -> torch.Tensor:
        """(kT, n_mels) raw -> (n_mels, kT) normalised float32 (a transposed view)."""
        normalised = torch.from_numpy(np.asarray(raw, np.float32)).mul(self._mel_scale).add_(self._mel_shift)
        return normalised.T

    def mel_to_raw(self, normalised: np.ndarray) -> np.ndarray:
        """(n_mels, kT) normalised -> (n_mels, kT) log-mel, for vocoding."""
        return (normalised - self.mel_shift[:, None]) / self.mel_scale[:, None]

    def module(self) -> BatchNormalizer:
        """The same maps as a torch module, to normalise whole batches where they are (the GPU)."""
        return BatchNormalizer(self._video_scale, self._video_shift, self._mel_scale, self._mel_shift)


class BatchNormalizer(torch.nn.Module):
    """Normalises a batch as the reader stores it (integer video, raw log-mel), on the batch's
    device, and keeps the padding zero: (B, C, T, S, S) int -> float32, (B, n_mels, kT) -> float32,
    frames past each length set to 0 (as if each sample had been normalised, then padded)."""

    video_scale: torch.Tensor
    video_shift: torch.Tensor
    mel_scale: torch.Tensor
    mel_shift: torch.Tensor

    def __init__(self, video_scale: torch.Tensor, video_shift: torch.Tensor, mel_scale: torch.Tensor,
                 mel_shift: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("video_scale", video_scale.view(1, -1, 1, 1, 1).clone())
        self.register_buffer("video_shift", video_shift.view(1, -1, 1, 1, 1).clone())
        self.register_buffer("mel_scale", mel_scale.view(1, -1, 1).clone())
        self.register_buffer("mel_shift", mel_shift.view(1, -1, 1).clone())

    def forward(self, video: torch.Tensor, mel: torch.Tensor, video_lengths: torch.Tensor,
                mel_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # A contiguous float copy whatever the batch's layout (collate hands out a channels-first view).
        video = video.to(torch.float32, memory_format=torch.contiguous_format).mul_(self.video_scale)
        video.add_(self.video_shift)
        frames = torch.arange(video.shape[2], device=video.device)
        video.mul_((frames[None] < video_lengths[:, None]).view(video.shape[0], 1, -1, 1, 1))
        return video, self.mel(mel, mel_lengths)

    def mel(self, mel: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, L) raw log-mel -> float32 normalised, frames past each length 0."""
        mel = mel.to(torch.float32).mul(self.mel_scale).add_(self.mel_shift)
        mel_frames = torch.arange(mel.shape[2], device=mel.device)
        return mel.mul_((mel_frames[None] < lengths[:, None]).view(mel.shape[0], 1, -1))
