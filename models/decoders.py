"""Decoders from per-frame encoder features (B, T, D) to mel spectrograms (B, n_mels, k*T).

- MLPDecoder: the thesis' first decoder: everything flattened, three 2000-unit layers, all mel
  frames at once. It needs a fixed number of frames (the training stage crops or pads windows).
- ConvDecoder: the thesis' best: a transposed convolution upsamples by k to the mel rate, then
  1D convolutions with BatchNorm and ELU.
- FlowDecoder: a Flowtron-style autoregressive normalising flow over mel frames, conditioned on
  the encoder features; forward maps mels to Gaussian noise, inference inverts it.
- Postnet: Tacotron 2's residual convolution stack that refines a predicted mel.
"""
from __future__ import annotations

import typing

import torch
from torch import nn


def _activation(name: str) -> nn.Module:
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "linear":
        return nn.Identity()
    raise ValueError(f"output activation must be 'sigmoid' or 'linear', got {name!r}")


class MLPDecoder(nn.Module):
    def __init__(self, in_features: int, frames: int, n_mels: int, k: int, hidden: int = 2000,
                 dropout: float = 0.25, output: str = "linear") -> None:
        super().__init__()
        self.frames, self.n_mels, self.k = frames, n_mels, k
        layers, width = [], in_features * frames
        for _ in range(3):
            layers += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ELU(), nn.Dropout(dropout)]
            width = hidden
        self.hidden = nn.Sequential(*layers)
        self.out = nn.Linear(hidden, n_mels * k * frames)
        self.activation = _activation(output)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        batch, frames, _ = features.shape
        if frames != self.frames:
            raise ValueError(f"the MLP decoder was built for {self.frames} frames, got {frames}; "
                             "train and predict on windows of train.window frames")
        x = self.out(self.hidden(features.reshape(batch, -1)))
        return self.activation(x.view(batch, self.n_mels, self.k * frames))


class ConvDecoder(nn.Module):
    def __init__(self, in_features: int, n_mels: int, k: int, channels: int = 128, layers: int = 2,
                 output: str = "linear") -> None:
        super().__init__()
        blocks = [nn.ConvTranspose1d(in_features, channels, k, stride=k), nn.BatchNorm1d(channels), nn.ELU()]
        for _ in range(layers):
            blocks += [nn.Conv1d(channels, channels, 3, padding=1), nn.BatchNorm1d(channels), nn.ELU()]
        blocks.append(nn.Conv1d(channels, n_mels, 3, padding=1))
        self.net = nn.Sequential(*blocks)
        self.activation = _activation(output)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.activation(self.net(features.transpose(1, 2)))


class Postnet(nn.Module):
    """Five 1D convolutions (tanh between), whose output is added to the mel it refines."""

    def __init__(self, n_mels: int, channels: int = 256, kernel: int = 5, layers: int = 5,
                 dropout: float = 0.5) -> None:
        super().__init__()
        blocks, previous = [], n_mels
        for index in range(layers):
            last = index == layers - 1
            out = n_mels if last else channels
            blocks += [nn.Conv1d(previous, out, kernel, padding=kernel // 2), nn.BatchNorm1d(out)]
            if not last:
                blocks.append(nn.Tanh())
            blocks.append(nn.Dropout(dropout))
            previous = out
        self.net = nn.Sequential(*blocks)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return mel + self.net(mel)


def reverse_valid(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence's valid frames along the last axis; padding stays at the end."""
    total = x.shape[-1]
    positions = torch.arange(total, device=x.device).expand(x.shape[0], total)
    index = torch.where(positions < lengths[:, None], lengths[:, None] - 1 - positions, positions)
    return torch.gather(x, -1, index[:, None, :].expand_as(x))


LOG_SCALE_LIMIT = 3.0  # flow coupling scales stay within exp(+-3)


class FlowStep(nn.Module):
    """One autoregressive affine coupling over time: z_t = x_t * exp(log_s_t) + b_t, where
    (log_s_t, b_t) come from an LSTM that has seen x_1..x_{t-1} and the context up to t. With
    `backward`, the same runs on the time-reversed sequence (Flowtron alternates both)."""

    def __init__(self, n_mels: int, context: int, hidden: int = 256, backward: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.backward = backward
        # Tacotron's prenet dropout: in training the step sees its past through dropout, so it
        # must lean on the context, and a sampled past at inference is less of a surprise.
        self.previous_dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(n_mels + context, hidden, batch_first=True)
        self.project = nn.Linear(hidden, 2 * n_mels)
        # Start as the identity map (log_s = 0, b = 0): stable early training, as in Glow/Flowtron.
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def _params(self, previous: torch.Tensor, context: torch.Tensor, state=None):
        # The LSTM in its own precision also under autocast, as the encoder's GRU (models.encoder.run_gru).
        with torch.autocast(previous.device.type, enabled=False):
            inputs = torch.cat([self.previous_dropout(previous), context], dim=1).to(next(self.lstm.parameters()).dtype)
            hidden, state = self.lstm(inputs.transpose(1, 2), state)
        raw_log_s, shift = self.project(hidden).transpose(1, 2).chunk(2, dim=1)
        # Bounded log-scales: the inverse divides by exp(log_s) once per frame and step, so an
        # unbounded scale overflows when sampling an undertrained flow; near 0 this is the identity.
        log_s = LOG_SCALE_LIMIT * torch.tanh(raw_log_s / LOG_SCALE_LIMIT)
        return log_s, shift, state

    def forward(self, x: torch.Tensor, context: torch.Tensor, lengths: torch.Tensor):
        """x (B, n_mels, L) -> z (B, n_mels, L) and log_s (B, n_mels, L)."""
        if self.backward:
            x, context = reverse_valid(x, lengths), reverse_valid(context, lengths)
        previous = nn.functional.pad(x, (1, 0))[..., :-1]  # x_{t-1}, zeros before the start
        log_s, shift, _ = self._params(previous, context)
        z = x * torch.exp(log_s) + shift
        if self.backward:
            z, log_s = reverse_valid(z, lengths), reverse_valid(log_s, lengths)
        return z, log_s

    @torch.no_grad()
    def inverse(self, z: torch.Tensor, context: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x from z, one frame at a time (each frame's map depends on the frames before it)."""
        if self.backward:
            z, context = reverse_valid(z, lengths), reverse_valid(context, lengths)
        frames, state = [], None
        previous = torch.zeros_like(z[..., :1])
        for t in range(z.shape[-1]):
            log_s, shift, state = self._params(previous, context[..., t:t + 1], state)
            previous = (z[..., t:t + 1] - shift) * torch.exp(-log_s)
            frames.append(previous)
        x = torch.cat(frames, dim=-1)
        return reverse_valid(x, lengths) if self.backward else x


class FlowDecoder(nn.Module):
    """Flowtron-style flow: encoder features, upsampled k times to the mel rate, condition
    `steps` coupling steps that alternate forward and backward in time."""

    def __init__(self, in_features: int, n_mels: int, k: int, steps: int = 2, hidden: int = 256,
                 sigma: float = 1.0, dropout: float = 0.0) -> None:
        super().__init__()
        self.k, self.n_mels, self.sigma = k, n_mels, sigma
        self.steps = nn.ModuleList([FlowStep(n_mels, in_features, hidden, backward=i % 2 == 1, dropout=dropout)
                                    for i in range(steps)])

    def context(self, features: torch.Tensor) -> torch.Tensor:
        return features.transpose(1, 2).repeat_interleave(self.k, dim=2)

    def forward(self, mel: torch.Tensor, features: torch.Tensor, lengths: torch.Tensor):
        """mel (B, n_mels, kT) -> z and the summed log_s, both (B, n_mels, kT)."""
        context, z, total_log_s = self.context(features), mel, torch.zeros_like(mel)
        for step in self.steps:
            z, log_s = step(z, context, lengths)
            total_log_s = total_log_s + log_s
        return z, total_log_s

    @torch.no_grad()
    def infer(self, features: torch.Tensor, lengths: torch.Tensor, sigma: float | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
        context = self.context(features)
        sigma = self.sigma if sigma is None else sigma
        shape = (features.shape[0], self.n_mels, context.shape[-1])
        z = torch.randn(shape, generator=generator, device=features.device, dtype=features.dtype) * sigma
        for step in reversed(self.steps):
            z = typing.cast(FlowStep, step).inverse(z, context, lengths)
        return z
