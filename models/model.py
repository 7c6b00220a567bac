"""The whole lip-to-speech model: encoder, optional speaker conditioning, a decoder, optional
postnet, an optional lip-reading (CTC) head (models.lipreading); its losses; and building it
from params. `model.speaker_embedding` says how the decoder knows whose voice to speak in:
`table`, a learned vector per training speaker (by index); `voice`, a vector a speaker encoder
makes from another recording of the speaker (models.speaker: it serves speakers absent from
training); `none`. `model.ctc_weight` scales the head's loss next to the mel loss (0: no head);
`model.mel_head_weight` adds a linear mel regression on the decoder's input, a training signal
for the encoder that inference never uses (0: none).
"""
from __future__ import annotations

import functools
import operator
import typing
from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn

from models.decoders import ConvDecoder, FlowDecoder, MLPDecoder, Postnet
from models.encoder import Encoder
from models.lipreading import CHARACTERS, LipReadingHead
from models.speaker import VoiceEncoder
from pipeline.errors import ParamsError

Decoder = Literal["mlp", "conv", "flow"]  # `decoder` in params.yaml
DECODERS = typing.get_args(Decoder)
SpeakerConditioning = Literal["table", "voice", "none"]  # `model.speaker_embedding`


@dataclass(frozen=True)
class ModelParams:
    """`model` in params.yaml (the decoder is the top-level `decoder`); defaults as params.yaml."""

    width: float = 0.125  # ResNet18 channel multiplier; 1.0 is the thesis
    gru_hidden: int = 128
    bidirectional: bool = True
    dropout: float = 0.25
    mlp_hidden: int = 512  # the thesis: 2000
    conv_channels: int = 128
    conv_layers: int = 2
    flow_steps: int = 2
    flow_hidden: int = 256
    flow_dropout: float = 0.0  # flow: dropout on the previous frames its coupling sees, in training
    sigma: float = 1.0  # flow: training noise scale and default sampling scale
    postnet: bool = False
    speaker_embedding: SpeakerConditioning = "table"
    mel_loss: Literal["mse", "l1+mse"] = "mse"  # mlp, conv: on the normalised mel
    ctc_weight: float = 1.0  # lip-reading head on the encoder; 0: none
    # What the head reads: words (of the training transcripts) | characters (an open vocabulary) |
    # auto: words when every training transcript is a GRID sentence, else characters.
    ctc_units: Literal["auto", "characters", "words"] = "auto"
    ctc_hidden: int = 64  # the head's bidirectional GRU units; 0: a linear head
    ctc_detach: bool = True  # stop the CTC gradient at the encoder (a probe); false: multi-task
    mel_head_weight: float = 0.0  # a per-frame linear mel regression on the decoder input; 0: none


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
    def __init__(self, decoder: Decoder, params: ModelParams, shapes: Shapes,
                 vocabulary: tuple[str, ...] = CHARACTERS) -> None:
        """`vocabulary`: the lip-reading head's tokens (for `model.ctc_units: words`, the words of
        the training transcripts)."""
        super().__init__()
        if decoder == "flow" and params.postnet:
            raise ParamsError("model.postnet does not apply to the flow decoder (its output is sampled, "
                              "not regressed); set model.postnet: false")
        self.kind, self.params, self.shapes = decoder, params, shapes
        self.encoder = Encoder(shapes.in_channels, params.width, params.gru_hidden, params.bidirectional,
                               params.dropout)
        features = self.encoder.out_features
        self.decoder: MLPDecoder | ConvDecoder | FlowDecoder
        self.speaker = nn.Embedding(shapes.n_speakers, features) if params.speaker_embedding == "table" else None
        self.voice = VoiceEncoder(shapes.n_mels, features) if params.speaker_embedding == "voice" else None
        if decoder == "mlp":
            self.decoder = MLPDecoder(features, shapes.frames, shapes.n_mels, shapes.k, params.mlp_hidden,
                                      params.dropout, shapes.output)
        elif decoder == "conv":
            self.decoder = ConvDecoder(features, shapes.n_mels, shapes.k, params.conv_channels, params.conv_layers,
                                       shapes.output)
        elif decoder == "flow":
            self.decoder = FlowDecoder(features, shapes.n_mels, shapes.k, params.flow_steps, params.flow_hidden,
                                       params.sigma, params.flow_dropout)
        else:
            raise ValueError(f"unknown decoder {decoder!r}")
        self.postnet = Postnet(shapes.n_mels) if params.postnet else None
        # One linear map per video frame to its k mel frames: the encoder's features must carry
        # the mel themselves, which a decoder that leans on its own past (the flow) does not ask.
        self.mel_head = (nn.ConvTranspose1d(features, shapes.n_mels, shapes.k, stride=shapes.k)
                         if params.mel_head_weight > 0 else None)
        # `auto` is decided by the training transcripts (pipeline.learn.training); a model made
        # without them reads what its vocabulary holds.
        units = params.ctc_units if params.ctc_units != "auto" else \
            "characters" if tuple(vocabulary) == CHARACTERS else "words"
        self.ctc = (LipReadingHead(features, vocabulary, units, params.ctc_hidden, params.ctc_detach)
                    if params.ctc_weight > 0 else None)

    def encode(self, video: torch.Tensor, lengths: torch.Tensor, speakers: torch.Tensor,
               voice: torch.Tensor | None = None, voice_lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self._decoder_input(self.encoder(video, lengths), speakers, voice, voice_lengths)

    def _decoder_input(self, features: torch.Tensor, speakers: torch.Tensor, voice: torch.Tensor | None,
                       voice_lengths: torch.Tensor | None) -> torch.Tensor:
        """The encoder's features plus the speaker vector: the table's row of each speaker index,
        or the voice encoder's vector of each enrolment recording (`voice`, (B, n_mels, L)
        normalised log-mel, and its lengths)."""
        if self.speaker is not None:
            features = features + self.speaker(speakers)[:, None, :]
        if self.voice is not None:
            if voice is None or voice_lengths is None:
                raise ValueError("this model conditions on an enrolment recording of the speaker "
                                 "(model.speaker_embedding: voice): pass `voice` and `voice_lengths`")
            features = features + self.voice(voice, voice_lengths)[:, None, :]
        return features

    def forward(self, video, video_lengths, speakers, mel=None, mel_lengths=None, lipread: bool = True,
                voice=None, voice_lengths=None) -> dict[str, torch.Tensor]:
        """Training outputs: {"mel", "mel_before_postnet"} for mlp/conv; {"z", "log_s"} for flow;
        {"mel_head"} with the mel head; and {"ctc_log_probs"} (B, T, classes) with the lip-reading
        head, unless `lipread` is false (a batch with no transcript: the head then stays out of
        the graph, which DDP must know of). `voice`, `voice_lengths`: the enrolment recordings of
        a `voice`-conditioned model."""
        encoded = self.encoder(video, video_lengths)
        features = self._decoder_input(encoded, speakers, voice, voice_lengths)
        outputs = {} if self.ctc is None or not lipread else {"ctc_log_probs": self.ctc(encoded, video_lengths)}
        if self.mel_head is not None:
            outputs["mel_head"] = self.mel_head(features.transpose(1, 2))
        if self.kind == "flow":
            z, log_s = self.decoder(mel, features, mel_lengths)
            return {**outputs, "z": z, "log_s": log_s}
        before = self.decoder(features)
        mel_out = self.postnet(before) if self.postnet is not None else before
        return {**outputs, "mel": mel_out, "mel_before_postnet": before}

    def mel_loss(self, outputs: dict[str, torch.Tensor], mel: torch.Tensor, mel_lengths: torch.Tensor) -> torch.Tensor:
        """The speech part of the loss: MSE (or L1 + MSE) on the normalised mel over real frames
        (before and after the postnet), or the flow's negative log-likelihood."""
        mask = (torch.arange(mel.shape[-1], device=mel.device)[None] < mel_lengths[:, None])[:, None, :]
        if self.kind == "flow":
            return flow_nll(outputs["z"], outputs["log_s"], mask, self.params.sigma)
        predictions = [outputs["mel"]] + ([outputs["mel_before_postnet"]] if self.postnet is not None else [])
        loss = _total([masked_mse(p, mel, mask) for p in predictions])
        if self.params.mel_loss == "l1+mse":
            loss = loss + _total([masked_l1(p, mel, mask) for p in predictions])
        return loss

    def loss(self, outputs: dict[str, torch.Tensor], mel: torch.Tensor, mel_lengths: torch.Tensor,
             texts: list[str] | None = None, video_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The training loss: the mel loss, plus mel_head_weight x the mel head's MSE, plus
        ctc_weight x the CTC loss of the utterances that come with a transcript (`texts`, "" for
        none)."""
        loss = self.mel_loss(outputs, mel, mel_lengths)
        if self.mel_head is not None:
            mask = (torch.arange(mel.shape[-1], device=mel.device)[None] < mel_lengths[:, None])[:, None, :]
            loss = loss + self.params.mel_head_weight * masked_mse(outputs["mel_head"], mel, mask)
        if self.ctc is not None and texts is not None and any(texts):
            if video_lengths is None:
                raise ValueError("the lip-reading loss needs the video lengths")
            loss = loss + self.params.ctc_weight * self.ctc.loss(outputs["ctc_log_probs"], video_lengths, texts)
        return loss

    @torch.no_grad()
    def lipread(self, video: torch.Tensor, video_lengths: torch.Tensor) -> list[str]:
        """The text the CTC head reads off each video (greedy decoding)."""
        if self.ctc is None:
            raise ValueError("this model has no lip-reading head (model.ctc_weight: 0)")
        classes = self.ctc(self.encoder(video, video_lengths), video_lengths).argmax(-1)
        return [self.ctc.decode(row[:length].tolist())
                for row, length in zip(classes, video_lengths.tolist(), strict=True)]

    @torch.no_grad()
    def infer(self, video, video_lengths, speakers, sigma: float | None = None,
              generator: torch.Generator | None = None, voice: torch.Tensor | None = None,
              voice_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted mel (B, n_mels, k*T), normalised like the training targets."""
        features = self.encode(video, video_lengths, speakers, voice, voice_lengths)
        if isinstance(self.decoder, FlowDecoder):
            return self.decoder.infer(features, video_lengths * self.shapes.k, sigma, generator)
        mel = self.decoder(features)
        return self.postnet(mel) if self.postnet is not None else mel

    def config(self) -> dict:
        """Plain-Python description, saved in checkpoints next to the weights (with the lip
        reader's vocabulary)."""
        config = {"decoder": self.kind, "model": asdict(self.params), "shapes": asdict(self.shapes)}
        return {**config, "vocabulary": list(self.ctc.vocabulary)} if self.ctc is not None else config

    @classmethod
    def from_config(cls, config: dict) -> LipToSpeech:
        # Configs written before a field existed mean what the model then was.
        model = {"ctc_weight": 0.0, "ctc_units": "characters", "ctc_hidden": 0, "ctc_detach": False, **config["model"]}
        if isinstance(model.get("speaker_embedding"), bool):  # before `voice`: true was the table
            model["speaker_embedding"] = "table" if model["speaker_embedding"] else "none"
        return cls(config["decoder"], ModelParams(**model), Shapes(**config["shapes"]),
                   tuple(config.get("vocabulary", CHARACTERS)))


def _total(terms: list[torch.Tensor]) -> torch.Tensor:
    """The sum of a non-empty list of losses, added left to right."""
    return functools.reduce(operator.add, terms)


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over real (unpadded) frames."""
    squared = (prediction.float() - target.float()) ** 2 * mask
    return squared.sum() / (mask.sum() * prediction.shape[1]).clamp(min=1)


def masked_l1(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over real (unpadded) frames."""
    return ((prediction.float() - target.float()).abs() * mask).sum() / (mask.sum() * prediction.shape[1]).clamp(min=1)


def flow_nll(z: torch.Tensor, log_s: torch.Tensor, mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian negative log-likelihood per element, constants dropped:
    (sum z^2 / (2 sigma^2) - sum log_s) / number of real elements."""
    elements = (mask.sum() * z.shape[1]).clamp(min=1)
    return ((z.float() ** 2 * mask).sum() / (2 * sigma ** 2) - (log_s.float() * mask).sum()) / elements
