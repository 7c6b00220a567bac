"""Stage `stats`: per-channel mean, std, min and max of the video features and of every mel
bin, over the train split only. Normalisation (`normalize`) uses them in the reader; stores keep
raw values.

    python -m pipeline.stats --features data/features --mels data/mels --split data/split.json \\
        --manifest data/manifest.jsonl --out data/stats.json
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipeline import params as params_io
from pipeline.manifest import read_manifest, write_json
from pipeline.split import load_split
from pipeline.stage import StageError, run_stage
from pipeline.store import StoreReader

log = logging.getLogger("pipeline.stats")


def channel_stats(store: StoreReader, field: str, ids: list[str], channel_axis: int) -> dict[str, list[float]]:
    """Mean, std, min, max per channel (`channel_axis` of one frame's array), over all frames of
    `ids`; float64 running sums, so the order of utterances does not matter."""
    total = sum_ = sum_sq = low = high = None
    for utterance_id in tqdm(ids, desc=f"stats: {field}", unit="utt", mininterval=0.5):
        values = store.read(utterance_id, [field])[field].astype(np.float64)
        values = np.moveaxis(values, channel_axis + 1, 0).reshape(values.shape[channel_axis + 1], -1)
        if total is None:
            total, sum_, sum_sq = 0, np.zeros(len(values)), np.zeros(len(values))
            low, high = np.full(len(values), np.inf), np.full(len(values), -np.inf)
        total += values.shape[1]
        sum_ += values.sum(axis=1)
        sum_sq += np.square(values).sum(axis=1)
        low, high = np.minimum(low, values.min(axis=1)), np.maximum(high, values.max(axis=1))
    mean = sum_ / total
    std = np.sqrt(np.maximum(sum_sq / total - mean ** 2, 0.0))
    return {name: [round(float(v), 6) for v in array]
            for name, array in (("mean", mean), ("std", std), ("min", low), ("max", high))}


def run(features_path: Path, mels_path: Path, split_path: Path, manifest: Path, out: Path) -> dict:
    features, mels = StoreReader(features_path), StoreReader(mels_path)
    train = [i for i in load_split(split_path, "train") if i in features and i in mels]
    if not train:
        raise StageError(f"no train utterance of {split_path} is in both {features_path} and {mels_path}")
    stats = {
        "train_utterances": len(train),
        "speakers": sorted({u.speaker for u in read_manifest(manifest)}),
        "video": {"channels": features.attrs["channels"], **channel_stats(features, "video", train, 0)},
        "mel": channel_stats(mels, "mel", train, 0),
    }
    write_json(out, stats)
    log.info("stats over %d train utterances", len(train))
    return stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=params_io.DEFAULT_PATH)
    parser.add_argument("--features", type=Path, default=Path("data/features"))
    parser.add_argument("--mels", type=Path, default=Path("data/mels"))
    parser.add_argument("--split", type=Path, default=Path("data/split.json"))
    parser.add_argument("--manifest", type=Path, default=Path("data/manifest.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("data/stats.json"))
    args = parser.parse_args(argv)
    run_stage(log, lambda _: run(args.features, args.mels, args.split, args.manifest, args.out), args.params)


if __name__ == "__main__":
    from pipeline.stats import main as stage_main

    stage_main()
