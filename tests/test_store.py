"""The feature store: both formats return the same arrays, few files, nothing half-written."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.store import FORMATS, StoreParams, StoreReader, StoreWriter

FIELDS = {"points": ((68, 2), "float32"), "status": ((), "uint8")}


def _utterances(count: int, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(count):
        length = int(rng.integers(3, 120))
        out[f"s{i % 3}_{i:04d}"] = {"points": rng.normal(size=(length, 68, 2)).astype(np.float32),
                                    "status": rng.integers(0, 4, length).astype(np.uint8)}
    return out


@pytest.mark.parametrize("store_format", FORMATS)
def test_round_trip_in_either_format(tmp_path: Path, store_format: str):
    data = _utterances(150)
    path = tmp_path / "store"
    with StoreWriter(path, FIELDS, typical_length=75, params=StoreParams(store_format, 16), attrs={"kind": "x"}) as w:
        for uid, arrays in data.items():
            w.write(uid, **arrays)
    reader = StoreReader(path)
    assert reader.format == store_format and reader.ids == list(data) and reader.attrs["kind"] == "x"
    for uid, arrays in data.items():
        got = reader.read(uid)
        assert got.keys() == arrays.keys()
        for name in arrays:
            np.testing.assert_array_equal(got[name], arrays[name])
    assert not path.with_name("store.partial").exists()


def test_zarr_and_hdf5_hold_identical_arrays(tmp_path: Path):
    data = _utterances(40, seed=1)
    readers = []
    for store_format in FORMATS:
        with StoreWriter(tmp_path / store_format, FIELDS, params=StoreParams(store_format)) as w:
            for uid, arrays in data.items():
                w.write(uid, **arrays)
        readers.append(StoreReader(tmp_path / store_format))
    for uid in data:
        a, b = (r.read(uid) for r in readers)
        for name in FIELDS:
            np.testing.assert_array_equal(a[name], b[name])


def test_zarr_keeps_at_most_one_file_per_64_utterances_per_field(tmp_path: Path):
    data = {f"u{i:04d}": {"points": np.zeros((75, 68, 2), np.float32), "status": np.zeros(75, np.uint8)}
            for i in range(640)}
    with StoreWriter(tmp_path / "z", FIELDS, typical_length=75) as w:
        for uid, arrays in data.items():
            w.write(uid, **arrays)
    chunk_files = [p for p in (tmp_path / "z").rglob("*") if p.is_file() and p.name != "zarr.json"]
    assert len(chunk_files) <= len(FIELDS) * 640 / 64


def test_an_interrupted_write_leaves_no_store(tmp_path: Path):
    path = tmp_path / "store"
    with pytest.raises(RuntimeError):
        with StoreWriter(path, FIELDS) as w:
            w.write("a", points=np.zeros((5, 68, 2)), status=np.zeros(5))
            raise RuntimeError("killed")
    assert not path.exists() and not path.with_name("store.partial").exists()
    with pytest.raises(FileNotFoundError):
        StoreReader(path)


def test_a_crashed_writers_leftovers_are_not_trusted(tmp_path: Path):
    """A process killed mid-write leaves only PATH.partial; the previous store stays whole and
    the next writer starts afresh."""
    path = tmp_path / "store"
    with StoreWriter(path, FIELDS) as w:
        w.write("old", points=np.ones((4, 68, 2)), status=np.ones(4))
    crashed = StoreWriter(path, FIELDS)
    crashed.write("new", points=np.zeros((4, 68, 2)), status=np.zeros(4))
    crashed._flush(whole_shards_only=False)  # data on disk, index never written: as if killed here
    assert StoreReader(path).ids == ["old"]
    with StoreWriter(path, FIELDS) as w:
        w.write("fresh", points=np.zeros((2, 68, 2)), status=np.zeros(2))
    assert StoreReader(path).ids == ["fresh"]


def test_bad_writes_are_refused_with_the_utterance_named(tmp_path: Path):
    with StoreWriter(tmp_path / "s", FIELDS) as w:
        with pytest.raises(ValueError, match="u1: fields disagree"):
            w.write("u1", points=np.zeros((5, 68, 2)), status=np.zeros(4))
        with pytest.raises(ValueError, match="u2: field points has frame shape"):
            w.write("u2", points=np.zeros((5, 5, 2)), status=np.zeros(5))
        w.write("u3", points=np.zeros((5, 68, 2)), status=np.zeros(5))
        with pytest.raises(ValueError, match="u3: written twice"):
            w.write("u3", points=np.zeros((5, 68, 2)), status=np.zeros(5))
    with pytest.raises(KeyError, match="nope"):
        StoreReader(tmp_path / "s").read("nope")


def test_reader_pickles_without_its_open_handle(tmp_path: Path):
    import pickle

    with StoreWriter(tmp_path / "s", FIELDS) as w:
        w.write("u", points=np.ones((3, 68, 2)), status=np.ones(3))
    reader = StoreReader(tmp_path / "s")
    reader.read("u")
    clone = pickle.loads(pickle.dumps(reader))
    assert clone._handle is None and clone.read("u")["points"].shape == (3, 68, 2)
