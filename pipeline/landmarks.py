"""Stage `landmarks`: 68-point landmarks, face boxes and per-frame status for every utterance.

    python -m pipeline.landmarks --manifest data/manifest.jsonl --out data/landmarks \\
        --rejects data/landmarks_rejects.tsv --metrics metrics/landmarks.json \\
        --per-utterance metrics/landmarks_per_utterance.json --sheet plots/landmarks.png

Workers decode and track whole utterances and return small arrays; this process is the store's
only writer. Utterances whose face is found in too few frames go to the rejects file.
"""
from __future__ import annotations

import argparse
import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import params as params_io
from pipeline.manifest import Reject, Utterance, read_manifest, write_json, write_rejects
from pipeline.media import MediaError, read_video
from pipeline.parallel import ParallelParams, parallel_map
from pipeline.plots import landmarks_sheet
from pipeline.stage import StageError, run_stage
from pipeline.store import StoreParams, StoreWriter
from pipeline.tracking import MISSING, STATUS_NAMES, Track, TrackingParams, finish, quality, track

log = logging.getLogger("pipeline.landmarks")
BACKENDS = ("dlib", "face_alignment")


@dataclass(frozen=True)
class LandmarksParams:
    """`landmarks` in params.yaml."""

    backend: str = "dlib"
    upsample: int = 0
    detect_every: int = 10
    min_box_iou: float = 0.6
    min_patch_similarity: float = 0.5
    smoothing_window: int = 3
    min_face_fraction: float = 0.5
    max_reject_fraction: float = 0.2
    weights: str | None = None  # face_alignment: local FAN weights instead of the download
    device: str = "auto"  # face_alignment: auto | cpu | cuda
    batch_size: int = 16  # face_alignment: frames per network call

    @property
    def tracking(self) -> TrackingParams:
        return TrackingParams(self.detect_every, self.min_box_iou, self.min_patch_similarity, self.smoothing_window)


@dataclass
class Landmarks:
    """One utterance's result: arrays for the store and its quality figures."""

    id: str
    points: np.ndarray
    boxes: np.ndarray
    status: np.ndarray
    quality: dict


@functools.lru_cache(maxsize=2)
def make_landmarker(params: LandmarksParams):
    """The backend's landmarker, once per process."""
    if params.backend == "dlib":
        from pipeline.detector import DlibLandmarker

        return DlibLandmarker(upsample=params.upsample)
    if params.backend == "face_alignment":
        from pipeline.fan import FanLandmarker

        return FanLandmarker(weights=params.weights, device=params.device, upsample=params.upsample,
                             batch_size=params.batch_size)
    raise ValueError(f"landmarks.backend must be one of {', '.join(BACKENDS)}, got {params.backend!r}")


def landmarks_of(frames: np.ndarray, params: LandmarksParams) -> Track | str:
    """Track the face through grayscale frames: the finished (gap-filled, smoothed) track, or the
    reason why the face is not found often enough."""
    landmarker = make_landmarker(params)
    # FAN refines what dlib tracked: dlib gives every frame's box, FAN the points, in batches.
    refiner = landmarker if hasattr(landmarker, "predict_batch") else None
    result = track(frames, refiner.detector if refiner else landmarker, params.tracking)
    found = int(np.count_nonzero(result.status))
    if found == 0:
        return f"no face in any of {len(frames)} frames"
    if found < params.min_face_fraction * len(frames):
        return f"face found in {found}/{len(frames)} frames (min_face_fraction {params.min_face_fraction:g})"
    if refiner is not None:
        seen = result.status != MISSING
        result.points[seen] = refiner.predict_batch(frames[seen], result.boxes[seen])
    return finish(result, params.smoothing_window)


def process(utterance: Utterance, params: LandmarksParams) -> Landmarks | Reject:
    """Track one utterance; a Reject with the reason when its face is not found often enough."""
    try:
        frames = read_video(Path(utterance.video), grayscale=True)
    except MediaError as error:
        return Reject(utterance.video, str(error))
    result = landmarks_of(frames, params)
    if isinstance(result, str):
        return Reject(utterance.video, result)
    return Landmarks(utterance.id, result.points, result.boxes, result.status, quality(result))


def summarise(results: list[Landmarks], rejects: list[Reject]) -> dict:
    total = len(results) + len(rejects)
    frames = sum(r.quality["frames"] for r in results)

    def frame_weighted(key: str) -> float:
        return round(sum(r.quality[key] * r.quality["frames"] for r in results) / frames, 4) if frames else 0.0

    calls = sum(r.quality["detector_calls"] for r in results)
    return {
        "utterances": len(results),
        "rejected": len(rejects),
        "reject_fraction": round(len(rejects) / total, 4) if total else 0.0,
        "frames": frames,
        **{name: frame_weighted(name) for name in STATUS_NAMES.values()},
        "detector_calls_per_frame": round(calls / frames, 4) if frames else 0.0,
        "detection_rate": round(sum(r.quality["detection_rate"] * r.quality["detector_calls"] for r in results)
                                / calls, 4) if calls else 0.0,
        "jitter_px": frame_weighted("jitter_px"),
    }


def run(params: LandmarksParams, store: StoreParams, parallel: ParallelParams, manifest: Path, out: Path,
        rejects_path: Path, metrics: Path, per_utterance: Path, sheet: Path | None) -> dict:
    utterances = read_manifest(manifest)
    if not utterances:
        raise ValueError(f"{manifest} lists no utterance")
    make_landmarker(params)  # fail here, once, on a bad backend or missing weights
    typical = int(np.median([u.frames for u in utterances]))
    fields = {"points": ((68, 2), "float32"), "boxes": ((4,), "float32"), "status": ((), "uint8")}
    results, rejects = [], []
    with StoreWriter(out, fields, typical, store, attrs={"status_names": STATUS_NAMES}) as writer:
        for result in parallel_map(functools.partial(process, params=params), utterances, parallel,
                                   desc="landmarks", unit="utt"):
            if isinstance(result, Reject):
                rejects.append(result)
                continue
            writer.write(result.id, points=result.points, boxes=result.boxes, status=result.status)
            results.append(result)
        summary = summarise(results, rejects)
        write_rejects(rejects_path, rejects)
        write_json(metrics, summary)
        write_json(per_utterance, {r.id: r.quality for r in results})
        log.info("%d utterances, %d rejected; detected %.1f%% tracked %.1f%% interpolated %.1f%% of frames",
                 summary["utterances"], summary["rejected"], 100 * summary["detected"],
                 100 * summary["tracked"], 100 * summary["interpolated"])
        if not results:
            raise StageError(f"no utterance has a usable face; reasons in {rejects_path}")
        if summary["reject_fraction"] > params.max_reject_fraction:
            raise StageError(f"{summary['reject_fraction']:.0%} of utterances rejected, more than "
                             f"landmarks.max_reject_fraction {params.max_reject_fraction:.0%}; reasons in {rejects_path}")
    if sheet is not None:
        by_id = {u.id: u for u in utterances}
        landmarks_sheet([(by_id[r.id], r.points, r.status) for r in results], sheet)
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=params_io.DEFAULT_PATH)
    parser.add_argument("--manifest", type=Path, default=Path("data/manifest.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("data/landmarks"))
    parser.add_argument("--rejects", type=Path, default=Path("data/landmarks_rejects.tsv"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/landmarks.json"))
    parser.add_argument("--per-utterance", type=Path, default=Path("metrics/landmarks_per_utterance.json"))
    parser.add_argument("--sheet", type=Path, default=Path("plots/landmarks.png"))
    args = parser.parse_args(argv)
    run_stage(log, lambda values: run(
        params_io.section(LandmarksParams, values.get("landmarks"), "landmarks"),
        params_io.section(StoreParams, values.get("store"), "store"),
        params_io.section(ParallelParams, values.get("parallel"), "parallel"),
        args.manifest, args.out, args.rejects, args.metrics, args.per_utterance, args.sheet), args.params)


if __name__ == "__main__":
    # Run the imported module's main, so workers unpickle pipeline.landmarks.*, not __main__.*.
    from pipeline.landmarks import main as stage_main

    stage_main()
