"""Benchmark: the feature-store reader against a thesis-style on-the-fly loader.

    python -m bench.dataset [--speakers 2] [--utterances 16]

On the same generated utterances, in one run: samples/s of `pipeline.dataset` (Zarr and HDF5,
0, 1 and 2 DataLoader workers, batches of 8) and of a loader that, like the thesis' dataset,
decodes the video, crops the mouth, computes the derivatives and the mel in `__getitem__`; then
each store's bytes on disk against the raw array bytes, its file count, and write throughput.
The issue's target is a reader >= 100x the on-the-fly loader.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from pipeline import derivatives, mels, stats
from pipeline.audio import AudioParams, log_mel
from pipeline.crop import CropParams, mouth_crops
from pipeline.dataset import LipSpeechDataset, Normalizer, collate, worker_init_fn
from pipeline.features import video_features
from pipeline.landmarks import LandmarksParams, run as run_landmarks
from pipeline.manifest import read_manifest, write_manifest
from pipeline.media import read_audio, read_video
from pipeline.mouths import run as run_mouths
from pipeline.parallel import ParallelParams
from pipeline.sources import Checks, GridLayout, check, find_grid
from pipeline.split import SplitParams, split_ids
from pipeline.store import StoreParams, StoreReader
from pipeline.synth.generator import SyntheticParams, generate, plan


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
        video = video_features(mouth_crops(frames, points, CropParams()))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speakers", type=int, default=2)
    parser.add_argument("--utterances", type=int, default=16, help="per speaker")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sequential = ParallelParams(n_jobs=1)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for job in plan(root / "corpus", SyntheticParams(args.speakers, args.utterances, seed=21)):
            generate(job)
        manifest = root / "manifest.jsonl"
        write_manifest(manifest, [check(c, Checks()) for c in find_grid(root / "corpus", GridLayout())])
        utterances = read_manifest(manifest)
        run_landmarks(LandmarksParams(), StoreParams(), ParallelParams(n_jobs=2), manifest, root / "landmarks",
                      root / "rejects.tsv", root / "m.json", root / "pu.json", None)
        run_mouths(CropParams(), StoreParams(), sequential, manifest, root / "landmarks", root / "mouths", None)
        split = root / "split.json"
        split.write_text(json.dumps(split_ids(utterances, SplitParams(train=0.8, val=0.1))))

        rows, disk_rows = [], []
        for store_format in ("zarr", "hdf5"):
            features, mel_store = root / f"features.{store_format}", root / f"mels.{store_format}"
            start = time.perf_counter()
            derivatives.run(derivatives.FeatureParams(), StoreParams(store_format), root / "mouths", features)
            write_seconds = time.perf_counter() - start
            mels.run(AudioParams(), StoreParams(store_format), sequential, manifest, mel_store)
            stats_path = root / f"stats.{store_format}.json"
            stats.run(features, mel_store, split, manifest, stats_path)
            dataset = LipSpeechDataset(
                [u.id for u in utterances], StoreReader(features), StoreReader(mel_store),
                json.loads(stats_path.read_text()), {u.id: u.speaker for u in utterances})
            for workers in (0, 1, 2):
                loader = DataLoader(dataset, batch_size=8, shuffle=False, collate_fn=collate, num_workers=workers,
                                    worker_init_fn=worker_init_fn if workers else None,
                                    persistent_workers=workers > 0)
                rows.append((f"reader, {store_format}, {workers} workers", _rate(loader)))
            for name, path, field in (("video features", features, "video"), ("mels", mel_store, "mel")):
                reader = StoreReader(path)
                raw = sum(reader.read(i, [field])[field].nbytes for i in reader.ids)
                size, count = _disk(path)
                disk_rows.append((f"{name}, {store_format}", raw, size, count))
            video_bytes = sum(StoreReader(features).read(i)["video"].nbytes for i in dataset.ids)
            disk_rows[-2] += (video_bytes / write_seconds / 1e6,)
        normalizer = dataset.normalizer
        on_the_fly = DataLoader(OnTheFly(utterances, StoreReader(root / "landmarks"), normalizer), batch_size=8,
                                collate_fn=lambda items: ([v for v, _ in items], [m for _, m in items]))
        baseline = _rate(on_the_fly, passes=1)
    print(f"\nreader vs on-the-fly, {len(utterances)} utterances (75 frames, 3 x 64 x 64 int16 video, "
          f"80 x 225 mel), batches of 8\n")
    print(f"| {'loader':<34} | {'samples/s':>9} | {'vs on-the-fly':>13} |")
    print(f"|{'-' * 36}|{'-' * 11}|{'-' * 15}|")
    print(f"| {'on-the-fly (thesis), 0 workers':<34} | {baseline:>9.1f} | {1.0:>12.1f}x |")
    for what, rate in rows:
        print(f"| {what:<34} | {rate:>9.1f} | {rate / baseline:>12.1f}x |")
    print(f"\n| {'store':<22} | {'raw MB':>7} | {'disk MB':>7} | {'ratio':>5} | {'files':>5} | {'write MB/s':>10} |")
    print(f"|{'-' * 24}|{'-' * 9}|{'-' * 9}|{'-' * 7}|{'-' * 7}|{'-' * 12}|")
    for what, raw, size, count, *write in disk_rows:
        speed = f"{write[0]:.0f}" if write else ""
        print(f"| {what:<22} | {raw / 1e6:>7.1f} | {size / 1e6:>7.1f} | {raw / size:>5.1f} | {count:>5} | {speed:>10} |")


if __name__ == "__main__":
    main()
