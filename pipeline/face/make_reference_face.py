"""Make `reference_face.json`, the reference face of the `aligned` mouth crop.

    python -m pipeline.face.make_reference_face [VIDEO ...] [--out pipeline/face/reference_face.json]

By default the videos are the real GRID recordings in ../shared/real_grid (GRID corpus, Cooke et
al. 2006, CC BY 4.0). dlib finds the 68 landmarks in every frame (grayscale, as the landmarks
stage reads them); generalised Procrustes analysis then aligns every frame's points to their mean
by a least-squares similarity transform, recomputes the mean, and repeats until it settles; the
mean is written in the canonical frame of pipeline.face.reference.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from pipeline.errors import StageError, run_command
from pipeline.face.detector import DlibLandmarker
from pipeline.face.reference import REFERENCE_EYES, REFERENCE_FILE, canonical, similarity_fit
from pipeline.io.media import read_video

log = logging.getLogger(__name__)
DEFAULT_VIDEOS = Path(__file__).resolve().parents[3] / "shared" / "real_grid"


def frame_landmarks(videos: list[Path]) -> np.ndarray:
    """(N, 68, 2) landmarks of every frame of the videos in which dlib finds a face."""
    landmarker = DlibLandmarker(upsample=0)
    shapes = []
    for video in videos:
        found = [landmarker.detect(frame) for frame in read_video(video, grayscale=True)]
        shapes += [face.points for face in found if face is not None]
        log.info("%s: a face in %d/%d frames", video.name, sum(f is not None for f in found), len(found))
    if not shapes:
        raise StageError("no face found in any frame")
    return np.asarray(shapes, np.float64)


def procrustes_mean(shapes: np.ndarray, iterations: int = 20) -> np.ndarray:
    """The mean shape after aligning every shape to it by a similarity transform, in canonical frame."""
    mean = canonical(shapes[0])
    for _ in range(iterations):
        updated = canonical(np.mean([similarity_fit(shape, mean) for shape in shapes], axis=0))
        if np.abs(updated - mean).max() < 1e-6:
            break
        mean = updated
    return updated


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path, help=f"default: every .mpg in {DEFAULT_VIDEOS}")
    parser.add_argument("--out", type=Path, default=REFERENCE_FILE)
    args = parser.parse_args(argv)

    def body() -> None:
        videos = args.videos or sorted(DEFAULT_VIDEOS.glob("*.mpg"))
        if not videos:
            raise StageError(f"no videos given and none in {DEFAULT_VIDEOS}")
        shapes = frame_landmarks(videos)
        mean = procrustes_mean(shapes)
        about = {
            "about": "canonical frontal mean face: similarity-normalised mean of dlib's 68 landmarks over every "
                     "frame of real GRID videos (Cooke et al. 2006, CC BY 4.0); made by "
                     "python -m pipeline.face.make_reference_face",
            "videos": [video.name for video in videos],
            "frames": len(shapes),
            "eye_distance": REFERENCE_EYES,
        }
        # One point per line: the file stays readable and its diffs small.
        points = ",\n".join(f"    [{x:.3f}, {y:.3f}]" for x, y in mean)
        header = json.dumps(about, indent=2)[:-2]
        args.out.write_text(f'{header},\n  "points": [\n{points}\n  ]\n}}\n')
        log.info("mean of %d frames of %d videos -> %s", len(shapes), len(videos), args.out)

    run_command(log, body)


if __name__ == "__main__":
    main()
