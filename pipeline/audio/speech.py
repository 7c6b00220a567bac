"""Speech from log-mels in bounded memory: a vocoder per frame rate (`Voice`) and the stream of
blocks it vocodes (`StreamingVocoder`). No model here: the references stage speaks true and mean
mels with it, and pipeline.learn.inference adds the model on top.

    voice = Voice(AudioParams(), VocoderParams(), torch.device("cpu"))
    waveform = voice.speech(log_mel, fps=25.0)       # (n_mels, F) -> (F * hop,) float32
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from pipeline.audio.mels import AudioParams
from pipeline.audio.vocoder import Vocoder, VocoderParams, make_vocoder

BLOCK, CONTEXT = 300, 16  # mel frames a streaming vocoder call adds, and the context it takes on each side


def ramp(length: int) -> np.ndarray:
    """Crossfade weights of the incoming signal over `length` steps, strictly between 0 and 1."""
    return (np.arange(length, dtype=np.float32) + 1) / (length + 1)


class StreamingVocoder:
    """Vocodes a stream of final mel chunks in blocks of `block` mel frames, each with up to
    `context` frames of the neighbouring mels on both sides (Griffin-Lim needs them at the
    edges); where two blocks meet, their waveforms crossfade over 2 * `fade` frames. The
    waveform comes out in chunks, exactly hop samples per mel frame in all."""

    def __init__(self, vocode: Callable[[np.ndarray], np.ndarray], hop: int, block: int = BLOCK, context: int = CONTEXT,
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
class Voice:
    """Mel to waveform with the vocoder `params` (one vocoder per frame rate, built on first use),
    on `device`; what evaluating the references needs, without a model."""

    audio: AudioParams
    vocoder_params: VocoderParams
    device: torch.device
    _vocoders: dict[float, Vocoder] = field(default_factory=dict, repr=False)  # one per frame rate

    def vocoder(self, fps: float) -> Vocoder:
        if fps not in self._vocoders:
            self._vocoders[fps] = make_vocoder(self.vocoder_params, self.audio, self.audio.hop_length(fps))
        return self._vocoders[fps]

    def vocode(self, log_mels: np.ndarray, fps: float) -> np.ndarray:
        """(B, n_mels, F) natural-log mels -> (B, F * hop) float32 waveforms."""
        waveforms = self.vocoder(fps)(torch.from_numpy(np.asarray(log_mels, np.float32)).to(self.device))
        return waveforms.cpu().numpy()

    def vocode_stream(self, mel_chunks: Iterable[np.ndarray], fps: float) -> Iterator[np.ndarray]:
        """Waveform chunks for a stream of natural-log mel chunks, in bounded memory."""
        vocoder = StreamingVocoder(lambda mel: self.vocode(mel[None], fps)[0], self.audio.hop_length(fps))
        for chunk in mel_chunks:
            yield from vocoder.push(chunk)
        yield from vocoder.finish()

    @staticmethod
    def in_one_call(frames: int) -> bool:
        """Whether `speech` vocodes a mel of this many frames in one vocoder call (as a batch of
        mels of this length would be)."""
        return frames < BLOCK + CONTEXT

    def speech(self, log_mel: np.ndarray, fps: float) -> np.ndarray:
        """(n_mels, F) natural-log mel -> its whole waveform, vocoded block by block (bounded memory;
        a mel shorter than a block, e.g. a GRID utterance, is one vocoder call)."""
        return np.concatenate(list(self.vocode_stream([log_mel], fps)))
