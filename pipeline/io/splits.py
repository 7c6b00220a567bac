"""Train / val / test utterance ids: making them from the manifest, reading them back.

`split.mode: seen`: every speaker appears in all three; per speaker, utterances in id order, the
first `train` share to train, the next `val` share to val, the rest to test (the thesis' 900 / 50
/ 50 of each GRID speaker, by file order). `unseen`: whole speakers held out, `val_speakers` to
val and `test_speakers` to test, the others to train. `speakers` (both modes) keeps only the
listed speakers, e.g. the thesis' one- and two-speaker experiments; empty keeps all.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pipeline.errors import MissingInput, StageError
from pipeline.io.manifest import Utterance

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitParams:
    """`split` in params.yaml."""

    mode: Literal["seen", "unseen"] = "seen"
    train: float = 0.9
    val: float = 0.05
    val_speakers: list[str] = field(default_factory=list)
    test_speakers: list[str] = field(default_factory=list)
    speakers: list[str] = field(default_factory=list)  # keep only these speakers (empty: all)


def split_ids(utterances: list[Utterance], params: SplitParams) -> dict[str, list[str]]:
    """{train, val, test: sorted ids} per the params; deterministic, disjoint, complete."""
    by_speaker: dict[str, list[str]] = defaultdict(list)
    for utterance in utterances:
        by_speaker[utterance.speaker].append(utterance.id)
    if params.speakers:
        unknown = sorted(set(params.speakers) - set(by_speaker))
        if unknown:
            raise StageError(f"split.speakers not in the manifest: {', '.join(unknown)}; "
                             f"speakers are {', '.join(sorted(by_speaker))}")
        by_speaker = defaultdict(list, {s: ids for s, ids in by_speaker.items() if s in params.speakers})
    out: dict[str, list[str]] = {name: [] for name in SPLITS}
    if params.mode == "seen":
        if not (0 < params.train < 1 and 0 <= params.val < 1 and params.train + params.val < 1):
            raise StageError(f"split.train {params.train} and split.val {params.val} must be shares "
                             "leaving room for test")
        for speaker in sorted(by_speaker):
            ids = sorted(by_speaker[speaker])
            n_train = round(params.train * len(ids))
            n_val = round(params.val * len(ids))
            out["train"] += ids[:n_train]
            out["val"] += ids[n_train:n_train + n_val]
            out["test"] += ids[n_train + n_val:]
    elif params.mode == "unseen":
        unknown = sorted(set(params.val_speakers + params.test_speakers) - set(by_speaker))
        if unknown:
            raise StageError(f"split speakers not in the manifest: {', '.join(unknown)}; "
                             f"speakers are {', '.join(sorted(by_speaker))}")
        if set(params.val_speakers) & set(params.test_speakers):
            raise StageError("split.val_speakers and split.test_speakers overlap")
        for speaker in sorted(by_speaker):
            name = "val" if speaker in params.val_speakers else "test" if speaker in params.test_speakers else "train"
            out[name] += sorted(by_speaker[speaker])
    else:
        raise ValueError(f"unknown split mode {params.mode!r}")
    empty = [name for name in SPLITS if not out[name]]
    if empty:
        raise StageError(f"split leaves {', '.join(empty)} empty ({sum(map(len, by_speaker.values()))} utterances, "
                         f"{len(by_speaker)} speakers, mode {params.mode})")
    return {name: sorted(ids) for name, ids in out.items()}


def load_split(path: Path, name: str) -> list[str]:
    """The ids of one split from the split file."""
    if not Path(path).is_file():
        raise MissingInput(f"no split file at {path}; run the split stage")
    splits = json.loads(Path(path).read_text())
    if name not in splits:
        raise StageError(f"{path} has no split {name!r}; it has {', '.join(splits)}")
    return splits[name]
