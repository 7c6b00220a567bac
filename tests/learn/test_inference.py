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
            mel = synthesiser.predict(sample.video, sample.id.split("_")[0], sigma, seed=index)
            assert mel.shape == sample.mel.shape and np.isfinite(mel).all(), (sigma, sample.id)
