"""Stage `corpus`: make or find the corpus, check every utterance, write the manifest.

    python -m pipeline.corpus --out data/corpus --manifest data/manifest.jsonl \\
        --rejects data/rejects.tsv --metrics metrics/corpus.json --sheet plots/corpus.png

`corpus.source: synthetic` generates the embedded GRID-format corpus into --out; `grid`,
`lombardgrid` and `folder` index an existing tree at `corpus.root` (--out is then left empty).
Unusable utterances go to the rejects file with a one-line reason; the stage fails only when the
rejected fraction exceeds `corpus.max_reject_fraction` or nothing is left.
"""
from __future__ import annotations

import argparse
import functools
import logging
import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import params as params_io
from pipeline.manifest import Reject, Utterance, write_json, write_manifest, write_rejects
from pipeline.parallel import ParallelParams, parallel_map
from pipeline.plots import corpus_sheet
from pipeline.sources import (
    Candidate,
    Checks,
    FolderLayout,
    GridLayout,
    LombardLayout,
    check,
    find_folder,
    find_grid,
    find_lombardgrid,
)
from pipeline.stage import StageError, run_stage
from pipeline.synth.generator import SyntheticParams, generate, plan

log = logging.getLogger("pipeline.corpus")
SOURCES = ("synthetic", "grid", "lombardgrid", "folder")


@dataclass(frozen=True)
class CorpusParams:
    """`corpus` in params.yaml."""

    source: str = "synthetic"
    root: str = "data/corpus"
    max_reject_fraction: float = 0.2
    synthetic: SyntheticParams = field(default_factory=SyntheticParams)
    grid: GridLayout = field(default_factory=GridLayout)
    lombardgrid: LombardLayout = field(default_factory=LombardLayout)
    folder: FolderLayout = field(default_factory=FolderLayout)
    checks: Checks = field(default_factory=Checks)


def generate_corpus(out: Path, synthetic: SyntheticParams, parallel: ParallelParams) -> None:
    """Generate into OUT.partial, then rename: an interrupted run never leaves a tree at OUT."""
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    jobs = plan(partial, synthetic)
    log.info("generating %d utterances of %d speakers into %s", len(jobs), synthetic.speakers, out)
    for _ in parallel_map(generate, jobs, parallel, desc="corpus: generate"):
        pass
    shutil.rmtree(out, ignore_errors=True)
    os.replace(partial, out)


def find_candidates(corpus: CorpusParams, root: Path) -> tuple[list[Candidate], list[Reject]]:
    """The utterances the source finds under root, plus files rejected by name alone."""
    if not root.is_dir():
        raise StageError(f"corpus.root {root} is not a folder (corpus.source: {corpus.source})")
    if corpus.source in ("synthetic", "grid"):
        return find_grid(root, corpus.grid if corpus.source == "grid" else GridLayout()), []
    if corpus.source == "lombardgrid":
        return find_lombardgrid(root, corpus.lombardgrid)
    return find_folder(root, corpus.folder), []


def _reason_kind(reason: str) -> str:
    """A reject reason without its numbers, to count reasons of one kind together."""
    return re.sub(r"-?\d+(\.\d+)?", "N", reason.split(":")[0])


def summarise(utterances: list[Utterance], rejects: list[Reject]) -> dict:
    total = len(utterances) + len(rejects)
    return {
        "utterances": len(utterances),
        "speakers": len({u.speaker for u in utterances}),
        "rejected": len(rejects),
        "reject_fraction": round(len(rejects) / total, 4) if total else 0.0,
        "hours": round(sum(u.duration for u in utterances) / 3600, 4),
        "rejects_by_reason": dict(sorted(Counter(_reason_kind(r.reason) for r in rejects).items())),
    }


def run(corpus: CorpusParams, parallel: ParallelParams, out: Path, manifest: Path, rejects_path: Path,
        metrics: Path, sheet: Path | None = None) -> dict:
    """The whole stage; returns its metrics. Raises StageError when the result is unusable."""
    if corpus.source not in SOURCES:
        raise StageError(f"corpus.source must be one of {', '.join(SOURCES)}, got {corpus.source!r}")
    if corpus.source == "synthetic":
        generate_corpus(out, corpus.synthetic, parallel)
        root = out
    else:
        # Real corpora stay where they are; the stage's folder output stays empty.
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        root = Path(corpus.root)
    candidates, rejects = find_candidates(corpus, root)
    log.info("checking %d utterances found under %s", len(candidates), root)
    utterances = []
    for result in parallel_map(functools.partial(check, checks=corpus.checks), candidates, parallel,
                               desc="corpus: check"):
        (utterances if isinstance(result, Utterance) else rejects).append(result)
    summary = summarise(utterances, rejects)
    write_manifest(manifest, utterances)
    write_rejects(rejects_path, rejects)
    write_json(metrics, summary)
    if sheet is not None:
        corpus_sheet(utterances, sheet)
    log.info("%d usable utterances of %d speakers, %d rejected (see %s)",
             summary["utterances"], summary["speakers"], summary["rejected"], rejects_path)
    if not utterances:
        raise StageError(f"no usable utterance under {root} (source {corpus.source}); reasons in {rejects_path}")
    if summary["reject_fraction"] > corpus.max_reject_fraction:
        raise StageError(f"{summary['reject_fraction']:.0%} of utterances rejected, more than "
                         f"corpus.max_reject_fraction {corpus.max_reject_fraction:.0%}; reasons in {rejects_path}")
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=params_io.DEFAULT_PATH)
    parser.add_argument("--out", type=Path, default=Path("data/corpus"))
    parser.add_argument("--manifest", type=Path, default=Path("data/manifest.jsonl"))
    parser.add_argument("--rejects", type=Path, default=Path("data/rejects.tsv"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/corpus.json"))
    parser.add_argument("--sheet", type=Path, default=Path("plots/corpus.png"),
                        help="contact sheet: a row of frames per speaker, labelled with the words")
    args = parser.parse_args(argv)
    run_stage(log, lambda values: run(
        params_io.section(CorpusParams, values.get("corpus"), "corpus"),
        params_io.section(ParallelParams, values.get("parallel"), "parallel"),
        args.out, args.manifest, args.rejects, args.metrics, args.sheet), args.params)


if __name__ == "__main__":
    # Run the imported module's main, so workers unpickle pipeline.corpus.*, not __main__.*.
    from pipeline.corpus import main as stage_main

    stage_main()
