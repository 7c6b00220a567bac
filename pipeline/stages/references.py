"""Stage `references`: speak and score, once, what every evaluation compares a model with.

For each test utterance: the oracle (its true mel through the vocoder), the speaker's mean voice
(the speaker's mean train-split mel at every frame) and the recording itself, scored as
`evaluate` scores the model (pipeline.learn.evaluation): MCD, STOI, ESTOI, PESQ, what the judge
hears in each, and the judge in the recording (its floor). None of it depends on the model, so
DVC keeps it while models change: it reads the mels, the split and the corpus's audio, and only
the `evaluate.vocoder`, `evaluate.samples` and `evaluate.judge_lm` params. For test sentences
outside GRID's grammar it makes the open-vocabulary judge (pipeline.learn.scoring.open_judge:
with `judge_lm: training`, `out/judge/judge.arpa` and `judge.dict` from the training
transcripts), which `evaluate` then uses too.

Writes `out/figures.json`: the test ids, the vocoder it used, the sampled ids, per utterance the
references' figures and each reference's squared mel error per bin (`evaluate` turns it into the
MSE on the normalised mel, whichever normalisation the model was trained with); and
`out/samples/ID/{recording,oracle,mean}.wav` for the `evaluate.samples` utterances that
`evaluate` shows on its listening page.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pipeline.audio.judge import OpenJudge
from pipeline.audio.mels import AudioParams
from pipeline.audio.speech import Voice
from pipeline.audio.vocoder import VocoderParams
from pipeline.compute.parallel import ParallelParams, parallel_map
from pipeline.errors import StageError
from pipeline.io.files import replacing, write_json
from pipeline.io.manifest import Utterance, read_manifest, speakers_by_id
from pipeline.io.media import write_wav
from pipeline.io.splits import load_split
from pipeline.io.store import StoreReader
from pipeline.learn.scoring import (
    RECORDING,
    JudgeLM,
    open_judge,
    sample_ids,
    score,
    speak_references,
    speaker_mean_mels,
)
from pipeline.stages import Stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReferenceJob:
    """Speaks and scores the references of one utterance in a worker (paths, so it pickles small;
    the store and the manifest open once per worker process), writing the wavs of the `shown` ones."""

    mels: Path
    manifest: Path
    vocoder: VocoderParams
    speaker_means: dict[str, np.ndarray]
    samples: Path
    shown: frozenset[str]
    judge: OpenJudge | None = None

    def __call__(self, utterance_id: str) -> tuple[str, dict]:
        store, utterances, voice = _opened(self.mels, self.manifest, self.vocoder)
        utterance = utterances[utterance_id]
        target = store.read(utterance_id, ["mel"])["mel"].T
        spoken = speak_references(voice, target, self.speaker_means[utterance.speaker], utterance)
        if utterance_id in self.shown:
            folder = self.samples / utterance_id
            folder.mkdir(parents=True, exist_ok=True)
            write_wav(folder / f"{RECORDING}.wav", spoken.recording, voice.audio.sample_rate)
            for condition, waveform in spoken.waveforms.items():
                write_wav(folder / f"{condition}.wav", waveform, voice.audio.sample_rate)
        _, figures = score(spoken, voice.audio.sample_rate, judge_recording=True, open_judge=self.judge)
        return utterance_id, {**figures, "squared_error": spoken.squared_error}


@functools.lru_cache(maxsize=2)
def _opened(mels: Path, manifest: Path, vocoder: VocoderParams) -> tuple[StoreReader, dict[str, Utterance], Voice]:
    """The mels store, the manifest and a CPU voice, once per worker process."""
    store = StoreReader(mels)
    audio = AudioParams.from_attrs(store.attrs)
    return store, {u.id: u for u in read_manifest(manifest)}, Voice(audio, vocoder, torch.device("cpu"))


def run(vocoder: VocoderParams, samples: int, parallel: ParallelParams, mels: Path, split: Path, manifest: Path,
        out: Path, judge_lm: JudgeLM = "training") -> dict:
    store = StoreReader(mels)
    utterances = read_manifest(manifest)
    speaker_of = speakers_by_id(utterances)
    test_ids = [i for i in load_split(split, "test") if i in store]
    if not test_ids:
        raise StageError(f"no test utterance of {split} is in {mels}; give the split a test share")
    train_ids = [i for i in load_split(split, "train") if i in store]
    if not train_ids:
        raise StageError(f"no train utterance of {split} is in {mels}: the mean voice needs some")
    means = speaker_mean_mels(store, train_ids, speaker_of)
    shown = sample_ids(test_ids, speaker_of, samples)
    text_of = {u.id: u.transcript for u in utterances}
    with replacing(out) as partial:
        judge, about = open_judge([text_of[i] for i in train_ids], [text_of[i] for i in test_ids], judge_lm,
                                  partial / "judge")
        if about is not None:
            log.info("the open-vocabulary judge's language model: %s", about)
        job = ReferenceJob(mels, manifest, vocoder, means, partial / "samples", frozenset(shown), judge)
        figures = dict(parallel_map(job, test_ids, parallel, desc="references"))
        written = {"ids": test_ids, "vocoder": dataclasses.asdict(vocoder), "samples": shown, "utterances": figures}
        write_json(partial / "figures.json", written if about is None else {**written, "open_judge": about})
    log.info("references of %d test utterances (%d with wavs): oracle MCD %.2f dB, mean MCD %.2f dB, "
             "judge WER on the recordings %s", len(test_ids), len(shown), _mean(figures, "oracle", "mcd_db"),
             _mean(figures, "mean", "mcd_db"), _mean(figures, RECORDING, "wer"))
    return figures


def _mean(figures: dict, condition: str, metric: str) -> float | None:
    values = [f[condition][metric] for f in figures.values() if f[condition][metric] is not None]
    return float(np.mean(values)) if values else None


STAGE = Stage(
    run,
    params={"evaluate.vocoder": VocoderParams, "evaluate.samples": int, "evaluate.judge_lm": JudgeLM},
    runtime={"parallel": ParallelParams},
    inputs={"mels": "data/mels", "split": "data/split.json", "manifest": "data/manifest.jsonl"},
    outputs={"out": "data/references"},
)
