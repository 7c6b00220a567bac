"""Benchmark: the feature-store reader against a thesis-style on-the-fly loader.

    python -m bench.dataset [--speakers 2] [--utterances 16]

On the same generated utterances, in one run: samples/s of `pipeline.learn.dataset` (it hands
out the stored int16 video and float32 mel; the normalisation runs on the batch where the model
is) for each store format and compression (Zarr zstd / lz4, HDF5 lzf / none), with 0 and 2
DataLoader workers, batches of 8, against a loader that, like the thesis' dataset, decodes the
video, crops the mouth, computes the derivatives and the mel in `__getitem__`; then where a
sample's time goes in the fastest store (reading the video, reading the mel, batching); then each
store's bytes on disk against the raw array bytes, its file count, and write throughput.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from bench.common import feature_stores, markdown_table, prepare
from pipeline.audio.mels import AudioParams, log_mel
from pipeline.face.crop import CropParams, mouth_crops
from pipeline.face.features import FeatureParams, video_features
from pipeline.io.manifest import read_manifest, speakers_by_id
from pipeline.io.media import read_audio, read_video
from pipeline.io.store import StoreParams, StoreReader
from pipeline.learn.dataset import LipSpeechDataset, collate, worker_init_fn
from pipeline.learn.normalization import Normalizer
from pipeline.stages import derivatives


class OnTheFly(Dataset):
    """The thesis' way: everything from the raw files at every access."""

    def __init__(self, utterances, landmarks: StoreReader, normalizer: Normalizer) -> None:
        self.utterances, self.landmarks, self.normalizer = utterances, landmarks, normalizer

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, index: int):
        utterance = self.utterances[index]
        frames = read_video(Path(utterance.video), grayscale=True)
        points = self.landmarks.read(utterance.id, ["points"])["points"]
        video = video_features(mouth_crops(frames, points, CropParams()).crops)
        samples, rate = read_audio(utterance.audio, Path(utterance.video))
        mel = log_mel(samples, rate, utterance.frames, utterance.fps, AudioParams())
        return self.normalizer.video(video), self.normalizer.mel(mel)


def _rate(loader, passes: int = 2) -> float:
    """Samples per second over `passes` epochs, after one warm-up batch."""
    iterator = iter(loader)
    next(iterator)
    count, start = 0, time.perf_counter()
    for _ in range(passes):
        for batch in loader:
            count += len(batch.ids) if hasattr(batch, "ids") else len(batch[0])
    return count / (time.perf_counter() - start)


def _disk(path: Path) -> tuple[int, int]:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


CONFIGS = (("zarr", "zstd"), ("zarr", "lz4"), ("hdf5", "zstd"), ("hdf5", "none"))  # hdf5 zstd: LZF


def _label(store_format: str, compression: str) -> str:
    default = StoreParams()
    marked = " (default)" if (store_format, compression) == (default.format, default.training_compression) else ""
    return f"{store_format}, {'lzf' if store_format == 'hdf5' and compression != 'none' else compression}{marked}"


def _costs(dataset: LipSpeechDataset) -> dict[str, float]:
    """Milliseconds per sample of reading its video, reading its mel, and batching (collate)."""
    ids = dataset.ids
    start = time.perf_counter()
    for i in ids:
        dataset.features.read(i, ["video"])
    video = time.perf_counter() - start
    start = time.perf_counter()
    for i in ids:
        dataset.mels.read(i, ["mel"])
    mel = time.perf_counter() - start
    samples = [dataset[i] for i in range(len(dataset))]
    start = time.perf_counter()
    for first in range(0, len(samples), 8):
        collate(samples[first:first + 8])
    batching = time.perf_counter() - start
    return {name: 1000 * seconds / len(ids) for name, seconds in
            (("read video", video), ("read mel", mel), ("collate", batching))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speakers", type=int, default=2)
    parser.add_argument("--utterances", type=int, default=16, help="per speaker")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        paths = prepare(root, args.speakers, args.utterances)
        utterances = read_manifest(paths["manifest"])
        rows, disk_rows, costs = [], [], {}
        for store_format, compression in CONFIGS:
            label = _label(store_format, compression)
            start = time.perf_counter()
            derivatives.run(FeatureParams(), StoreParams(store_format, compression=compression,
                                                         training_compression=compression),
                            mouths=paths["mouths"], out=root / f"write_test.{store_format}.{compression}")
            write_seconds = time.perf_counter() - start
            stores = feature_stores(root, paths, store_format, compression)
            features, mel_store, stats_path = stores["features"], stores["mels"], stores["stats"]
            dataset = LipSpeechDataset(
                [u.id for u in utterances], StoreReader(features), StoreReader(mel_store),
                json.loads(stats_path.read_text()), speakers_by_id(utterances))
            for workers in (0, 2):
                loader = DataLoader(dataset, batch_size=8, shuffle=False, collate_fn=collate, num_workers=workers,
                                    worker_init_fn=worker_init_fn if workers else None,
                                    persistent_workers=workers > 0)
                rows.append((f"reader, {label}, {workers} workers", _rate(loader)))
            costs[label] = _costs(dataset)
            for name, path, field in (("video features", features, "video"), ("mels", mel_store, "mel")):
                reader = StoreReader(path)
                raw = sum(reader.read(i, [field])[field].nbytes for i in reader.ids)
                size, count = _disk(path)
                disk_rows.append((f"{name}, {label}", raw, size, count))
            video_bytes = sum(StoreReader(features).read(i)["video"].nbytes for i in dataset.ids)
            disk_rows[-2] += (video_bytes / write_seconds / 1e6,)
        normalizer = dataset.normalizer
        on_the_fly = DataLoader(OnTheFly(utterances, StoreReader(paths["landmarks"]), normalizer), batch_size=8,
                                collate_fn=lambda items: ([v for v, _ in items], [m for _, m in items]))
        baseline = _rate(on_the_fly, passes=1)
    print(f"\nreader vs on-the-fly, {len(utterances)} utterances (75 frames, 3 x 64 x 64 int16 video, "
          f"80 x 225 mel), batches of 8\n")
    print(markdown_table(["loader", "samples/s", "vs on-the-fly"],
                         [["on-the-fly (thesis), 0 workers", f"{baseline:.1f}", "1.0x"]]
                         + [[what, f"{rate:.1f}", f"{rate / baseline:.1f}x"] for what, rate in rows]))
    print("\nwhere a sample's time goes, ms (one process)\n")
    print(markdown_table(["store", *next(iter(costs.values()))], [[label, *(f"{v:.2f}" for v in values.values())]
                                                                 for label, values in costs.items()]))
    print()
    print(markdown_table(["store", "raw MB", "disk MB", "ratio", "files", "write MB/s"], [
        [what, f"{raw / 1e6:.1f}", f"{size / 1e6:.1f}", f"{raw / size:.1f}", count, f"{write[0]:.0f}" if write else ""]
        for what, raw, size, count, *write in disk_rows]))


if __name__ == "__main__":
    main()
