"""Evaluating a trained model: speak test utterances and measure them against the recordings,
next to two references on the same utterances.

Three syntheses per utterance, all through the same vocoder (`evaluate.vocoder`):
- `model`: the predicted mel;
- `oracle`: the ground-truth mel (what the vocoder alone loses: the best a mel model can reach);
- `mean`: the speaker's mean train-split mel at every frame (what knowing only the voice gives).
Each is scored against the recording (resampled and cut like the mels): MCD in dB, STOI, ESTOI,
wideband PESQ (pipeline.audio.metrics), MSE on normalised mels, and the word error rate of what
the GRID judge (pipeline.audio.judge) hears, with the judge's own floor on the recording itself
as a fourth reference (`recording`). The summary holds the model's means at the top level (with
its per-slot word accuracy), the references under `oracle`, `mean` and `recording`, everything per
speaker under `per_speaker`, and `mcd_gap_closed` = (mean - model) / (mean - oracle): the share
of the reachable MCD gap the model closes. A model with a lip-reading head (`model.ctc_weight`) also
reports `lipreading_wer`: the word error rate of the text it reads off the video alone (no
audio, no vocoder, no judge). Utterances whose transcript is not a GRID sentence
(e.g. the folder source) get no WER (null). A prediction with non-finite values is scored as
silence, the worst case, named in a warning and counted (`nonfinite_predictions`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.audio.judge import GridJudge, word_errors
from pipeline.audio.mels import LOG_FLOOR, fit_audio
from pipeline.audio.metrics import all_metrics
from pipeline.audio.vocoder import VocoderParams
from pipeline.corpora import grid
from pipeline.errors import ParamsError
from pipeline.io.manifest import Utterance
from pipeline.io.media import read_audio, write_wav
from pipeline.io.store import StoreReader
from pipeline.learn.dataset import Sample
from pipeline.learn.inference import Synthesiser, windowed

CONDITIONS = ("model", "oracle", "mean")
METRICS = ("mcd_db", "mse", "stoi", "estoi", "pesq", "wer")
RECORDING = "recording"  # the judge on the original audio: its own floor
SIGNIFICANT_DIGITS = 6  # per-utterance figures: reruns write identical files despite float noise
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluateParams:
    """`evaluate` in params.yaml."""

    vocoder: VocoderParams = field(default_factory=VocoderParams)
    samples: int = 4  # test utterances that get a picture and wavs (speakers in turn)
    sigma: float | None = 0.5  # flow decoder: sampling scale (null: the training sigma, model.sigma)
    seed: int = 0  # flow decoder: sampling noise
    device: str = "auto"  # auto | cpu | cuda (model and Griffin-Lim)
    window: int = 75  # longer recordings (speak, evaluate) go through in windows of this many frames
    overlap: int = 15  # ... overlapping by this many, crossfaded

    def __post_init__(self) -> None:
        if not 0 <= self.overlap < self.window:
            raise ParamsError(f"evaluate.overlap {self.overlap} must be at least 0 and smaller than "
                              f"evaluate.window {self.window}")


@dataclass
class Synthesis:
    """One test utterance spoken three ways: mels (natural log), waveforms, and the recording."""

    id: str
    words: list[str]  # the transcript
    target: np.ndarray  # (n_mels, kT) the ground-truth mel
    predicted: np.ndarray  # silence where the model's prediction was not finite
    waveforms: dict[str, np.ndarray]  # condition -> waveform
    reference: np.ndarray  # the recording, resampled and cut like the mels
    mse: dict[str, float]  # condition -> MSE of its normalised mel against the target's
    nonfinite: bool = False  # the model predicted NaN or inf somewhere
    lipread: str | None = None  # what the model's lip-reading head reads (None: it has none)


def speaker_mean_mels(mels: StoreReader, train_ids: list[str], speaker_of: dict[str, str],
                      fallback: np.ndarray) -> dict[str, np.ndarray]:
    """Each speaker's mean log-mel frame over its train utterances; `fallback` (the train split's
    mean) for speakers with none (unseen-speaker splits)."""
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for utterance_id in train_ids:
        mel = mels.read(utterance_id, ["mel"])["mel"].astype(np.float64)
        speaker = speaker_of[utterance_id]
        sums[speaker] = sums.get(speaker, 0.0) + mel.sum(axis=0)
        counts[speaker] = counts.get(speaker, 0) + len(mel)
    means = {speaker: (sums[speaker] / counts[speaker]).astype(np.float32) for speaker in sums}
    return {speaker: means.get(speaker, fallback) for speaker in sorted(set(speaker_of.values()))}


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


def synthesise(synthesiser: Synthesiser, sample: Sample, utterance: Utterance, speaker_mean: np.ndarray,
               params: EvaluateParams) -> Synthesis:
    """The model's, the oracle's and the speaker mean's speech for one test utterance."""
    normalizer, audio = synthesiser.normalizer, synthesiser.audio
    target = sample.mel.numpy()
    video = normalizer.video(sample.video.transpose(0, 1))
    frames = video.shape[1]
    long = frames > params.window  # a long recording goes the way `speak` takes it: in windows
    if long:
        windows = (video[:, span[0]:span[-1] + 1] for span in windowed(range(frames), params.window, params.overlap))
        predicted = np.concatenate(list(synthesiser.predict_windows(windows, params.overlap, utterance.speaker,
                                                                    params.sigma, params.seed)), axis=1)
    else:
        predicted = synthesiser.predict(video, utterance.speaker, params.sigma, params.seed)
    nonfinite = not np.isfinite(predicted).all()
    if nonfinite:
        log.warning("%s: the model predicted %d non-finite mel values; scored as silence", sample.id,
                    int(np.size(predicted) - np.isfinite(predicted).sum()))
        predicted = np.full_like(target, np.log(LOG_FLOOR))
    mean = np.repeat(speaker_mean[:, None], target.shape[1], axis=1)
    mels = {"model": predicted, "oracle": target, "mean": mean}
    if long:
        waveforms = {c: np.concatenate(list(synthesiser.vocode_stream([mels[c]], utterance.fps))) for c in CONDITIONS}
    else:
        vocoded = synthesiser.vocode(np.stack([mels[c] for c in CONDITIONS]), utterance.fps)
        waveforms = dict(zip(CONDITIONS, vocoded, strict=True))
    samples, rate = read_audio(utterance.audio, Path(utterance.video))
    reference = fit_audio(samples, rate, utterance.frames, utterance.fps, audio)
    normalised_target = normalizer.mel(target.T).numpy()
    mse = {c: float(np.mean((normalizer.mel(mels[c].T).numpy() - normalised_target) ** 2)) for c in CONDITIONS}
    words = [w.word for w in utterance.words]
    lipread = synthesiser.lipread(video) if synthesiser.model.ctc is not None else None
    return Synthesis(sample.id, words, target, predicted, waveforms, reference, mse, nonfinite, lipread)


def score(synthesis: Synthesis, sample_rate: int) -> tuple[str, dict]:
    """Every condition's figures against the recording, and what the judge hears in each and in
    the recording (GRID transcripts only), rounded. Runs in a worker."""
    figures: dict = {condition: {**all_metrics(synthesis.reference, waveform, sample_rate),
                                 "mse": synthesis.mse[condition], "wer": None}
                     for condition, waveform in synthesis.waveforms.items()}
    figures["model"]["nonfinite"] = synthesis.nonfinite
    figures["model"]["lipreading_wer"] = None
    if synthesis.lipread is not None:
        figures["model"]["lipread"] = synthesis.lipread
        if synthesis.words:
            figures["model"]["lipreading_wer"] = word_errors(synthesis.words, synthesis.lipread.split()).wer
    figures[RECORDING] = {"wer": None}
    if grid.is_sentence(synthesis.words):
        judge = GridJudge()
        for condition, waveform in {**synthesis.waveforms, RECORDING: synthesis.reference}.items():
            heard = judge.recognise(waveform, sample_rate)
            errors = word_errors(synthesis.words, heard)
            figures[condition].update(wer=errors.wer, heard=" ".join(heard))
            if condition == "model":
                figures[condition]["slots_correct"] = dict(zip(grid.SLOT_NAMES, errors.correct, strict=True))
    return synthesis.id, {"transcript": " ".join(synthesis.words), **_rounded(figures)}


def _rounded(value):
    """Floats rounded to SIGNIFICANT_DIGITS significant digits, inside dicts too."""
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}") if isinstance(value, float) else value


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(float(np.mean(present)), 4) if present else None


def summarise(per_utterance: dict[str, dict], speaker_of: dict[str, str]) -> dict:
    """Means over utterances: the model's at the top level (with its per-slot word accuracy),
    the references under their names, the same per speaker, and the share of the MCD gap closed."""
    def means(ids: list[str]) -> dict:
        block: dict[str, Any] = {metric: _mean([per_utterance[i]["model"][metric] for i in ids]) for metric in METRICS}
        block["lipreading_wer"] = _mean([per_utterance[i]["model"]["lipreading_wer"] for i in ids])
        judged = [per_utterance[i]["model"]["slots_correct"] for i in ids
                  if "slots_correct" in per_utterance[i]["model"]]
        block["slot_accuracy"] = {slot: _mean([float(s[slot]) for s in judged]) for slot in grid.SLOT_NAMES}
        for reference in CONDITIONS[1:]:
            block[reference] = {metric: _mean([per_utterance[i][reference][metric] for i in ids]) for metric in METRICS}
        block[RECORDING] = {"wer": _mean([per_utterance[i][RECORDING]["wer"] for i in ids])}
        model, oracle, mean = block["mcd_db"], block["oracle"]["mcd_db"], block["mean"]["mcd_db"]
        known = model is not None and oracle is not None and mean is not None and mean > oracle
        block["mcd_gap_closed"] = round((mean - model) / (mean - oracle), 4) if known else None
        return block

    ids = sorted(per_utterance)
    speakers = sorted({speaker_of[i] for i in ids})
    if not any(per_utterance[i][RECORDING]["wer"] is not None for i in ids):
        log.info("no test transcript is a GRID sentence: the judge does not apply, wer is null")
    return {"utterances": len(ids), **means(ids),
            "nonfinite_predictions": sum(bool(per_utterance[i]["model"]["nonfinite"]) for i in ids),
            "per_speaker": {s: {"utterances": sum(speaker_of[i] == s for i in ids),
                                **means([i for i in ids if speaker_of[i] == s])} for s in speakers}}


def mel_picture(target: np.ndarray, predicted: np.ndarray, title: str, path: Path) -> None:
    """Target above predicted log-mel, same colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    low, high = float(np.min(target)), float(np.max(target))
    figure, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True, constrained_layout=True)
    for axis, mel, name in zip(axes, (target, predicted), ("target", "predicted"), strict=True):
        image = axis.imshow(mel, origin="lower", aspect="auto", vmin=low, vmax=high, cmap="magma",
                            interpolation="nearest")
        axis.set_ylabel(f"{name}\nmel bin")
    axes[0].set_title(title)
    axes[1].set_xlabel("mel frame")
    figure.colorbar(image, ax=axes, label="log mel")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(figure)


def write_sample(synthesis: Synthesis, utterance: Utterance, sample_rate: int, plots: Path, samples: Path) -> None:
    """The utterance's mel picture (plots/ID.png) and its four wavs (samples/ID/CONDITION.wav)."""
    words = " ".join(w.word for w in utterance.words)
    mel_picture(synthesis.target, synthesis.predicted, f"{synthesis.id}: {words or utterance.speaker}",
                plots / f"{synthesis.id}.png")
    folder = samples / synthesis.id
    folder.mkdir(parents=True, exist_ok=True)
    write_wav(folder / "recording.wav", synthesis.reference, sample_rate)
    for condition, waveform in synthesis.waveforms.items():
        write_wav(folder / f"{condition}.wav", waveform, sample_rate)
