"""Stage `evaluate`: speak the test split with the trained model and measure it against the
recordings, next to two references on the same utterances.

    python -m pipeline.evaluate --model data/model.pt --metrics metrics/evaluate.json \\
        --per-utterance metrics/evaluate_per_utterance.json --plots plots/evaluate --samples data/samples

Three syntheses per test utterance, all through the same vocoder (`evaluate.vocoder`):
- `model`: the predicted mel;
- `oracle`: the ground-truth mel (what the vocoder alone loses: the best a mel model can reach);
- `mean`: the speaker's mean train-split mel at every frame (what knowing only the voice gives).
Each is scored against the recording (resampled and cut like the mels): MCD in dB, STOI, ESTOI,
wideband PESQ (pipeline.speech_metrics), plus MSE on normalised mels. The metrics file holds the
model's means at the top level, the references under `oracle` and `mean`, everything per
speaker under `per_speaker`, and `mcd_gap_closed` = (mean - model) / (mean - oracle): the share
of the reachable MCD gap the model closes. A few utterances also get a PNG (target vs.
predicted mel) and their wavs (recording, model, oracle, mean).
"""
from __future__ import annotations

import argparse
import functools
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pipeline import params as params_io
from pipeline.audio import fit_audio
from pipeline.dataset import LipSpeechDataset
from pipeline.inference import Synthesiser
from pipeline.manifest import read_manifest, write_json
from pipeline.media import read_audio, write_wav
from pipeline.parallel import ParallelParams, parallel_map
from pipeline.speech_metrics import all_metrics
from pipeline.split import load_split
from pipeline.stage import StageError, run_stage
from pipeline.store import StoreReader
from pipeline.vocoder import VocoderParams

log = logging.getLogger("pipeline.evaluate")
CONDITIONS = ("model", "oracle", "mean")
METRICS = ("mcd_db", "mse", "stoi", "estoi", "pesq")


@dataclass(frozen=True)
class EvaluateParams:
    """`evaluate` in params.yaml."""

    vocoder: VocoderParams = field(default_factory=VocoderParams)
    samples: int = 4  # test utterances that get a picture and wavs (one per speaker first)
    sigma: float | None = None  # flow decoder: sampling scale (null: the model's own sigma)
    seed: int = 0  # flow decoder: sampling noise
    device: str = "auto"  # auto | cpu | cuda (model and Griffin-Lim)


@dataclass(frozen=True)
class Inputs:
    model: Path
    features: Path
    mels: Path
    split: Path
    manifest: Path


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
    chosen = []
    while len(chosen) < count and any(queues.values()):
        for speaker in sorted(queues):
            if queues[speaker] and len(chosen) < count:
                chosen.append(queues[speaker].pop(0))
    return chosen


def score(item: tuple[str, np.ndarray, dict[str, np.ndarray]], sample_rate: int) -> tuple[str, dict]:
    """Speech metrics of each condition's waveform against the recording (runs in a worker)."""
    utterance_id, reference, waveforms = item
    return utterance_id, {condition: all_metrics(reference, waveform, sample_rate)
                          for condition, waveform in waveforms.items()}


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(float(np.mean(present)), 4) if present else None


def summarise(per_utterance: dict[str, dict], speaker_of: dict[str, str]) -> dict:
    """Means over utterances: the model's at the top level, the references under their names,
    the same per speaker, and the share of the MCD gap closed."""
    def means(ids: list[str]) -> dict:
        block = {metric: _mean([per_utterance[i]["model"][metric] for i in ids]) for metric in METRICS}
        for reference in CONDITIONS[1:]:
            block[reference] = {metric: _mean([per_utterance[i][reference][metric] for i in ids]) for metric in METRICS}
        gap = block["mean"]["mcd_db"] - block["oracle"]["mcd_db"]
        block["mcd_gap_closed"] = round((block["mean"]["mcd_db"] - block["mcd_db"]) / gap, 4) if gap > 0 else None
        return block

    ids = sorted(per_utterance)
    speakers = sorted({speaker_of[i] for i in ids})
    return {"utterances": len(ids), **means(ids),
            "per_speaker": {s: {"utterances": sum(speaker_of[i] == s for i in ids),
                                **means([i for i in ids if speaker_of[i] == s])} for s in speakers}}


def mel_picture(target: np.ndarray, predicted: np.ndarray, title: str, path: Path) -> None:
    """Target above predicted log-mel, same colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    low, high = float(np.min(target)), float(np.max(target))
    figure, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True, constrained_layout=True)
    for axis, mel, name in zip(axes, (target, predicted), ("target", "predicted")):
        image = axis.imshow(mel, origin="lower", aspect="auto", vmin=low, vmax=high, cmap="magma",
                            interpolation="nearest")
        axis.set_ylabel(f"{name}\nmel bin")
    axes[0].set_title(title)
    axes[1].set_xlabel("mel frame")
    figure.colorbar(image, ax=axes, label="log mel")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(figure)


def run(params: EvaluateParams, parallel: ParallelParams, inputs: Inputs, metrics_path: Path,
        per_utterance_path: Path, plots_dir: Path, samples_dir: Path) -> dict:
    synthesiser = Synthesiser.load(inputs.model, params.vocoder, params.device)
    checkpoint = synthesiser.checkpoint
    utterances = {u.id: u for u in read_manifest(inputs.manifest)}
    speaker_of = {i: u.speaker for i, u in utterances.items()}
    features, mels = StoreReader(inputs.features), StoreReader(inputs.mels)
    test_ids = load_split(inputs.split, "test")
    if not test_ids:
        raise StageError(f"{inputs.split} has no test utterance; give the split a test share")
    test = LipSpeechDataset(test_ids, features, mels, checkpoint["stats"], speaker_of,
                            normalize=checkpoint["params"]["normalize"])
    fallback = np.asarray(checkpoint["stats"]["mel"]["mean"], np.float32)
    train_ids = [i for i in load_split(inputs.split, "train") if i in mels]
    speaker_means = speaker_mean_mels(mels, train_ids, speaker_of, fallback)
    normalizer, audio = synthesiser.normalizer, synthesiser.audio
    shown = set(sample_ids(test.ids, speaker_of, params.samples))
    for stale in (plots_dir, samples_dir):
        shutil.rmtree(stale, ignore_errors=True)

    items, mses = [], {}
    for index in tqdm(range(len(test)), desc="evaluate: synthesise", unit="utt"):
        sample = test[index]
        utterance = utterances[sample.id]
        target = normalizer.mel_to_raw(sample.mel.numpy())
        predicted = synthesiser.predict(sample.video, utterance.speaker, params.sigma, params.seed)
        mean = np.repeat(speaker_means[utterance.speaker][:, None], target.shape[1], axis=1)
        mels_of = {"model": predicted, "oracle": target, "mean": mean}
        waveforms = dict(zip(CONDITIONS, synthesiser.vocode(np.stack([mels_of[c] for c in CONDITIONS]),
                                                            utterance.fps)))
        samples, rate = read_audio(utterance.audio, Path(utterance.video))
        reference = fit_audio(samples, rate, utterance.frames, utterance.fps, audio)
        items.append((sample.id, reference, waveforms))
        normalised_target = sample.mel.numpy()
        mses[sample.id] = {c: float(np.mean((normalizer.mel(mels_of[c].T).numpy() - normalised_target) ** 2))
                           for c in CONDITIONS}
        if sample.id in shown:
            words = " ".join(w.word for w in utterance.words if w.word not in ("sil", "sp"))
            mel_picture(target, predicted, f"{sample.id}: {words or utterance.speaker}", plots_dir / f"{sample.id}.png")
            (samples_dir / sample.id).mkdir(parents=True, exist_ok=True)
            write_wav(samples_dir / sample.id / "recording.wav", reference, audio.sample_rate)
            for condition, waveform in waveforms.items():
                write_wav(samples_dir / sample.id / f"{condition}.wav", waveform, audio.sample_rate)

    per_utterance = {}
    for utterance_id, scores in parallel_map(functools.partial(score, sample_rate=audio.sample_rate), items,
                                             parallel, desc="evaluate: metrics", unit="utt"):
        per_utterance[utterance_id] = {c: {**scores[c], "mse": round(mses[utterance_id][c], 6)} for c in CONDITIONS}
    summary = summarise(per_utterance, speaker_of)
    write_json(per_utterance_path, {i: per_utterance[i] for i in sorted(per_utterance)})
    write_json(metrics_path, summary)
    log.info("MCD %.2f dB (oracle %.2f, mean %.2f, gap closed %s), STOI %.3f, PESQ %s over %d test utterances",
             summary["mcd_db"], summary["oracle"]["mcd_db"], summary["mean"]["mcd_db"], summary["mcd_gap_closed"],
             summary["stoi"], summary["pesq"], summary["utterances"])
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=params_io.DEFAULT_PATH)
    parser.add_argument("--model", type=Path, default=Path("data/model.pt"))
    parser.add_argument("--features", type=Path, default=Path("data/features"))
    parser.add_argument("--mels", type=Path, default=Path("data/mels"))
    parser.add_argument("--split", type=Path, default=Path("data/split.json"))
    parser.add_argument("--manifest", type=Path, default=Path("data/manifest.jsonl"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/evaluate.json"))
    parser.add_argument("--per-utterance", type=Path, default=Path("metrics/evaluate_per_utterance.json"))
    parser.add_argument("--plots", type=Path, default=Path("plots/evaluate"))
    parser.add_argument("--samples", type=Path, default=Path("data/samples"))
    args = parser.parse_args(argv)
    inputs = Inputs(args.model, args.features, args.mels, args.split, args.manifest)
    run_stage(log, lambda values: run(
        params_io.section(EvaluateParams, values.get("evaluate"), "evaluate"),
        params_io.section(ParallelParams, values.get("parallel"), "parallel"),
        inputs, args.metrics, args.per_utterance, args.plots, args.samples), args.params)


if __name__ == "__main__":
    from pipeline.evaluate import main as stage_main

    stage_main()
