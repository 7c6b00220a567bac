"""MCD, STOI and PESQ on the embedded corpus' speech; our MCD against the mel-cepstral-distance
package (a different implementation of the same measure: its own spectra, M=20 mel bands,
D=16 cepstra, DTW)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.audio.mels import resample
from pipeline.audio.metrics import all_metrics, mcd_db
from pipeline.io.media import read_audio, write_wav
from tests.conftest import manifest_of

RATE = 16000  # what mcd_db analyses at; the package gets the same files


@pytest.fixture(scope="module")
def recordings(tiny_corpus) -> dict[str, np.ndarray]:
    waveforms = {}
    for utterance in manifest_of(tiny_corpus[0]):
        samples, rate = read_audio(utterance.audio, utterance.video)
        waveforms[utterance.id] = resample(samples.astype(np.float32), rate, RATE)
    return waveforms


def _with_noise(signal: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(len(signal)).astype(np.float32)
    noise *= np.sqrt(np.mean(signal ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))
    return signal + noise


def test_mcd_is_zero_for_identical_audio(recordings):
    first = next(iter(recordings.values()))
    assert mcd_db(first, first.copy(), RATE) == 0.0


def test_mcd_agrees_with_the_mel_cepstral_distance_package(recordings, tmp_path: Path):
    """One utterance against each other utterance (same and other speaker) and against itself
    with noise: within 1.5 dB of the package everywhere; the same ranking where the pairs are
    far apart (noise levels; same speaker before other speaker), and a rank correlation of at
    least 0.7 overall (different utterances within ~1 dB of each other swap places between any
    two implementations: other spectra, other cepstral orders)."""
    from mel_cepstral_distance import compare_audio_files
    from scipy.stats import spearmanr

    ids = sorted(recordings)
    reference = recordings[ids[0]]
    others = {name: recordings[name] for name in ids[1:]}
    others.update({f"noise {snr} dB": _with_noise(reference, snr, snr) for snr in (15, 5)})
    write_wav(tmp_path / "reference.wav", reference, RATE)
    ours, theirs = {}, {}
    for name, signal in others.items():
        length = min(len(reference), len(signal))
        path = tmp_path / f"{name}.wav"
        write_wav(path, signal[:length], RATE)
        ours[name] = mcd_db(reference[:length], signal[:length], RATE)
        theirs[name] = compare_audio_files(tmp_path / "reference.wav", path)[0]
    report = {name: (round(ours[name], 2), round(float(theirs[name]), 2)) for name in others}
    assert all(abs(ours[n] - theirs[n]) <= 1.5 for n in others), report
    assert spearmanr([ours[n] for n in others], [theirs[n] for n in others]).statistic >= 0.7, report
    speaker = ids[0].split("_")[0]
    for scores in (ours, theirs):
        assert scores["noise 15 dB"] < scores["noise 5 dB"], report
        same = np.mean([scores[n] for n in ids[1:] if n.startswith(speaker + "_")])
        other = np.mean([scores[n] for n in ids[1:] if not n.startswith(speaker + "_")])
        assert same < other, report


def test_intelligibility_and_quality_fall_with_noise(recordings):
    reference = next(iter(recordings.values()))
    clean = all_metrics(reference, reference, RATE)
    noisy = all_metrics(reference, _with_noise(reference, 0, 1), RATE)
    assert clean["mcd_db"] == 0.0 and clean["stoi"] > 0.99 and clean["estoi"] > 0.99 and clean["pesq"] > 4.4
    assert noisy["stoi"] < clean["stoi"] and noisy["estoi"] < clean["estoi"] and noisy["pesq"] < 2.0
    assert noisy["mcd_db"] > 3.0


def test_the_mel_cepstrum_is_pysptks(recordings):
    """The warping as one matrix product gives pysptk.sp2mc's mel-cepstrum of the WORLD envelope."""
    import warnings

    import pyworld

    from pipeline.audio.metrics import FRAME_PERIOD_MS, MCD_ORDER, mel_cepstrum

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import pysptk

    samples = np.asarray(next(iter(recordings.values())), np.float64)
    f0, times = pyworld.dio(samples, RATE, frame_period=FRAME_PERIOD_MS)
    envelope = pyworld.cheaptrick(samples, pyworld.stonemask(samples, f0, times, RATE), times, RATE)
    theirs = pysptk.sp2mc(envelope, order=MCD_ORDER, alpha=pysptk.util.mcepalpha(RATE))
    ours = mel_cepstrum(samples, RATE)
    assert ours.shape == theirs.shape == (len(times), MCD_ORDER + 1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


def test_the_three_pesqs_are_the_papers_calls_and_score_one_pair_differently():
    """On a real GRID recording against a noisy copy: `pesq_nb8` is VCA-GAN's call (resample to
    8 kHz, pesq(8000, ..., 'nb')), `pesq_nb16` Lip2Wav's (pesq(16000, ..., 'nb')), `pesq` the
    wide-band one; the same pair scores differently in each, so only like compares with like."""
    from pesq import pesq

    from pipeline.io.media import VIDEO_TRACK
    from tests.conftest import REPO

    samples, rate = read_audio(VIDEO_TRACK, REPO / "tests/data/real_grid/bbaf2n.mpg")
    reference = resample(samples, rate, RATE)
    noisy = _with_noise(reference, 5, 2)
    figures = all_metrics(reference, noisy, RATE)
    assert figures["pesq_nb8"] == pytest.approx(pesq(8000, resample(reference, RATE, 8000),
                                                     resample(noisy, RATE, 8000), "nb"))
    assert figures["pesq_nb16"] == pytest.approx(pesq(16000, reference, noisy, "nb"))
    assert figures["pesq"] == pytest.approx(pesq(16000, reference, noisy, "wb"))
    assert len({round(figures[k], 2) for k in ("pesq", "pesq_nb8", "pesq_nb16")}) == 3
    clean = all_metrics(reference, reference, RATE)
    assert clean["pesq_nb8"] > 4.0 and clean["pesq_nb16"] > 4.0
