"""The GRID protocols of the lip-to-speech literature as split presets (`split.protocol`).

Each is the papers' own utterance lists (protocol_lists/, with their source and license) or the
thesis' rule. An utterance is named in a list by its speaker and GRID id, in any of the lists'
path forms (`s1/video/bwim6p.mp4`, `s14/video/mpg_6000/bbaq7n`, `val/s20/prwo5p`); in the manifest
it is `<speaker>_<id>`, as the `grid` source names it.

| preset | train / val / test |
|---|---|
| thesis-s1, thesis-s1s2 | per speaker (s1; s1 and s2), ids by name: the first 900, the next 50, the rest (to 1000) |
| grid4 | `train_4` / `val_4` / `test_4` (s1, s2, s4, s29) |
| grid33 | `overlap_train` less a carved val / carved from `overlap_train` / `overlap_val` |
| unseen | `unseen_splits`' train / val / test (VCA-GAN: 16 / 7 / 10 speakers) |
| unseen-lipnet | `lipnet_unseen_train` less a carved val / carved / `lipnet_unseen_val` (s1, s2, s20, s22) |

GRID-33 and LipNet's unseen split publish no validation list: `VAL_SHARE` of each speaker's
training ids, the first in the order of their SHA-256 (a fixed random sample), are held out for
validation instead, so the training set is 5 % smaller than the papers'.
"""
from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pipeline.corpora.files import SPEAKER_FOLDER
from pipeline.errors import StageError
from pipeline.io.splits import SPLITS, Protocol

LISTS = Path(__file__).with_name("protocol_lists")
VAL_SHARE = 0.05  # of each speaker's training ids, when a protocol publishes no validation list
THESIS_COUNTS = (900, 50, 50)  # per speaker: train, val, test (the first 1000 ids by name)
MIN_TEST_SHARE = 0.5  # a protocol whose test list the corpus has less of than this share stops the split


def utterance_of(line: str) -> tuple[str, str]:
    """(speaker, GRID id) of a list's line, whatever its path form."""
    parts = line.strip().split("/")
    speakers = [p for p in parts if SPEAKER_FOLDER.match(p)]
    if not speakers:
        raise ValueError(f"protocol list line {line.strip()!r} names no speaker")
    return speakers[-1], parts[-1].split(".")[0]


@functools.lru_cache(maxsize=16)
def read_list(name: str) -> tuple[tuple[str, str], ...]:
    """A list's (speaker, id) pairs in file order."""
    return tuple(utterance_of(line) for line in (LISTS / name).read_text().splitlines() if line.strip())


def _unseen_splits() -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {name: [] for name in SPLITS}
    for line in (LISTS / "unseen_splits.txt").read_text().splitlines():
        if line.strip():
            out[line.split("/")[0]].append(utterance_of(line))
    return out


def _carve_val(train: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, val): per speaker, VAL_SHARE of its training ids in SHA-256 order go to val."""
    by_speaker: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for pair in train:
        by_speaker[pair[0]].append(pair)
    val: set[tuple[str, str]] = set()
    for pairs in by_speaker.values():
        ordered = sorted(pairs, key=lambda p: hashlib.sha256(f"{p[0]}_{p[1]}".encode()).hexdigest())
        val.update(ordered[:round(VAL_SHARE * len(pairs))])
    return [p for p in train if p not in val], [p for p in train if p in val]


def protocol_lists(protocol: Protocol) -> dict[str, list[tuple[str, str]]]:
    """{train, val, test: (speaker, id) pairs} of a list protocol (not the thesis' rules)."""
    if protocol == "grid4":
        return {name: list(read_list(f"{name}_4.txt")) for name in SPLITS}
    if protocol == "unseen":
        return _unseen_splits()
    if protocol in ("grid33", "unseen-lipnet"):
        prefix = "overlap" if protocol == "grid33" else "lipnet_unseen"
        train, val = _carve_val(list(read_list(f"{prefix}_train.txt")))
        return {"train": train, "val": val, "test": list(read_list(f"{prefix}_val.txt"))}
    raise ValueError(f"{protocol!r} is not a list protocol")


@dataclass(frozen=True)
class ProtocolSplit:
    """A protocol's split of a corpus: {split: manifest ids} and, per split, how many of the
    protocol's utterances the corpus lacks."""

    splits: dict[str, list[str]]
    missing: dict[str, int]
    listed: dict[str, int]


def thesis_split(speakers_ids: dict[str, list[str]], speakers: tuple[str, ...]) -> dict[str, list[str]]:
    """The thesis' rule: per speaker, ids sorted by name, the first 900 train, 50 val, 50 test."""
    absent = [s for s in speakers if not speakers_ids.get(s)]
    if absent:
        raise StageError(f"the thesis' protocol needs speaker {', '.join(absent)}, which the corpus lacks "
                         f"(it has {', '.join(sorted(speakers_ids)) or 'none'})")
    out: dict[str, list[str]] = {name: [] for name in SPLITS}
    n_train, n_val, n_test = THESIS_COUNTS
    for speaker in speakers:
        ids = sorted(speakers_ids[speaker])
        out["train"] += ids[:n_train]
        out["val"] += ids[n_train:n_train + n_val]
        out["test"] += ids[n_train + n_val:n_train + n_val + n_test]
    return out


def split_by_protocol(ids_by_speaker: dict[str, list[str]], protocol: Protocol) -> ProtocolSplit:
    """The corpus' ids ({speaker: manifest ids}) split as the protocol says. StageError, in one
    line with the counts, when the corpus has less than half of the protocol's test list."""
    if protocol in ("thesis-s1", "thesis-s1s2"):
        splits = thesis_split(ids_by_speaker, ("s1",) if protocol == "thesis-s1" else ("s1", "s2"))
        empty = [name for name in SPLITS if not splits[name]]
        if empty:
            raise StageError(f"split.protocol {protocol}: {', '.join(empty)} empty; the thesis' rule needs "
                             f"more than {sum(THESIS_COUNTS[:2])} utterances a speaker")
        return ProtocolSplit({k: sorted(v) for k, v in splits.items()}, dict.fromkeys(SPLITS, 0),
                             {k: len(v) for k, v in splits.items()})
    present = {uid for ids in ids_by_speaker.values() for uid in ids}
    lists = protocol_lists(protocol)
    splits = {name: sorted(f"{s}_{i}" for s, i in pairs if f"{s}_{i}" in present) for name, pairs in lists.items()}
    listed = {name: len(pairs) for name, pairs in lists.items()}
    missing = {name: listed[name] - len(splits[name]) for name in SPLITS}
    if len(splits["test"]) < MIN_TEST_SHARE * listed["test"] or not all(splits.values()):
        speakers = sorted({s for pairs in lists.values() for s, _ in pairs}, key=lambda s: int(s[1:]))
        raise StageError(
            f"split.protocol {protocol}: the corpus has {len(splits['test'])} of its {listed['test']} test "
            f"utterances ({len(splits['train'])} of {listed['train']} train, {len(splits['val'])} of "
            f"{listed['val']} val); it needs GRID speakers {' '.join(speakers)} at corpus.root")
    return ProtocolSplit(splits, missing, listed)
