"""Splits: disjoint, complete, deterministic, and the speaker rules."""
from __future__ import annotations

import pytest

from pipeline.errors import StageError
from pipeline.io.manifest import Utterance
from pipeline.io.splits import SplitParams, split_ids


def _utterances(speakers: int, per_speaker: int) -> list[Utterance]:
    return [Utterance(f"s{s}_{u:03d}", f"s{s}", "v", "a", 75, 25.0, 360, 288, 3.0, 16000)
            for s in range(1, speakers + 1) for u in range(per_speaker)]


def test_seen_split_is_disjoint_complete_ordered_and_deterministic():
    utterances = _utterances(3, 40)
    splits = split_ids(utterances, SplitParams())
    ids = [i for name in ("train", "val", "test") for i in splits[name]]
    assert sorted(ids) == sorted(u.id for u in utterances) and len(set(ids)) == len(ids)
    for speaker in ("s1", "s2", "s3"):
        per = {name: [i for i in splits[name] if i.startswith(speaker + "_")] for name in splits}
        assert (len(per["train"]), len(per["val"]), len(per["test"])) == (36, 2, 2)
        assert max(per["train"]) < min(per["val"]) <= max(per["val"]) < min(per["test"])  # id order
    assert split_ids(list(reversed(utterances)), SplitParams()) == splits


def test_split_keeps_only_the_listed_speakers():
    splits = split_ids(_utterances(4, 20), SplitParams(speakers=["s2", "s4"]))
    assert {i.split("_")[0] for ids in splits.values() for i in ids} == {"s2", "s4"}
    assert sum(map(len, splits.values())) == 40
    with pytest.raises(StageError, match="split.speakers not in the manifest: s9"):
        split_ids(_utterances(4, 20), SplitParams(speakers=["s9"]))


def test_unseen_split_holds_out_whole_speakers():
    splits = split_ids(_utterances(4, 5), SplitParams(mode="unseen", val_speakers=["s3"], test_speakers=["s4"]))
    speakers = {name: {i.split("_")[0] for i in ids} for name, ids in splits.items()}
    assert speakers == {"train": {"s1", "s2"}, "val": {"s3"}, "test": {"s4"}}
    with pytest.raises(StageError, match="not in the manifest: s9"):
        split_ids(_utterances(2, 5), SplitParams(mode="unseen", test_speakers=["s9"]))
    with pytest.raises(StageError, match="val empty"):
        split_ids(_utterances(2, 5), SplitParams(mode="unseen", test_speakers=["s2"]))
