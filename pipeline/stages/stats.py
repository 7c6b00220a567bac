"""Stage `stats`: normalisation statistics over the train split.

Per-channel mean, std, min and max of the video features and of every mel bin, and the training
speakers (a speaker table has a row for each, and for no other). The reader normalises with them
(`normalize`); stores keep raw values."""
from __future__ import annotations

import logging
from pathlib import Path

from pipeline.errors import StageError
from pipeline.io.files import write_json
from pipeline.io.manifest import read_manifest, speakers_by_id
from pipeline.io.splits import load_split
from pipeline.io.store import StoreReader
from pipeline.learn.normalization import channel_stats
from pipeline.stages import Stage

log = logging.getLogger(__name__)


def run(features: Path, mels: Path, split: Path, manifest: Path, out: Path) -> dict:
    video_store, mel_store = StoreReader(features), StoreReader(mels)
    speaker_of = speakers_by_id(read_manifest(manifest))
    train = [i for i in load_split(split, "train") if i in video_store and i in mel_store]
    if not train:
        raise StageError(f"no train utterance of {split} is in both {features} and {mels}")
    stats = {
        "train_utterances": len(train),
        "speakers": sorted({speaker_of[i] for i in train}),
        "video": {"channels": video_store.attrs["channels"], **channel_stats(video_store, "video", train, 0)},
        "mel": channel_stats(mel_store, "mel", train, 0),
    }
    write_json(out, stats)
    log.info("stats over %d train utterances", len(train))
    return stats


STAGE = Stage(
    run,
    inputs={"features": "data/features", "mels": "data/mels", "split": "data/split.json",
            "manifest": "data/manifest.jsonl"},
    outputs={"out": "data/stats.json"},
)
