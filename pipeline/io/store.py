"""Feature stores: ragged per-utterance arrays in one chunked container, Zarr v3 or HDF5.

Every field of a store shares one time axis: utterance values are concatenated along it (CSR
style) and an index (ids, offsets, lengths) says where each utterance lies, so a store holds a
handful of files however many utterances it has. HDF5 (the default) keeps one file with chunked
datasets, LZF-compressed or not; Zarr arrays are sharded (one shard file per
`utterances_per_shard` utterances, chunks of about one utterance inside it, Blosc Zstd or LZ4).
`StoreParams` says which, and which stores are compressed.

One writer fills a store, in the order utterances are given, and writes into `PATH.partial`,
renamed to PATH on `close()`: an interrupted stage leaves no store that a rerun would trust. The
reader refuses, with one line naming the store, what it cannot trust: another format, another
`format_version`, damaged files.

    with StoreWriter(path, {"landmarks": ((68, 2), "float32")}, typical_length=75) as store:
        store.write("s1_bbaf2n", landmarks=points)
    StoreReader(path).read("s1_bbaf2n")["landmarks"]
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from pipeline.errors import MissingInput, PipelineError, one_line
from pipeline.io.files import prepare_partial, publish, remove
from pipeline.io.params import choices

StoreFormat = Literal["zarr", "hdf5"]
FORMATS = choices(StoreFormat)
# zstd: smallest (Blosc Zstd-3, bit-shuffle); lz4: ~2x faster to read, ~1.6x larger; none: fastest
# to read (no decompression), raw size. HDF5 has LZF for the first two.
Compression = Literal["zstd", "lz4", "none"]
FORMAT_VERSION = 1
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class StoreError(PipelineError):
    """A store that cannot be read as one: another format or version, or damaged files."""


@dataclass(frozen=True)
class StoreParams:
    """`store` in params.yaml. HDF5 is the default: one read costs ~0.05 ms of overhead against
    Zarr's ~1.3 ms (zarr-python's async machinery), and the stores training reads at every epoch
    (video features, mels) are uncompressed by default, since decompressing them costs more than
    the rest of a sample (bench.dataset); the stores read once (landmarks, mouth crops) are compressed."""

    format: StoreFormat = "hdf5"
    utterances_per_shard: int = 64
    compression: Compression = "zstd"  # landmarks and mouth crops: written once, read once
    training_compression: Compression = "none"  # video features and mels: read at every epoch

    def for_training(self) -> StoreParams:
        """These settings for a store that training reads (its compression: `training_compression`)."""
        return dataclasses.replace(self, compression=self.training_compression)


FieldSpec = tuple[tuple[int, ...], str]  # per-frame shape, dtype


class StoreBackend(Protocol):
    """What StoreWriter needs of a format: grow a field, write the index, let go of the files."""

    def append(self, name: str, start: int, values: np.ndarray) -> None: ...

    def finish(self, attrs: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class _ZarrBackend:
    def __init__(self, path: Path, fields: dict[str, FieldSpec], chunk_frames: int, shard_frames: int,
                 compression: Compression) -> None:
        import zarr
        from zarr.codecs import BloscCodec

        codecs = {"zstd": BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"),
                  "lz4": BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"), "none": None}
        self.group = zarr.open_group(str(path), mode="w")
        self.arrays = {
            name: self.group.create_array(
                name, shape=(0, *shape), dtype=dtype, chunks=(chunk_frames, *shape),
                shards=(shard_frames, *shape), compressors=codecs[compression],
            )
            for name, (shape, dtype) in fields.items()
        }

    def append(self, name: str, start: int, values: np.ndarray) -> None:
        array = self.arrays[name]
        array.resize((start + len(values), *array.shape[1:]))
        array[start:start + len(values)] = values

    def finish(self, attrs: dict[str, Any]) -> None:
        self.group.attrs.update(attrs)

    def close(self) -> None:
        """Nothing stays open between Zarr writes."""


class _Hdf5Backend:
    def __init__(self, path: Path, fields: dict[str, FieldSpec], chunk_frames: int, shard_frames: int,
                 compression: Compression) -> None:
        import h5py

        # h5py's built-in filters only: LZF (with shuffle) stands in for both compressed choices.
        filters = {} if compression == "none" else {"compression": "lzf", "shuffle": True}
        self.file = h5py.File(path, "w", track_order=True)
        self.datasets = {
            name: self.file.create_dataset(
                name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=(chunk_frames, *shape),
                **filters,
            )
            for name, (shape, dtype) in fields.items()
        }

    def append(self, name: str, start: int, values: np.ndarray) -> None:
        dataset = self.datasets[name]
        dataset.resize(start + len(values), axis=0)
        dataset[start:start + len(values)] = values

    def finish(self, attrs: dict[str, Any]) -> None:
        # One JSON attribute: HDF5 attribute types are awkward for nested lists and strings.
        self.file.attrs["store"] = json.dumps(attrs, sort_keys=True)
        self.close()

    def close(self) -> None:
        if self.file.id.valid:
            self.file.close()


_BACKENDS: dict[str, Callable[[Path, dict[str, FieldSpec], int, int, Compression], StoreBackend]] = {
    "zarr": _ZarrBackend, "hdf5": _Hdf5Backend}


class StoreWriter:
    """Writes utterances one after another into a new store at `path` (replaced on close)."""

    def __init__(self, path: Path, fields: dict[str, FieldSpec], typical_length: int = 75,
                 params: StoreParams = StoreParams(), attrs: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.partial = prepare_partial(self.path)
        self.fields = {name: (tuple(shape), np.dtype(dtype).str) for name, (shape, dtype) in fields.items()}
        chunk_frames = max(1, int(typical_length))
        # Shards hold whole chunks; a shard of ~utterances_per_shard utterances is one file.
        self.shard_frames = chunk_frames * max(1, params.utterances_per_shard)
        self.backend = _BACKENDS[params.format](self.partial, self.fields, chunk_frames, self.shard_frames,
                                                params.compression)
        self.format = params.format
        self.attrs = dict(attrs or {})
        self.ids: list[str] = []
        self._seen: set[str] = set()
        self.lengths: list[int] = []
        self._buffers: dict[str, list[np.ndarray]] = {name: [] for name in fields}
        self._buffered = 0
        self._written = 0

    def write(self, utterance_id: str, **values: np.ndarray) -> None:
        """Add one utterance: every field, each with the same first (time) dimension."""
        if set(values) != set(self.fields):
            raise ValueError(f"{utterance_id}: fields {sorted(values)} != store fields {sorted(self.fields)}")
        lengths = {len(v) for v in values.values()}
        if len(lengths) != 1:
            raise ValueError(f"{utterance_id}: fields disagree on length: {sorted(lengths)}")
        if utterance_id in self._seen:
            raise ValueError(f"{utterance_id}: written twice")
        for name, array in values.items():
            shape, dtype = self.fields[name]
            array = np.asarray(array)
            if array.shape[1:] != shape:
                raise ValueError(f"{utterance_id}: field {name} has frame shape {array.shape[1:]}, "
                                 f"store expects {shape}")
            self._buffers[name].append(array.astype(dtype, copy=False))
        self.ids.append(utterance_id)
        self._seen.add(utterance_id)
        self.lengths.append(lengths.pop())
        self._buffered += self.lengths[-1]
        if self._buffered >= self.shard_frames:
            self._flush(whole_shards_only=True)

    def _flush(self, whole_shards_only: bool) -> None:
        """Write buffered frames; shard-aligned blocks only, unless closing."""
        count = self._buffered - self._buffered % self.shard_frames if whole_shards_only else self._buffered
        if count == 0:
            return
        for name, parts in self._buffers.items():
            joined = np.concatenate(parts)
            self.backend.append(name, self._written, joined[:count])
            self._buffers[name] = [joined[count:]] if count < len(joined) else []
        self._written += count
        self._buffered -= count

    def close(self) -> None:
        """Write what is buffered and the index, then move the store into place."""
        self._flush(whole_shards_only=False)
        offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(int).tolist() if self.ids else []
        self.backend.finish({**self.attrs, "ids": self.ids, "offsets": offsets, "lengths": self.lengths,
                             "format_version": FORMAT_VERSION})
        publish(self.partial, self.path)

    def abort(self) -> None:
        """Drop the partial store."""
        self.backend.close()
        remove(self.partial)

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


class StoreReader:
    """Reads utterances from a store; opens the files lazily, so it can be pickled into
    DataLoader workers and each worker opens its own handle."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise MissingInput(f"no store at {self.path}; run the stage that writes it")
        self.format = "hdf5" if self.path.is_file() else "zarr"
        self._handle: Any = None  # a zarr Group or an h5py File, opened on first read
        self._arrays: dict = {}
        self.attrs = self._read_attrs()
        version = self.attrs.get("format_version")
        if version != FORMAT_VERSION:
            raise StoreError(f"store {self.path} has format_version {version}; this code reads "
                             f"{FORMAT_VERSION}: rerun the stage that writes it")
        try:
            self.ids: list[str] = list(self.attrs["ids"])
            self.lengths = dict(zip(self.ids, self.attrs["lengths"], strict=True))
            self._offsets = dict(zip(self.ids, self.attrs["offsets"], strict=True))
        except (KeyError, TypeError, ValueError) as error:
            raise StoreError(f"store {self.path} has a damaged index ({one_line(error)})") from error

    def _read_attrs(self) -> dict[str, Any]:
        """The store's attributes (index included); StoreError when the path holds no store."""
        if self.format == "zarr":
            metadata = self.path / "zarr.json"
            if not metadata.is_file():
                raise StoreError(f"{self.path} is not a store: a folder without zarr.json")
            try:
                return json.loads(metadata.read_text())["attributes"]
            except (ValueError, KeyError, TypeError) as error:
                raise StoreError(f"store {self.path} has a damaged zarr.json ({one_line(error)})") from error
        if _signature(self.path) != _HDF5_SIGNATURE:
            raise StoreError(f"{self.path} is not a store: neither a Zarr folder nor an HDF5 file")
        import h5py

        try:
            with h5py.File(self.path, "r") as handle:
                return json.loads(handle.attrs["store"])
        except (OSError, KeyError, ValueError) as error:
            raise StoreError(f"store {self.path} is damaged ({one_line(error)})") from error

    def _open(self):
        if self._handle is None:
            self._arrays = {}
            if self.format == "zarr":
                import zarr

                self._handle = zarr.open_group(str(self.path), mode="r")
            else:
                import h5py

                self._handle = h5py.File(self.path, "r")
        return self._handle

    def _array(self, name: str):
        """The field's array, opened once (opening a Zarr array reads its metadata file)."""
        handle = self._open()
        if name not in self._arrays:
            self._arrays[name] = handle[name]
        return self._arrays[name]

    @property
    def fields(self) -> list[str]:
        return sorted(name for name in self._open().keys())

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, utterance_id: str) -> bool:
        return utterance_id in self.lengths

    def read(self, utterance_id: str, fields: list[str] | None = None) -> dict[str, np.ndarray]:
        """The utterance's arrays, each (T, ...); StoreError when the files are damaged."""
        if utterance_id not in self.lengths:
            raise KeyError(f"{utterance_id} is not in the store {self.path}")
        start = self._offsets[utterance_id]
        stop = start + self.lengths[utterance_id]
        try:
            arrays = {name: np.asarray(self._array(name)[start:stop]) for name in (fields or self.fields)}
        except (OSError, ValueError, RuntimeError, KeyError) as error:
            raise StoreError(f"store {self.path} is damaged: reading {utterance_id} failed "
                             f"({one_line(error)})") from error
        if any(len(array) != stop - start for array in arrays.values()):
            raise StoreError(f"store {self.path} is damaged: {utterance_id} is cut short")
        return arrays

    def close(self) -> None:
        """Forget open handles; the next read opens them again (e.g. in a forked worker)."""
        self._handle, self._arrays = None, {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_handle": None, "_arrays": {}}


def _signature(path: Path) -> bytes:
    with open(path, "rb") as stream:
        return stream.read(8)
