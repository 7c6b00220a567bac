"""The literature's GRID protocols as split presets: on a manifest of every GRID id the lists
name (no media needed), each preset splits exactly as its published lists say."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from pipeline.corpora import protocols
from pipeline.corpora.protocols import split_by_protocol, utterance_of
from pipeline.errors import StageError
from pipeline.io.manifest import Utterance, read_manifest, write_manifest
from pipeline.io.splits import SplitParams
from pipeline.stages import split as split_stage

LIST_FILES = ("train_4.txt", "val_4.txt", "test_4.txt", "overlap_train.txt", "overlap_val.txt",
              "lipnet_unseen_train.txt", "lipnet_unseen_val.txt")


def _every_grid_id() -> dict[str, list[str]]:
    """{speaker: manifest ids}: every utterance any published list names."""
    pairs = {pair for name in LIST_FILES for pair in protocols.read_list(name)}
    pairs |= {pair for split in protocols._unseen_splits().values() for pair in split}
    by_speaker: dict[str, list[str]] = defaultdict(list)
    for speaker, uid in sorted(pairs):
        by_speaker[speaker].append(f"{speaker}_{uid}")
    return dict(by_speaker)


@pytest.mark.parametrize("line,expected", [
    ("s1/video/bwim6p.mp4", ("s1", "bwim6p")), ("s14/video/mpg_6000/bbaq7n", ("s14", "bbaq7n")),
    ("val/s20/prwo5p", ("s20", "prwo5p")), ("s1/video/mpg_6000/briz8p\n", ("s1", "briz8p"))])
def test_every_path_form_of_the_lists_names_a_speaker_and_id(line: str, expected: tuple[str, str]):
    assert utterance_of(line) == expected


@pytest.mark.parametrize("protocol,counts,speakers", [
    ("grid4", (3586, 199, 200), {"train": 4, "val": 4, "test": 4}),
    ("grid33", (24407 - 1215, 1215, 8415), {"train": 33, "val": 33, "test": 33}),
    ("unseen", (15888, 7000, 9982), {"train": 16, "val": 7, "test": 10}),
    ("unseen-lipnet", (28836 - 1441, 1441, 3986), {"train": 29, "val": 29, "test": 4}),
])
def test_each_list_preset_splits_every_grid_id_as_published(protocol: str, counts: tuple[int, int, int],
                                                             speakers: dict[str, int]):
    result = split_by_protocol(_every_grid_id(), protocol)
    assert tuple(len(result.splits[n]) for n in ("train", "val", "test")) == counts
    assert result.missing == {"train": 0, "val": 0, "test": 0}
    for name, count in speakers.items():
        assert len({i.split("_")[0] for i in result.splits[name]}) == count, name
    train, val, test = (set(result.splits[n]) for n in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    lists = protocols.protocol_lists(protocol)
    assert test == {f"{s}_{i}" for s, i in lists["test"]}
    if protocol in ("grid33", "unseen-lipnet"):  # val carved from the published train list
        prefix = "overlap" if protocol == "grid33" else "lipnet_unseen"
        assert train | val == {f"{s}_{i}" for s, i in protocols.read_list(f"{prefix}_train.txt")}


def test_the_carved_validation_set_is_the_same_every_time_and_a_share_of_each_speaker():
    first = protocols.protocol_lists("grid33")["val"]
    protocols.read_list.cache_clear()
    assert protocols.protocol_lists("grid33")["val"] == first
    per_speaker = defaultdict(int)
    for speaker, _ in first:
        per_speaker[speaker] += 1
    assert len(per_speaker) == 33 and 30 <= min(per_speaker.values()) and max(per_speaker.values()) <= 40


@pytest.mark.parametrize("protocol,speakers", [("thesis-s1", ["s1"]), ("thesis-s1s2", ["s1", "s2"])])
def test_the_thesis_protocol_takes_the_first_900_ids_by_name_then_50_and_50(protocol: str, speakers: list[str]):
    every = _every_grid_id()
    result = split_by_protocol(every, protocol)
    for speaker in speakers:
        ids = sorted(every[speaker])
        assert [i for i in result.splits["train"] if i.startswith(f"{speaker}_")] == ids[:900]
        assert [i for i in result.splits["val"] if i.startswith(f"{speaker}_")] == ids[900:950]
        assert [i for i in result.splits["test"] if i.startswith(f"{speaker}_")] == ids[950:1000]
    assert len(result.splits["train"]) == 900 * len(speakers)
    with pytest.raises(StageError, match="needs speaker s2, which the corpus lacks"):
        split_by_protocol({"s1": every["s1"]}, "thesis-s1s2")


def _utterance(speaker: str, uid: str) -> Utterance:
    return Utterance(id=f"{speaker}_{uid}", speaker=speaker, video=f"{speaker}/{uid}.mpg", audio="video track",
                     frames=75, fps=25.0, width=360, height=288, duration=3.0, sample_rate=44100)


def test_the_split_stage_reports_what_the_corpus_lacks_and_stops_when_most_of_the_test_list_is_missing(
        tmp_path: Path):
    lists = protocols.protocol_lists("grid4")
    kept = [p for name in ("train", "val") for p in lists[name]] + lists["test"][:150]
    write_manifest(tmp_path / "manifest.jsonl", [_utterance(s, i) for s, i in kept])
    splits = split_stage.run(SplitParams(protocol="grid4"), "grid", tmp_path / "manifest.jsonl",
                             tmp_path / "split.json", tmp_path / "split_metrics.json")
    assert [len(splits[n]) for n in ("train", "val", "test")] == [3586, 199, 150]
    import json

    metrics = json.loads((tmp_path / "split_metrics.json").read_text())
    assert metrics == {"protocol": "grid4", "missing": {"train": 0, "val": 0, "test": 50},
                       "listed": {"train": 3586, "val": 199, "test": 200}, "train": 3586, "val": 199, "test": 150}

    few = [p for name in ("train", "val") for p in lists[name]] + lists["test"][:20]
    write_manifest(tmp_path / "few.jsonl", [_utterance(s, i) for s, i in few])
    with pytest.raises(StageError) as error:
        split_stage.run(SplitParams(protocol="grid4"), "grid", tmp_path / "few.jsonl", tmp_path / "s.json",
                        tmp_path / "m.json")
    assert str(error.value) == ("split.protocol grid4: the corpus has 20 of its 200 test utterances (3586 of 3586 "
                                "train, 199 of 199 val); it needs GRID speakers s1 s2 s4 s29 at corpus.root")
    assert len(read_manifest(tmp_path / "few.jsonl")) == 3805
