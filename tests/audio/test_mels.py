"""Log-mels locked to the video frame rate: exactly k mel frames per video frame."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.audio.mels import AudioParams, log_mel
from pipeline.errors import ParamsError


@pytest.mark.parametrize("rate", [16000, 22050, 44100])
@pytest.mark.parametrize("frames", [1, 38, 75, 121])
@pytest.mark.parametrize("audio_seconds_extra", [-0.3, 0.0, 0.25])
def test_mel_frames_are_exactly_k_per_video_frame(rate, frames, audio_seconds_extra):
    params = AudioParams(sample_rate=16000, mel_frames_per_video_frame=4, n_fft=512, win_length=400, n_mels=40)
    seconds = max(0.05, frames / 25 + audio_seconds_extra)
    audio = np.random.default_rng(frames).standard_normal(int(seconds * rate)).astype(np.float32) * 0.1
    mel = log_mel(audio, rate, frames, 25, params)
    assert mel.shape == (4 * frames, 40) and mel.dtype == np.float32 and np.isfinite(mel).all()


def test_a_hop_that_is_not_whole_samples_is_refused_with_a_suggestion_that_works():
    with pytest.raises(ParamsError, match=r"16001 is not a multiple of video.fps 25 .* set audio.sample_rate to e.g. "
                                          r"15975$"):
        AudioParams(sample_rate=16001).hop_length(25)
    assert AudioParams(sample_rate=15975).hop_length(25) == 213  # the suggestion works
    with pytest.raises(ParamsError, match=r"set video.fps to a whole number of frames per second, e.g. 25 or 30"):
        AudioParams().hop_length(29.97)
    assert AudioParams(sample_rate=22050, mel_frames_per_video_frame=3).hop_length(25) == 294
    assert AudioParams().hop_length(30) == 245


def test_the_papers_audio_preset_gives_their_frames_and_speaks_back():
    """README's audio preset of the literature (VCA-GAN, Lip2Wav): 16 kHz, FFT and window 640, hop
    160 (4 mel frames per video frame), 80 mels, 55-7500 Hz. On a real GRID recording its mels have
    the papers' shape and Griffin-Lim speaks them back intelligibly."""
    import torch

    from pipeline.audio.mels import resample
    from pipeline.audio.metrics import stoi
    from pipeline.audio.vocoder import VocoderParams, make_vocoder
    from pipeline.io.media import VIDEO_TRACK, read_audio
    from tests.conftest import REPO

    papers = AudioParams(sample_rate=16000, mel_frames_per_video_frame=4, n_fft=640, win_length=640, n_mels=80,
                         fmin=55.0, fmax=7500.0)
    assert papers.hop_length(25) == 160
    samples, rate = read_audio(VIDEO_TRACK, REPO / "tests/data/real_grid/bbaf2n.mpg")
    mels = log_mel(samples, rate, 75, 25.0, papers)
    assert mels.shape == (300, 80)
    speech = make_vocoder(VocoderParams(), papers, 160)(torch.from_numpy(mels.T[None].copy()))[0].numpy()
    recording = resample(samples, rate, 16000)
    length = min(len(speech), len(recording))
    assert stoi(recording[:length], speech[:length], 16000) > 0.9
