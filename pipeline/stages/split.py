"""Stage `split`: train / val / test utterance ids from the manifest (pipeline.io.splits)."""
from __future__ import annotations

import logging
from pathlib import Path

from pipeline.io.files import write_json
from pipeline.io.manifest import read_manifest
from pipeline.io.splits import SPLITS, SplitParams, split_ids
from pipeline.stages import Stage

log = logging.getLogger(__name__)


def run(split: SplitParams, manifest: Path, out: Path) -> dict[str, list[str]]:
    splits = split_ids(read_manifest(manifest), split)
    write_json(out, splits)
    log.info("train %d, val %d, test %d utterances", *(len(splits[name]) for name in SPLITS))
    return splits


STAGE = Stage(
    run,
    params={"split": SplitParams},
    inputs={"manifest": "data/manifest.jsonl"},
    outputs={"out": "data/split.json"},
)
