"""Benchmark: reading the pieces of a long clip (LRS3's pretrain, Lip2Wav's cuts), seeking to
each piece against decoding the file from its start up to it.

    python -m bench.clips [--minutes 1 3] [--piece 15]

Builds LRS3-style clips from the real GRID videos in tests/data/real_grid (224 x 224 face crops,
back to back, 25 fps H.264 as LRS3's mp4s are), cuts each into pieces of `--piece` seconds as the
corpus stage cuts a long clip, and reads every piece as the landmark and mouth stages do
(grayscale, at 25 fps) both ways, back to back, best of three. Both ways give the same frames
(tests/io/test_media.py). Decoding from the start costs about (pieces + 1) / 2 times the clip;
seeking, the clip once plus a keyframe interval a piece.
"""
from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

from bench.common import REAL_GRID, face_crop, markdown_table
from pipeline.io.media import probe_video, read_video, write_video

FPS = 25


def make_clip(path: Path, seconds: float) -> float:
    """An LRS3-style clip of `seconds` from the real GRID takes in turn; returns its length."""
    takes = [read_video(video) for video in sorted(REAL_GRID.glob("*.mpg"))]
    faces = [face_crop(frame, 224) for frame in itertools.chain.from_iterable(takes)]
    count = round(seconds * FPS)
    write_video(path, itertools.islice(itertools.cycle(faces), count), FPS, codec="libx264")
    return probe_video(path).span


def read_pieces(clip: Path, pieces: list[tuple[float, float]], seek: bool) -> tuple[float, int]:
    """Seconds to read every piece (best of three) and the frames they hold."""
    best, frames = float("inf"), 0
    for _ in range(3):
        start = time.perf_counter()
        frames = sum(len(read_video(clip, grayscale=True, fps=FPS, clip=piece, seek=seek)) for piece in pieces)
        best = min(best, time.perf_counter() - start)
    return best, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--piece", type=float, default=15.0, help="seconds a piece (corpus.max_seconds)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for minutes in args.minutes:
            clip = Path(scratch) / f"clip_{minutes:g}min.mp4"
            length = make_clip(clip, minutes * 60)
            bounds = [*(round(k * args.piece, 2) for k in range(int(length // args.piece) + 1)), length]
            pieces = [(start, end) for start, end in itertools.pairwise(bounds) if end - start > 1 / FPS]
            timings = {seek: read_pieces(clip, pieces, seek) for seek in (False, True)}
            for seek, (seconds, frames) in timings.items():
                rows.append([f"{length:.0f} s clip, {len(pieces)} pieces, " + ("seek" if seek else "from the start"),
                             f"{frames}", f"{seconds:.2f}", f"{frames / seconds:.0f}",
                             f"{timings[False][0] / seconds:.1f}x"])
    print(f"\nReading every {args.piece:g} s piece of a long H.264 clip (224 x 224, 25 fps), grayscale, "
          "one process, best of three\n")
    print(markdown_table(["clip, pieces, how", "frames", "seconds", "frames/s", "vs from the start"], rows))


if __name__ == "__main__":
    main()
