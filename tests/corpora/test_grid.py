from pathlib import Path

import pytest

from pipeline.corpora import grid
from pipeline.io.manifest import Word


def test_sentence_ids_follow_grid_naming():
    assert grid.sentence_id(("bin", "blue", "at", "f", "two", "now")) == "bbaf2n"
    assert grid.sentence_id(("set", "white", "with", "z", "zero", "soon")) == "swwzzs"
    assert grid.sentence_from_id("lrip9a") == ("lay", "red", "in", "p", "nine", "again")


def test_every_sentence_index_round_trips_through_its_id():
    ids = {grid.sentence_id(grid.sentence_from_index(i)) for i in range(0, grid.N_SENTENCES, 7)}
    assert len(ids) == len(range(0, grid.N_SENTENCES, 7))
    for uid in list(ids)[:500]:
        assert grid.sentence_id(grid.sentence_from_id(uid)) == uid


def test_letters_leave_out_w_and_bad_ids_are_refused():
    assert "w" not in grid.LETTERS and len(grid.LETTERS) == 25
    assert grid.sentence_from_id("bbaw2n") is None
    assert grid.sentence_from_id("bbaf2") is None
    with pytest.raises(ValueError):
        grid.sentence_from_index(grid.N_SENTENCES)


def test_align_round_trip_uses_1000_units_per_frame(tmp_path: Path):
    words = [Word("sil", 0.0, 0.5), Word("bin", 0.5, 0.74), Word("sil", 0.74, 3.0)]
    text = grid.format_align(words)
    assert text.splitlines() == ["0 12500 sil", "12500 18500 bin", "18500 75000 sil"]
    path = tmp_path / "x.align"
    path.write_text(text)
    assert grid.read_align(path) == words


def test_malformed_align_names_the_line_and_the_problem(tmp_path: Path):
    path = tmp_path / "bad.align"
    path.write_text("0 100 sil\n100 bin\n")
    with pytest.raises(grid.AlignmentError, match=r"^alignment line 2: expected 'start end word', got '100 bin'$"):
        grid.read_align(path)
    path.write_text("0 100 sil\n100 1.5e3 bin\n")
    with pytest.raises(grid.AlignmentError, match=r"^alignment line 2: start and end must be whole numbers"):
        grid.read_align(path)
    path.write_bytes(b"0 12250 sil\n12250 \xff\xfe bin\n")
    with pytest.raises(grid.AlignmentError, match=r"^alignment is not UTF-8 text"):
        grid.read_align(path)
