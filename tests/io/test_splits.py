"""Splits: disjoint, complete, deterministic, and the speaker rules."""
from __future__ import annotations

import pytest

from pipeline.errors import StageError
from pipeline.io.manifest import Utterance
from pipeline.io.splits import EmbeddedSplit, SplitParams, split_ids


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


def _counts(splits: dict[str, list[str]], speaker: str) -> tuple[int, int, int]:
    return tuple(sum(i.startswith(speaker + "_") for i in splits[name]) for name in ("train", "val", "test"))


def test_the_embedded_corpus_holds_out_a_fixed_random_sample_and_a_real_one_the_thesis_shares():
    utterances = _utterances(2, 97)
    embedded = split_ids(utterances, SplitParams(), source="synthetic")
    assert _counts(embedded, "s1") == _counts(embedded, "s2") == (54, 3, 40)
    # A sample spread over the ids, not the last ones by name (GRID ids start with the command).
    held_out = sorted(int(i.split("_")[1]) for i in embedded["test"] if i.startswith("s1_"))
    assert held_out[0] < 20 and held_out[-1] > 77 and held_out != list(range(57, 97))
    assert split_ids(list(reversed(utterances)), SplitParams(), source="synthetic") == embedded
    # A real corpus: the thesis' 900 / 50 / 50, the last ids by name to test.
    real = split_ids(_utterances(1, 1000), SplitParams(), source="grid")
    assert _counts(real, "s1") == (900, 50, 50) and real["test"] == [f"s1_{u:03d}" for u in range(950, 1000)]
    # Shares set in params apply to every corpus, the embedded one included, in id order.
    shared = split_ids(utterances, SplitParams(train=0.5, val=0.25), source="synthetic")
    assert _counts(shared, "s1") == (48, 24, 25) and shared["test"][:25] == [f"s1_{u:03d}" for u in range(72, 97)]
    assert _counts(split_ids(utterances, SplitParams(embedded=EmbeddedSplit(val=1, test=20)), "synthetic"),
                   "s2") == (76, 1, 20)


@pytest.mark.parametrize(("params", "message"), [
    (SplitParams(train=0.8), "set both split.train and split.val"),
    (SplitParams(train=0.9, val=0.2), "must be shares leaving room for test"),
    (SplitParams(embedded=EmbeddedSplit(val=3, test=94)), "split.embedded holds out 3 val and 94 test ids"),
])
def test_a_split_that_cannot_be_made_says_why(params, message):
    with pytest.raises(StageError, match=message):
        split_ids(_utterances(2, 97), params, source="synthetic")


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
