"""Griffin-Lim in torch against librosa's, on mels of the embedded corpus' audio."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.audio.mels import AudioParams, fit_audio, log_mel
from pipeline.audio.vocoder import VOCODERS, GriffinLim, VocoderName, VocoderParams, make_vocoder
from pipeline.errors import ParamsError
from pipeline.io.media import read_audio
from pipeline.io.params import choices, section
from tests.conftest import manifest_of

AUDIO = AudioParams()


@pytest.fixture(scope="module")
def speech(tiny_corpus):
    """(log-mel (n_mels, F), recording cut like the mels, fps) of one generated utterance."""
    utterance = manifest_of(tiny_corpus[0])[0]
    samples, rate = read_audio(utterance.audio, utterance.video)
    mel = log_mel(samples, rate, utterance.frames, utterance.fps, AUDIO).T
    return mel, fit_audio(samples, rate, utterance.frames, utterance.fps, AUDIO), utterance.fps


def test_griffin_lim_matches_librosa_step_for_step(speech):
    """Same magnitudes, same (zero) initial phases, same iterations and momentum: the same waveform."""
    import librosa

    mel, _, fps = speech
    hop = AUDIO.hop_length(fps)
    vocoder = GriffinLim(AUDIO, hop, iterations=16, momentum=0.99)
    magnitude = vocoder.magnitude(torch.from_numpy(np.exp(mel))[None])[0].numpy()
    ours = vocoder.griffin_lim(torch.from_numpy(magnitude)[None], init="zero")[0].numpy()
    theirs = librosa.griffinlim(magnitude, n_iter=16, hop_length=hop, win_length=AUDIO.win_length,
                                n_fft=AUDIO.n_fft, momentum=0.99, init=None)
    assert ours.shape == theirs.shape
    assert np.corrcoef(ours, theirs)[0, 1] > 0.9999
    assert np.max(np.abs(ours - theirs)) < 1e-2 * np.max(np.abs(theirs))


def test_mel_inversion_fits_at_least_as_well_as_librosas(speech):
    import librosa

    mel, _, fps = speech
    target = np.exp(mel)
    vocoder = GriffinLim(AUDIO, AUDIO.hop_length(fps))
    ours = vocoder.magnitude(torch.from_numpy(target)[None])[0].numpy()
    theirs = librosa.feature.inverse.mel_to_stft(target, sr=AUDIO.sample_rate, n_fft=AUDIO.n_fft, power=1.0,
                                                fmin=AUDIO.fmin, fmax=AUDIO.fmax)
    basis = vocoder.basis.numpy()
    assert ours.min() >= 0
    error = np.linalg.norm(basis @ ours - target) / np.linalg.norm(target)
    assert error <= np.linalg.norm(basis @ theirs - target) / np.linalg.norm(target) + 1e-3
    assert error < 0.02


def test_vocoder_output_lasts_as_long_as_the_recording_and_resembles_it(speech):
    mel, recording, fps = speech
    vocoder = make_vocoder(VocoderParams(iterations=32), AudioParams.from_attrs(AUDIO.__dict__), AUDIO.hop_length(fps))
    waveform = vocoder(torch.from_numpy(mel)[None])[0].numpy()
    assert waveform.shape == recording.shape
    # Phase is lost, the spectrum is not: the re-analysed log-mel lies close to the input.
    again = log_mel(waveform, AUDIO.sample_rate, mel.shape[1] // AUDIO.mel_frames_per_video_frame, fps, AUDIO).T
    loud = mel > np.log(1e-2)
    assert np.mean(np.abs(again - mel)[loud]) < 0.5


def test_the_vocoder_choices_are_the_registry():
    """`evaluate.vocoder.name` accepts exactly the registered vocoders (checked when params load)."""
    assert set(choices(VocoderName)) == set(VOCODERS)
    with pytest.raises(ParamsError, match="evaluate.vocoder.name must be one of griffin_lim; got 'waveglow'"):
        section(VocoderParams, {"name": "waveglow"}, "evaluate.vocoder")


@pytest.mark.cuda
def test_griffin_lim_on_cuda_gives_the_cpu_waveform(speech):
    mel, _, fps = speech
    vocoder = GriffinLim(AUDIO, AUDIO.hop_length(fps), iterations=32)
    log_mels = torch.from_numpy(mel)[None]
    on_cpu = vocoder(log_mels)[0].numpy()
    on_gpu = vocoder(log_mels.to("cuda"))
    assert on_gpu.device.type == "cuda"
    on_gpu = on_gpu[0].cpu().numpy()
    assert on_gpu.shape == on_cpu.shape and np.corrcoef(on_gpu, on_cpu)[0, 1] > 0.999


def test_an_utterance_sounds_the_same_alone_or_anywhere_in_a_batch(speech):
    """The random initial phases are drawn per item, not per batch: evaluate vocodes alone on the
    CPU and in batches on the GPU, and both must give one utterance the same waveform."""
    mel, _, fps = speech
    vocoder = GriffinLim(AUDIO, AUDIO.hop_length(fps), iterations=8)
    alone = vocoder(torch.from_numpy(mel)[None])[0].numpy()
    quieter = mel - 1.0
    batch = vocoder(torch.from_numpy(np.stack([quieter, mel, quieter])))
    np.testing.assert_allclose(batch[1].numpy(), alone, atol=1e-5)
    assert not np.allclose(batch[0].numpy(), alone, atol=1e-3)


def test_the_banded_mel_inversion_is_the_full_one(speech):
    """NNLS on the bins the filterbank covers, through the filterbank: the same magnitudes as the
    Gram-matrix updates over every bin."""
    mel, _, fps = speech
    vocoder = GriffinLim(AUDIO, AUDIO.hop_length(fps), nnls_iterations=50)
    target = torch.from_numpy(np.exp(mel))[None]
    gram = vocoder.basis.T @ vocoder.basis
    numerator = vocoder.basis.T @ target
    estimate = numerator / (gram.sum(dim=1, keepdim=True) + 1e-12)
    for _ in range(50):
        estimate = estimate * numerator / (gram @ estimate + 1e-12)
    ours = vocoder.magnitude(target)
    assert vocoder.bins < ours.shape[1] and not ours[:, vocoder.bins:].any()
    np.testing.assert_allclose(ours.numpy(), estimate.numpy(), rtol=1e-3, atol=1e-6 * float(estimate.max()))


@pytest.mark.parametrize("audio", [AUDIO, AudioParams(sample_rate=16000, n_fft=512, win_length=512, n_mels=40,
                                                      fmin=50.0, fmax=7600.0)], ids=["default", "16k"])
def test_the_mel_filterbank_is_librosas_value_for_value(audio: AudioParams):
    import librosa

    from pipeline.audio.mels import mel_filterbank

    theirs = librosa.filters.mel(sr=audio.sample_rate, n_fft=audio.n_fft, n_mels=audio.n_mels, fmin=audio.fmin,
                                 fmax=audio.fmax)
    assert np.array_equal(mel_filterbank(audio), theirs) and mel_filterbank(audio).dtype == theirs.dtype
