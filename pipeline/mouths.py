"""Stage `mouths`: mouth crops (T x S x S uint8, or T x S x S x 3 in colour) for every utterance
that has landmarks.

    python -m pipeline.mouths --manifest data/manifest.jsonl --landmarks data/landmarks \\
        --out data/mouths --sheet plots/mouths.png

`mouths.mode` picks fixed (the thesis' crop), tracked or aligned crops (see pipeline.crop).
"""
from __future__ import annotations

import argparse
import functools
import logging
from pathlib import Path

import numpy as np

from pipeline import params as params_io
from pipeline.crop import CropParams, mouth_crops
from pipeline.manifest import Utterance, read_manifest
from pipeline.media import read_video
from pipeline.parallel import ParallelParams, parallel_map
from pipeline.plots import crops_sheet
from pipeline.stage import run_stage
from pipeline.store import StoreParams, StoreReader, StoreWriter

log = logging.getLogger("pipeline.mouths")
SHEET_ROWS = 6  # one row per speaker, at most this many


def crop_utterance(utterance: Utterance, landmarks: StoreReader, params: CropParams) -> tuple[str, np.ndarray]:
    """Decode the utterance and cut its mouth out of every frame."""
    frames = read_video(Path(utterance.video), grayscale=params.grayscale)
    points = landmarks.read(utterance.id, ["points"])["points"]
    if len(points) != len(frames):
        raise ValueError(f"{utterance.id}: {len(frames)} frames but {len(points)} landmark frames; "
                         "rerun the landmarks stage")
    return utterance.id, mouth_crops(frames, points, params)


def run(params: CropParams, store: StoreParams, parallel: ParallelParams, manifest: Path, landmarks_path: Path,
        out: Path, sheet: Path | None) -> int:
    landmarks = StoreReader(landmarks_path)
    utterances = [u for u in read_manifest(manifest) if u.id in landmarks]
    if not utterances:
        raise ValueError(f"no utterance of {manifest} has landmarks in {landmarks_path}")
    size = params.size
    shape = (size, size) if params.grayscale else (size, size, 3)
    typical = int(np.median([landmarks.lengths[u.id] for u in utterances]))
    sheet_items, speakers_shown = [], set()
    speaker_of = {u.id: u.speaker for u in utterances}
    attrs = {"mode": params.mode, "size": size, "padding": params.padding, "grayscale": params.grayscale}
    with StoreWriter(out, {"crops": (shape, "uint8")}, typical, store, attrs=attrs) as writer:
        work = functools.partial(crop_utterance, landmarks=landmarks, params=params)
        for utterance_id, crops in parallel_map(work, utterances, parallel, desc="mouths", unit="utt"):
            writer.write(utterance_id, crops=crops)
            if len(sheet_items) < SHEET_ROWS and speaker_of[utterance_id] not in speakers_shown:
                speakers_shown.add(speaker_of[utterance_id])
                sheet_items.append((utterance_id, crops))
    if sheet is not None:
        crops_sheet(sheet_items, sheet)
    log.info("%d utterances cropped (%s, %dx%d, padding %d)", len(utterances), params.mode, size, size, params.padding)
    return len(utterances)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=params_io.DEFAULT_PATH)
    parser.add_argument("--manifest", type=Path, default=Path("data/manifest.jsonl"))
    parser.add_argument("--landmarks", type=Path, default=Path("data/landmarks"))
    parser.add_argument("--out", type=Path, default=Path("data/mouths"))
    parser.add_argument("--sheet", type=Path, default=Path("plots/mouths.png"))
    args = parser.parse_args(argv)
    run_stage(log, lambda values: run(
        params_io.section(CropParams, values.get("mouths"), "mouths"),
        params_io.section(StoreParams, values.get("store"), "store"),
        params_io.section(ParallelParams, values.get("parallel"), "parallel"),
        args.manifest, args.landmarks, args.out, args.sheet), args.params)


if __name__ == "__main__":
    # Run the imported module's main, so workers unpickle pipeline.mouths.*, not __main__.*.
    from pipeline.mouths import main as stage_main

    stage_main()
