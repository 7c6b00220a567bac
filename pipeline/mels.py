"""Stage `mels`: log-mel spectrograms of every utterance's audio (its wav, or its video's own
track), resampled to `audio.sample_rate`, exactly k mel frames per video frame.

    python -m pipeline.mels --manifest data/manifest.jsonl --out data/mels
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
from pathlib import Path

import numpy as np

from pipeline import params as params_io
from pipeline.audio import AudioParams, log_mel
from pipeline.manifest import Utterance, read_manifest
from pipeline.media import read_audio
from pipeline.parallel import ParallelParams, parallel_map
from pipeline.stage import run_stage
from pipeline.store import StoreParams, StoreWriter

log = logging.getLogger("pipeline.mels")


def utterance_mel(utterance: Utterance, params: AudioParams) -> tuple[str, np.ndarray]:
    samples, rate = read_audio(utterance.audio, Path(utterance.video))
    return utterance.id, log_mel(samples, rate, utterance.frames, utterance.fps, params)


def run(params: AudioParams, store: StoreParams, parallel: ParallelParams, manifest: Path, out: Path) -> int:
    utterances = read_manifest(manifest)
    if not utterances:
        raise ValueError(f"{manifest} lists no utterance")
    # Every frame rate must divide evenly: hop_length raises before any work if one does not.
    hops = {str(fps): params.hop_length(fps) for fps in sorted({u.fps for u in utterances})}
    k = params.mel_frames_per_video_frame
    typical = k * int(np.median([u.frames for u in utterances]))
    attrs = {**dataclasses.asdict(params), "hop_length": hops}
    with StoreWriter(out, {"mel": ((params.n_mels,), "float32")}, typical, store, attrs) as writer:
        for utterance_id, mel in parallel_map(functools.partial(utterance_mel, params=params), utterances,
                                              parallel, desc="mels", unit="utt"):
            writer.write(utterance_id, mel=mel)
    log.info("%d utterances, %d mels, %d mel frames per video frame", len(utterances), params.n_mels, k)
    return len(utterances)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=params_io.DEFAULT_PATH)
    parser.add_argument("--manifest", type=Path, default=Path("data/manifest.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("data/mels"))
    args = parser.parse_args(argv)
    run_stage(log, lambda values: run(
        params_io.section(AudioParams, values.get("audio"), "audio"),
        params_io.section(StoreParams, values.get("store"), "store"),
        params_io.section(ParallelParams, values.get("parallel"), "parallel"),
        args.manifest, args.out), args.params)


if __name__ == "__main__":
    from pipeline.mels import main as stage_main

    stage_main()
