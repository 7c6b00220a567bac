"""Objective speech metrics of a synthesised waveform against the reference recording.

- `mcd_db`: the standard mel-cepstral distortion in dB, at 16 kHz. Both signals are resampled to
  16 kHz first: the mels stop at `audio.fmax` (8 kHz), so a vocoded mel has nothing above it, and
  at 22.05 kHz the empty 8-11 kHz band alone adds ~10 dB to every frame's distance. WORLD (pyworld: dio + stonemask +
  cheaptrick, 5 ms frames) gives the spectral envelope, SPTK (pysptk `sp2mc`, order 24, all-pass
  constant `mcepalpha(sample_rate)`) turns it into a mel-cepstrum; c0 (energy) is left out, the
  two sequences are aligned by DTW on the Euclidean distance, and
  MCD = 10 * sqrt(2) / ln 10 * mean over the path of ||c_ref - c_syn||.
  Every frame counts (no silence removal), so a synthesis that gets the pauses wrong pays for it.
- `stoi`, `estoi`: pystoi's (extended) short-time objective intelligibility, 0..1.
- `pesq_wb`: ITU-T P.862.2 wideband PESQ (the `pesq` package) at 16 kHz, MOS-LQO 1..4.64;
  None when PESQ finds no speech in the reference.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np

MCD_ORDER = 24
MCD_RATE = 16000
FRAME_PERIOD_MS = 5.0
PESQ_RATE = 16000
MCD_SCALE = 10.0 * np.sqrt(2.0) / np.log(10.0)
log = logging.getLogger(__name__)


def mel_cepstrum(waveform: np.ndarray, sample_rate: int, order: int = MCD_ORDER) -> np.ndarray:
    """(frames, order + 1) mel-cepstrum of the WORLD spectral envelope, c0 first."""
    import pyworld

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pysptk imports pkg_resources
        import pysptk

    samples = np.ascontiguousarray(waveform, dtype=np.float64)
    f0, times = pyworld.dio(samples, sample_rate, frame_period=FRAME_PERIOD_MS)
    f0 = pyworld.stonemask(samples, f0, times, sample_rate)
    envelope = pyworld.cheaptrick(samples, f0, times, sample_rate)
    return pysptk.sp2mc(envelope, order=order, alpha=pysptk.util.mcepalpha(sample_rate))


def mcd_db(reference: np.ndarray, synthesised: np.ndarray, sample_rate: int, order: int = MCD_ORDER,
           analysis_rate: int = MCD_RATE) -> float:
    """Standard MCD in dB between two waveforms (at `analysis_rate`, DTW-aligned, c0 excluded);
    0 for identical audio."""
    import librosa

    from pipeline.audio.mels import resample

    reference, synthesised = (resample(signal, sample_rate, analysis_rate) for signal in (reference, synthesised))
    ref = mel_cepstrum(reference, analysis_rate, order)[:, 1:]
    syn = mel_cepstrum(synthesised, analysis_rate, order)[:, 1:]
    distances = np.sqrt(((ref[:, None, :] - syn[None, :, :]) ** 2).sum(axis=-1))
    _, path = librosa.sequence.dtw(C=distances, backtrack=True)
    return float(MCD_SCALE * distances[path[:, 0], path[:, 1]].mean())


def stoi(reference: np.ndarray, synthesised: np.ndarray, sample_rate: int, extended: bool = False) -> float:
    from pystoi import stoi as pystoi_stoi

    return float(pystoi_stoi(reference, synthesised, sample_rate, extended=extended))


def pesq_wb(reference: np.ndarray, synthesised: np.ndarray, sample_rate: int) -> float | None:
    """Wideband PESQ at 16 kHz (both signals resampled); None when PESQ finds no utterance."""
    from pesq import NoUtterancesError, pesq

    from pipeline.audio.mels import resample

    try:
        return float(pesq(PESQ_RATE, resample(reference, sample_rate, PESQ_RATE),
                          resample(synthesised, sample_rate, PESQ_RATE), "wb"))
    except NoUtterancesError:
        log.warning("PESQ found no speech in the reference; left out of the mean")
        return None


def all_metrics(reference: np.ndarray, synthesised: np.ndarray, sample_rate: int) -> dict[str, float | None]:
    """mcd_db, stoi, estoi and pesq of one synthesised waveform against its reference."""
    length = min(len(reference), len(synthesised))
    reference, synthesised = reference[:length], synthesised[:length]
    return {
        "mcd_db": mcd_db(reference, synthesised, sample_rate),
        "stoi": stoi(reference, synthesised, sample_rate),
        "estoi": stoi(reference, synthesised, sample_rate, extended=True),
        "pesq": pesq_wb(reference, synthesised, sample_rate),
    }
