"""A trained checkpoint as a speech synthesiser: normalised video features in, log-mels and
waveforms out. `evaluate` and `speak` both go through here.

    synthesiser = Synthesiser.load("data/model.pt", VocoderParams(), device="cpu")
    log_mel = synthesiser.predict(features, speaker="s1")        # (n_mels, k*T) natural-log mel
    log_mel = synthesiser.predict(features, voice=synthesiser.enrolment(raw_mel))  # a voice-conditioned model
    waveform = synthesiser.vocode(log_mel[None], fps=25.0)[0]

Long recordings go through in bounded memory: the video in windows of `window` frames that
overlap by `overlap`, each window's mel predicted on its own and crossfaded into the previous
one's over the overlap (MelStitcher), and the mel stream vocoded block by block with context on
both sides, crossfading the waveforms where blocks meet (pipeline.audio.speech.StreamingVocoder).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.model import LipToSpeech
from pipeline.audio.mels import LOG_FLOOR, AudioParams
from pipeline.audio.speech import Voice, ramp
from pipeline.audio.vocoder import VocoderParams
from pipeline.compute.device import resolve_device
from pipeline.corpora.files import AUDIO_EXTENSIONS
from pipeline.errors import StageError
from pipeline.io.media import VIDEO_TRACK, MediaError, read_audio
from pipeline.learn.checkpoint import load_checkpoint
from pipeline.learn.dataset import ENROLMENT_FRAMES
from pipeline.learn.normalization import Normalizer


def predict_normalised(model: LipToSpeech, video: torch.Tensor, speaker: int, sigma: float | None = None,
                       generator: torch.Generator | None = None, voice: torch.Tensor | None = None) -> torch.Tensor:
    """(C, T, S, S) normalised video -> (n_mels, k*T) normalised mel for the whole utterance;
    `voice`: the normalised mel (n_mels, L) of an enrolment recording, for a voice-conditioned model.

    The mlp decoder has a fixed number of frames: the utterance is cut into consecutive windows
    (the last one ends at the last frame, overlapping its neighbour; a short utterance is
    zero-padded) and the predictions are put back together."""
    frames, k = video.shape[1], model.shapes.k
    speakers = torch.tensor([speaker], device=video.device)

    def conditioning(count: int) -> dict[str, torch.Tensor]:
        if voice is None:
            return {}
        return {"voice": voice[None].expand(count, -1, -1).to(video.device),
                "voice_lengths": torch.full((count,), voice.shape[1], device=video.device)}

    if model.kind != "mlp":
        lengths = torch.tensor([frames], device=video.device)
        return model.infer(video[None], lengths, speakers, sigma, generator, **conditioning(1))[0]
    window = model.shapes.frames
    if frames < window:
        padded = torch.nn.functional.pad(video, (0, 0, 0, 0, 0, window - frames))
        return predict_normalised(model, padded, speaker, sigma, generator, voice)[:, :k * frames]
    starts = list(range(0, frames - window + 1, window))
    if starts[-1] + window < frames:
        starts.append(frames - window)
    chunks = torch.stack([video[:, s:s + window] for s in starts])
    lengths = torch.full((len(starts),), window, device=video.device)
    predicted = model.infer(chunks, lengths, speakers.expand(len(starts)), sigma, generator,
                            **conditioning(len(starts)))
    mel = predicted.new_zeros((predicted.shape[1], k * frames))
    for start, chunk in zip(starts, predicted, strict=True):
        mel[:, k * start:k * (start + window)] = chunk
    return mel


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


@dataclass(kw_only=True)
class Synthesiser(Voice):
    """A checkpoint's model, its normalisation and a voice: normalised video in, speech out."""

    model: LipToSpeech
    checkpoint: dict
    normalizer: Normalizer

    @classmethod
    def load(cls, path: Path, vocoder: VocoderParams = VocoderParams(), device: str = "auto") -> Synthesiser:
        resolved = resolve_device(device)
        model, checkpoint = load_checkpoint(Path(path), resolved)
        normalizer = Normalizer(checkpoint["stats"], checkpoint["params"]["normalize"])
        audio = AudioParams.from_attrs(checkpoint["preprocessing"]["audio"])
        return cls(model=model, checkpoint=checkpoint, normalizer=normalizer, audio=audio, vocoder_params=vocoder,
                   device=resolved)

    @property
    def speakers(self) -> list[str]:
        """The speakers of the model's speaker table (its training speakers)."""
        return list(self.checkpoint["stats"]["speakers"])

    @property
    def conditioning(self) -> str:
        """How the model knows the voice: `table`, `voice` or `none` (model.speaker_embedding)."""
        return self.model.params.speaker_embedding

    def check_speaker(self, speaker: str) -> None:
        """StageError for a speaker the model was not trained on."""
        if speaker not in self.speakers:
            raise StageError(f"unknown speaker {speaker!r}; the model knows {', '.join(self.speakers)} "
                             "(a model that must speak for others conditions on a voice: model.speaker_embedding)")

    def speaker_index(self, speaker: str | None) -> int:
        """The table's index of a speaker name (the first speaker when None); 0 for a model without
        a table, whatever the speaker (it never reads the index); StageError for a speaker a table
        has no trained vector for."""
        if speaker is None or self.conditioning != "table":
            return 0
        self.check_speaker(speaker)
        return self.speakers.index(speaker)

    def enrolment(self, raw_mel: np.ndarray | torch.Tensor | None) -> torch.Tensor | None:
        """The normalised mel (n_mels, L) of an enrolment recording's raw log-mel (n_mels, L), on
        the model's device, for a voice-conditioned model (None for the others); StageError when
        a voice model is given none."""
        if self.conditioning != "voice":
            return None
        if raw_mel is None:
            raise StageError("this model speaks in the voice of an enrolment recording "
                             "(model.speaker_embedding: voice): give one (speak --voice FILE)")
        return self.normalizer.mel(np.asarray(raw_mel, np.float32).T).contiguous().to(self.device)

    def recording_mel(self, path: Path) -> np.ndarray:
        """The raw log-mel (n_mels, L) of a recording (a wav or flac, or a video's own sound) as the
        mels stage computes it, of its first ENROLMENT_FRAMES video frames: what `enrolment` takes."""
        from pipeline.audio.mels import log_mel  # imports librosa: only when a recording is given

        path = Path(path)
        try:
            samples, rate = read_audio(path) if path.suffix.lower() in AUDIO_EXTENSIONS else \
                read_audio(VIDEO_TRACK, path)
        except MediaError as error:
            raise StageError(f"{path}: {error}") from error
        frames = min(ENROLMENT_FRAMES, int(len(samples) / rate * self.fps))
        if frames < 1:
            raise StageError(f"{path}: too short to hear a voice in ({len(samples) / rate:.2f} s)")
        return log_mel(samples, rate, frames, self.fps, self.audio).T

    def predict(self, video: torch.Tensor, speaker: str | None = None, sigma: float | None = None,
                seed: int = 0, voice: torch.Tensor | None = None) -> np.ndarray:
        """(C, T, S, S) normalised video -> (n_mels, k*T) natural-log mel (the mels store's scale);
        `voice`: `enrolment(...)` of a recording, for a voice-conditioned model."""
        generator = torch.Generator(device=self.device).manual_seed(seed)
        mel = predict_normalised(self.model, video.to(self.device), self.speaker_index(speaker), sigma, generator,
                                 voice)
        return self.normalizer.mel_to_raw(mel.float().cpu().numpy())

    def lipread(self, video: torch.Tensor) -> str:
        """(C, T, S, S) normalised video -> the text the model's lip-reading head reads."""
        lengths = torch.tensor([video.shape[1]], device=self.device)
        return self.model.lipread(video[None].to(self.device), lengths)[0]

    @property
    def fps(self) -> float:
        """The video frame rate the model was trained at (every video is resampled to it)."""
        rates = list(self.checkpoint["preprocessing"]["audio"]["hop_length"])
        if len(rates) != 1:
            raise StageError(f"the model was trained on several frame rates ({', '.join(rates)}); retrain it")
        return float(rates[0])

    def predict_windows(self, windows: Iterable[torch.Tensor | int], overlap: int, speaker: str | None = None,
                        sigma: float | None = None, seed: int = 0,
                        voice: torch.Tensor | None = None) -> Iterator[np.ndarray]:
        """Natural-log mel chunks for a recording given as windows of normalised video (C, T, S, S),
        each starting with the previous one's last `overlap` frames (see `windowed`); a window
        given as a number of frames has no usable face and speaks silence."""
        stitcher = MelStitcher(self.model.shapes.k, overlap)
        for index, window in enumerate(windows):
            if isinstance(window, int):
                mel = np.full((self.model.shapes.n_mels, self.model.shapes.k * window), np.log(LOG_FLOOR), np.float32)
            else:
                mel = self.predict(window, speaker, sigma, seed + index, voice)
            yield stitcher.add(mel)
        yield stitcher.finish()
