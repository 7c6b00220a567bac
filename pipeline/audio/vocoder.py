"""Vocoders: log-mel spectrograms (as the mels stage writes them) back to waveforms.

    vocoder = make_vocoder(VocoderParams(), AudioParams.from_attrs(mels.attrs), hop_length=294)
    waveforms = vocoder(log_mels)          # (B, n_mels, F) natural-log mel -> (B, F * hop) float32

A vocoder is anything with `sample_rate`, `hop_length` and `__call__(log_mels) -> waveforms`;
`VOCODERS` maps `evaluate.vocoder.name` values (the `VocoderName` choices) to constructors, so a
neural vocoder (e.g. WaveGlow) is registered here, next to Griffin-Lim, without touching the stages.

Griffin-Lim is written in torch (it runs on the GPU when the tensors live there) and follows
librosa's `griffinlim` step for step (fast Griffin-Lim with momentum, constant-padded centred
STFT), so with the same phase initialisation both give the same waveform; the mel filterbank is
inverted by non-negative least squares (multiplicative updates) as librosa's `mel_to_stft` does,
on the frequency bins the filterbank covers (those above `audio.fmax` stay 0, as the updates leave
them) and through the sparse filterbank rather than its dense 513 x 513 Gram matrix: the same
updates at a fraction of the cost. The inverse STFT is torch.istft's, with the window envelope
made once per length.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import torch

from pipeline.audio.mels import AudioParams, mel_filterbank

VocoderName = Literal["griffin_lim"]


@dataclass(frozen=True)
class VocoderParams:
    """`evaluate.vocoder` in params.yaml."""

    name: VocoderName = "griffin_lim"
    iterations: int = 60  # Griffin-Lim iterations (librosa's default is 32)
    momentum: float = 0.99  # fast Griffin-Lim (Perraudin et al.); 0 is the original algorithm
    seed: int = 0  # random initial phases


class Vocoder(Protocol):
    sample_rate: int
    hop_length: int

    def __call__(self, log_mels: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, F) natural-log mel magnitudes -> (B, F * hop_length) waveforms."""


class GriffinLim:
    """Mel inversion (NNLS) + fast Griffin-Lim, batched, on the device of its input."""

    def __init__(self, audio: AudioParams, hop_length: int, iterations: int = 60, momentum: float = 0.99,
                 seed: int = 0, nnls_iterations: int = 200) -> None:
        self.sample_rate, self.hop_length = audio.sample_rate, hop_length
        self.n_fft, self.win_length = audio.n_fft, audio.win_length
        self.iterations, self.momentum, self.seed, self.nnls_iterations = iterations, momentum, seed, nnls_iterations
        self.basis = torch.from_numpy(mel_filterbank(audio))
        covered = torch.nonzero(self.basis.sum(dim=0) > 0)
        self.bins = int(covered.max()) + 1 if len(covered) else 0  # bins past the last filter are never filled
        # The analysis window, centred in n_fft samples (as torch.stft pads a shorter one).
        window = torch.hann_window(audio.win_length, periodic=True)
        left = (audio.n_fft - audio.win_length) // 2
        self.window = torch.nn.functional.pad(window, (left, audio.n_fft - audio.win_length - left))
        # Made once per device (and dtype, frame count): the hot loops only look them up.
        self._windows: dict[str, torch.Tensor] = {}
        self._sparse: dict[tuple[str, torch.dtype], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self._envelopes: dict[tuple[int, str], torch.Tensor] = {}

    def magnitude(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, F) mel magnitudes -> (B, n_fft/2+1, F): the non-negative x that minimises
        |basis @ x - mel|, by Lee-Seung multiplicative updates (they keep x >= 0). The filterbank
        is banded (each bin in at most two filters): its sparse form makes each update ~4x cheaper."""
        batch, n_mels, frames = mel.shape
        flat = mel.transpose(0, 1).reshape(n_mels, batch * frames)  # every frame of the batch side by side
        basis, transposed, gram_rows = self._sparse_basis(mel.device, mel.dtype)
        numerator = torch.sparse.mm(transposed, flat)
        estimate = numerator / (gram_rows + 1e-12)
        for _ in range(self.nnls_iterations):
            estimate = estimate * numerator / (torch.sparse.mm(transposed, torch.sparse.mm(basis, estimate)) + 1e-12)
        magnitude = mel.new_zeros((self.basis.shape[1], batch * frames))
        magnitude[:self.bins] = estimate
        return magnitude.reshape(-1, batch, frames).transpose(0, 1)

    def _sparse_basis(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor,
                                                                               torch.Tensor]:
        """The filterbank over the covered bins and its transpose, sparse, and the row sums of its
        Gram matrix (the updates' starting scale), on `device` (made once)."""
        key = (str(device), dtype)
        if key not in self._sparse:
            dense = self.basis[:, :self.bins].to(device=device, dtype=dtype)
            self._sparse[key] = (dense.to_sparse().coalesce(), dense.T.contiguous().to_sparse().coalesce(),
                                 (dense.T @ dense).sum(dim=1, keepdim=True))
        return self._sparse[key]

    def _stft(self, waveform: torch.Tensor) -> torch.Tensor:
        return torch.stft(waveform, self.n_fft, self.hop_length, self.n_fft, self._window(waveform.device),
                          center=True, pad_mode="constant", return_complex=True)

    def _window(self, device: torch.device) -> torch.Tensor:
        """The analysis window on `device` (copied there once)."""
        if str(device) not in self._windows:
            self._windows[str(device)] = self.window.to(device)
        return self._windows[str(device)]

    def _overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, F, n_fft) frames -> (B, (F - 1) * hop + n_fft) samples, frame f starting at f * hop:
        each frame cut into hop-long pieces, and the j-th pieces of all frames added in one step."""
        batch, count, n_fft = frames.shape
        pieces = -(-n_fft // self.hop_length)
        cut = torch.nn.functional.pad(frames, (0, pieces * self.hop_length - n_fft))
        cut = cut.reshape(batch, count, pieces, self.hop_length)
        out = frames.new_zeros((batch, count + pieces - 1, self.hop_length))
        for j in range(pieces):
            out[:, j:j + count] += cut[:, :, j]
        return out.reshape(batch, -1)[:, :(count - 1) * self.hop_length + n_fft]

    def _istft(self, spectrum: torch.Tensor) -> torch.Tensor:
        """torch.istft (centred, window-normalised overlap-add) for this hop and window, twice as
        fast: the window envelope is made once per frame count, not at every call."""
        count, window = spectrum.shape[-1], self._window(spectrum.device)
        frames = torch.fft.irfft(spectrum.transpose(-1, -2), n=self.n_fft) * window
        half = self.n_fft // 2
        key = (count, str(spectrum.device))
        if key not in self._envelopes:
            envelope = self._overlap_add((window ** 2).expand(1, count, self.n_fft))[0]
            envelope = torch.where(envelope > 1e-11, envelope, torch.ones_like(envelope))
            self._envelopes = {key: envelope[half:len(envelope) - half]}  # one frame count at a time
        samples = self._overlap_add(frames)
        return samples[:, half:samples.shape[1] - half] / self._envelopes[key]

    def griffin_lim(self, magnitude: torch.Tensor, init: str = "random") -> torch.Tensor:
        """(B, bins, F) magnitudes -> (B, (F - 1) * hop) waveforms; `init` random (seeded) or
        zero phases (librosa's init=None)."""
        if init == "random":
            # One draw of (bins, frames) for every item: an utterance starts from the same phases
            # whether it is vocoded alone or in a batch, and whatever its place in the batch.
            generator = torch.Generator().manual_seed(self.seed)
            phases = torch.rand(magnitude.shape[-2:], generator=generator, dtype=torch.float64).to(magnitude.device)
            angles = torch.polar(torch.ones_like(phases), 2 * np.pi * phases).to(torch.complex64)
            angles = angles.expand(magnitude.shape).clone()
        elif init == "zero":
            angles = torch.ones(magnitude.shape, dtype=torch.complex64, device=magnitude.device)
        else:
            raise ValueError(f"init must be random or zero, got {init!r}")
        magnitude = magnitude.to(torch.float32)
        previous = rebuilt = torch.zeros_like(angles)
        for _ in range(self.iterations):
            previous = rebuilt
            rebuilt = self._stft(self._istft(magnitude * angles))
            angles = rebuilt - (self.momentum / (1 + self.momentum)) * previous
            angles = angles.sgn()  # z / |z| (0 for 0): librosa's z / (|z| + tiny), without the extra pass
        return self._istft(magnitude * angles)

    def __call__(self, log_mels: torch.Tensor) -> torch.Tensor:
        magnitude = self.magnitude(torch.exp(log_mels.to(torch.float32)))
        # One more frame (a copy of the last) makes the natural inverse length exactly F * hop,
        # the duration of the audio the mels came from.
        magnitude = torch.cat([magnitude, magnitude[..., -1:]], dim=-1)
        return self.griffin_lim(magnitude)


VOCODERS: dict[str, Callable[[VocoderParams, AudioParams, int], Vocoder]] = {
    "griffin_lim": lambda params, audio, hop: GriffinLim(audio, hop, params.iterations, params.momentum, params.seed),
}


def make_vocoder(params: VocoderParams, audio: AudioParams, hop_length: int) -> Vocoder:
    return VOCODERS[params.name](params, audio, hop_length)
