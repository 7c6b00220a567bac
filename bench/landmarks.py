"""Benchmark: landmarks + mouth crops with keyframe tracking, against per-frame detection.

    python -m bench.landmarks [--speakers 2] [--utterances 8]

Two tables: generated videos of the embedded corpus, and the real GRID videos in
tests/data/real_grid (real faces, GRID's MPEG-1). One process, the same videos for every row of a
table (frames/s, higher is better):
- tracking: this project's landmarks (detect every `detect_every` frames, track between) plus
  fixed mouth crops, from one decode (the pipeline's two stages decode twice: +1 decode-only);
- per-frame detection: HOG detector at upsample 1 on every frame, then the predictor, then the
  crops (what AV-HuBERT's preparation does);
- floor: decode + the 68-point predictor on every frame in a known box (no detection at all);
- decode only.
Also the mean distance of the 20 mouth points between tracking and per-frame detection.
Targets: tracking >= 5x per-frame detection, >= 70% of the floor, mouth difference <= 1.5 px.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import REAL_GRID, SEQUENTIAL, manifest_of, markdown_table
from pipeline.compute.parallel import pin_threads
from pipeline.corpora.files import Candidate
from pipeline.corpora.sources import Checks, check
from pipeline.corpora.synthetic.generator import SyntheticParams, generate_corpus
from pipeline.face.crop import CropParams, mouth_crops
from pipeline.face.detector import DlibLandmarker
from pipeline.face.landmarks import LandmarksParams, process
from pipeline.face.tracking import finish, track
from pipeline.io.manifest import Utterance
from pipeline.io.media import VideoParams, read_video


def _timed(function, utterance, repeats: int = 3) -> tuple[float, object]:
    """Best of `repeats` wall times (the machine's load only ever adds time) and the result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(utterance)
        best = min(best, time.perf_counter() - start)
    return best, result


def measure(utterances: list[Utterance], params: LandmarksParams) -> tuple[list[tuple[str, float]], int, float]:
    """Seconds per method over the videos (see the module docstring), frames, and the mean mouth-point
    distance between tracking and per-frame detection."""
    crop = CropParams()
    landmarker = DlibLandmarker(upsample=params.upsample)
    per_frame_detector = DlibLandmarker(upsample=1)
    process(utterances[0], params)  # load the models before timing

    def tracking(utterance):
        frames = read_video(Path(utterance.video), grayscale=True)
        result = finish(track(frames, landmarker, params.tracking), params.smoothing_window)
        mouth_crops(frames, result.points, crop)
        return result

    def per_frame(utterance):
        frames = read_video(Path(utterance.video), grayscale=True)
        points = []
        for frame in frames:
            found = per_frame_detector.detect(frame)
            points.append(found.points if found is not None else np.full((68, 2), np.nan, np.float32))
        points = np.stack(points)
        mouth_crops(frames, points, crop)
        return points

    def floor(utterance, boxes):
        frames = read_video(Path(utterance.video), grayscale=True)
        return [landmarker.predict(f, tuple(int(v) for v in b)) for f, b in zip(frames, boxes, strict=True)]

    # Interleaved per video, best of three, so that load changes on the machine touch every
    # method alike; per-frame detection (20x slower) runs once.
    seconds = dict.fromkeys(("tracking", "per-frame", "floor", "decode"), 0.0)
    tracked, detected = [], []
    for utterance in utterances:
        elapsed, result = _timed(tracking, utterance)
        seconds["tracking"] += elapsed
        tracked.append(result)
        elapsed, result = _timed(per_frame, utterance, repeats=1)
        seconds["per-frame"] += elapsed
        detected.append(result)
        seconds["floor"] += _timed(lambda u: floor(u, tracked[-1].boxes), utterance)[0]
        seconds["decode"] += _timed(lambda u: read_video(Path(u.video), grayscale=True), utterance)[0]
    frames = sum(len(r.points) for r in tracked)
    difference = float(np.nanmean([np.linalg.norm(r.points[:, 48:68] - d[:, 48:68], axis=2)
                                   for r, d in zip(tracked, detected, strict=True)]))
    rows = [
        (f"tracking (detect every {params.detect_every}) + crops", seconds["tracking"]),
        ("per-frame detection (HOG upsample 1) + crops", seconds["per-frame"]),
        ("floor: decode + predictor in a known box", seconds["floor"]),
        ("decode only", seconds["decode"]),
    ]
    return rows, frames, difference


def report(title: str, rows: list[tuple[str, float]], frames: int, difference: float) -> None:
    per_frame_time, floor_time = rows[1][1], rows[2][1]
    print(f"\n{title}, {frames} frames, one process, best of 3 per video\n")
    print(markdown_table(["what", "frames/s", "ms/frame", "vs per-frame", "vs floor"], [
        [what, f"{frames / seconds:.0f}", f"{1000 * seconds / frames:.2f}", f"{per_frame_time / seconds:.1f}x",
         f"{floor_time / seconds:.0%}"] for what, seconds in rows]))
    print(f"\nmean mouth-point distance, tracking vs per-frame detection: {difference:.2f} px")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speakers", type=int, default=2)
    parser.add_argument("--utterances", type=int, default=8, help="per speaker")
    parser.add_argument("--detect-every", type=int, default=LandmarksParams.detect_every)
    args = parser.parse_args()
    pin_threads()  # one native thread, as in the stage's workers
    params = LandmarksParams(detect_every=args.detect_every)
    with tempfile.TemporaryDirectory() as scratch:
        generate_corpus(Path(scratch), SyntheticParams(args.speakers, args.utterances, seed=11), SEQUENTIAL)
        generated = manifest_of(Path(scratch))
        report(f"embedded corpus: {len(generated)} generated videos", *measure(generated, params))
    real = [check(Candidate(p.stem, "real", str(p)), Checks(), VideoParams().fps).result
            for p in sorted(REAL_GRID.glob("*.mpg"))]
    report(f"real GRID: {len(real)} videos of tests/data/real_grid", *measure(real, params))


if __name__ == "__main__":
    main()
