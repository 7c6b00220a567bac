"""The whole lip-to-speech model: encoder, optional speaker embedding, a decoder, optional
postnet; its losses; and building it from params."""
from __future__ import annotations

import typing
from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn

from models.decoders import ConvDecoder, FlowDecoder, MLPDecoder, Postnet
from models.encoder import Encoder
from pipeline.errors import ParamsError

Decoder = Literal["mlp", "conv", "flow"]  # `decoder` in params.yaml
DECODERS = typing.get_args(Decoder)


@dataclass(frozen=True)
class ModelParams:
    """`model` in params.yaml (the decoder is the top-level `decoder`); defaults as params.yaml."""

    width: float = 0.125  # ResNet18 channel multiplier; 1.0 is the thesis
    gru_hidden: int = 128
    bidirectional: bool = False
    dropout: float = 0.25
    mlp_hidden: int = 512  # the thesis: 2000
    conv_channels: int = 128
    conv_layers: int = 2
    flow_steps: int = 2
    flow_hidden: int = 256
    sigma: float = 1.0  # flow: training noise scale and default sampling scale
    postnet: bool = False
    speaker_embedding: bool = False


@dataclass(frozen=True)
class Shapes:
    """What the data fixes: input channels, mels, mel frames per video frame, frames (mlp),
    number of speakers, and the output activation that matches the normalisation."""

    in_channels: int
    n_mels: int
    k: int
    frames: int
    n_speakers: int
    output: str = "linear"


class LipToSpeech(nn.Module):
    def __init__(self, decoder: Decoder, params: ModelParams, shapes: Shapes) -> None:
        super().__init__()
        if decoder == "flow" and params.postnet:
            raise ParamsError("model.postnet does not apply to the flow decoder (its output is sampled, "
                              "not regressed); set model.postnet: false")
        self.kind, self.params, self.shapes = decoder, params, shapes
        self.encoder = Encoder(shapes.in_channels, params.width, params.gru_hidden, params.bidirectional,
                               params.dropout)
        features = self.encoder.out_features
        self.speaker = nn.Embedding(shapes.n_speakers, features) if params.speaker_embedding else None
        if decoder == "mlp":
            self.decoder = MLPDecoder(features, shapes.frames, shapes.n_mels, shapes.k, params.mlp_hidden,
                                      params.dropout, shapes.output)
        elif decoder == "conv":
            self.decoder = ConvDecoder(features, shapes.n_mels, shapes.k, params.conv_channels, params.conv_layers,
                                       shapes.output)
        elif decoder == "flow":
            self.decoder = FlowDecoder(features, shapes.n_mels, shapes.k, params.flow_steps, params.flow_hidden,
                                       params.sigma)
        else:
            raise ValueError(f"unknown decoder {decoder!r}")
        self.postnet = Postnet(shapes.n_mels) if params.postnet else None

    def encode(self, video: torch.Tensor, lengths: torch.Tensor, speakers: torch.Tensor) -> torch.Tensor:
        features = self.encoder(video, lengths)
        if self.speaker is not None:
            features = features + self.speaker(speakers)[:, None, :]
        return features

    def forward(self, video, video_lengths, speakers, mel=None, mel_lengths=None) -> dict[str, torch.Tensor]:
        """Training outputs: {"mel", "mel_before_postnet"} for mlp/conv; {"z", "log_s"} for flow."""
        features = self.encode(video, video_lengths, speakers)
        if self.kind == "flow":
            z, log_s = self.decoder(mel, features, mel_lengths)
            return {"z": z, "log_s": log_s}
        before = self.decoder(features)
        return {"mel": self.postnet(before) if self.postnet is not None else before, "mel_before_postnet": before}

    def loss(self, outputs: dict[str, torch.Tensor], mel: torch.Tensor, mel_lengths: torch.Tensor) -> torch.Tensor:
        mask = (torch.arange(mel.shape[-1], device=mel.device)[None] < mel_lengths[:, None])[:, None, :]
        if self.kind == "flow":
            return flow_nll(outputs["z"], outputs["log_s"], mask, self.params.sigma)
        loss = masked_mse(outputs["mel"], mel, mask)
        if self.postnet is not None:
            loss = loss + masked_mse(outputs["mel_before_postnet"], mel, mask)
        return loss

    @torch.no_grad()
    def infer(self, video, video_lengths, speakers, sigma: float | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
        """Predicted mel (B, n_mels, k*T), normalised like the training targets."""
        features = self.encode(video, video_lengths, speakers)
        if self.kind == "flow":
            return self.decoder.infer(features, video_lengths * self.shapes.k, sigma, generator)
        mel = self.decoder(features)
        return self.postnet(mel) if self.postnet is not None else mel

    def config(self) -> dict:
        """Plain-Python description, saved in checkpoints next to the weights."""
        return {"decoder": self.kind, "model": asdict(self.params), "shapes": asdict(self.shapes)}

    @classmethod
    def from_config(cls, config: dict) -> LipToSpeech:
        return cls(config["decoder"], ModelParams(**config["model"]), Shapes(**config["shapes"]))


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over real (unpadded) frames."""
    squared = (prediction.float() - target.float()) ** 2 * mask
    return squared.sum() / (mask.sum() * prediction.shape[1]).clamp(min=1)


def flow_nll(z: torch.Tensor, log_s: torch.Tensor, mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian negative log-likelihood per element, constants dropped:
    (sum z^2 / (2 sigma^2) - sum log_s) / number of real elements."""
    elements = (mask.sum() * z.shape[1]).clamp(min=1)
    return ((z.float() ** 2 * mask).sum() / (2 * sigma ** 2) - (log_s.float() * mask).sum()) / elements
