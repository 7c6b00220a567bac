"""Benchmark: how preprocessing grows with the corpus, and what GRID-33 would cost.

    python -m bench.scale [--sizes 240 960] [--jobs 2]

Runs the preprocessing stages (`python -m pipeline STAGE`, as dvc.yaml does) on the embedded
corpus at each size (4 speakers, size / 4 utterances each), one after the other, and prints per
stage: seconds per utterance (wall), peak resident memory (the stage's process and its workers,
summed, sampled every 50 ms) and its output's size per utterance at each size, and how they
change from the smallest to the largest size (flat is the goal: within 15 % for time, 10 % for
memory). Then the projection for GRID-33 (33 speakers x 1000 utterances) from the largest size:
on `--jobs` cores as measured, and on 16 (stages that fan out over utterances scaled by
16 / jobs, the others as measured). The `corpus` row includes generating the synthetic corpus
(rendering faces, synthesising speech), which a real GRID download does not pay.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.common import markdown_table

REPO = Path(__file__).resolve().parents[1]
STAGES = ("corpus", "landmarks", "mouths", "derivatives", "mels", "split", "stats")
FANNED_OUT = {"corpus", "landmarks", "mouths", "mels"}  # per-utterance work over `parallel` workers
GRID33 = 33 * 1000
# Each stage's paths under the run's folder (the same names as dvc.yaml's, without data/).
PATHS = {
    "corpus": {"out": "corpus", "manifest": "manifest.jsonl", "rejects": "rejects.tsv", "metrics": "corpus.json",
               "sheet": "corpus.png"},
    "landmarks": {"manifest": "manifest.jsonl", "out": "landmarks", "rejects": "landmarks_rejects.tsv",
                  "metrics": "landmarks.json", "per-utterance": "landmarks_per_utterance.json",
                  "sheet": "landmarks.png"},
    "mouths": {"manifest": "manifest.jsonl", "landmarks": "landmarks", "out": "mouths", "sheet": "mouths.png"},
    "derivatives": {"mouths": "mouths", "out": "features"},
    "mels": {"manifest": "manifest.jsonl", "out": "mels"},
    "split": {"manifest": "manifest.jsonl", "out": "split.json"},
    "stats": {"features": "features", "mels": "mels", "split": "split.json", "manifest": "manifest.jsonl",
              "out": "stats.json"},
}


def run_stage(stage: str, folder: Path, params: Path) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one stage: its process and its workers together,
    sampled every 50 ms, or its own process's peak (GNU time's), whichever is larger (a stage
    that ends within a few samples is seen by the second)."""
    import psutil

    arguments = [f"--{name}={folder / path}" for name, path in PATHS[stage].items()]
    # Every stage starts with the previous one's writes on disk: otherwise a stage pays for the
    # write-back of what came before it, and more of it the larger the corpus.
    os.sync()
    start = time.perf_counter()
    process = psutil.Popen(["/usr/bin/time", "-f", "peak %M", sys.executable, "-m", "pipeline", stage, "--params",
                            str(params), *arguments], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    errors = process.stderr.read().decode(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"{stage} failed:\n{errors[-3000:]}")
    own = int(errors.strip().splitlines()[-1].removeprefix("peak ")) * 1024
    return seconds, max(peak, own) / 2 ** 20


def output_bytes(stage: str, folder: Path) -> int:
    path = folder / PATHS[stage]["out"]
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files)


def measure(size: int, jobs: int, scratch: Path) -> dict[str, tuple[float, float, float]]:
    """{stage: (s per utterance, peak MB, output MB per utterance)} on a corpus of `size` utterances."""
    folder = scratch / str(size)
    folder.mkdir()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["corpus"]["synthetic"]["utterances_per_speaker"] = size // params["corpus"]["synthetic"]["speakers"]
    params["parallel"]["n_jobs"] = jobs
    params_file = folder / "params.yaml"
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    figures = {}
    for stage in STAGES:
        seconds, peak = run_stage(stage, folder, params_file)
        figures[stage] = (seconds / size, peak, output_bytes(stage, folder) / size / 1e6)
        print(f"{size} utterances: {stage} {seconds:.1f} s, {peak:.0f} MB", file=sys.stderr, flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[240, 960])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    small, large = sorted(args.sizes)
    if small < 80:
        parser.error("sizes of at least 80 utterances (20 per speaker), so the default split has val and test ones")
    with tempfile.TemporaryDirectory() as scratch:
        figures = {size: measure(size, args.jobs, Path(scratch)) for size in (small, large)}
    rows = []
    for stage in STAGES:
        (time_small, memory_small, disk_small), (time_large, memory_large, disk_large) = \
            figures[small][stage], figures[large][stage]
        rows.append([stage, f"{time_small:.3f}", f"{time_large:.3f}", f"{time_large / time_small - 1:+.0%}",
                     f"{memory_small:.0f}", f"{memory_large:.0f}", f"{memory_large / memory_small - 1:+.0%}",
                     f"{disk_small:.3f}", f"{disk_large:.3f}"])
    print(f"\npreprocessing at {small} and {large} utterances, {args.jobs} worker processes\n")
    print(markdown_table(["stage", f"s/utt {small}", f"s/utt {large}", "change", f"peak MB {small}",
                          f"peak MB {large}", "change", f"disk MB/utt {small}", f"disk MB/utt {large}"], rows))
    per_utterance = {stage: figures[large][stage][0] for stage in STAGES}
    measured = sum(per_utterance.values()) * GRID33
    scaled = sum(t * (args.jobs / 16 if stage in FANNED_OUT else 1) for stage, t in per_utterance.items()) * GRID33
    without_corpus = measured - per_utterance["corpus"] * GRID33
    disk = sum(figures[large][stage][2] for stage in STAGES if stage != "corpus") * GRID33 / 1000
    print(f"\nGRID-33 ({GRID33} utterances): {measured / 3600:.1f} h on {args.jobs} cores "
          f"({without_corpus / 3600:.1f} h without generating a corpus), {scaled / 3600:.1f} h on 16 cores; "
          f"{disk:.0f} GB of stores")


if __name__ == "__main__":
    main()
