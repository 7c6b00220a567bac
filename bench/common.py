"""Shared by the benchmarks and the tests: small generated corpora taken through the
preprocessing stages in this process, and markdown tables."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.compute.parallel import ParallelParams
from pipeline.corpora.grid import GridLayout, find_grid
from pipeline.corpora.sources import Checks, check
from pipeline.corpora.synthetic.generator import SyntheticParams, generate_corpus
from pipeline.io.manifest import Utterance, write_manifest
from pipeline.io.media import VideoParams
from pipeline.io.splits import SplitParams

SEQUENTIAL = ParallelParams(n_jobs=1)
REAL_GRID = Path(__file__).resolve().parents[1] / "tests" / "data" / "real_grid"  # four real GRID videos, CC BY 4.0


def face_crop(frame: np.ndarray, size: int) -> np.ndarray:
    """A GRID frame cropped square around the face and scaled to size x size, as LRS3 (224) and
    LRS2 (160) crop theirs."""
    return cv2.resize(frame[24:264, 60:300], (size, size), interpolation=cv2.INTER_AREA)


def manifest_of(root: Path, fps: float = VideoParams.fps) -> list[Utterance]:
    """The checked utterances of a generated corpus at root, as read at `fps`."""
    return [check(c, Checks(), fps).result for c in find_grid(root, GridLayout()).candidates]


def preprocess(corpus: Path, out: Path, split: SplitParams | None = None, stages: tuple[str, ...] | None = None,
               **sections) -> dict[str, Path]:
    """A generated corpus through the stages landmarks, mouths, derivatives, mels, split and stats
    (or the first few of them: `stages`), in this process, into `out`. `sections` replace stage
    params by section name (landmarks, mouths, store, features, audio, parallel); `split` is
    one utterance each for train, val and test of three per speaker unless given."""
    from pipeline.audio.mels import AudioParams
    from pipeline.face.crop import CropParams
    from pipeline.face.features import FeatureParams
    from pipeline.face.landmarks import LandmarksParams
    from pipeline.io.store import StoreParams
    from pipeline.stages import derivatives, landmarks, mels, mouths, stats
    from pipeline.stages import split as split_stage

    params = {"landmarks": LandmarksParams(), "mouths": CropParams(), "store": StoreParams(),
              "features": FeatureParams(), "audio": AudioParams(), "parallel": SEQUENTIAL, **sections}
    wanted = stages or ("landmarks", "mouths", "derivatives", "mels", "split", "stats")
    out.mkdir(parents=True, exist_ok=True)
    paths = store_paths(out)
    write_manifest(paths["manifest"], manifest_of(corpus))
    if "landmarks" in wanted:
        landmarks.run(params["landmarks"], params["store"], params["parallel"], manifest=paths["manifest"],
                      out=paths["landmarks"], rejects=out / "landmarks_rejects.tsv", metrics=out / "landmarks.json",
                      per_utterance=out / "landmarks_per_utterance.json")
    if "mouths" in wanted:
        mouths.run(params["mouths"], params["store"], params["parallel"], manifest=paths["manifest"],
                   landmarks=paths["landmarks"], out=paths["mouths"])
    if "derivatives" in wanted:
        derivatives.run(params["features"], params["store"], mouths=paths["mouths"], out=paths["features"])
    if "mels" in wanted:
        mels.run(params["audio"], params["store"], params["parallel"], manifest=paths["manifest"], out=paths["mels"])
    if "split" in wanted:
        split_stage.run(split or SplitParams(train=0.34, val=0.33), "synthetic", manifest=paths["manifest"],
                        out=paths["split"])
    if "stats" in wanted:
        stats.run(paths["features"], paths["mels"], paths["split"], paths["manifest"], paths["stats"])
    return paths


def store_paths(out: Path) -> dict[str, Path]:
    """Where `preprocess` writes each stage's output under `out`."""
    paths = {name: out / name for name in ("landmarks", "mouths", "features", "mels")}
    return {**paths, "manifest": out / "manifest.jsonl", "split": out / "split.json", "stats": out / "stats.json"}


def prepare(root: Path, speakers: int, utterances: int, seed: int = 21) -> dict[str, Path]:
    """Generate a corpus under root/corpus and run landmarks, mouths and split on it."""
    generate_corpus(root / "corpus", SyntheticParams(speakers, utterances, seed=seed), SEQUENTIAL)
    return preprocess(root / "corpus", root, SplitParams(train=0.8, val=0.1), ("landmarks", "mouths", "split"),
                      parallel=ParallelParams(n_jobs=2))


def feature_stores(root: Path, paths: dict[str, Path], store_format: str = "zarr",
                   compression: str = "zstd") -> dict[str, Path]:
    """Features, mels and stats in `store_format` with `compression`, next to the prepared corpus."""
    from pipeline.io.store import StoreParams
    from pipeline.stages import derivatives, mels, stats

    name = f"{store_format}.{compression}"
    store = StoreParams(store_format, compression=compression, training_compression=compression)
    out = {**paths, "features": root / f"features.{name}", "mels": root / f"mels.{name}",
           "stats": root / f"stats.{name}.json"}
    derivatives.run(derivatives.FeatureParams(), store, mouths=paths["mouths"], out=out["features"])
    mels.run(mels.AudioParams(), store, SEQUENTIAL, manifest=paths["manifest"], out=out["mels"])
    stats.run(out["features"], out["mels"], paths["split"], paths["manifest"], out["stats"])
    return out


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A markdown table, columns padded to their widest cell; the first column left-aligned,
    the others right-aligned (they hold numbers)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells) -> str:
        pairs = enumerate(zip(map(str, cells), widths, strict=True))
        padded = [f"{cell:<{w}}" if i == 0 else f"{cell:>{w}}" for i, (cell, w) in pairs]
        return "| " + " | ".join(padded) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), separator, *(line(row) for row in rows)])
