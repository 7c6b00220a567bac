"""Scoring speech against the recording it stands for: one utterance spoken one or more ways
(`Spoken`), each condition's figures (`score`), and the two references a model is compared with,
spoken from the mels alone (`speak_references`). Nothing here needs a model, so the references
stage runs this without importing one (its DVC deps stay free of the model code).

`score` gives every condition MCD in dB, STOI, ESTOI, wideband PESQ (pipeline.audio.metrics) and
the word error rate of what the judge (pipeline.audio.judge: the GRID grammar for GRID sentences,
the open-vocabulary one for others) hears, rounded to SIGNIFICANT_DIGITS; each utterance names its
judge; utterances without a transcript (Lip2Wav) get no WER (None) and no judge.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from pipeline.audio.judge import GRID_GRAMMAR, OpenJudge, cmu_dictionary, judge_for, normalise, word_errors
from pipeline.audio.language_model import judge_files, write_judge_files
from pipeline.audio.mels import AudioParams, fit_audio
from pipeline.audio.metrics import all_metrics
from pipeline.audio.speech import Voice
from pipeline.corpora import grid
from pipeline.errors import StageError
from pipeline.io.clips import utterance_audio
from pipeline.io.manifest import Utterance
from pipeline.io.store import StoreReader

REFERENCES = ("oracle", "mean")  # spoken from the true mel and from the speaker's mean mel
RECORDING = "recording"  # the judge on the original audio: its own floor
SIGNIFICANT_DIGITS = 6  # per-utterance figures: reruns write identical files despite float noise


@dataclass
class Spoken:
    """One test utterance spoken one or more ways (condition -> waveform), next to its recording
    (resampled and cut like the mels)."""

    id: str
    words: list[str]  # the transcript
    waveforms: dict[str, np.ndarray]  # condition -> waveform
    recording: np.ndarray
    mse: dict[str, float | None]  # condition -> MSE of its normalised mel against the target's (None: not known here)
    squared_error: dict[str, list[float]] = field(default_factory=dict)  # condition -> per mel bin, raw log-mel
    nonfinite: bool = False  # the model predicted NaN or inf somewhere
    lipread: str | None = None  # what the model's lip-reading head reads (None: no head, or a reference)
    target: np.ndarray | None = None  # (n_mels, kT) the ground-truth mel, kept for the model's mel picture
    predicted: np.ndarray | None = None  # the model's mel (silence where it was not finite)


def speaker_mean_mels(mels: StoreReader, train_ids: list[str], speaker_of: dict[str, str]) -> dict[str, np.ndarray]:
    """Each speaker's mean log-mel frame over its train utterances, and the whole train split's
    mean for speakers with none (unseen-speaker splits); one pass over the train mels."""
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for utterance_id in train_ids:
        mel = mels.read(utterance_id, ["mel"])["mel"].astype(np.float64)
        speaker = speaker_of[utterance_id]
        sums[speaker] = sums.get(speaker, 0.0) + mel.sum(axis=0)
        counts[speaker] = counts.get(speaker, 0) + len(mel)
    means = {speaker: (sums[speaker] / counts[speaker]).astype(np.float32) for speaker in sums}
    overall = (np.sum(list(sums.values()), axis=0) / sum(counts.values())).astype(np.float32)
    return {speaker: means.get(speaker, overall) for speaker in sorted(set(speaker_of.values()))}


def sample_ids(ids: list[str], speaker_of: dict[str, str], count: int) -> list[str]:
    """`count` ids, taking speakers in turn (each speaker's first utterance, then second, ...)."""
    queues: dict[str, list[str]] = {}
    for utterance_id in sorted(ids):
        queues.setdefault(speaker_of[utterance_id], []).append(utterance_id)
    chosen: list[str] = []
    while len(chosen) < count and any(queues.values()):
        for speaker in sorted(queues):
            if queues[speaker] and len(chosen) < count:
                chosen.append(queues[speaker].pop(0))
    return chosen


def recording(utterance: Utterance, audio: AudioParams) -> np.ndarray:
    """The utterance's recorded audio as the mels describe it: resampled and cut to their length."""
    samples, rate = utterance_audio(utterance)
    return fit_audio(samples, rate, utterance.frames, utterance.fps, audio)


def speak_references(voice: Voice, target: np.ndarray, speaker_mean: np.ndarray, utterance: Utterance) -> Spoken:
    """The oracle's and the speaker mean's speech for one test utterance (no model involved);
    their MSE waits for a model's normalisation (`squared_error`, then `normalised_mse`)."""
    mels = {"oracle": target, "mean": np.repeat(speaker_mean[:, None], target.shape[1], axis=1)}
    waveforms = {condition: voice.speech(mel, utterance.fps) for condition, mel in mels.items()}
    squared_error = {condition: np.mean((mel.astype(np.float64) - target) ** 2, axis=1).tolist()
                     for condition, mel in mels.items()}
    return Spoken(utterance.id, [w.word for w in utterance.words], waveforms, recording(utterance, voice.audio),
                  dict.fromkeys(mels), squared_error)


def score(spoken: Spoken, sample_rate: int, judge_recording: bool = False,
          open_judge: OpenJudge | None = None) -> tuple[str, dict]:
    """Each condition's figures against the recording and what the judge hears in it (utterances
    with a transcript), rounded; with `judge_recording`, also what it hears in the recording (its
    floor). The model's condition adds its lip reading. `open_judge` hears sentences outside GRID's
    grammar (pipeline.audio.judge.judge_for). Runs in a worker."""
    figures: dict = {condition: {**all_metrics(spoken.recording, waveform, sample_rate),
                                 "mse": spoken.mse[condition], "wer": None}
                     for condition, waveform in spoken.waveforms.items()}
    said = normalise(" ".join(spoken.words))
    if "model" in figures:
        figures["model"]["nonfinite"] = spoken.nonfinite
        figures["model"]["lipreading_wer"] = figures["model"]["lipreading_cer"] = None
        if spoken.lipread is not None:
            figures["model"]["lipread"] = spoken.lipread
            if spoken.words:
                read = normalise(spoken.lipread)
                figures["model"]["lipreading_wer"] = word_errors(said, read).wer
                figures["model"]["lipreading_cer"] = word_errors(list(" ".join(said)), list(" ".join(read))).wer
    heard = dict(spoken.waveforms)
    if judge_recording:
        figures[RECORDING] = {"wer": None}
        heard[RECORDING] = spoken.recording
    judge = None
    if spoken.words:
        judge, judging = judge_for(spoken.words, open_judge)
        for condition, waveform in heard.items():
            words = judging.recognise(waveform, sample_rate)
            errors = word_errors(said, words)
            figures[condition].update(wer=errors.wer, heard=" ".join(words))
            if condition == "model" and judge == GRID_GRAMMAR:
                figures[condition]["slots_correct"] = dict(zip(grid.SLOT_NAMES, errors.correct, strict=True))
    return spoken.id, {"transcript": " ".join(spoken.words), "judge": judge, **rounded(figures)}


JudgeLM = Literal["training", "generic"]  # `evaluate.judge_lm`: the open-vocabulary judge's language model


def open_judge(train_texts: list[str], test_texts: list[str], judge_lm: JudgeLM,
               folder: Path) -> tuple[OpenJudge | None, dict | None]:
    """The open-vocabulary judge for a test split and what it is, or (None, None) when every test
    transcript is a GRID sentence or none has one (no open judge is needed). With `training`, its
    language model and dictionary are estimated from the training transcripts into `folder`."""
    if all(not text or grid.is_sentence(text.split()) for text in test_texts):
        return None, None
    if judge_lm == "generic":
        return OpenJudge(), {"language_model": "generic (pocketsphinx en-us)"}
    texts = [" ".join(normalise(text)) for text in train_texts if text]
    if not texts:
        raise StageError("evaluate.judge_lm training: no training utterance has a transcript to estimate the "
                         "open-vocabulary judge's language model from; set evaluate.judge_lm: generic")
    model, dictionary, about = write_judge_files(texts, folder, cmu_dictionary())
    return OpenJudge(model, dictionary), about


def saved_open_judge(about: dict | None, folder: Path) -> OpenJudge | None:
    """The open-vocabulary judge `open_judge` made into `folder`, from its description."""
    if about is None:
        return None
    if about["language_model"] != "training transcripts":
        return OpenJudge()
    model, dictionary = judge_files(folder)
    return OpenJudge(str(model), str(dictionary))


def rounded(value):
    """Floats rounded to SIGNIFICANT_DIGITS significant digits, inside dicts too."""
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}") if isinstance(value, float) else value
