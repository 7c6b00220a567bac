"""Stage `train`: fit the lip-to-speech model on the train split, keep the best epoch by val loss.

    python -m pipeline train                                   # what dvc.yaml runs
    torchrun --nproc_per_node 4 -m pipeline train              # several GPUs (DDP), one process each

The chosen decoder's recipe (`recipes.<decoder>`, pipeline.learn.recipes) is laid over `model`
and `train` first. The checkpoint holds the weights, the model config, the params, the normalisation stats and the
preprocessing (crop, features, audio settings), and loads with `torch.load(path,
weights_only=True)` (pipeline.learn.checkpoint). The loop: pipeline.learn.training.
"""
from __future__ import annotations

import logging
from pathlib import Path

from models.model import Decoder, ModelParams
from pipeline.io.files import write_json
from pipeline.learn.normalization import Normalization
from pipeline.learn.recipes import Recipes
from pipeline.learn.training import TrainingData, TrainParams, fit, process_group
from pipeline.stages import Stage

log = logging.getLogger(__name__)


def run(decoder: Decoder, recipes: Recipes, model: ModelParams, train: TrainParams, normalize: Normalization,
        features: Path, mels: Path, split: Path, stats: Path, manifest: Path, out: Path, metrics: Path,
        live: Path) -> dict:
    model, train = recipes.apply(decoder, model, train)
    data = TrainingData(features, mels, split, stats, manifest)
    with process_group(train.device) as processes:
        summary = fit(decoder, model, train, normalize, data, out, live, processes)
        if processes.rank == 0:
            write_json(metrics, summary)
    log.info("best val loss %.5f at epoch %d of %d", summary["best_val_loss"], summary["best_epoch"],
             summary["epochs"])
    return summary


STAGE = Stage(
    run,
    params={"decoder": Decoder, "recipes": Recipes, "model": ModelParams, "train": TrainParams,
            "normalize": Normalization},
    inputs={"features": "data/features", "mels": "data/mels", "split": "data/split.json", "stats": "data/stats.json",
            "manifest": "data/manifest.jsonl"},
    outputs={"out": "data/model.pt", "metrics": "metrics/train.json", "live": "dvclive"},
)
