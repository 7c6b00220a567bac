"""Inference on whole utterances: the mlp decoder's windows put back together."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.model import LipToSpeech, ModelParams, Shapes
from pipeline.learn.inference import predict_normalised

WINDOW, K = 8, 2


def _mlp() -> LipToSpeech:
    torch.manual_seed(0)
    params = ModelParams(width=0.125, gru_hidden=16, mlp_hidden=32, dropout=0.0)
    return LipToSpeech("mlp", params, Shapes(in_channels=3, n_mels=6, k=K, frames=WINDOW, n_speakers=2)).eval()


def _by_hand(model: LipToSpeech, video: torch.Tensor, starts: list[int]) -> torch.Tensor:
    """Each window predicted on its own, written in order (a later window overwrites the overlap)."""
    mel = torch.zeros(6, K * video.shape[1])
    for start in starts:
        window = video[None, :, start:start + WINDOW]
        mel[:, K * start:K * (start + WINDOW)] = model.infer(window, torch.tensor([WINDOW]), torch.tensor([1]))[0]
    return mel


@pytest.mark.parametrize("frames,starts", [(20, [0, 8, 12]), (16, [0, 8]), (8, [0])])
def test_an_utterance_longer_than_the_window_is_predicted_window_by_window(frames: int, starts: list[int]):
    """Consecutive windows; the last one ends at the last frame, overlapping its neighbour."""
    model = _mlp()
    video = torch.randn(3, frames, 32, 32, generator=torch.Generator().manual_seed(frames))
    predicted = predict_normalised(model, video, speaker=1)
    assert predicted.shape == (6, K * frames)
    torch.testing.assert_close(predicted, _by_hand(model, video, starts), atol=1e-5, rtol=1e-5)


def test_an_utterance_shorter_than_the_window_is_zero_padded_and_cut_back():
    model = _mlp()
    video = torch.randn(3, 5, 32, 32, generator=torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(video, (0, 0, 0, 0, 0, WINDOW - 5))
    expected = model.infer(padded[None], torch.tensor([WINDOW]), torch.tensor([1]))[0, :, :K * 5]
    torch.testing.assert_close(predict_normalised(model, video, speaker=1), expected)


def test_a_briefly_trained_flow_samples_finite_mels_for_every_utterance(stores, tmp_path):
    """Two epochs on the tiny corpus, then every utterance sampled at evaluate's sigma and at the
    training sigma: no NaN or inf anywhere (the bounded coupling scales keep the inverse finite)."""
    import json

    from pipeline.io.store import StoreReader
    from pipeline.learn.dataset import LipSpeechDataset
    from pipeline.learn.evaluation import EvaluateParams
    from pipeline.learn.inference import Synthesiser
    from tests.conftest import train_model

    train_model(stores, tmp_path, "flow")
    synthesiser = Synthesiser.load(tmp_path / "model.pt", device="cpu")
    every = sorted(i for ids in json.loads(stores["split"].read_text()).values() for i in ids)
    dataset = LipSpeechDataset(every, StoreReader(stores["features"]), StoreReader(stores["mels"]),
                               synthesiser.checkpoint["stats"], {i: i.split("_")[0] for i in every})
    for sigma in (EvaluateParams().sigma, synthesiser.model.params.sigma):
        for index in range(len(dataset)):
            sample = dataset[index]
            video = synthesiser.normalizer.video(sample.video.transpose(0, 1))
            mel = synthesiser.predict(video, sample.id.split("_")[0], sigma, seed=index)
            assert mel.shape == sample.mel.shape and np.isfinite(mel).all(), (sigma, sample.id)


@pytest.mark.parametrize("count,expected", [
    (0, []), (10, [(0, 10)]), (75, [(0, 75)]), (76, [(0, 75), (60, 76)]),
    (200, [(0, 75), (60, 135), (120, 195), (180, 200)]),
])
def test_windows_overlap_and_cover_everything(count: int, expected: list[tuple[int, int]]):
    from pipeline.compute.windows import windowed

    assert [(w[0], w[-1] + 1) for w in windowed(range(count), 75, 15)] == expected


def test_window_mels_crossfade_into_one_stream_of_the_right_length():
    """Windows of constant mels 0, 1, 2, ...: outside the overlaps each window's value, inside a
    linear crossfade from one to the next; k mel frames per video frame in all."""
    from pipeline.compute.windows import windowed
    from pipeline.learn.inference import MelStitcher

    k, stitcher, parts = 3, MelStitcher(3, 15), []
    for number, window in enumerate(windowed(range(200), 75, 15)):
        parts.append(stitcher.add(np.full((2, k * len(window)), float(number), np.float32)))
    mel = np.concatenate([*parts, stitcher.finish()], axis=1)[0]
    assert mel.shape == (k * 200,)
    assert np.all(mel[:k * 60] == 0) and np.all(mel[k * 75:k * 120] == 1) and np.all(mel[k * 195:] == 3)
    overlap = mel[k * 60:k * 75]
    assert np.all(np.diff(overlap) > 0) and 0 < overlap[0] < 0.05 and 0.95 < overlap[-1] < 1


def test_the_streaming_vocoder_gives_the_whole_waveform_block_by_block():
    """With a vocoder that needs no context, streaming is exact; with Griffin-Lim, it is close to
    vocoding the whole mel at once, and exactly as long."""
    from pipeline.audio.mels import AudioParams
    from pipeline.audio.speech import StreamingVocoder
    from pipeline.audio.vocoder import GriffinLim

    hop, mel = 4, np.random.default_rng(0).normal(size=(2, 1000)).astype(np.float32)

    def stream(vocode, hop: int, mel: np.ndarray, pieces: int) -> np.ndarray:
        vocoder, out = StreamingVocoder(vocode, hop, block=100, context=16, fade=8), []
        for chunk in np.array_split(mel, pieces, axis=1):
            out += list(vocoder.push(chunk))
        return np.concatenate(out + list(vocoder.finish()))

    def frame_values(mel: np.ndarray) -> np.ndarray:
        return np.repeat(mel[0], hop).astype(np.float32)

    np.testing.assert_allclose(stream(frame_values, hop, mel, 7), frame_values(mel), atol=1e-6)
    audio = AudioParams()
    griffin_lim = GriffinLim(audio, 294, iterations=32)
    magnitudes = np.abs(np.random.default_rng(1).normal(size=(80, 40))).repeat(10, axis=1)
    log_mel = np.log(magnitudes + 1e-3).astype(np.float32)
    whole = griffin_lim(torch.from_numpy(log_mel)[None])[0].numpy()
    streamed = stream(lambda m: griffin_lim(torch.from_numpy(m)[None])[0].numpy(), 294, log_mel, 3)
    assert streamed.shape == whole.shape == (400 * 294,)
    spectrum = [np.abs(librosa_stft(w)) for w in (streamed, whole)]
    assert np.corrcoef(spectrum[0].ravel(), spectrum[1].ravel())[0, 1] > 0.95


def librosa_stft(waveform: np.ndarray) -> np.ndarray:
    import librosa

    return librosa.stft(waveform, n_fft=1024, hop_length=294)


def test_a_prefetched_stream_keeps_its_order_and_raises_where_its_source_raised():
    from pipeline.compute.windows import prefetched

    assert list(prefetched(iter(range(50)), depth=3)) == list(range(50))

    def failing():
        yield 1
        yield 2
        raise ValueError("the third item is broken")

    got = []
    with pytest.raises(ValueError, match="the third item is broken"):
        for item in prefetched(failing()):
            got.append(item)
    assert got == [1, 2]
    endless = prefetched(iter(range(10 ** 9)), depth=2)
    assert next(endless) == 0
    endless.close()  # the reader stops: the thread stops too
