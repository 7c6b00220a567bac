"""Stage `evaluate`: speak the test split and measure it against the recordings and the references.

The references are the oracle (the true mel through the same vocoder), the speaker's mean voice
and, for the word error rate, the recording itself (pipeline.learn.evaluation).

Writes the summary (`metrics`), every utterance's figures (`per_utterance`), for
`evaluate.samples` utterances (speakers in turn) a mel picture (target vs. predicted, in `plots`)
and their wavs (recording, model, oracle, mean, in `samples`), and the listening page (`page`)
that puts those wavs, pictures and figures side by side (pipeline.learn.listening_page).
"""
from __future__ import annotations

import functools
import logging
import subprocess
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipeline.compute.parallel import ParallelParams, parallel_map
from pipeline.errors import StageError
from pipeline.io.files import remove, write_json
from pipeline.io.manifest import read_manifest, speakers_by_id
from pipeline.io.splits import load_split
from pipeline.io.store import StoreReader
from pipeline.learn.dataset import LipSpeechDataset
from pipeline.learn.evaluation import (
    EvaluateParams,
    sample_ids,
    score,
    speaker_mean_mels,
    summarise,
    synthesise,
    write_sample,
)
from pipeline.learn.inference import Synthesiser
from pipeline.learn.listening_page import CONDITION_ORDER, SampleUtterance, write_listening_page
from pipeline.stages import Stage

log = logging.getLogger(__name__)


def code_version() -> str:
    """The commit the code was at, and whether it had uncommitted changes (for the page)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")


def describe(checkpoint: dict, evaluate: EvaluateParams) -> dict[str, str]:
    """The run in a few lines: what was trained on what, how it speaks, which code."""
    params, crop = checkpoint["params"], checkpoint["preprocessing"]["features"]
    model, train = params["model"], params["train"]
    # Checkpoints from before `train.schedule` existed were all trained on the plateau schedule.
    return {
        "decoder": params["decoder"],
        "model": ", ".join(f"{key} {model[key]}" for key in ("width", "gru_hidden", "bidirectional", "postnet",
                                                            "speaker_embedding")),
        "lip reading": _lip_reader(checkpoint["config"]["model"]),  # the model as built
        "training": f"{checkpoint['epoch']} of up to {train['max_epochs']} epochs (best by val loss "
                    f"{checkpoint['val_loss']:.4f}), {train.get('schedule', 'plateau')} schedule, lr {train['lr']}, "
                    f"normalize {params['normalize']}",
        "mouth crops": f"{crop['mode']}, {crop['size']} px, padding {crop['padding']}, channels "
                       f"{', '.join(crop['channels'])}",
        "vocoder": f"{evaluate.vocoder.name}, {evaluate.vocoder.iterations} iterations",
        "code": code_version(),
    }


def _lip_reader(model: dict) -> str:
    if not model.get("ctc_weight"):
        return "none"
    how = "probe (CTC gradient stopped at the encoder)" if model.get("ctc_detach") else \
        f"multi-task, CTC weight {model['ctc_weight']}"
    return (f"{model.get('ctc_units', 'characters')}, "
            f"{'GRU ' + str(model['ctc_hidden']) if model.get('ctc_hidden') else 'linear'} head, {how}")


def run(evaluate: EvaluateParams, parallel: ParallelParams, model: Path, features: Path, mels: Path, split: Path,
        manifest: Path, metrics: Path, per_utterance: Path, plots: Path, samples: Path, page: Path) -> dict:
    synthesiser = Synthesiser.load(model, evaluate.vocoder, evaluate.device)
    stats, normalize = synthesiser.checkpoint["stats"], synthesiser.checkpoint["params"]["normalize"]
    utterances = {u.id: u for u in read_manifest(manifest)}
    speaker_of = speakers_by_id(list(utterances.values()))
    mel_store = StoreReader(mels)
    test_ids = load_split(split, "test")
    if not test_ids:
        raise StageError(f"{split} has no test utterance; give the split a test share")
    test = LipSpeechDataset(test_ids, StoreReader(features), mel_store, stats, speaker_of, normalize=normalize)
    train_ids = [i for i in load_split(split, "train") if i in mel_store]
    speaker_means = speaker_mean_mels(mel_store, train_ids, speaker_of, np.asarray(stats["mel"]["mean"], np.float32))
    shown = sample_ids(test.ids, speaker_of, evaluate.samples)
    remove(plots)
    remove(samples)

    syntheses = []
    for index in tqdm(range(len(test)), desc="evaluate: synthesise", unit="utt"):
        sample = test[index]
        utterance = utterances[sample.id]
        synthesis = synthesise(synthesiser, sample, utterance, speaker_means[utterance.speaker], evaluate)
        syntheses.append(synthesis)
        if sample.id in shown:
            write_sample(synthesis, utterance, synthesiser.audio.sample_rate, plots, samples)
    figures = dict(parallel_map(functools.partial(score, sample_rate=synthesiser.audio.sample_rate), syntheses,
                                parallel, desc="evaluate: metrics", unit="utt"))
    summary = summarise(figures, speaker_of)
    write_json(per_utterance, figures)
    write_json(metrics, summary)
    heard = [SampleUtterance(i, utterances[i].speaker, figures[i]["transcript"], figures[i],
                             {c: samples / i / f"{c}.wav" for c in CONDITION_ORDER}, plots / f"{i}.png",
                             utterances[i].frames / utterances[i].fps) for i in shown]
    write_listening_page(page, summary, describe(synthesiser.checkpoint, evaluate), heard)
    log.info("MCD %.2f dB (oracle %.2f, mean %.2f, gap closed %s), STOI %.3f, PESQ %s, WER %s (recording %s), "
             "lip-reading WER %s over %d test utterances", summary["mcd_db"], summary["oracle"]["mcd_db"],
             summary["mean"]["mcd_db"], summary["mcd_gap_closed"], summary["stoi"], summary["pesq"], summary["wer"],
             summary["recording"]["wer"], summary["lipreading_wer"], summary["utterances"])
    return summary


STAGE = Stage(
    run,
    params={"evaluate": EvaluateParams},
    runtime={"parallel": ParallelParams},
    inputs={"model": "data/model.pt", "features": "data/features", "mels": "data/mels", "split": "data/split.json",
            "manifest": "data/manifest.jsonl"},
    outputs={"metrics": "metrics/evaluate.json", "per_utterance": "metrics/evaluate_per_utterance.json",
             "plots": "plots/evaluate", "samples": "data/samples", "page": "plots/listening.html"},
)
