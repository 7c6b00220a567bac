"""Stage `landmarks`: 68-point landmarks, face boxes and per-frame status for every utterance.

Workers decode and track whole utterances and return small arrays; this process is the store's
only writer. Utterances whose face is found in too few frames go to the rejects file.
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

from pipeline.compute.parallel import ParallelParams, parallel_map
from pipeline.errors import StageError
from pipeline.face.landmarks import LandmarksParams, make_landmarker, process, summarise
from pipeline.face.sheets import landmarks_sheet
from pipeline.face.tracking import STATUS_NAMES
from pipeline.io.files import write_json
from pipeline.io.manifest import Reject, read_manifest, write_rejects
from pipeline.io.store import StoreParams, StoreWriter
from pipeline.stages import Stage

log = logging.getLogger(__name__)
FIELDS = {"points": ((68, 2), "float32"), "boxes": ((4,), "float32"), "status": ((), "uint8")}


def run(landmarks: LandmarksParams, store: StoreParams, parallel: ParallelParams, manifest: Path, out: Path,
        rejects: Path, metrics: Path, per_utterance: Path, sheet: Path | None = None) -> dict:
    utterances = read_manifest(manifest)
    if not utterances:
        raise StageError(f"{manifest} lists no utterance")
    make_landmarker(landmarks)  # fail here, once, on missing weights
    typical = int(np.median([u.frames for u in utterances]))
    by_id = {u.id: u for u in utterances}
    # What is kept of each utterance is its figures; the points go to the store (memory stays flat),
    # except those of each speaker's first utterance, for the sheet.
    qualities: dict[str, dict] = {}
    shown: dict[str, tuple] = {}
    rejected: list[Reject] = []
    with StoreWriter(out, FIELDS, typical, store, attrs={"status_names": STATUS_NAMES}) as writer:
        for result in parallel_map(functools.partial(process, params=landmarks), utterances, parallel,
                                   desc="landmarks", unit="utt"):
            if isinstance(result, Reject):
                rejected.append(result)
                continue
            writer.write(result.id, points=result.points, boxes=result.boxes, status=result.status)
            qualities[result.id] = result.quality
            shown.setdefault(by_id[result.id].speaker, (by_id[result.id], result.points, result.status))
        summary = summarise(list(qualities.values()), rejected)
        write_rejects(rejects, rejected)
        write_json(metrics, summary)
        write_json(per_utterance, qualities)
        log.info("%d utterances, %d rejected; detected %.1f%% tracked %.1f%% interpolated %.1f%% of frames",
                 summary["utterances"], summary["rejected"], 100 * summary["detected"],
                 100 * summary["tracked"], 100 * summary["interpolated"])
        if not qualities:
            raise StageError(f"no utterance has a usable face; reasons in {rejects}")
        if summary["reject_fraction"] > landmarks.max_reject_fraction:
            raise StageError(f"{summary['reject_fraction']:.0%} of utterances rejected, more than "
                             f"landmarks.max_reject_fraction {landmarks.max_reject_fraction:.0%}; reasons in {rejects}")
    if sheet is not None:
        landmarks_sheet(list(shown.values()), sheet)
    return summary


STAGE = Stage(
    run,
    params={"landmarks": LandmarksParams, "store": StoreParams},
    runtime={"parallel": ParallelParams},
    inputs={"manifest": "data/manifest.jsonl"},
    outputs={"out": "data/landmarks", "rejects": "data/landmarks_rejects.tsv", "metrics": "metrics/landmarks.json",
             "per_utterance": "metrics/landmarks_per_utterance.json", "sheet": "plots/landmarks.png"},
)
