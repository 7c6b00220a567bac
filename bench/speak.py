"""Benchmark: `python -m pipeline.speak` on long phone-style recordings: peak memory and speed.

    python -m bench.speak [--model data/model.pt] [--minutes 1.05 10]

Builds clips from the real GRID videos in tests/data/real_grid (their frames and sound, back to
back) as NTSC 29.97 fps MP4 files with AAC audio, as a phone writes them, then runs speak on each
and prints a table: the clip's length, speak's peak resident memory (its own and its face-tracking
process's, summed, sampled every 50 ms) and wall time, and how many times real time that is.
Streaming keeps memory bounded by the window, whatever the length (the target: < 1 GB for a
63 s and a 10-minute clip alike). Needs a trained model (`make repro`).
"""
from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from bench.common import REAL_GRID, markdown_table
from pipeline.io.media import read_audio, read_video, write_video

NTSC = Fraction(30000, 1001)


def make_clip(path: Path, seconds: float) -> float:
    """A clip of about `seconds` from the real GRID videos in turn; returns its exact length."""
    videos = sorted(REAL_GRID.glob("*.mpg"))
    takes = [read_video(video) for video in videos]
    sounds = [read_audio("video track", video) for video in videos]
    rate = sounds[0][1]
    count = int(seconds * NTSC)
    frames = itertools.islice(itertools.cycle(itertools.chain.from_iterable(takes)), count)
    length = count / NTSC
    take_audio = np.concatenate([np.round(samples * 32767).astype(np.int16) for samples, _ in sounds])
    audio = np.resize(take_audio, round(float(length) * rate))
    write_video(path, frames, NTSC, audio, rate, bit_rate=2_000_000)
    return float(length)


def measure(clip: Path, model: Path, out: Path) -> tuple[float, float]:
    """speak's peak resident memory (MB, its process and the face-tracking process it starts,
    together) and wall time (s) on a clip."""
    import psutil

    start = time.perf_counter()
    process = psutil.Popen([sys.executable, "-m", "pipeline.speak", str(clip), "-o", str(out), "--model", str(model)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        try:
            family = [process, *process.children(recursive=True)]
            peak = max(peak, sum(member.memory_info().rss for member in family))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"speak failed on {clip}:\n{process.stderr.read().decode()[-2000:]}")
    return peak / 2 ** 20, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("data/model.pt"))
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.05, 10.0])
    args = parser.parse_args()
    if not args.model.is_file():
        raise SystemExit(f"no model at {args.model}: run `make repro` first")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for minutes in args.minutes:
            clip = Path(scratch) / f"clip_{minutes:g}min.mp4"
            length = make_clip(clip, minutes * 60)
            peak, wall = measure(clip, args.model, Path(scratch) / "speech.wav")
            rows.append([f"{length:.1f} s, 29.97 fps MP4 + AAC", f"{peak:.0f}", f"{wall:.1f}", f"{length / wall:.1f}x"])
    print("\nspeak on long real recordings (GRID takes back to back), one process\n")
    print(markdown_table(["clip", "peak RSS MB", "wall s", "speed vs real time"], rows))


if __name__ == "__main__":
    main()
