"""The thesis' video encoder: Conv3d over the channels (frame, delta, delta2) -> BatchNorm3d ->
LeakyReLU -> dropout -> a ResNet18 trunk on every frame -> GRU over time."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from models.resnet import ResNet18


class Encoder(nn.Module):
    """(B, C, T, S, S) video -> (B, T, D) per-frame features, D = gru_hidden (x2 if bidirectional)."""

    def __init__(self, in_channels: int = 3, width: float = 1.0, gru_hidden: int = 128,
                 bidirectional: bool = False, dropout: float = 0.25) -> None:
        super().__init__()
        front = max(8, int(round(64 * width)))
        self.front = nn.Sequential(
            nn.Conv3d(in_channels, front, kernel_size=3, padding=1), nn.BatchNorm3d(front),
            nn.LeakyReLU(inplace=True), nn.Dropout(dropout))
        self.trunk = ResNet18(front, width)
        self.gru = nn.GRU(self.trunk.out_features, gru_hidden, batch_first=True, bidirectional=bidirectional)
        self.dropout = nn.Dropout(dropout)
        self.out_features = gru_hidden * (2 if bidirectional else 1)

    def forward(self, video: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        batch, _, frames = video.shape[:3]
        x = self.front(video)  # B, K, T, S, S
        x = x.transpose(1, 2).reshape(batch * frames, *x.shape[1:2], *x.shape[3:])
        x = run_gru(self.gru, self.trunk(x).view(batch, frames, -1), lengths)
        return self.dropout(nn.functional.elu(x))


def run_gru(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """A batch-first GRU's outputs over (B, T, D), each sequence read only up to its length (the
    backward direction starts at its last real frame); padded frames come out as 0.

    In the GRU's own precision (float32), also under autocast: torch versions differ in whether a
    recurrent layer has a bf16 kernel at all or runs in fp16 without a gradient scaler, where most
    of its gradients fall below fp16's normal range."""
    frames = x.shape[1]
    with torch.autocast(x.device.type, enabled=False):
        x = x.to(next(gru.parameters()).dtype)
        if lengths is None or not bool((lengths < frames).any()):
            return gru(x)[0]
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        return pad_packed_sequence(gru(packed)[0], batch_first=True, total_length=frames)[0]
