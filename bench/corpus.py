"""Benchmark: how fast the embedded corpus is generated, and where the time goes.

    python -m bench.corpus [--speakers 2] [--utterances 30]

Prints one table: end-to-end utterances/s with 1 and 2 workers (the issue's target is >= 10
utterances/s on a 2-core machine), and per-utterance milliseconds of each part (speech, mouth
tracks, face rendering, encoding + writing) measured in one process on the same utterances.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import markdown_table
from pipeline.compute.parallel import ParallelParams
from pipeline.corpora.synthetic import face as faces
from pipeline.corpora.synthetic.espeak import speak
from pipeline.corpora.synthetic.generator import (
    FPS,
    N_FRAMES,
    SyntheticParams,
    _face,
    _speech_span,
    generate_corpus,
    plan,
)
from pipeline.corpora.synthetic.visemes import mouth_tracks
from pipeline.io.media import write_video


def _parts(jobs, scratch: Path) -> dict[str, float]:
    """Milliseconds per utterance of each generation step, one process, faces built beforehand."""
    for job in jobs:
        _face(job.params.seed, job.speaker_index)
    totals = dict.fromkeys(("speech (espeak-ng)", "mouth tracks", "face rendering (75 frames)",
                            "MPEG-1 encoding"), 0.0)
    for job in jobs:
        t0 = time.perf_counter()
        speech = speak(" ".join(job.sentence), job.speaker.voice)
        t1 = time.perf_counter()
        first, last = _speech_span(speech)
        tracks = mouth_tracks(speech.phonemes, first, last, 0.5 - first / speech.sample_rate,
                              speech.sample_rate, N_FRAMES, FPS)
        t2 = time.perf_counter()
        motion = faces.head_motion(np.random.default_rng(0), N_FRAMES, FPS)
        frames, _ = faces.render(_face(job.params.seed, job.speaker_index), tracks, motion)
        t3 = time.perf_counter()
        write_video(scratch / "bench.mpg", frames, FPS, speech.audio, speech.sample_rate)
        t4 = time.perf_counter()
        for key, seconds in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            totals[key] += seconds
    return {key: 1000 * value / len(jobs) for key, value in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speakers", type=int, default=4)
    parser.add_argument("--utterances", type=int, default=30, help="per speaker")
    args = parser.parse_args()
    synthetic = SyntheticParams(speakers=args.speakers, utterances_per_speaker=args.utterances)
    n = args.speakers * args.utterances
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for n_jobs in (1, 2):
            out = scratch / f"corpus{n_jobs}"
            start = time.perf_counter()
            generate_corpus(out, synthetic, ParallelParams(n_jobs=n_jobs))
            seconds = time.perf_counter() - start
            rows.append((f"generate corpus, n_jobs={n_jobs} (incl. worker start-up)", f"{n / seconds:.1f} utt/s",
                         f"{1000 * seconds / n:.0f} ms/utt"))
            shutil.rmtree(out)
        parts = _parts(plan(scratch, synthetic)[: min(n, 20)], scratch)
    total = sum(parts.values())
    rows += [(f"  part: {name}", f"{ms / total:.0%}", f"{ms:.1f} ms/utt") for name, ms in parts.items()]
    rows.append(("  parts, one process", f"{1000 / total:.1f} utt/s", f"{total:.1f} ms/utt"))
    print(f"\nembedded corpus generation, {n} utterances ({args.speakers} speakers x {args.utterances})\n")
    print(markdown_table(["what", "rate / share", "time"], rows))

if __name__ == "__main__":
    main()
