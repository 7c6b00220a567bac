"""Vocoders: log-mel spectrograms (as the mels stage writes them) back to waveforms.

    vocoder = make_vocoder(VocoderParams(), AudioParams.from_attrs(mels.attrs), hop_length=294)
    waveforms = vocoder(log_mels)          # (B, n_mels, F) natural-log mel -> (B, F * hop) float32

A vocoder is anything with `sample_rate`, `hop_length` and `__call__(log_mels) -> waveforms`;
`VOCODERS` maps `evaluate.vocoder.name` values (the `VocoderName` choices) to constructors, so a
neural vocoder (e.g. WaveGlow) is registered here, next to Griffin-Lim, without touching the stages.

Griffin-Lim is written in torch (it runs on the GPU when the tensors live there) and follows
librosa's `griffinlim` step for step (fast Griffin-Lim with momentum, constant-padded centred
STFT), so with the same phase initialisation both give the same waveform; the mel filterbank is
inverted by non-negative least squares (multiplicative updates) as librosa's `mel_to_stft` does.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import torch

from pipeline.audio.mels import AudioParams

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
        import librosa

        self.sample_rate, self.hop_length = audio.sample_rate, hop_length
        self.n_fft, self.win_length = audio.n_fft, audio.win_length
        self.iterations, self.momentum, self.seed, self.nnls_iterations = iterations, momentum, seed, nnls_iterations
        self.basis = torch.from_numpy(librosa.filters.mel(sr=audio.sample_rate, n_fft=audio.n_fft, n_mels=audio.n_mels,
                                                          fmin=audio.fmin, fmax=audio.fmax))
        self.window = torch.hann_window(audio.win_length, periodic=True)

    def magnitude(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, F) mel magnitudes -> (B, n_fft/2+1, F): the non-negative x that minimises
        |basis @ x - mel|, by Lee-Seung multiplicative updates (they keep x >= 0)."""
        basis = self.basis.to(mel)
        gram = basis.T @ basis
        numerator = basis.T @ mel
        estimate = numerator / (gram.sum(dim=1, keepdim=True) + 1e-12)
        for _ in range(self.nnls_iterations):
            estimate = estimate * numerator / (gram @ estimate + 1e-12)
        return estimate

    def _stft(self, waveform: torch.Tensor) -> torch.Tensor:
        return torch.stft(waveform, self.n_fft, self.hop_length, self.win_length, self.window.to(waveform.device),
                          center=True, pad_mode="constant", return_complex=True)

    def _istft(self, spectrum: torch.Tensor) -> torch.Tensor:
        return torch.istft(spectrum, self.n_fft, self.hop_length, self.win_length,
                           self.window.to(spectrum.device), center=True)

    def griffin_lim(self, magnitude: torch.Tensor, init: str = "random") -> torch.Tensor:
        """(B, bins, F) magnitudes -> (B, (F - 1) * hop) waveforms; `init` random (seeded) or
        zero phases (librosa's init=None)."""
        if init == "random":
            generator = torch.Generator().manual_seed(self.seed)
            phases = torch.rand(magnitude.shape, generator=generator, dtype=torch.float64).to(magnitude.device)
            angles = torch.polar(torch.ones_like(phases), 2 * np.pi * phases).to(torch.complex64)
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
            angles = angles / (angles.abs() + 1e-16)
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
