"""The embedded corpus: talking-face videos, speech and alignments, made offline.

`sentences: grid` (the default): GRID's sentences, in GRID's layout (the `grid` source's default
patterns):

    ROOT/video/s1/bbaf2n.mpg    75 frames, 25 fps, 360x288 MPEG-1 with an MPEG audio track
    ROOT/audio/s1/bbaf2n.wav    3.0 s, 16-bit PCM, espeak-ng's 22 050 Hz
    ROOT/align/s1/bbaf2n.align  GRID alignment (1000 units per frame, `sil` at both ends)
    ROOT/truth/s1/bbaf2n.npy    what the generator drew: per-frame landmarks and mouth tracks

`sentences: open`: sentences outside GRID's grammar (open_sentences.txt: 1,314 sentences of 3 to 15
words, 1,827 distinct words, from Python's documentation, PSF License), each video as long as its
speech (about 1 to 6 s), in the `folder` source's layout, the id naming the sentence's line:

    ROOT/s1/o0042.mpg, ROOT/s1/o0042.wav, ROOT/s1/o0042.align, ROOT/truth/s1/o0042.npy

Every utterance draws from its own random generator seeded by (seed, speaker, utterance), so the
files are byte-identical for the same params whatever the number of workers.
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from pipeline.compute.parallel import ParallelParams, parallel_map
from pipeline.corpora import grid
from pipeline.corpora.synthetic import face as faces
from pipeline.corpora.synthetic.espeak import Speech, Voice, speak
from pipeline.corpora.synthetic.visemes import mouth_tracks
from pipeline.io.files import replacing
from pipeline.io.manifest import Word
from pipeline.io.media import write_video, write_wav

FPS = 25
N_FRAMES = 75
DURATION = N_FRAMES / FPS
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
TRUTH_DTYPE = np.dtype([("landmarks", np.float32, (68, 2)), ("mouth", np.float32, (4,))])
OPEN_SENTENCES = Path(__file__).with_name("open_sentences.txt")
OPEN_MAX_SECONDS = 6.0  # an open sentence's speech is sped up until it fits
OPEN_MARGIN = (0.15, 0.35)  # seconds of silence before and after an open sentence, drawn per utterance


@functools.lru_cache(maxsize=1)
def open_sentences() -> tuple[tuple[str, ...], ...]:
    """The open-vocabulary sentences, as lower-case words (the file keeps their case and commas)."""
    lines = [line for line in OPEN_SENTENCES.read_text().splitlines() if line and not line.startswith("#")]
    return tuple(tuple(re.findall(r"[a-z']+", line.lower())) for line in lines)


@dataclass(frozen=True)
class SyntheticParams:
    """`corpus.synthetic` in params.yaml."""

    speakers: int = 4
    utterances_per_speaker: int = 97
    seed: int = 0
    noise_db: float = -55.0
    sentences: Literal["grid", "open"] = "grid"


@dataclass(frozen=True)
class Speaker:
    """A generated speaker: GRID-style id, voice and face."""

    id: str
    voice: Voice
    look: faces.Look


@dataclass(frozen=True)
class Job:
    """One utterance to generate."""

    root: str
    speaker_index: int
    utterance_index: int
    sentence: tuple[str, ...]
    params: SyntheticParams

    @property
    def speaker(self) -> Speaker:
        return make_speaker(self.params.seed, self.speaker_index)

    line: int | None = None  # open sentences: the sentence's index in open_sentences()

    @property
    def utterance_id(self) -> str:
        return grid.sentence_id(self.sentence) if self.line is None else f"o{self.line:04d}"


def make_speaker(seed: int, index: int) -> Speaker:
    """Speaker `index` (0-based, id s{index+1}): voice and face drawn from (seed, index)."""
    rng = np.random.default_rng([seed, index, 0])
    voice = Voice(
        variant=VARIANTS[int(rng.integers(len(VARIANTS)))],
        rate=int(rng.integers(150, 186)),
        pitch=int(rng.integers(25, 76)),
        pitch_range=int(rng.integers(30, 81)),
    )
    return Speaker(f"s{index + 1}", voice, faces.Look.random(rng))


def plan(root: Path, params: SyntheticParams) -> list[Job]:
    """All utterances to generate: per speaker, distinct GRID sentences, sorted by id."""
    jobs = []
    per_speaker = params.utterances_per_speaker
    if params.sentences == "open":
        lines = open_sentences()
        if not 0 < per_speaker <= len(lines):
            raise ValueError(f"utterances_per_speaker must be in 1..{len(lines)}, got {per_speaker}")
        for s in range(params.speakers):
            chosen = sorted(int(i) for i in np.random.default_rng([params.seed, s, 3]).choice(
                len(lines), size=per_speaker, replace=False))
            jobs += [Job(str(root), s, u, lines[line], params, line) for u, line in enumerate(chosen)]
        return jobs
    if not 0 < per_speaker <= grid.N_SENTENCES:
        raise ValueError(f"utterances_per_speaker must be in 1..{grid.N_SENTENCES}, got {per_speaker}")
    for s in range(params.speakers):
        rng = np.random.default_rng([params.seed, s, 1])
        picks = rng.choice(grid.N_SENTENCES, size=per_speaker, replace=False)
        sentences = sorted((grid.sentence_from_index(int(i)) for i in picks), key=grid.sentence_id)
        jobs += [Job(str(root), s, u, sentence, params) for u, sentence in enumerate(sentences)]
    return jobs


@functools.lru_cache(maxsize=8)
def _face(seed: int, speaker_index: int) -> faces.Face:
    return faces.Face(make_speaker(seed, speaker_index).look)


def _sample(seconds: float, rate: int) -> int:
    """The sample at `seconds` (espeak's word times are whole samples)."""
    return round(seconds * rate)


def _speech_span(speech: Speech) -> tuple[int, int]:
    """First and last sample of the spoken words."""
    (start, _), (_, end) = speech.words[0].span(), speech.words[-1].span()
    return _sample(start, speech.sample_rate), _sample(end, speech.sample_rate)


def _speak_within(text: str, voice: Voice, limit_s: float) -> Speech:
    """Synthesise, speeding the voice up until the speech fits in `limit_s` seconds."""
    for _ in range(10):
        speech = speak(text, voice)
        first, last = _speech_span(speech)
        if (last - first) / speech.sample_rate <= limit_s:
            return speech
        voice = Voice(voice.language, voice.variant, int(voice.rate * 1.1), voice.pitch, voice.pitch_range)
    raise RuntimeError(f"could not fit {text!r} into {limit_s} s")


def generate(job: Job) -> str:
    """Write one utterance's video, wav, alignment and truth; returns its id."""
    speaker, params = job.speaker, job.params
    rng = np.random.default_rng([params.seed, job.speaker_index, 2, job.utterance_index])
    is_open = job.line is not None
    speech = _speak_within(" ".join(job.sentence), speaker.voice, OPEN_MAX_SECONDS if is_open else DURATION - 0.4)
    rate = speech.sample_rate
    first, last = _speech_span(speech)
    spoken = (last - first) / rate
    if is_open:
        onset = float(rng.uniform(*OPEN_MARGIN))
        n_frames = math.ceil((onset + spoken + float(rng.uniform(*OPEN_MARGIN))) * FPS)
    else:
        onset, n_frames = float(rng.uniform(0.15, DURATION - 0.15 - spoken)), N_FRAMES
    duration = n_frames / FPS

    # Audio: the speech placed at `onset` inside the video's span, with faint noise.
    window = np.zeros(round(duration * rate), np.float64)
    shift = round(onset * rate) - first
    clip = speech.audio[max(0, -shift):]
    window[max(0, shift):max(0, shift) + len(clip)] = clip[: len(window) - max(0, shift)]
    noise_scale = 32767 * 10 ** (params.noise_db / 20)
    window += rng.normal(0.0, noise_scale, len(window))
    audio = np.clip(np.round(window), -32768, 32767).astype(np.int16)

    # Alignment from espeak's word events.
    times = [Word(grid.SILENCE, 0.0, (first + shift) / rate)]
    for word in speech.words:
        start, end = word.span()
        times.append(Word(word.word, (_sample(start, rate) + shift) / rate, (_sample(end, rate) + shift) / rate))
    times.append(Word(grid.SILENCE, (last + shift) / rate, duration))

    # Video: the mouth follows the phonemes, the head moves a little.
    tracks = mouth_tracks(speech.phonemes, first, last, shift / rate, rate, n_frames, FPS)
    motion = faces.head_motion(rng, n_frames, FPS)
    frames, landmarks = faces.render(_face(params.seed, job.speaker_index), tracks, motion)

    root, spk, uid = Path(job.root), speaker.id, job.utterance_id
    paths = {kind: root / kind / spk / f"{uid}.{ext}"
             for kind, ext in (("video", "mpg"), ("audio", "wav"), ("align", "align"), ("truth", "npy"))}
    if is_open:  # the folder source's layout: a speaker's folder holds its videos, wavs and alignments
        paths.update({kind: root / spk / f"{uid}.{ext}" for kind, ext in (("video", "mpg"), ("audio", "wav"),
                                                                         ("align", "align"))})
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    write_video(paths["video"], frames, FPS, audio, rate)
    write_wav(paths["audio"], audio, rate)
    paths["align"].write_text(grid.format_align(times))
    truth = np.empty(n_frames, TRUTH_DTYPE)
    truth["landmarks"], truth["mouth"] = landmarks, tracks
    np.save(paths["truth"], truth)
    return f"{spk}/{uid}"


def generate_corpus(out: Path, params: SyntheticParams, parallel: ParallelParams) -> int:
    """Generate the whole corpus into OUT.partial, then rename it to OUT (an interrupted run never
    leaves a tree at OUT); returns the number of utterances."""
    with replacing(out) as partial:
        jobs = plan(partial, params)
        for _ in parallel_map(generate, jobs, parallel, desc="corpus: generate"):
            pass
    return len(jobs)


def read_truth(root: Path, speaker: str, utterance_id: str) -> np.ndarray:
    """The generator's own per-frame landmarks and mouth tracks (see TRUTH_DTYPE)."""
    return np.load(Path(root) / "truth" / speaker / f"{utterance_id}.npy")
