"""The protocols of the lip-to-speech literature as split presets (`split.protocol`).

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

| lrs3-unseen | SVTS' `lrs3_unseen_{train,val,test}` (pretrain and trainval clips / pretrain / test) |
| lrs3-test | `trainval/` (+ `pretrain/`: `split.with_pretrain`) less a carved val / carved / `test/` (1,321) |
| lrs2 | `train.txt` (+ `pretrain.txt`: `split.with_pretrain`) / `val.txt` / `test.txt`, from `corpus.root` |
| lip2wav | each speaker's `train.txt` / `val.txt` / `test.txt` of YouTube ids, read from `corpus.root` |

GRID-33 and LipNet's unseen split publish no validation list: `VAL_SHARE` of each speaker's
training ids, the first in the order of their SHA-256 (a fixed random sample), are held out for
validation instead, so the training set is 5 % smaller than the papers'. `lrs3-test` carves its
validation set from `trainval/` the same way, by clip.

The LRS3, LRS2 and Lip2Wav lists name clips; every piece a long clip was cut into
(`<clip id>_pNN`, pipeline.corpora.cuts) goes where its clip goes (`clip_of`).
"""
from __future__ import annotations

import functools
import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pipeline.corpora.files import SPEAKER_FOLDER
from pipeline.errors import StageError
from pipeline.io.splits import SPLITS, Protocol

LRS3_TEST_CLIPS = 1321  # release v0.4's test/ folder
_PIECE = re.compile(r"_p\d{2,}$")
_LIP2WAV_CUT = re.compile(r"_cut\d+$")

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


LRS_PROTOCOLS = ("lrs3-unseen", "lrs3-test", "lrs2", "lip2wav")


def clip_of(utterance_id: str) -> str:
    """The clip a manifest id comes from: the id without its piece suffix (`_pNN`)."""
    return _PIECE.sub("", utterance_id)


def lrs_clip(corpus: str, line: str) -> str:
    """The manifest clip id of an LRS list's line (`pretrain/Fom14XGMFHA/00003` in LRS3's,
    `5535415699068794046/00001 NF` in LRS2's, whose part is `part`)."""
    return f"{corpus}_" + "_".join(line.split()[0].strip("/").split("/"))


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


def _find_lists(root: Path, name: str, beside: str) -> list[Path]:
    """Every file called `name` under root in a folder that also holds `beside`, sorted."""
    return sorted(p for p in Path(root).rglob(name) if (p.parent / beside).exists() and "__MACOSX" not in p.parts)


def _carve_clips(clips: list[str]) -> tuple[list[str], list[str]]:
    """(train, val): VAL_SHARE of the clips, the first in SHA-256 order, to val."""
    val = set(sorted(clips, key=lambda c: hashlib.sha256(c.encode()).hexdigest())[:round(VAL_SHARE * len(clips))])
    return [c for c in clips if c not in val], sorted(val)


def lrs_lists(protocol: str, present: list[str], root: Path | None, with_pretrain: bool = False
              ) -> tuple[dict[str, list[str]], dict[str, int]]:
    """({split: clip ids (or Lip2Wav video keys)}, {split: how many the protocol lists}) of an
    LRS3, LRS2 or Lip2Wav protocol; `present` is the manifest's ids (lrs3-test takes its folders
    from them), `root` the corpus root (LRS2's and Lip2Wav's lists live there)."""
    if protocol == "lrs3-unseen":
        lists = {name: [lrs_clip("lrs3", line) for line in _lines(LISTS / f"lrs3_unseen_{name}.txt")]
                 for name in SPLITS}
        return lists, {name: len(clips) for name, clips in lists.items()}
    if protocol == "lrs3-test":
        clips = sorted({clip_of(i) for i in present})
        parts = ("lrs3_trainval_", "lrs3_pretrain_") if with_pretrain else ("lrs3_trainval_",)
        train, val = _carve_clips([c for c in clips if c.startswith(parts)])
        test = [c for c in clips if c.startswith("lrs3_test_")]
        return {"train": train, "val": val, "test": test}, {"train": len(train), "val": len(val),
                                                             "test": LRS3_TEST_CLIPS}
    if root is None:
        raise StageError(f"split.protocol {protocol} reads its lists from corpus.root, which is not set")
    if protocol == "lrs2":
        found = _find_lists(root, "test.txt", "mvlrs_v1")
        if not found:
            raise StageError(f"split.protocol lrs2: no test.txt beside a mvlrs_v1/ folder under {root} "
                             "(LRS2 ships pretrain.txt, train.txt, val.txt and test.txt there)")
        folder = found[0].parent
        read = {name: [lrs_clip("lrs2", f"main/{line}") for line in _lines(folder / f"{name}.txt")]
                for name in SPLITS if (folder / f"{name}.txt").exists()}
        if with_pretrain and (folder / "pretrain.txt").exists():
            read["train"] = read.get("train", []) + [lrs_clip("lrs2", f"pretrain/{line}")
                                                     for line in _lines(folder / "pretrain.txt")]
        lists = {name: read.get(name, []) for name in SPLITS}
        return lists, {name: len(clips) for name, clips in lists.items()}
    if protocol == "lip2wav":
        lists = {name: [] for name in SPLITS}
        for test_list in _find_lists(root, "test.txt", "intervals"):
            speaker = test_list.parent.name
            for name in SPLITS:
                path = test_list.parent / f"{name}.txt"
                if path.exists():
                    lists[name] += [f"lip2wav_{speaker}_{line.split()[0]}" for line in _lines(path)]
        if not any(lists.values()):
            raise StageError(f"split.protocol lip2wav: no Dataset/<speaker>/test.txt beside an intervals/ folder "
                             f"under {root}")
        return lists, {name: len(videos) for name, videos in lists.items()}
    raise ValueError(f"{protocol!r} is not an LRS3, LRS2 or Lip2Wav protocol")


def _group_of(protocol: str, utterance_id: str) -> str:
    """What a protocol's list names for a manifest id: its clip, or for Lip2Wav its video."""
    clip = clip_of(utterance_id)
    return _LIP2WAV_CUT.sub("", clip) if protocol == "lip2wav" else clip


def split_lrs(ids: list[str], protocol: str, root: Path | None, with_pretrain: bool = False) -> ProtocolSplit:
    """The manifest's ids split by an LRS3, LRS2 or Lip2Wav protocol (every piece with its clip);
    `missing` counts the listed clips (videos, for Lip2Wav) the corpus lacks. StageError, in one
    line, when it has less than half of the test list or leaves a split empty."""
    lists, listed = lrs_lists(protocol, ids, root, with_pretrain)
    where = {group: name for name in SPLITS for group in lists[name]}
    splits: dict[str, list[str]] = {name: [] for name in SPLITS}
    for utterance_id in ids:
        name = where.get(_group_of(protocol, utterance_id))
        if name is not None:
            splits[name].append(utterance_id)
    have = {name: len({_group_of(protocol, i) for i in splits[name]}) for name in SPLITS}
    missing = {name: listed[name] - have[name] for name in SPLITS}
    if have["test"] < MIN_TEST_SHARE * listed["test"] or not all(splits.values()):
        raise StageError(
            f"split.protocol {protocol}: the corpus has {have['test']} of its {listed['test']} test clips "
            f"({have['train']} of {listed['train']} train, {have['val']} of {listed['val']} val); point corpus.root "
            f"at the whole corpus (docs/corpora.md)")
    return ProtocolSplit({name: sorted(v) for name, v in splits.items()}, missing, listed)
