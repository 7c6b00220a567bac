"""Log-mel spectrograms locked to the video frame rate.

hop = sample_rate / (fps * k) samples with integer k (`audio.mel_frames_per_video_frame`), so
every video frame owns exactly k mel frames. Pad/trim rule: the audio is first cut or
zero-padded to exactly T video frames (T * k * hop samples); the STFT is centred (each frame's
window centred on its hop, the signal reflected at the ends), which gives T*k + 1 frames; the
last one (centred past the end) is dropped, leaving exactly T*k. Values are the natural log of
the mel-filtered magnitude spectrum, clipped below at 1e-5 (Tacotron 2's convention).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.errors import ParamsError

LOG_FLOOR = 1e-5


@dataclass(frozen=True)
class AudioParams:
    """`audio` in params.yaml."""

    sample_rate: int = 22050
    mel_frames_per_video_frame: int = 3
    n_fft: int = 1024
    win_length: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0

    @classmethod
    def from_attrs(cls, attrs: dict) -> AudioParams:
        """The settings a mels store was made with (its attrs, or a checkpoint's copy of them)."""
        return cls(**{name: attrs[name] for name in cls.__dataclass_fields__})

    def hop_length(self, fps: float) -> int:
        """Samples per mel frame at video rate `fps` (video.fps: every video is resampled to it);
        ParamsError (a ValueError), with settings that would work, when the rates do not divide."""
        k = self.mel_frames_per_video_frame
        hop = self.sample_rate / (fps * k)
        if abs(hop - round(hop)) <= 1e-6:
            return int(round(hop))
        if abs(fps * k - round(fps * k)) > 1e-6:
            fix = f"set video.fps to a whole number of frames per second, e.g. 25 or 30 ({fps:g} is not)"
        else:
            fix = f"set audio.sample_rate to e.g. {max(1, round(hop)) * round(fps * k)}"
        raise ParamsError(f"audio.sample_rate {self.sample_rate} is not a multiple of video.fps {fps:g} x "
                          f"audio.mel_frames_per_video_frame {k}: the hop would be {hop:.3f} samples; {fix}")


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above."""
    hz = np.asanyarray(hz, np.float64)
    mels = hz / (200.0 / 3)
    log_step = np.log(6.4) / 27.0
    above = hz >= 1000.0
    mels[above] = 15.0 + np.log(hz[above] / 1000.0) / log_step
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asanyarray(mels, np.float64)
    hz = (200.0 / 3) * mels
    log_step = np.log(6.4) / 27.0
    above = mels >= 15.0
    hz[above] = 1000.0 * np.exp(log_step * (mels[above] - 15.0))
    return hz


def mel_filterbank(params: AudioParams) -> np.ndarray:
    """(n_mels, n_fft/2 + 1) float32 triangular filters, Slaney-normalised: librosa.filters.mel's
    defaults, value for value, without importing librosa (1-2 s that `speak` would wait for)."""
    frequencies = np.fft.rfftfreq(n=params.n_fft, d=1.0 / params.sample_rate)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array([params.fmin]))[0], _hz_to_mel(np.array([params.fmax]))[0],
                                   params.n_mels + 2))
    widths = np.diff(edges)
    ramps = np.subtract.outer(edges, frequencies)
    weights = np.zeros((params.n_mels, len(frequencies)), np.float32)
    for i in range(params.n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / widths[i], ramps[i + 2] / widths[i + 1]))
    weights *= (2.0 / (edges[2:params.n_mels + 2] - edges[:params.n_mels]))[:, None]
    return weights


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return samples.astype(np.float32)
    import librosa

    return librosa.resample(samples.astype(np.float32), orig_sr=rate, target_sr=target, res_type="soxr_hq")


def fit_audio(samples: np.ndarray, rate: int, n_video_frames: int, fps: float, params: AudioParams) -> np.ndarray:
    """The audio the mels describe: resampled to `sample_rate`, cut or zero-padded to exactly
    n_video_frames * k * hop samples (the reference that synthesised speech is measured against)."""
    wanted = n_video_frames * params.mel_frames_per_video_frame * params.hop_length(fps)
    audio = resample(samples, rate, params.sample_rate)
    return np.pad(audio[:wanted], (0, max(0, wanted - len(audio))))


def log_mel(samples: np.ndarray, rate: int, n_video_frames: int, fps: float, params: AudioParams) -> np.ndarray:
    """(k * n_video_frames, n_mels) float32 log-mel frames of mono audio at any sample rate."""
    import librosa

    hop = params.hop_length(fps)
    audio = fit_audio(samples, rate, n_video_frames, fps, params)
    n_mel_frames = n_video_frames * params.mel_frames_per_video_frame
    spectrum = np.abs(librosa.stft(audio, n_fft=params.n_fft, hop_length=hop, win_length=params.win_length,
                                   center=True, pad_mode="reflect"))
    mel = mel_filterbank(params) @ spectrum[:, :n_mel_frames]
    return np.log(np.maximum(mel, LOG_FLOOR)).T.astype(np.float32)
