"""Shared by the benchmarks: a small generated corpus taken through the preprocessing stages."""
from __future__ import annotations

import json
from pathlib import Path

from pipeline import derivatives, mels, stats
from pipeline.audio import AudioParams
from pipeline.crop import CropParams
from pipeline.landmarks import LandmarksParams
from pipeline.landmarks import run as run_landmarks
from pipeline.manifest import read_manifest, write_manifest
from pipeline.mouths import run as run_mouths
from pipeline.parallel import ParallelParams
from pipeline.sources import Checks, GridLayout, check, find_grid
from pipeline.split import SplitParams, split_ids
from pipeline.store import StoreParams
from pipeline.synth.generator import SyntheticParams, generate, plan


def prepare(root: Path, speakers: int, utterances: int, seed: int = 21) -> dict[str, Path]:
    """Generate a corpus under root and run landmarks, mouths and split on it; returns paths."""
    for job in plan(root / "corpus", SyntheticParams(speakers, utterances, seed=seed)):
        generate(job)
    paths = {"manifest": root / "manifest.jsonl", "landmarks": root / "landmarks", "mouths": root / "mouths",
             "split": root / "split.json"}
    write_manifest(paths["manifest"], [check(c, Checks()) for c in find_grid(root / "corpus", GridLayout())])
    run_landmarks(LandmarksParams(), StoreParams(), ParallelParams(n_jobs=2), paths["manifest"], paths["landmarks"],
                  root / "rejects.tsv", root / "landmarks.json", root / "per_utterance.json", None)
    run_mouths(CropParams(), StoreParams(), ParallelParams(n_jobs=1), paths["manifest"], paths["landmarks"],
               paths["mouths"], None)
    paths["split"].write_text(json.dumps(split_ids(read_manifest(paths["manifest"]), SplitParams(train=0.8, val=0.1))))
    return paths


def feature_stores(root: Path, paths: dict[str, Path], store_format: str = "zarr") -> dict[str, Path]:
    """Features, mels and stats in `store_format`, next to the prepared corpus."""
    out = {**paths, "features": root / f"features.{store_format}", "mels": root / f"mels.{store_format}",
           "stats": root / f"stats.{store_format}.json"}
    derivatives.run(derivatives.FeatureParams(), StoreParams(store_format), paths["mouths"], out["features"])
    mels.run(AudioParams(), StoreParams(store_format), ParallelParams(n_jobs=1), paths["manifest"], out["mels"])
    stats.run(out["features"], out["mels"], paths["split"], paths["manifest"], out["stats"])
    return out


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A markdown table, columns padded to their widest cell; the first column left-aligned,
    the others right-aligned (they hold numbers)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells) -> str:
        padded = [f"{cell:<{w}}" if i == 0 else f"{cell:>{w}}" for i, (cell, w) in enumerate(zip(map(str, cells), widths))]
        return "| " + " | ".join(padded) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), separator, *(line(row) for row in rows)])
