"""Benchmark: what evaluating costs per test utterance, part by part, and at corpus scale.

    python -m bench.evaluate [--utterances 48] [--jobs 2] [--model data/model.pt]

Needs the preprocessed stores and a trained model (`make repro`). Takes the first `utterances`
ids of the corpus (sorted, so every speaker; the model's condition costs the same whether or not
it trained on them) as a test split, then in one run:

1. each part of one utterance's evaluation in one process on one core (pinned like a worker):
   the model's prediction and lip reading, the vocoder, each metric, the judge; the references
   stage pays the vocoder, the metrics and the judge twice more (oracle, mean) and the judge once
   on the recording;
2. the `references` and `evaluate` stages end to end with `--jobs` workers, seconds per utterance
   (wall, process start included);
3. the projection for GRID-33's published test set (8,415 utterances): measured wall on `--jobs`
   cores, and core-seconds over 16 cores (ideal scaling: utterances are independent).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.common import markdown_table
from pipeline.compute.parallel import ParallelParams, pin_threads
from pipeline.io import params as params_io
from pipeline.io.manifest import read_manifest
from pipeline.learn.evaluation import EvaluateParams

GRID33_TEST = 8415


def part_seconds(model: Path, features: Path, mels: Path, manifest: Path, split: Path,
                 params: EvaluateParams) -> dict[str, float]:
    """Mean seconds per utterance of each part of evaluating the model's condition, one core."""
    from pipeline.audio.judge import GridJudge
    from pipeline.audio.metrics import mcd_db, pesq_wb, stoi
    from pipeline.io.splits import load_split
    from pipeline.learn.evaluation import predict_mel
    from pipeline.learn.inference import Synthesiser
    from pipeline.learn.scoring import recording
    from pipeline.stages.evaluate import _test_set

    pin_threads()
    synthesiser = Synthesiser.load(model, params.vocoder, "cpu")
    utterances = {u.id: u for u in read_manifest(manifest)}
    test = _test_set(synthesiser, features, mels, utterances, load_split(split, "test"))
    rate = synthesiser.audio.sample_rate
    seconds: dict[str, list[float]] = defaultdict(list)

    def timed(name: str, function, *args, **kwargs):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        seconds[name].append(time.perf_counter() - start)
        return result

    synthesiser.speech(test.sample(test.ids[0]).mel.numpy(), 25.0)  # warm up (FFT plans, the mel-cepstrum matrix)
    mcd_db(np.zeros(rate), np.zeros(rate), rate)
    for utterance_id in test.ids:
        sample, utterance = test.sample(utterance_id), utterances[utterance_id]
        predicted, _ = timed("model: predict the mel", predict_mel, synthesiser, sample, utterance, params)
        if synthesiser.model.ctc is not None:
            video = synthesiser.normalizer.video(sample.video.transpose(0, 1))
            timed("model: lip reading", synthesiser.lipread, video)
        waveform = timed("vocoder (mel inversion + Griffin-Lim)", synthesiser.speech, predicted, utterance.fps)
        reference = timed("read the recording", recording, utterance, synthesiser.audio)
        length = min(len(reference), len(waveform))
        reference, waveform = reference[:length], waveform[:length]
        timed("MCD (WORLD + SPTK + DTW)", mcd_db, reference, waveform, rate)
        timed("STOI", stoi, reference, waveform, rate)
        timed("ESTOI", stoi, reference, waveform, rate, extended=True)
        timed("PESQ (wideband)", pesq_wb, reference, waveform, rate)
        timed("judge (pocketsphinx, GRID grammar)", GridJudge().recognise, waveform, rate)
    return {name: float(np.mean(values)) for name, values in seconds.items()}


def stage_seconds(root: Path, model: Path, features: Path, mels: Path, manifest: Path, split: Path,
                  params: EvaluateParams, jobs: int) -> dict[str, float]:
    """Wall seconds of the references and evaluate stages, each in a fresh run with `jobs` workers."""
    from pipeline.stages import evaluate, references

    parallel = ParallelParams(n_jobs=jobs)
    start = time.perf_counter()
    references.run(params.vocoder, params.samples, parallel, mels=mels, split=split, manifest=manifest,
                   out=root / "references")
    middle = time.perf_counter()
    evaluate.run(params, parallel, model=model, features=features, mels=mels, split=split, manifest=manifest,
                 references=root / "references", metrics=root / "evaluate.json",
                 per_utterance=root / "per_utterance.json", plots=root / "plots", samples=root / "samples",
                 page=root / "listening.html")
    return {"references": middle - start, "evaluate": time.perf_counter() - middle}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=48)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--model", type=Path, default=Path("data/model.pt"))
    parser.add_argument("--features", type=Path, default=Path("data/features"))
    parser.add_argument("--mels", type=Path, default=Path("data/mels"))
    parser.add_argument("--manifest", type=Path, default=Path("data/manifest.jsonl"))
    parser.add_argument("--params", type=Path, default=params_io.DEFAULT_PATH)
    args = parser.parse_args()
    params = params_io.sections(args.params, {"evaluate": EvaluateParams})["evaluate"]
    params = EvaluateParams(**{**params.__dict__, "device": "cpu"})
    ids = sorted(u.id for u in read_manifest(args.manifest))
    by_speaker: dict[str, list[str]] = defaultdict(list)
    for utterance_id in ids:
        by_speaker[utterance_id.split("_")[0]].append(utterance_id)
    # Speakers in turn, so a short run still covers every voice.
    chosen = [i for group in zip(*by_speaker.values(), strict=False) for i in group][:args.utterances]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        split = root / "split.json"
        split.write_text(json.dumps({"train": ids, "val": [], "test": chosen}))
        parts = part_seconds(args.model, args.features, args.mels, args.manifest, split, params)
        stages = stage_seconds(root, args.model, args.features, args.mels, args.manifest, split, params, args.jobs)
    count = len(chosen)
    model_core = sum(parts.values())
    reference_core = (model_core - parts["model: predict the mel"] - parts.get("model: lip reading", 0.0)) * 2 \
        + parts["judge (pocketsphinx, GRID grammar)"]
    print(f"\n{count} utterances, one core (s per utterance):\n")
    rows = [[name, f"{value:.3f}"] for name, value in parts.items()]
    rows.append(["model's condition, all parts", f"{model_core:.3f}"])
    print(markdown_table(["part", "s/utt"], rows))
    print(f"\nthe stages end to end, {args.jobs} worker processes, and GRID-33's test set "
          f"({GRID33_TEST} utterances):\n")
    rows = []
    for name, core in (("references", reference_core), ("evaluate", model_core)):
        wall = stages[name] / count
        rows.append([name, f"{wall:.3f}", f"{core:.3f}", f"{wall * GRID33_TEST / 3600:.2f} h",
                     f"{core * GRID33_TEST / 16 / 3600:.2f} h"])
    print(markdown_table(["stage", f"wall s/utt ({args.jobs} cores)", "core-s/utt", f"GRID-33 on {args.jobs} cores",
                          "GRID-33 on 16 cores"], rows))


if __name__ == "__main__":
    main()
