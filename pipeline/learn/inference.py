"""A trained checkpoint as a speech synthesiser: normalised video features in, log-mels and
waveforms out. `evaluate` and `speak` both go through here.

    synthesiser = Synthesiser.load("data/model.pt", VocoderParams(), device="cpu")
    log_mel = synthesiser.predict(features, speaker="s1")        # (n_mels, k*T) natural-log mel
    waveform = synthesiser.vocode(log_mel[None], fps=25.0)[0]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from models.model import LipToSpeech
from pipeline.audio.mels import AudioParams
from pipeline.audio.vocoder import Vocoder, VocoderParams, make_vocoder
from pipeline.compute.device import resolve_device
from pipeline.errors import StageError
from pipeline.learn.checkpoint import load_checkpoint
from pipeline.learn.normalization import Normalizer


def predict_normalised(model: LipToSpeech, video: torch.Tensor, speaker: int, sigma: float | None = None,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """(C, T, S, S) normalised video -> (n_mels, k*T) normalised mel for the whole utterance.

    The mlp decoder has a fixed number of frames: the utterance is cut into consecutive windows
    (the last one ends at the last frame, overlapping its neighbour; a short utterance is
    zero-padded) and the predictions are put back together."""
    frames, k = video.shape[1], model.shapes.k
    speakers = torch.tensor([speaker], device=video.device)
    if model.kind != "mlp":
        lengths = torch.tensor([frames], device=video.device)
        return model.infer(video[None], lengths, speakers, sigma, generator)[0]
    window = model.shapes.frames
    if frames < window:
        padded = torch.nn.functional.pad(video, (0, 0, 0, 0, 0, window - frames))
        return predict_normalised(model, padded, speaker, sigma, generator)[:, :k * frames]
    starts = list(range(0, frames - window + 1, window))
    if starts[-1] + window < frames:
        starts.append(frames - window)
    chunks = torch.stack([video[:, s:s + window] for s in starts])
    lengths = torch.full((len(starts),), window, device=video.device)
    predicted = model.infer(chunks, lengths, speakers.expand(len(starts)), sigma, generator)
    mel = predicted.new_zeros((predicted.shape[1], k * frames))
    for start, chunk in zip(starts, predicted):
        mel[:, k * start:k * (start + window)] = chunk
    return mel


@dataclass
class Synthesiser:
    model: LipToSpeech
    checkpoint: dict
    normalizer: Normalizer
    audio: AudioParams
    vocoder_params: VocoderParams
    device: torch.device
    _vocoders: dict[float, Vocoder] = field(default_factory=dict, repr=False)  # one per frame rate

    @classmethod
    def load(cls, path: Path, vocoder: VocoderParams = VocoderParams(), device: str = "auto") -> Synthesiser:
        resolved = resolve_device(device)
        model, checkpoint = load_checkpoint(Path(path), resolved)
        normalizer = Normalizer(checkpoint["stats"], checkpoint["params"]["normalize"])
        audio = AudioParams.from_attrs(checkpoint["preprocessing"]["audio"])
        return cls(model, checkpoint, normalizer, audio, vocoder, resolved)

    @property
    def speakers(self) -> list[str]:
        return list(self.checkpoint["stats"]["speakers"])

    def speaker_index(self, speaker: str | None) -> int:
        """The model's index of a speaker name (the first speaker when None)."""
        if speaker is None:
            return 0
        if speaker not in self.speakers:
            raise StageError(f"unknown speaker {speaker!r}; the model knows {', '.join(self.speakers)}")
        return self.speakers.index(speaker)

    def predict(self, video: torch.Tensor, speaker: str | None = None, sigma: float | None = None,
                seed: int = 0) -> np.ndarray:
        """(C, T, S, S) normalised video -> (n_mels, k*T) natural-log mel (the mels store's scale)."""
        generator = torch.Generator(device=self.device).manual_seed(seed)
        mel = predict_normalised(self.model, video.to(self.device), self.speaker_index(speaker), sigma, generator)
        return self.normalizer.mel_to_raw(mel.float().cpu().numpy())

    def vocoder(self, fps: float) -> Vocoder:
        if fps not in self._vocoders:
            self._vocoders[fps] = make_vocoder(self.vocoder_params, self.audio, self.audio.hop_length(fps))
        return self._vocoders[fps]

    def vocode(self, log_mels: np.ndarray, fps: float) -> np.ndarray:
        """(B, n_mels, F) natural-log mels -> (B, F * hop) float32 waveforms."""
        waveforms = self.vocoder(fps)(torch.from_numpy(np.asarray(log_mels, np.float32)).to(self.device))
        return waveforms.cpu().numpy()
