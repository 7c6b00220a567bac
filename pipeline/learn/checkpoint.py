"""Checkpoints: the weights plus everything needed to use them, as plain types, so they load with
`torch.load(path, weights_only=True)`: the model config, the params it was trained with, the
normalisation stats, and the preprocessing (crop, feature and audio settings) that turned videos
and audio into its inputs and targets, so `speak` and `evaluate` redo exactly that."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from models.model import LipToSpeech
from pipeline.audio.mels import AudioParams
from pipeline.errors import MissingInput, StageError
from pipeline.io.files import replacing
from pipeline.io.store import StoreReader

FEATURE_KEYS = ("mode", "size", "padding", "grayscale", "derivatives", "channels")


def preprocessing(features: StoreReader, mels: StoreReader) -> dict:
    """The crop, feature and audio settings recorded in the stores' attrs."""
    return {"features": {key: features.attrs[key] for key in FEATURE_KEYS if key in features.attrs},
            "audio": {**dataclasses.asdict(AudioParams.from_attrs(mels.attrs)), "hop_length": mels.attrs["hop_length"]}}


def save_checkpoint(path: Path, model: LipToSpeech, stats: dict, preprocessed: dict, params: dict, epoch: int,
                    val_loss: float) -> None:
    """Write the model's checkpoint next to `path`, then move it into place. `params`: the
    params.yaml sections it was trained with (decoder, model, train, normalize), as plain types."""
    write_checkpoint(path, {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
                     model.config(), stats, preprocessed, params, epoch, val_loss)


def write_checkpoint(path: Path, state_dict: dict, config: dict, stats: dict, preprocessed: dict, params: dict,
                     epoch: int, val_loss: float) -> None:
    """The checkpoint of weights `state_dict` of a model described by `config` (see save_checkpoint)."""
    checkpoint = {
        "state_dict": state_dict,
        "config": config,
        "stats": stats,
        "preprocessing": preprocessed,
        "params": params,
        "epoch": epoch,
        "val_loss": float(val_loss),
    }
    with replacing(path) as partial:
        torch.save(checkpoint, partial)


def load_checkpoint(path: Path, device: str | torch.device = "cpu") -> tuple[LipToSpeech, dict]:
    """The model (eval mode, on `device`) and the checkpoint's other contents."""
    if not Path(path).is_file():
        raise MissingInput(f"no checkpoint at {path}; train one with `dvc repro train`")
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    if "preprocessing" not in checkpoint:
        raise StageError(f"{path} predates the preprocessing record; retrain it with `dvc repro train`")
    model = LipToSpeech.from_config(checkpoint["config"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.to(device).eval(), checkpoint
