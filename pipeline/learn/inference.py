"""A trained checkpoint as a speech synthesiser: normalised video features in, log-mels and
waveforms out. `evaluate` and `speak` both go through here.

    synthesiser = Synthesiser.load("data/model.pt", VocoderParams(), device="cpu")
    log_mel = synthesiser.predict(features, speaker="s1")        # (n_mels, k*T) natural-log mel
    waveform = synthesiser.vocode(log_mel[None], fps=25.0)[0]

Long recordings go through in bounded memory: the video in windows of `window` frames that
overlap by `overlap`, each window's mel predicted on its own and crossfaded into the previous
one's over the overlap (MelStitcher), and the mel stream vocoded block by block with context on
both sides, crossfading the waveforms where blocks meet (StreamingVocoder).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from models.model import LipToSpeech
from pipeline.audio.mels import LOG_FLOOR, AudioParams
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
    for start, chunk in zip(starts, predicted, strict=True):
        mel[:, k * start:k * (start + window)] = chunk
    return mel


T = TypeVar("T")


def windowed(items: Iterable[T], window: int, overlap: int) -> Iterator[list[T]]:
    """Consecutive windows of `window` items, each starting with the previous window's last
    `overlap` items; the last window holds what is left (always more than `overlap` items, or
    everything when there are fewer than `window`)."""
    if not 0 <= overlap < window:
        raise ValueError(f"need 0 <= overlap < window, got overlap {overlap}, window {window}")
    buffer: list[T] = []
    started = False
    for item in items:
        buffer.append(item)
        if len(buffer) == window:
            yield buffer
            started, buffer = True, buffer[window - overlap:]
    if len(buffer) > overlap or (buffer and not started):
        yield buffer


def ramp(length: int) -> np.ndarray:
    """Crossfade weights of the incoming signal over `length` steps, strictly between 0 and 1."""
    return (np.arange(length, dtype=np.float32) + 1) / (length + 1)


class MelStitcher:
    """Joins the mels of consecutive windows that overlap by `overlap` video frames into one
    stream: each overlap is a linear crossfade from the earlier window to the later one. `add`
    returns the mel frames that no later window will touch; `finish` the rest."""

    def __init__(self, k: int, overlap: int) -> None:
        self.k, self.overlap = k, overlap
        self.tail: np.ndarray | None = None  # the last window's overlap, to crossfade into

    def add(self, mel: np.ndarray) -> np.ndarray:
        """mel (n_mels, k * frames) of the next window, whose first `overlap` frames are the
        previous window's last ones."""
        if self.tail is not None:
            shared = self.tail.shape[1]
            weights = ramp(shared)
            mel = np.concatenate([self.tail * (1 - weights) + mel[:, :shared] * weights, mel[:, shared:]], axis=1)
        keep = min(self.k * self.overlap, mel.shape[1])
        self.tail = mel[:, mel.shape[1] - keep:]
        return mel[:, :mel.shape[1] - keep]

    def finish(self) -> np.ndarray:
        return self.tail if self.tail is not None else np.zeros((0, 0), np.float32)


class StreamingVocoder:
    """Vocodes a stream of final mel chunks in blocks of `block` mel frames, each with up to
    `context` frames of the neighbouring mels on both sides (Griffin-Lim needs them at the
    edges); where two blocks meet, their waveforms crossfade over 2 * `fade` frames. The
    waveform comes out in chunks, exactly hop samples per mel frame in all."""

    def __init__(self, vocode: Callable[[np.ndarray], np.ndarray], hop: int, block: int = 300, context: int = 16,
                 fade: int = 8) -> None:
        if not 0 < fade <= context < block:
            raise ValueError("need 0 < fade <= context < block")
        self.vocode, self.hop, self.block, self.context, self.fade = vocode, hop, block, context, fade
        self.mel: np.ndarray | None = None  # pending frames, with `context` frames already vocoded before them
        self.done = 0  # frames of self.mel already vocoded (the left context)
        self.extension: np.ndarray | None = None  # the last block's waveform past its end, to crossfade

    def push(self, mel: np.ndarray) -> Iterator[np.ndarray]:
        if mel.shape[1] == 0:
            return
        self.mel = mel if self.mel is None else np.concatenate([self.mel, mel], axis=1)
        while self.mel.shape[1] - self.done >= self.block + self.context:
            yield self._block(self.block, last=False)

    def finish(self) -> Iterator[np.ndarray]:
        if self.mel is not None and self.mel.shape[1] > self.done:
            yield self._block(self.mel.shape[1] - self.done, last=True)

    def _block(self, frames: int, last: bool) -> np.ndarray:
        assert self.mel is not None, "a block is vocoded only after a push"
        hop, fade, start = self.hop, self.fade, self.done
        left = min(self.context, start)
        right = 0 if last else self.context
        waveform = self.vocode(self.mel[:, start - left:start + frames + right])

        def at(frame: int) -> int:
            """The waveform sample where mel frame `frame` (of self.mel) starts."""
            return (frame - (start - left)) * hop

        if self.extension is None:
            head = waveform[at(start):at(start + frames - (0 if last else fade))]
        else:
            weights = ramp(2 * fade * hop)
            blend = self.extension * (1 - weights) + waveform[at(start - fade):at(start + fade)] * weights
            head = np.concatenate([blend, waveform[at(start + fade):at(start + frames - (0 if last else fade))]])
        self.extension = None if last else waveform[at(start + frames - fade):at(start + frames + fade)]
        # Keep the left context of the next block; forget what is older.
        keep_from = max(0, start + frames - self.context)
        self.mel, self.done = self.mel[:, keep_from:], start + frames - keep_from
        return head.astype(np.float32)


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

    def lipread(self, video: torch.Tensor) -> str:
        """(C, T, S, S) normalised video -> the text the model's lip-reading head reads."""
        lengths = torch.tensor([video.shape[1]], device=self.device)
        return self.model.lipread(video[None].to(self.device), lengths)[0]

    def vocoder(self, fps: float) -> Vocoder:
        if fps not in self._vocoders:
            self._vocoders[fps] = make_vocoder(self.vocoder_params, self.audio, self.audio.hop_length(fps))
        return self._vocoders[fps]

    def vocode(self, log_mels: np.ndarray, fps: float) -> np.ndarray:
        """(B, n_mels, F) natural-log mels -> (B, F * hop) float32 waveforms."""
        waveforms = self.vocoder(fps)(torch.from_numpy(np.asarray(log_mels, np.float32)).to(self.device))
        return waveforms.cpu().numpy()

    @property
    def fps(self) -> float:
        """The video frame rate the model was trained at (every video is resampled to it)."""
        rates = list(self.checkpoint["preprocessing"]["audio"]["hop_length"])
        if len(rates) != 1:
            raise StageError(f"the model was trained on several frame rates ({', '.join(rates)}); retrain it")
        return float(rates[0])

    def predict_windows(self, windows: Iterable[torch.Tensor | int], overlap: int, speaker: str | None = None,
                        sigma: float | None = None, seed: int = 0) -> Iterator[np.ndarray]:
        """Natural-log mel chunks for a recording given as windows of normalised video (C, T, S, S),
        each starting with the previous one's last `overlap` frames (see `windowed`); a window
        given as a number of frames has no usable face and speaks silence."""
        stitcher = MelStitcher(self.model.shapes.k, overlap)
        for index, window in enumerate(windows):
            if isinstance(window, int):
                mel = np.full((self.model.shapes.n_mels, self.model.shapes.k * window), np.log(LOG_FLOOR), np.float32)
            else:
                mel = self.predict(window, speaker, sigma, seed + index)
            yield stitcher.add(mel)
        yield stitcher.finish()

    def vocode_stream(self, mel_chunks: Iterable[np.ndarray], fps: float) -> Iterator[np.ndarray]:
        """Waveform chunks for a stream of natural-log mel chunks, in bounded memory."""
        vocoder = StreamingVocoder(lambda mel: self.vocode(mel[None], fps)[0], self.audio.hop_length(fps))
        for chunk in mel_chunks:
            yield from vocoder.push(chunk)
        yield from vocoder.finish()
