"""Checkpoints: what save_checkpoint writes, load_checkpoint gives back, identical in use."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.model import LipToSpeech, ModelParams, Shapes
from pipeline.errors import MissingInput
from pipeline.learn.checkpoint import load_checkpoint, save_checkpoint


def test_save_then_load_gives_identical_outputs_and_contents(tmp_path: Path):
    torch.manual_seed(0)
    params = ModelParams(width=0.125, gru_hidden=16, conv_channels=16, postnet=True, speaker_embedding="table")
    model = LipToSpeech("conv", params, Shapes(in_channels=3, n_mels=8, k=2, frames=8, n_speakers=2))
    # A few steps, so BatchNorm's running statistics are not their initial values.
    video, lengths, speakers = torch.randn(2, 3, 8, 32, 32), torch.tensor([8, 8]), torch.tensor([0, 1])
    for _ in range(3):
        model(video, lengths, speakers)
    model.eval()
    stats = {"speakers": ["s1", "s2"], "mel": {"mean": [0.5] * 8}}
    preprocessing = {"features": {"mode": "fixed", "size": 64},
                     "audio": {"sample_rate": 22050, "hop_length": {"25.0": 294}}}
    trained_with = {"decoder": "conv", "model": params.__dict__, "normalize": "standard"}
    save_checkpoint(tmp_path / "model.pt", model, stats, preprocessing, trained_with, epoch=3, val_loss=0.25)
    assert not (tmp_path / "model.pt.partial").exists()
    loaded, checkpoint = load_checkpoint(tmp_path / "model.pt")
    assert not loaded.training
    torch.testing.assert_close(loaded.infer(video, lengths, speakers), model.infer(video, lengths, speakers),
                               atol=0, rtol=0)
    assert (checkpoint["stats"], checkpoint["preprocessing"], checkpoint["params"]) == \
        (stats, preprocessing, trained_with)
    assert (checkpoint["epoch"], checkpoint["val_loss"]) == (3, 0.25)


def test_a_missing_checkpoint_says_how_to_make_one(tmp_path: Path):
    with pytest.raises(MissingInput, match="no checkpoint at .*; train one with `dvc repro train`"):
        load_checkpoint(tmp_path / "model.pt")
