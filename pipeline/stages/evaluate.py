"""Stage `evaluate`: speak the test split and measure it against the recordings and the references.

The references (the oracle, the speaker's mean voice and the judge on the recording itself) come
from the `references` stage, computed once; this stage speaks and scores the model's condition
only (pipeline.learn.evaluation), utterance by utterance in `parallel` workers on the CPU, or
predicted and vocoded in batches on the GPU (`evaluate.device`) and scored by the workers.

Writes the summary (`metrics`), every utterance's figures (`per_utterance`), for the utterances
the references sampled (`evaluate.samples`, speakers in turn) a mel picture (target vs. predicted,
in `plots`) and their wavs (recording, model, oracle, mean, in `samples`), and the listening page
(`page`) that puts those wavs, pictures and figures side by side (pipeline.learn.listening_page).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.audio.judge import OpenJudge
from pipeline.audio.speech import Voice
from pipeline.compute.parallel import ParallelParams, parallel_map
from pipeline.errors import MissingInput, StageError
from pipeline.io.files import remove, write_json
from pipeline.io.manifest import Utterance, read_manifest, speakers_by_id
from pipeline.io.splits import load_split
from pipeline.io.store import StoreReader
from pipeline.learn.dataset import LipSpeechDataset
from pipeline.learn.evaluation import EvaluateParams, normalised_mse, speak_model, summarise, write_sample
from pipeline.learn.inference import Synthesiser
from pipeline.learn.listening_page import CONDITION_ORDER, SampleUtterance, write_listening_page
from pipeline.learn.scoring import RECORDING, REFERENCES, Spoken, rounded, saved_open_judge, score
from pipeline.stages import Stage

log = logging.getLogger(__name__)
GPU_BATCH = 32  # utterances vocoded at once on the GPU


CODE = ("pipeline", "models")  # what the code version describes (not the data, params or metrics files)


def code_version() -> str:
    """The code that made the figures, in words that stay true after the commit that holds them:
    the commit it was taken from and, when it had uncommitted changes, which files of the code
    changed and a hash of their contents (the same files hash the same in the commit that keeps
    them: `git show COMMIT:FILE | ...`)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout

    try:
        commit = git("rev-parse", "--short", "HEAD").strip()
        entries = iter(git("status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *CODE).split("\0"))
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    changed = []
    for entry in entries:
        if entry:
            changed.append(entry[3:])
            if entry[0] in "RC":  # a rename or copy: its origin comes next
                next(entries, None)
    changed.sort()
    if not changed:
        return commit
    digest = hashlib.sha256()
    for path in changed:
        file = Path(path)
        digest.update(path.encode() + b"\0" + (file.read_bytes() if file.is_file() else b"(deleted)") + b"\0")
    shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
    return f"{commit} with changes in {shown} (their contents' SHA-256 {digest.hexdigest()[:12]})"


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


@dataclass(frozen=True)
class ModelJob:
    """What a worker needs to speak and score one test utterance with the model (paths, so it
    pickles small; the model and stores load once per worker process)."""

    model: Path
    features: Path
    mels: Path
    split: Path
    manifest: Path
    params: EvaluateParams
    plots: Path
    samples: Path
    shown: frozenset[str]
    judge: OpenJudge | None = None

    def __call__(self, utterance_id: str) -> tuple[str, dict]:
        synthesiser, test, utterances = _opened(self.model, self.features, self.mels, self.split, self.manifest,
                                                self.params)
        spoken = speak_model(synthesiser, test.sample(utterance_id), utterances[utterance_id], self.params)
        if utterance_id in self.shown:
            write_sample(spoken, utterances[utterance_id], synthesiser.audio.sample_rate, self.plots, self.samples)
        return score(spoken, synthesiser.audio.sample_rate, open_judge=self.judge)


class TestSet:
    """The test utterances as the model reads them, by id."""

    def __init__(self, dataset: LipSpeechDataset) -> None:
        self.dataset = dataset
        self.index = {utterance_id: i for i, utterance_id in enumerate(dataset.ids)}

    @property
    def ids(self) -> list[str]:
        return self.dataset.ids

    def sample(self, utterance_id: str):
        return self.dataset[self.index[utterance_id]]


@functools.lru_cache(maxsize=1)
def _opened(model: Path, features: Path, mels: Path, split: Path, manifest: Path,
            params: EvaluateParams) -> tuple[Synthesiser, TestSet, dict[str, Utterance]]:
    """The model (on `params.device`), the test split's reader and the manifest, once per process."""
    synthesiser = Synthesiser.load(model, params.vocoder, params.device)
    utterances = {u.id: u for u in read_manifest(manifest)}
    return synthesiser, _test_set(synthesiser, features, mels, utterances, load_split(split, "test")), utterances


def _test_set(synthesiser: Synthesiser, features: Path, mels: Path, utterances: dict[str, Utterance],
              ids: list[str]) -> TestSet:
    checkpoint = synthesiser.checkpoint
    dataset = LipSpeechDataset(ids, StoreReader(features), StoreReader(mels), checkpoint["stats"],
                               speakers_by_id(list(utterances.values())), normalize=checkpoint["params"]["normalize"],
                               voices=synthesiser.conditioning == "voice")
    return TestSet(dataset)


def load_references(path: Path, ids: list[str], params: EvaluateParams) -> dict:
    """The references stage's figures for these test ids, made with this vocoder; a one-line
    StageError when they are another split's or vocoder's."""
    figures_file = path / "figures.json"
    if not figures_file.is_file():
        raise MissingInput(f"no references at {path}; run the references stage (dvc repro references)")
    references = json.loads(figures_file.read_text())
    missing = sorted(set(ids) - set(references["utterances"]))
    if missing:
        raise StageError(f"{path} has no references for {len(missing)} test utterances (e.g. {missing[0]}): "
                         "they were made for another split; run dvc repro references")
    if references["vocoder"] != dataclasses.asdict(params.vocoder):
        raise StageError(f"{path} was made with the vocoder {references['vocoder']}, evaluate.vocoder is "
                         f"{dataclasses.asdict(params.vocoder)}; run dvc repro references")
    return references


def _merged(model_figures: dict, references: dict, synthesiser: Synthesiser) -> dict:
    """One utterance's figures: the model's and the references', their MSE on the model's normalised mels."""
    merged = {**model_figures}
    for condition in REFERENCES:
        block = dict(references[condition])
        block["mse"] = rounded(normalised_mse(references["squared_error"][condition], synthesiser.normalizer))
        merged[condition] = block
    merged[RECORDING] = references[RECORDING]
    return merged


def _on_gpu(synthesiser: Synthesiser, test: TestSet, utterances: dict[str, Utterance], params: EvaluateParams,
            shown: set[str], plots: Path, samples: Path) -> Iterator[Spoken]:
    """The model's speech for every test utterance: predicted one by one, vocoded in batches of up
    to GPU_BATCH mels of one length (a GRID test set: all of them), written out when shown."""
    def finished(spoken: Spoken, waveform: np.ndarray) -> Spoken:
        spoken.waveforms["model"] = waveform
        if spoken.id in shown:
            write_sample(spoken, utterances[spoken.id], synthesiser.audio.sample_rate, plots, samples)
        return spoken

    def vocoded(group: list[tuple[Spoken, np.ndarray]]) -> Iterator[Spoken]:
        waveforms = synthesiser.vocode(np.stack([mel for _, mel in group]), utterances[group[0][0].id].fps)
        yield from (finished(spoken, waveform) for (spoken, _), waveform in zip(group, waveforms, strict=True))

    group: list[tuple[Spoken, np.ndarray]] = []
    for utterance_id in test.ids:
        utterance = utterances[utterance_id]
        spoken = speak_model(synthesiser, test.sample(utterance_id), utterance, params, waveform=np.zeros(0))
        mel = spoken.predicted
        assert mel is not None, "speak_model keeps the predicted mel"
        if not Voice.in_one_call(mel.shape[1]):  # a long recording: vocoded block by block
            yield finished(spoken, synthesiser.speech(mel, utterance.fps))
            continue
        if group and (len(group) == GPU_BATCH or group[0][1].shape != mel.shape
                      or utterances[group[0][0].id].fps != utterance.fps):
            yield from vocoded(group)
            group = []
        group.append((spoken, mel))
    if group:
        yield from vocoded(group)


def run(evaluate: EvaluateParams, parallel: ParallelParams, model: Path, features: Path, mels: Path, split: Path,
        manifest: Path, references: Path, metrics: Path, per_utterance: Path, plots: Path, samples: Path,
        page: Path) -> dict:
    synthesiser = Synthesiser.load(model, evaluate.vocoder, evaluate.device)
    utterances = {u.id: u for u in read_manifest(manifest)}
    speaker_of = speakers_by_id(list(utterances.values()))
    test_ids = load_split(split, "test")
    if not test_ids:
        raise StageError(f"{split} has no test utterance; give the split a test share")
    test = _test_set(synthesiser, features, mels, utterances, test_ids)
    reference_figures = load_references(references, test.ids, evaluate)
    judge = saved_open_judge(reference_figures.get("open_judge"), references / "judge")
    # The references sampled these for their wavs; one rejected since (no video features) is not shown.
    shown = [i for i in reference_figures["samples"] if i in test.index]
    remove(plots)
    remove(samples)
    sample_rate = synthesiser.audio.sample_rate
    if synthesiser.device.type == "cuda":
        spoken = _on_gpu(synthesiser, test, utterances, evaluate, set(shown), plots, samples)
        scored = parallel_map(functools.partial(score, sample_rate=sample_rate, open_judge=judge), spoken, parallel,
                              desc="evaluate", total=len(test.ids))
    else:
        job = ModelJob(model, features, mels, split, manifest, evaluate, plots, samples, frozenset(shown), judge)
        scored = parallel_map(job, test.ids, parallel, desc="evaluate")
    figures = {i: _merged(model_figures, reference_figures["utterances"][i], synthesiser)
               for i, model_figures in scored}
    for utterance_id in shown:
        for condition in (RECORDING, *REFERENCES):
            shutil.copyfile(references / "samples" / utterance_id / f"{condition}.wav",
                            samples / utterance_id / f"{condition}.wav")
    summary = summarise(figures, speaker_of)
    if "open_judge" in reference_figures:
        summary["open_judge"] = reference_figures["open_judge"]
    write_json(per_utterance, figures)
    write_json(metrics, summary)
    heard = [SampleUtterance(i, utterances[i].speaker, figures[i]["transcript"], figures[i],
                             {c: samples / i / f"{c}.wav" for c in CONDITION_ORDER}, plots / f"{i}.png",
                             utterances[i].frames / utterances[i].fps) for i in shown]
    write_listening_page(page, summary, describe(synthesiser.checkpoint, evaluate), heard)
    log.info("over %d test utterances, means with their 95%% bootstrap intervals: MCD %s dB (oracle %s, mean %s, "
             "gap closed %s), STOI %s, PESQ %s, WER %s (recording %s), lip-reading WER %s", summary["utterances"],
             *(_shown(block, key) for block, key in ((summary, "mcd_db"), (summary["oracle"], "mcd_db"),
                                                       (summary["mean"], "mcd_db"), (summary, "mcd_gap_closed"),
                                                       (summary, "stoi"), (summary, "pesq"), (summary, "wer"),
                                                       (summary["recording"], "wer"), (summary, "lipreading_wer"))))
    return summary


def _shown(block: dict, key: str) -> str:
    """`mean [low, high]` for the log."""
    if block.get(key) is None:
        return "n/a"
    low, high = block.get(f"{key}_ci_low"), block.get(f"{key}_ci_high")
    return f"{block[key]:.3f}" + ("" if low is None else f" [{low:.3f}, {high:.3f}]")


STAGE = Stage(
    run,
    params={"evaluate": EvaluateParams},
    runtime={"parallel": ParallelParams},
    inputs={"model": "data/model.pt", "features": "data/features", "mels": "data/mels", "split": "data/split.json",
            "manifest": "data/manifest.jsonl", "references": "data/references"},
    outputs={"metrics": "metrics/evaluate.json", "per_utterance": "metrics/evaluate_per_utterance.json",
             "plots": "plots/evaluate", "samples": "data/samples", "page": "plots/listening.html"},
)
