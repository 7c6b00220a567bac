"""Train / val / test utterance ids: making them from the manifest, reading them back.

`split.mode: seen`: every speaker appears in all three; per speaker, utterances in id order, the
first `train` share to train, the next `val` share to val, the rest to test. With `train` and `val`
null (the default) the corpus has its rule: a real corpus 0.9 / 0.05 (the thesis' 900 / 50 / 50 of
each GRID speaker, by file order); the embedded corpus holds out a fixed number of each speaker's
ids (`split.embedded`), a fixed random sample (seen_order), enough test utterances for its figures'
intervals to separate recipes, while its training set stays small enough to train in minutes.
`unseen`: whole speakers held out, `val_speakers` to val and `test_speakers` to test, the others to
train. `speakers` (both modes) keeps only the listed speakers, e.g. the thesis' one- and two-
speaker experiments; empty keeps all. `protocol` (not none) replaces all of these by a published
split (pipeline.corpora.protocols, applied by the split stage).
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pipeline.errors import MissingInput, StageError
from pipeline.io.manifest import Utterance

SPLITS = ("train", "val", "test")
# `split.protocol`: the literature's GRID splits (pipeline.corpora.protocols); none: the rules below.
Protocol = Literal["none", "thesis-s1", "thesis-s1s2", "grid4", "grid33", "unseen", "unseen-lipnet",
                   "lrs3-unseen", "lrs3-test", "lrs2", "lip2wav"]
REAL_CORPUS_SHARES = (0.9, 0.05)  # train, val: the thesis' 900 / 50 / 50 of each GRID speaker


@dataclass(frozen=True)
class EmbeddedSplit:
    """`split.embedded`: the embedded corpus' seen split, how many of each speaker's ids are held out."""

    val: int = 3
    test: int = 40


@dataclass(frozen=True)
class SplitParams:
    """`split` in params.yaml."""

    protocol: Protocol = "none"  # a published split; when set, the settings below are not used
    with_pretrain: bool = False  # lrs3-test, lrs2: train on the pretrain clips too
    mode: Literal["seen", "unseen"] = "seen"
    train: float | None = None  # null (with val null): the corpus' rule
    val: float | None = None
    embedded: EmbeddedSplit = field(default_factory=EmbeddedSplit)
    val_speakers: list[str] = field(default_factory=list)
    test_speakers: list[str] = field(default_factory=list)
    speakers: list[str] = field(default_factory=list)  # keep only these speakers (empty: all)


def embedded_rule(params: SplitParams, source: str) -> bool:
    """Whether a seen split follows `split.embedded` (the embedded corpus, shares left null)."""
    return source == "synthetic" and params.train is None and params.val is None


def seen_order(params: SplitParams, source: str) -> Callable[[str], str]:
    """The key that orders a speaker's ids before the cut: the id itself (file order, as the thesis
    split GRID), or for the embedded rule a hash of it. The embedded corpus' sentences are drawn at
    random, and its ids spell them command first (`bbaf2n`: "bin ..."), so the last ids by name
    would be the `set` sentences that training rarely sees; in hash order the held-out ids are a
    fixed random sample of the speaker's sentences."""
    if embedded_rule(params, source):
        return lambda utterance_id: hashlib.sha256(utterance_id.encode()).hexdigest()
    return lambda utterance_id: utterance_id


def seen_counts(params: SplitParams, n_ids: int, source: str) -> tuple[int, int]:
    """How many of a speaker's `n_ids` ids (in seen_order) go to train and to val in a seen split of a
    corpus of `source` (`corpus.source`); the rest go to test."""
    if params.train is None and params.val is None:
        if embedded_rule(params, source):
            held_out = params.embedded.val + params.embedded.test
            if params.embedded.val < 0 or params.embedded.test < 1 or held_out >= n_ids:
                raise StageError(f"split.embedded holds out {params.embedded.val} val and {params.embedded.test} "
                                 f"test ids of a speaker with {n_ids}: it needs at least one each for test and "
                                 "train")
            return n_ids - held_out, params.embedded.val
        train, val = REAL_CORPUS_SHARES
    elif params.train is None or params.val is None:
        raise StageError("set both split.train and split.val (shares), or neither (the corpus' rule)")
    else:
        train, val = params.train, params.val
    if not (0 < train < 1 and 0 <= val < 1 and train + val < 1):
        raise StageError(f"split.train {train} and split.val {val} must be shares leaving room for test")
    return round(train * n_ids), round(val * n_ids)


def split_ids(utterances: list[Utterance], params: SplitParams, source: str = "grid") -> dict[str, list[str]]:
    """{train, val, test: sorted ids} per the params, for a corpus of `source` (`corpus.source`:
    its default seen rule); deterministic, disjoint, complete."""
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
        for speaker in sorted(by_speaker):
            ids = sorted(by_speaker[speaker], key=seen_order(params, source))
            n_train, n_val = seen_counts(params, len(ids), source)
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
