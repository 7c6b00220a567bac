"""Inference on whole utterances: the mlp decoder's windows put back together."""
from __future__ import annotations

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
