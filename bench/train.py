"""Benchmark: training throughput of each decoder with the model params of params.yaml.

    python -m bench.train [--steps 6] [--device auto] [--workers 0] [--data data]

One run, same data (a generated corpus through the preprocessing stages, or the prepared stores
of `--data`: a folder laid out as the pipeline's data/ after `dvc repro stats`), batches of 8
whole utterances (the mlp decoder: its fixed 75-frame input): training samples/s per decoder after
one warm-up step, and the share of step time spent waiting for the DataLoader (the target on a
GPU is under 10%).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, RandomSampler

from bench.common import feature_stores, markdown_table, prepare, store_paths
from models.model import ModelParams
from pipeline.compute.device import resolve_device
from pipeline.io import params as params_io
from pipeline.learn.dataset import collate, worker_init_fn
from pipeline.learn.training import TrainingData, TrainParams, build, train_step


def _throughput(decoder: str, model_params: ModelParams, data: TrainingData, device: torch.device, steps: int,
                workers: int) -> tuple[float, float]:
    train = TrainParams(batch_size=8, num_workers=workers)
    setup = build(decoder, model_params, train, "standard", data)
    model = setup.model.to(device).train()
    normalizer = setup.train_set.normalizer.module().to(device)
    # One pass of steps + 1 batches drawn with replacement: the workers prefetch all along, as in an
    # epoch of a corpus larger than this one (a new pass would restart their prefetching).
    sampler = RandomSampler(setup.train_set, replacement=True, num_samples=8 * (steps + 1),
                            generator=torch.Generator().manual_seed(0))
    loader = DataLoader(setup.train_set, batch_size=8, sampler=sampler, collate_fn=collate, num_workers=workers,
                        worker_init_fn=worker_init_fn if workers else None, pin_memory=device.type == "cuda")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    wait = compute = 0.0
    ready = time.perf_counter()
    for done, batch in enumerate(loader):
        arrived = time.perf_counter()
        train_step(model, model, batch, optimizer, device, normalizer)
        if device.type == "cuda":
            torch.cuda.synchronize()
        finished = time.perf_counter()
        if done > 0:  # the first step warms up (allocations, cuDNN autotuning)
            wait += arrived - ready
            compute += finished - arrived
        ready = time.perf_counter()
    return 8 * steps / (wait + compute), wait / (wait + compute)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--speakers", type=int, default=2)
    parser.add_argument("--utterances", type=int, default=12, help="per speaker")
    parser.add_argument("--data", type=Path, help="prepared stores (features, mels, split.json, stats.json, "
                        "manifest.jsonl) instead of a generated corpus")
    args = parser.parse_args()
    values = params_io.load()
    model_params = params_io.section(ModelParams, values.get("model"), "model")
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        stores = store_paths(args.data) if args.data else feature_stores(root, prepare(root, args.speakers,
                                                                                         args.utterances))
        data = TrainingData(stores["features"], stores["mels"], stores["split"], stores["stats"], stores["manifest"])
        rows = [(decoder, *_throughput(decoder, model_params, data, device, args.steps, args.workers))
                for decoder in ("mlp", "conv", "flow")]
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"\ntraining throughput, model width {model_params.width}, batches of 8 x 75 frames, {name}, "
          f"{args.workers} DataLoader workers, {args.steps} steps\n")
    print(markdown_table(["decoder", "samples/s", "data wait"],
                         [[decoder, f"{rate:.1f}", f"{wait:.1%}"] for decoder, rate, wait in rows]))


if __name__ == "__main__":
    main()
