"""Stage `mels`: log-mel spectrograms of every utterance's audio, k mel frames per video frame.

The audio is the utterance's wav or its video's own track, resampled to `audio.sample_rate`
(pipeline.audio.mels)."""
from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path

import numpy as np

from pipeline.audio.mels import AudioParams, log_mel
from pipeline.compute.parallel import ParallelParams, parallel_map
from pipeline.errors import StageError
from pipeline.io.clips import utterance_audio
from pipeline.io.manifest import Utterance, read_manifest
from pipeline.io.store import StoreParams, StoreWriter
from pipeline.stages import Stage

log = logging.getLogger(__name__)


def utterance_mel(utterance: Utterance, params: AudioParams) -> tuple[str, np.ndarray]:
    samples, rate = utterance_audio(utterance)
    return utterance.id, log_mel(samples, rate, utterance.frames, utterance.fps, params)


def run(audio: AudioParams, store: StoreParams, parallel: ParallelParams, manifest: Path, out: Path) -> int:
    utterances = read_manifest(manifest)
    if not utterances:
        raise StageError(f"{manifest} lists no utterance")
    # Every frame rate must divide evenly: hop_length raises before any work if one does not.
    hops = {str(fps): audio.hop_length(fps) for fps in sorted({u.fps for u in utterances})}
    k = audio.mel_frames_per_video_frame
    typical = k * int(np.median([u.frames for u in utterances]))
    attrs = {**dataclasses.asdict(audio), "hop_length": hops}
    with StoreWriter(out, {"mel": ((audio.n_mels,), "float32")}, typical, store.for_training(), attrs) as writer:
        for utterance_id, mel in parallel_map(functools.partial(utterance_mel, params=audio), utterances,
                                              parallel, desc="mels", unit="utt"):
            writer.write(utterance_id, mel=mel)
    log.info("%d utterances, %d mels, %d mel frames per video frame", len(utterances), audio.n_mels, k)
    return len(utterances)


STAGE = Stage(
    run,
    params={"audio": AudioParams, "store": StoreParams},
    runtime={"parallel": ParallelParams},
    inputs={"manifest": "data/manifest.jsonl"},
    outputs={"out": "data/mels"},
)
