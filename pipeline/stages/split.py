"""Stage `split`: train / val / test utterance ids from the manifest: a published protocol's
(`split.protocol`, pipeline.corpora.protocols) or the corpus' rules (pipeline.io.splits). The
metrics say how many utterances each split has and, for a protocol, how many of its lists the
corpus lacks."""
from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

from pipeline.corpora import Source
from pipeline.corpora.protocols import LRS_PROTOCOLS, split_by_protocol, split_lrs
from pipeline.io.files import write_json
from pipeline.io.manifest import read_manifest
from pipeline.io.splits import SPLITS, SplitParams, split_ids
from pipeline.stages import Stage

log = logging.getLogger(__name__)


def run(split: SplitParams, source: Source, manifest: Path, out: Path,
        metrics: Path | None = None, root: str | None = None) -> dict[str, list[str]]:
    """`root`: `corpus.root`, where LRS2's and Lip2Wav's own lists are."""
    utterances = read_manifest(manifest)
    summary: dict = {"protocol": split.protocol}
    if split.protocol == "none":
        splits = split_ids(utterances, split, source)
    else:
        if split.protocol in LRS_PROTOCOLS:
            result = split_lrs([u.id for u in utterances], split.protocol, Path(root) if root else None,
                               split.with_pretrain)
        else:
            ids_by_speaker: dict[str, list[str]] = defaultdict(list)
            for utterance in utterances:
                ids_by_speaker[utterance.speaker].append(utterance.id)
            result = split_by_protocol(dict(ids_by_speaker), split.protocol)
        splits = result.splits
        summary["listed"], summary["missing"] = result.listed, result.missing
        if any(result.missing.values()):
            log.warning("split.protocol %s: the corpus lacks %s of its listed utterances", split.protocol,
                        ", ".join(f"{result.missing[n]} of {result.listed[n]} {n}" for n in SPLITS))
    summary.update({name: len(splits[name]) for name in SPLITS})
    write_json(out, splits)
    if metrics is not None:
        write_json(metrics, summary)
    log.info("train %d, val %d, test %d utterances", *(len(splits[name]) for name in SPLITS))
    return splits


STAGE = Stage(
    run,
    # The source picks the default seen rule; the root holds LRS2's and Lip2Wav's lists.
    params={"split": SplitParams, "corpus.source": Source, "corpus.root": str},
    inputs={"manifest": "data/manifest.jsonl"},
    outputs={"out": "data/split.json", "metrics": "metrics/split.json"},
)
