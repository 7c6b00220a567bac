"""Stage `split`: train / val / test utterance ids from the manifest (pipeline.io.splits)."""
from __future__ import annotations

import logging
from pathlib import Path

from pipeline.corpora import Source
from pipeline.io.files import write_json
from pipeline.io.manifest import read_manifest
from pipeline.io.splits import SPLITS, SplitParams, split_ids
from pipeline.stages import Stage

log = logging.getLogger(__name__)


def run(split: SplitParams, source: Source, manifest: Path, out: Path) -> dict[str, list[str]]:
    splits = split_ids(read_manifest(manifest), split, source)
    write_json(out, splits)
    log.info("train %d, val %d, test %d utterances", *(len(splits[name]) for name in SPLITS))
    return splits


STAGE = Stage(
    run,
    params={"split": SplitParams, "corpus.source": Source},  # the source picks the default seen rule
    inputs={"manifest": "data/manifest.jsonl"},
    outputs={"out": "data/split.json"},
)
