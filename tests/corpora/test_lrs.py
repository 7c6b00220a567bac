"""LRS3, LRS2 and Lip2Wav as downloaded (tests/corpora/downloads_lrs.py: miniature trees built from
real GRID videos, in the real layouts, with the real defects): every clip with its `Text:` words and
its true speaker, long clips cut at word boundaries, rejects with their reasons; the `.txt` parser;
the cutting rules; the protocol presets' counts on manifests of the lists' ids."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.corpora import cuts, lrs, protocols
from pipeline.corpora.grid import AlignmentError
from pipeline.errors import StageError
from pipeline.io.clips import utterance_audio, utterance_frames
from pipeline.io.manifest import Utterance, Word, write_manifest
from pipeline.io.splits import SplitParams
from pipeline.stages import split as split_stage
from tests.corpora.downloads_lrs import lip2wav_tree, lrs2_tree, lrs3_tree
from tests.corpora.test_sources import _run


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("downloads")
    lrs3_tree(root / "LRS3")
    lrs2_tree(root / "LRS2")
    lip2wav_tree(root / "Lip2Wav")
    return root


def test_lrs3_as_extracted_keeps_each_clip_with_its_words_and_true_speaker(downloads: Path, tmp_path: Path):
    manifest, rejects, metrics = _run(tmp_path, source="lrs3", root=str(downloads / "LRS3"), max_seconds=5.0,
                                      max_reject_fraction=0.5)
    by_id = {u.id: u for u in manifest}
    assert sorted(by_id) == [
        "lrs3_pretrain_xS8fEjSyqPI_00001_p00", "lrs3_pretrain_xS8fEjSyqPI_00001_p01",
        "lrs3_test_0Fi83BHQsMA_00001", "lrs3_test_0Fi83BHQsMA_00002",
        "lrs3_trainval_aYBJayS6mTY_50001", "lrs3_trainval_aYBJayS6mTY_50002", "lrs3_trainval_xS8fEjSyqPI_50001"]
    # The folder writes _ and - as S; the speaker is Ref:'s true id.
    assert by_id["lrs3_trainval_xS8fEjSyqPI_50001"].speaker == "x_8fEj-yqPI"
    assert [w.word for w in by_id["lrs3_trainval_aYBJayS6mTY_50001"].words] == "set white with p two soon".split()
    assert all(w.timed for w in by_id["lrs3_trainval_aYBJayS6mTY_50001"].words)
    # No word table: the Text: words, without times.
    untimed = by_id["lrs3_trainval_aYBJayS6mTY_50002"].words
    assert [w.word for w in untimed] == "bin blue at f two now".split() and not any(w.timed for w in untimed)
    assert by_id["lrs3_test_0Fi83BHQsMA_00001"].clip is None and by_id["lrs3_test_0Fi83BHQsMA_00001"].frames == 75
    assert rejects == {
        "00001.mp4": "lasts 9.0 s, more than corpus.max_seconds 5, and has no word times to cut it at",
        "00003.mp4": "video does not open (not a video, or a codec OpenCV lacks)",
        "00004.mp4": "no transcript 00004.txt beside it"}
    assert metrics["skipped_files"] == {"macOS metadata": 1}


def test_a_long_lrs3_clip_is_cut_at_word_boundaries_and_each_piece_reads_its_own_span(downloads: Path,
                                                                                      tmp_path: Path):
    manifest, _, _ = _run(tmp_path, source="lrs3", root=str(downloads / "LRS3"), max_seconds=5.0,
                          max_reject_fraction=0.5)
    pieces = [u for u in manifest if u.id.startswith("lrs3_pretrain_xS8fEjSyqPI_00001")]
    said = [w.word for piece in pieces for w in piece.words]
    assert said == "set white with p two soon".split() * 3  # every word once, none split
    assert pieces[0].start == 0.0 and pieces[0].end == pieces[1].start and pieces[1].end == 9.0
    for piece in pieces:
        assert piece.duration <= 5.0 and piece.frames == round(piece.duration * 25)
        assert all(0 <= w.start < w.end <= piece.duration + 0.02 for w in piece.words)
        assert utterance_frames(piece, grayscale=True).shape[0] == piece.frames
        samples, rate = utterance_audio(piece)
        assert abs(len(samples) / rate - piece.duration) < 0.01
    # The second piece starts mid-pause, just before the second sentence's last word.
    assert pieces[1].words[0].word == "soon" and pieces[1].words[0].start < 0.1
    manifest_again, _, _ = _run(tmp_path / "again", source="lrs3", root=str(downloads / "LRS3"), max_seconds=5.0,
                                max_reject_fraction=0.5)
    assert manifest_again == manifest


def test_lrs2_and_its_lists(downloads: Path, tmp_path: Path):
    manifest, rejects, _ = _run(tmp_path, source="lrs2", root=str(downloads / "LRS2"), max_seconds=5.0)
    assert not rejects
    assert {u.speaker for u in manifest} == {"5535415699068794046", "6331559613336179781"}
    assert [u.id for u in manifest if "pretrain" in u.id] == ["lrs2_pretrain_5535415699068794046_00001_p00",
                                                              "lrs2_pretrain_5535415699068794046_00001_p01"]
    assert {u.width for u in manifest} == {160}
    ids = [u.id for u in manifest]
    result = protocols.split_lrs(ids, "lrs2", downloads / "LRS2")
    assert result.splits == {"train": ["lrs2_main_5535415699068794046_00001", "lrs2_main_5535415699068794046_00002"],
                             "val": ["lrs2_main_6331559613336179781_00001"],
                             "test": ["lrs2_main_6331559613336179781_00002"]}
    with_pretrain = protocols.split_lrs(ids, "lrs2", downloads / "LRS2", with_pretrain=True)
    assert len(with_pretrain.splits["train"]) == 4 and with_pretrain.listed["train"] == 3


def test_lip2wav_cuts_are_split_into_windows_and_its_lists_split_by_video(downloads: Path, tmp_path: Path):
    manifest, rejects, _ = _run(tmp_path, source="lip2wav", root=str(downloads / "Lip2Wav"), max_seconds=5.0)
    assert not rejects
    assert [(u.id, u.start, u.end, u.frames) for u in manifest] == [
        ("lip2wav_chem_Tqb4Ip_TKSw_cut0_p00", 0.0, 4.0, 100), ("lip2wav_chem_Tqb4Ip_TKSw_cut0_p01", 4.0, 8.0, 100),
        ("lip2wav_chem_Tqb4Ip_TKSw_cut0_p02", 8.0, 12.0, 100), ("lip2wav_chem_q3-EQ0ZfC9c_cut0_p00", 0.0, 3.0, 75),
        ("lip2wav_chem_q3-EQ0ZfC9c_cut0_p01", 3.0, 6.0, 75), ("lip2wav_chem_v4lId8tIoNs_cut0", None, None, 75)]
    assert all(u.speaker == "chem" and not u.words and u.source_fps == pytest.approx(30.0) for u in manifest)
    assert utterance_frames(manifest[1]).shape == (100, 360, 480, 3)
    ids = [u.id for u in manifest]
    result = protocols.split_lrs(ids, "lip2wav", downloads / "Lip2Wav")
    assert result.splits == {"train": ids[:3], "val": ids[5:], "test": ids[3:5]}
    assert result.listed == {"train": 1, "val": 1, "test": 1} and not any(result.missing.values())
    with pytest.raises(StageError, match="lip2wav: the corpus has 0 of its 1 test clips"):
        protocols.split_lrs(ids[:3] + ids[5:], "lip2wav", downloads / "Lip2Wav")


def test_the_clip_text_parser_reads_the_real_format_and_names_what_is_wrong():
    text = ("Text:  SO WE NEED TO\nConf:  4\nRef:   0Fi83BHQsMA\n\nFRAME X Y W H\n"
            "000000 \t0.297 \t0.188 \t0.406 \t0.484 \n\nWORD START END ASDSCORE\n"
            "SO 0.09 0.24 3.8\nWE 0.24 0.35 4.1\nNEED 0.35 0.58 4.4\nTO 0.58 0.71 4.0\n")
    clip = lrs.parse_text(text)
    assert clip.words == ("so", "we", "need", "to") and clip.ref == "0Fi83BHQsMA"
    assert clip.timed[2] == Word("need", 0.35, 0.58)
    assert lrs.parse_text(text.split("\nWORD")[0]).timed == ()
    with pytest.raises(AlignmentError, match="no 'Text:' line"):
        lrs.parse_text("Conf: 4\n")
    with pytest.raises(AlignmentError, match="is not WORD START END"):
        lrs.parse_text("Text:  SO\n\nWORD START END ASDSCORE\nSO zero 0.2 1\n")


def test_cutting_rules():
    words = [Word(f"w{i}", 1.0 * i + 0.1, 1.0 * i + 0.8) for i in range(10)]
    pieces = cuts.cut(words, 10.0, 4.0, 25.0, "words")
    assert [len(p.words) for p in pieces] == [4, 4, 2]
    assert all(p.end - p.start <= 4.0 for p in pieces) and pieces[-1].end == 10.0
    assert [p.start for p in pieces] == [0.0, 3.96, 7.96]  # mid-pause, on a frame
    assert cuts.cut(words, 3.0, 4.0, 25.0, "words")[0].words == tuple(words)
    with pytest.raises(cuts.CutError, match="lasts longer than corpus.max_seconds"):
        cuts.cut([Word("long", 0.5, 6.0)], 7.0, 4.0, 25.0, "words")
    assert [(p.start, p.end) for p in cuts.cut([], 10.0, 4.0, 25.0, "windows")] == [(0.0, 3.32), (3.32, 6.68),
                                                                                   (6.68, 10.0)]


def _manifest(path: Path, ids: list[str]) -> Path:
    write_manifest(path, [Utterance(i, i.split("_")[2], f"{i}.mp4", "video track", 75, 25.0, 224, 224, 3.0, 16000)
                          for i in ids])
    return path


def test_lrs3_unseen_splits_the_listed_clips_as_published(tmp_path: Path):
    lists = {name: [protocols.lrs_clip("lrs3", line) for line in
                    (protocols.LISTS / f"lrs3_unseen_{name}.txt").read_text().split()]
             for name in ("train", "val", "test")}
    cut_in_two = lists["train"][0]  # a clip cut into two pieces goes where its clip goes
    ids = sorted({c for clips in lists.values() for c in clips} - {cut_in_two}) + [f"{cut_in_two}_p00",
                                                                                  f"{cut_in_two}_p01"]
    manifest = _manifest(tmp_path / "manifest.jsonl", ids)
    split_stage.run(SplitParams(protocol="lrs3-unseen"), "lrs3", manifest, tmp_path / "split.json",
                    tmp_path / "split_metrics.json")
    metrics = json.loads((tmp_path / "split_metrics.json").read_text())
    assert (metrics["train"], metrics["val"], metrics["test"]) == (131168 + 1, 6837, 1308)
    assert metrics["listed"] == {"train": 131168, "val": 6837, "test": 1308}
    assert metrics["missing"] == {"train": 0, "val": 0, "test": 0}
    split = json.loads((tmp_path / "split.json").read_text())
    assert not set(split["train"]) & set(split["test"])
    assert {i.split("_")[2] for i in split["test"]}.isdisjoint({i.split("_")[2] for i in split["train"]})


def test_lrs3_test_trains_on_trainval_tests_on_the_test_folder_and_stops_without_most_of_it(tmp_path: Path):
    ids = [f"lrs3_trainval_v{k:03d}AbC_5{n:04d}" for k in range(40) for n in range(1, 11)]
    ids += [f"lrs3_pretrain_v{k:03d}AbC_{n:05d}_p00" for k in range(5) for n in range(1, 3)]
    tests = [f"lrs3_test_t{k:03d}XyZ_{n:05d}" for k in range(100) for n in range(1, 14)]
    result = protocols.split_lrs(ids + tests[:700], "lrs3-test", None)
    assert len(result.splits["test"]) == 700 and result.listed["test"] == 1321 and result.missing["test"] == 621
    assert len(result.splits["val"]) == 20 and len(result.splits["train"]) == 380
    assert not set(result.splits["val"]) & set(result.splits["train"])
    assert len(protocols.split_lrs(ids + tests[:700], "lrs3-test", None, with_pretrain=True).splits["train"]) > 380
    assert protocols.split_lrs(ids + tests[:700], "lrs3-test", None).splits == result.splits  # reproducible
    with pytest.raises(StageError, match="lrs3-test: the corpus has 600 of its 1321 test clips"):
        protocols.split_lrs(ids + tests[:600], "lrs3-test", None)


def test_unpacking_lrs3s_zips_and_lrs2s_tar_gives_the_trees_the_sources_read(downloads: Path, tmp_path: Path):
    import tarfile
    import zipfile

    from pipeline.corpora.unpack import unpack

    lrs3 = downloads / "LRS3" / "lrs3_v0.4"
    archives = []
    for part in ("pretrain", "trainval", "test"):  # each zip holds its part folder, as released
        archives.append(tmp_path / f"lrs3_{part}.zip")
        with zipfile.ZipFile(archives[-1], "w") as bundle:
            for path in sorted((lrs3 / part).rglob("*")):
                if path.is_file():
                    bundle.write(path, path.relative_to(lrs3).as_posix())
            bundle.writestr(f"__MACOSX/{part}/._junk.mp4", b"\x00\x05")
    counts = unpack(archives, tmp_path / "LRS3", "lrs3")
    assert counts["written"] == sum(1 for p in lrs3.rglob("*") if p.is_file()) and counts["left out"] == 3
    assert (tmp_path / "LRS3/lrs3_v0.4/trainval/xS8fEjSyqPI/50001.txt").read_text() == \
        (lrs3 / "trainval/xS8fEjSyqPI/50001.txt").read_text()
    lrs2 = downloads / "LRS2"
    with tarfile.open(tmp_path / "lrs2_v1.tar", "w") as bundle:
        for path in sorted(lrs2.rglob("*")):
            if path.is_file():
                bundle.add(path, path.relative_to(lrs2).as_posix())
    unpack([tmp_path / "lrs2_v1.tar"], tmp_path / "LRS2", "lrs2")
    manifest, rejects, _ = _run(tmp_path / "out", source="lrs2", root=str(tmp_path / "LRS2"), max_seconds=5.0)
    assert len(manifest) == 6 and not rejects
    assert (tmp_path / "LRS2/test.txt").read_text() == (lrs2 / "test.txt").read_text()
