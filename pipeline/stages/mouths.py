"""Stage `mouths`: mouth crops for every utterance that has landmarks.

Per utterance `crops`, T x S x S uint8 (T x S x S x 3 in colour), and `transform`, T x 2 x 3
float32: each frame's affine map from frame pixels to crop pixels, so landmarks can be mapped into
the crops (pipeline.face.crop says the convention). `mouths.mode` picks fixed (the thesis' crop),
tracked, aligned or avsr (auto_avsr's region) crops."""
from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

from pipeline.compute.parallel import ParallelParams, parallel_map
from pipeline.errors import StageError
from pipeline.face.crop import MOUTH, CropParams, MouthCrops, apply, mouth_crops
from pipeline.face.sheets import crops_sheet
from pipeline.io.clips import utterance_frames
from pipeline.io.manifest import Utterance, read_manifest, speakers_by_id
from pipeline.io.store import FieldSpec, StoreParams, StoreReader, StoreWriter
from pipeline.stages import Stage

log = logging.getLogger(__name__)
SHEET_ROWS = 6  # one row per speaker, at most this many


def crop_utterance(utterance: Utterance, landmarks: StoreReader, params: CropParams) -> tuple[str, MouthCrops]:
    """Decode the utterance and cut its mouth out of every frame."""
    frames = utterance_frames(utterance, grayscale=params.grayscale)
    points = landmarks.read(utterance.id, ["points"])["points"]
    if len(points) != len(frames):
        raise StageError(f"{utterance.id}: {len(frames)} frames but {len(points)} landmark frames; "
                         "rerun the landmarks stage")
    return utterance.id, mouth_crops(frames, points, params)


def run(mouths: CropParams, store: StoreParams, parallel: ParallelParams, manifest: Path, landmarks: Path,
        out: Path, sheet: Path | None = None) -> int:
    points = StoreReader(landmarks)
    utterances = [u for u in read_manifest(manifest) if u.id in points]
    if not utterances:
        raise StageError(f"no utterance of {manifest} has landmarks in {landmarks}")
    shape = (mouths.size, mouths.size) if mouths.grayscale else (mouths.size, mouths.size, 3)
    typical = int(np.median([points.lengths[u.id] for u in utterances]))
    sheet_items: list[tuple[str, np.ndarray, np.ndarray]] = []
    speakers_shown: set[str] = set()
    speaker_of = speakers_by_id(utterances)
    attrs = {"mode": mouths.mode, "size": mouths.size, "padding": mouths.padding, "grayscale": mouths.grayscale}
    fields: dict[str, FieldSpec] = {"crops": (shape, "uint8"), "transform": ((2, 3), "float32")}
    with StoreWriter(out, fields, typical, store, attrs=attrs) as writer:
        work = functools.partial(crop_utterance, landmarks=points, params=mouths)
        for utterance_id, (crops, transforms) in parallel_map(work, utterances, parallel, desc="mouths", unit="utt"):
            writer.write(utterance_id, crops=crops, transform=transforms)
            if len(sheet_items) < SHEET_ROWS and speaker_of[utterance_id] not in speakers_shown:
                speakers_shown.add(speaker_of[utterance_id])
                mouth = points.read(utterance_id, ["points"])["points"][:, MOUTH]
                sheet_items.append((utterance_id, crops, apply(transforms, mouth)))
    if sheet is not None:
        crops_sheet(sheet_items, sheet)
    log.info("%d utterances cropped (%s, %dx%d, padding %d)", len(utterances), mouths.mode, mouths.size,
             mouths.size, mouths.padding)
    return len(utterances)


STAGE = Stage(
    run,
    params={"mouths": CropParams, "store": StoreParams},
    runtime={"parallel": ParallelParams},
    inputs={"manifest": "data/manifest.jsonl", "landmarks": "data/landmarks"},
    outputs={"out": "data/mouths", "sheet": "plots/mouths.png"},
)
