"""Evaluating a trained model: speak test utterances and measure them against the recordings,
next to two references on the same utterances.

Three syntheses per utterance, all through the same vocoder (`evaluate.vocoder`):
- `model`: the predicted mel;
- `oracle`: the ground-truth mel (what the vocoder alone loses: the best a mel model can reach);
- `mean`: the speaker's mean train-split mel at every frame (what knowing only the voice gives).
The two references do not depend on the model: the `references` stage speaks and scores them once
(pipeline.learn.scoring), and `evaluate` the model's condition only (`speak_model`). Each is
scored against the recording (resampled and cut like the mels): MCD in dB, STOI, ESTOI,
wideband PESQ (pipeline.audio.metrics), MSE on normalised mels, and the word error rate of what
the judge (pipeline.audio.judge) hears, with the judge's own floor on the recording itself
as a fourth reference (`recording`). The summary holds the model's means at the top level (with
its per-slot word accuracy), the references under `oracle`, `mean` and `recording`, everything per
speaker under `per_speaker`, and `mcd_gap_closed` = (mean - model) / (mean - oracle): the share
of the reachable MCD gap the model closes. A model with a lip-reading head (`model.ctc_weight`) also
reports `lipreading_wer`: the word error rate of the text it reads off the video alone (no
audio, no vocoder, no judge), and `lipreading_cer`, its character error rate. `judge` names the
judge that scored (`grid-grammar`, `open-vocabulary`, or both joined by ` + `: pipeline.audio.judge);
utterances without a transcript (Lip2Wav) get no WER (null). A prediction with non-finite values is scored as
silence, the worst case, named in a warning and counted (`nonfinite_predictions`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.audio.mels import LOG_FLOOR
from pipeline.audio.vocoder import VocoderParams
from pipeline.compute.windows import windowed
from pipeline.corpora import grid
from pipeline.errors import ParamsError
from pipeline.io.manifest import Utterance
from pipeline.io.media import write_wav
from pipeline.learn.dataset import Sample
from pipeline.learn.inference import Synthesiser
from pipeline.learn.normalization import Normalizer
from pipeline.learn.scoring import RECORDING, JudgeLM, Spoken, recording
from pipeline.learn.uncertainty import (
    bootstrap_means,
    column,
    gap_closed,
    interval,
    interval_of,
    resamples,
    too_few,
    with_interval,
)

CONDITIONS = ("model", "oracle", "mean")
METRICS = ("mcd_db", "mse", "stoi", "estoi", "pesq", "pesq_nb8", "pesq_nb16", "wer")
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
    judge_lm: JudgeLM = "training"  # the open-vocabulary judge's language model: training transcripts | generic

    def __post_init__(self) -> None:
        if not 0 <= self.overlap < self.window:
            raise ParamsError(f"evaluate.overlap {self.overlap} must be at least 0 and smaller than "
                              f"evaluate.window {self.window}")


def _mse(normalizer: Normalizer, mel: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((normalizer.mel(mel.T).numpy() - normalizer.mel(target.T).numpy()) ** 2))


def normalised_mse(squared_error: list[float], normalizer: Normalizer) -> float:
    """The MSE on normalised mels from the per-bin mean squared error of raw ones: every
    normalisation scales each bin, so its error scales by the square."""
    return float(np.mean(np.asarray(squared_error, np.float64) * normalizer.mel_scale.astype(np.float64) ** 2))


def predict_mel(synthesiser: Synthesiser, sample: Sample, utterance: Utterance,
                params: EvaluateParams) -> tuple[np.ndarray, bool]:
    """The model's natural-log mel for a test utterance, and whether it had to be replaced by
    silence (non-finite values). A long recording goes the way `speak` takes it: in windows."""
    video = synthesiser.normalizer.video(sample.video.transpose(0, 1))
    voice = synthesiser.enrolment(sample.voice)
    frames = video.shape[1]
    if frames > params.window:
        windows = (video[:, span[0]:span[-1] + 1] for span in windowed(range(frames), params.window, params.overlap))
        predicted = np.concatenate(list(synthesiser.predict_windows(windows, params.overlap, utterance.speaker,
                                                                    params.sigma, params.seed, voice)), axis=1)
    else:
        predicted = synthesiser.predict(video, utterance.speaker, params.sigma, params.seed, voice)
    if np.isfinite(predicted).all():
        return predicted, False
    log.warning("%s: the model predicted %d non-finite mel values; scored as silence", sample.id,
                int(np.size(predicted) - np.isfinite(predicted).sum()))
    return np.full(tuple(sample.mel.shape), np.log(LOG_FLOOR), np.float32), True


def speak_model(synthesiser: Synthesiser, sample: Sample, utterance: Utterance, params: EvaluateParams,
                waveform: np.ndarray | None = None) -> Spoken:
    """The model's speech for one test utterance (`waveform`: its speech when already vocoded,
    e.g. in a batch on the GPU)."""
    target = sample.mel.numpy()
    predicted, nonfinite = predict_mel(synthesiser, sample, utterance, params)
    if waveform is None:
        waveform = synthesiser.speech(predicted, utterance.fps)
    lipread = None
    if synthesiser.model.ctc is not None:
        lipread = synthesiser.lipread(synthesiser.normalizer.video(sample.video.transpose(0, 1)))
    return Spoken(sample.id, [w.word for w in utterance.words], {"model": waveform},
                  recording(utterance, synthesiser.audio), {"model": _mse(synthesiser.normalizer, predicted, target)},
                  nonfinite=nonfinite, lipread=lipread, target=target, predicted=predicted)


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(float(np.mean(present)), 4) if present else None


def summarise(per_utterance: dict[str, dict], speaker_of: dict[str, str]) -> dict:
    """Means over utterances: the model's at the top level (with its per-slot word accuracy),
    the references under their names, the same per speaker, and the share of the MCD gap closed;
    each mean with its 95 % bootstrap interval over the utterances (`NAME_ci_low`,
    `NAME_ci_high`: pipeline.learn.uncertainty); a block of fewer utterances than an interval needs
    has null intervals and says so under `intervals`."""
    def means(ids: list[str]) -> dict:
        draws = resamples(len(ids))

        def averaged(block: dict, condition: str, metric: str) -> np.ndarray:
            values = column([per_utterance[i][condition][metric] for i in ids])
            block[metric] = _mean(list(values[~np.isnan(values)]))
            with_interval(block, metric, interval_of(values, draws))
            return bootstrap_means(values, draws)

        block: dict[str, Any] = {}
        short = too_few(len(ids))
        if short:
            block["intervals"] = short
        drawn = {metric: averaged(block, "model", metric) for metric in (*METRICS, "lipreading_wer", "lipreading_cer")}
        judged = [per_utterance[i]["model"]["slots_correct"] for i in ids
                  if "slots_correct" in per_utterance[i]["model"]]
        block["slot_accuracy"] = {slot: _mean([float(s[slot]) for s in judged]) for slot in grid.SLOT_NAMES}
        references: dict[str, np.ndarray] = {}
        for reference in CONDITIONS[1:]:
            block[reference] = {}
            for metric in METRICS:
                references[f"{reference}.{metric}"] = averaged(block[reference], reference, metric)
        block[RECORDING] = {}
        averaged(block[RECORDING], RECORDING, "wer")
        model, oracle, mean = block["mcd_db"], block["oracle"]["mcd_db"], block["mean"]["mcd_db"]
        known = model is not None and oracle is not None and mean is not None and mean > oracle
        block["mcd_gap_closed"] = round((mean - model) / (mean - oracle), 4) if known else None
        gap = gap_closed(drawn["mcd_db"], references["oracle.mcd_db"], references["mean.mcd_db"])
        with_interval(block, "mcd_gap_closed", interval(gap) if known and not short else None)
        return block

    ids = sorted(per_utterance)
    speakers = sorted({speaker_of[i] for i in ids})
    judges = sorted({judge for i in ids if (judge := per_utterance[i].get("judge"))})
    if not judges:
        log.info("no test utterance has a transcript: no judge applies, wer is null")
    return {"utterances": len(ids), "judge": " + ".join(judges) or None, **means(ids),
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


def write_sample(spoken: Spoken, utterance: Utterance, sample_rate: int, plots: Path, samples: Path) -> None:
    """The utterance's mel picture (plots/ID.png, target above the model's) and a wav per condition
    spoken (samples/ID/CONDITION.wav)."""
    if spoken.target is not None and spoken.predicted is not None:
        mel_picture(spoken.target, spoken.predicted, f"{spoken.id}: {utterance.transcript or utterance.speaker}",
                    plots / f"{spoken.id}.png")
    folder = samples / spoken.id
    folder.mkdir(parents=True, exist_ok=True)
    for condition, waveform in spoken.waveforms.items():
        write_wav(folder / f"{condition}.wav", waveform, sample_rate)
