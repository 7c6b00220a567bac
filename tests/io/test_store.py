"""The feature store: both formats return the same arrays, few files, nothing half-written, and
damage is named in one line."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.io.store import FORMATS, StoreError, StoreParams, StoreReader, StoreWriter
from tests.conftest import REPO

FIELDS = {"points": ((68, 2), "float32"), "status": ((), "uint8")}


def _utterances(count: int, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(count):
        length = int(rng.integers(3, 120))
        out[f"s{i % 3}_{i:04d}"] = {"points": rng.normal(size=(length, 68, 2)).astype(np.float32),
                                    "status": rng.integers(0, 4, length).astype(np.uint8)}
    return out


@pytest.mark.parametrize("compression", ["zstd", "lz4", "none"])
@pytest.mark.parametrize("store_format", FORMATS)
def test_round_trip_in_either_format(tmp_path: Path, store_format: str, compression: str):
    data = _utterances(150)
    path = tmp_path / "store"
    params = StoreParams(store_format, 16, compression)
    with StoreWriter(path, FIELDS, typical_length=75, params=params, attrs={"kind": "x"}) as w:
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


def _store(path: Path, store_format: str = "zarr", count: int = 80) -> Path:
    with StoreWriter(path, FIELDS, typical_length=75, params=StoreParams(store_format, 16)) as w:
        for uid, arrays in _utterances(count, seed=2).items():
            w.write(uid, **arrays)
    return path


def _one_line_naming(error: pytest.ExceptionInfo, path: Path) -> str:
    message = str(error.value)
    assert "\n" not in message and str(path) in message, message
    return message


@pytest.mark.parametrize("store_format", FORMATS)
def test_a_truncated_shard_is_named_in_one_line(tmp_path: Path, store_format: str):
    path = _store(tmp_path / "store", store_format)
    if store_format == "zarr":
        shards = sorted((p for p in (path / "points").rglob("*") if p.is_file() and p.name != "zarr.json"),
                        key=lambda p: p.stat().st_size)
        damaged = shards[-1]
    else:
        damaged = path
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    with pytest.raises(StoreError) as error:
        reader = StoreReader(path)
        for uid in reader.ids:
            reader.read(uid)
    assert "damaged" in _one_line_naming(error, path)


def test_a_store_of_another_format_is_refused_in_one_line(tmp_path: Path):
    folder = tmp_path / "not_zarr"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    with pytest.raises(StoreError, match="is not a store: a folder without zarr.json") as error:
        StoreReader(folder)
    _one_line_naming(error, folder)
    archive = tmp_path / "features.npz"
    np.savez(archive, video=np.zeros(3))
    with pytest.raises(StoreError, match="neither a Zarr folder nor an HDF5 file") as error:
        StoreReader(archive)
    _one_line_naming(error, archive)


@pytest.mark.parametrize("store_format", FORMATS)
def test_an_unknown_format_version_is_refused(tmp_path: Path, store_format: str):
    path = _store(tmp_path / "store", store_format, count=3)
    if store_format == "zarr":
        metadata = json.loads((path / "zarr.json").read_text())
        metadata["attributes"]["format_version"] = 2
        (path / "zarr.json").write_text(json.dumps(metadata))
    else:
        import h5py

        with h5py.File(path, "r+") as handle:
            attrs = json.loads(handle.attrs["store"])
            handle.attrs["store"] = json.dumps({**attrs, "format_version": 2})
    with pytest.raises(StoreError, match="has format_version 2; this code reads 1") as error:
        StoreReader(path)
    _one_line_naming(error, path)


def test_a_stage_on_a_damaged_store_ends_with_one_line_and_status_1(tmp_path: Path):
    path = _store(tmp_path / "mouths", count=3)
    (path / "zarr.json").write_text("{ not json")
    done = subprocess.run([sys.executable, "-m", "pipeline", "derivatives", "--params", str(REPO / "params.yaml"),
                           "--mouths", str(path), "--out", str(tmp_path / "features")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == [f"ERROR pipeline.stages.derivatives: store {path} has a damaged zarr.json "
                      f"(Expecting property name enclosed in double quotes: line 1 column 3 (char 2))"], done.stderr


def test_compression_trades_size_for_reading_speed(tmp_path: Path):
    """The same int16 features: zstd smallest, lz4 larger, none the raw bytes (HDF5 without a filter)."""
    rng = np.random.default_rng(0)
    smooth = np.cumsum(rng.integers(-3, 4, size=(40 * 75, 3, 32, 32)), axis=0).astype(np.int16)
    sizes = {}
    for store_format, compression in (("zarr", "zstd"), ("zarr", "lz4"), ("hdf5", "none")):
        path = tmp_path / f"{store_format}.{compression}"
        with StoreWriter(path, {"video": ((3, 32, 32), "int16")}, 75, StoreParams(store_format, 64, compression)) as w:
            for index in range(40):
                w.write(f"u{index:02d}", video=smooth[75 * index:75 * (index + 1)])
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        sizes[compression] = sum(p.stat().st_size for p in files)
        np.testing.assert_array_equal(StoreReader(path).read("u07")["video"], smooth[75 * 7:75 * 8])
    assert sizes["zstd"] < sizes["lz4"] < sizes["none"] and sizes["none"] >= smooth.nbytes
