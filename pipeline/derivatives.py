"""Stage `derivatives`: video features (frame, first and second temporal difference) from the
mouth crops, T x C x S x S int16 per utterance (the reader hands out C x T x S x S).

    python -m pipeline.derivatives --mouths data/mouths --out data/features
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipeline import params as params_io
from pipeline.features import FEATURE_DTYPE, video_features
from pipeline.stage import run_stage
from pipeline.store import StoreParams, StoreReader, StoreWriter

log = logging.getLogger("pipeline.derivatives")


@dataclass(frozen=True)
class FeatureParams:
    """`features` in params.yaml."""

    derivatives: bool = True


def run(params: FeatureParams, store: StoreParams, mouths_path: Path, out: Path) -> int:
    mouths = StoreReader(mouths_path)
    if not mouths.ids:
        raise ValueError(f"{mouths_path} holds no utterance")
    first = video_features(mouths.read(mouths.ids[0])["crops"], params.derivatives)
    channels = ["frame", "delta", "delta2"] if params.derivatives else ["frame"]
    if first.shape[1] > len(channels):  # colour crops
        channels = [f"{colour}_{c}" for c in channels for colour in "rgb"]
    # The crop settings travel with the features (and into checkpoints), so `speak` can redo them.
    attrs = {"channels": channels, "derivatives": params.derivatives, "source": str(mouths_path),
             **{k: mouths.attrs[k] for k in ("mode", "size", "padding", "grayscale")}}
    typical = int(np.median(list(mouths.lengths.values())))
    with StoreWriter(out, {"video": (first.shape[1:], np.dtype(FEATURE_DTYPE).name)}, typical, store, attrs) as writer:
        for utterance_id in tqdm(mouths.ids, desc="derivatives", unit="utt", mininterval=0.5):
            writer.write(utterance_id, video=video_features(mouths.read(utterance_id)["crops"], params.derivatives))
    log.info("%d utterances, channels %s", len(mouths.ids), ", ".join(channels))
    return len(mouths.ids)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=params_io.DEFAULT_PATH)
    parser.add_argument("--mouths", type=Path, default=Path("data/mouths"))
    parser.add_argument("--out", type=Path, default=Path("data/features"))
    args = parser.parse_args(argv)
    run_stage(log, lambda values: run(
        params_io.section(FeatureParams, values.get("features"), "features"),
        params_io.section(StoreParams, values.get("store"), "store"),
        args.mouths, args.out), args.params)


if __name__ == "__main__":
    from pipeline.derivatives import main as stage_main

    stage_main()
