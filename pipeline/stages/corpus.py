"""Stage `corpus`: make or find the corpus, check every utterance, write the manifest.

`corpus.source: synthetic` generates the embedded corpus into `out` (GRID's sentences, or with
`corpus.synthetic.sentences: open` sentences outside GRID's grammar); `grid`, `lombardgrid`,
`lrs3`, `lrs2`, `lip2wav` and `folder` index an existing tree at `corpus.root` (`out` is then left
empty). A clip longer than `corpus.max_seconds` is cut into pieces (pipeline.corpora.cuts).
The manifest records every video as the stages will read it, resampled to `video.fps`, next to
its own frame rate. Unusable utterances go to the rejects file with a one-line reason; one with
an alignment that cannot be used is counted as a warning and costs only its times (GRID and Lombard
GRID ids spell their words). The audio is the first audio file as long as the video, else the
video's own track (`metrics/corpus.json` counts each). The stage fails only
when the rejected fraction exceeds `corpus.max_reject_fraction` or nothing is left.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.compute.parallel import ParallelParams, parallel_map
from pipeline.corpora import Source
from pipeline.corpora.folder import FolderLayout
from pipeline.corpora.grid import GridLayout
from pipeline.corpora.lombard import LombardLayout
from pipeline.corpora.sheet import corpus_sheet
from pipeline.corpora.sources import Checks, check, corpus_summary, find_candidates
from pipeline.corpora.synthetic.generator import SyntheticParams, generate_corpus
from pipeline.errors import StageError
from pipeline.io.files import remove, write_json
from pipeline.io.manifest import Utterance, write_manifest, write_rejects
from pipeline.io.media import VideoParams
from pipeline.stages import Stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CorpusParams:
    """`corpus` in params.yaml."""

    source: Source = "synthetic"
    root: str = "data/corpus"  # an existing corpus (every source but synthetic, which writes to `out`)
    max_reject_fraction: float = 0.2
    max_seconds: float = 15.0  # longer clips are cut into utterances of at most this (pipeline.corpora.cuts)
    synthetic: SyntheticParams = field(default_factory=SyntheticParams)
    grid: GridLayout = field(default_factory=GridLayout)
    lombardgrid: LombardLayout = field(default_factory=LombardLayout)
    folder: FolderLayout = field(default_factory=FolderLayout)
    checks: Checks = field(default_factory=Checks)


def run(corpus: CorpusParams, video: VideoParams, parallel: ParallelParams, out: Path, manifest: Path, rejects: Path,
        metrics: Path, sheet: Path | None = None) -> dict:
    """The whole stage; returns its metrics. Raises StageError when the result is unusable."""
    if corpus.source == "synthetic":
        count = generate_corpus(out, corpus.synthetic, parallel)
        log.info("generated %d utterances of %d speakers into %s", count, corpus.synthetic.speakers, out)
        root = out
    else:
        # Real corpora stay where they are; the stage's folder output stays empty.
        remove(out)
        out.mkdir(parents=True)
        root = Path(corpus.root)
    found = find_candidates(corpus.source, root, corpus.grid, corpus.lombardgrid, corpus.folder,
                            corpus.synthetic.sentences)
    for warning in found.warnings:
        log.warning("%s", warning)
    for reason, count in sorted(found.skipped.items()):
        log.info("passed over %d files: %s", count, reason)
    log.info("checking %d utterances found under %s", len(found.candidates), root)
    utterances: list[Utterance] = []
    rejected, warnings, passed_over = list(found.rejects), list(found.warnings), 0
    for checked in parallel_map(functools.partial(check, checks=corpus.checks, fps=video.fps,
                                                  max_seconds=corpus.max_seconds), found.candidates,
                                parallel, desc="corpus: check"):
        if isinstance(checked.result, list):
            utterances += checked.result
        elif isinstance(checked.result, Utterance):
            utterances.append(checked.result)
        else:
            rejected.append(checked.result)
        if checked.warning:
            log.warning("%s", checked.warning)
            warnings.append(checked.warning)
        passed_over += len(checked.passed_over)
    if passed_over:
        log.info("%d audio files were not as long as their video (e.g. GRID's silence-trimmed audio_25k): "
                 "the video's own track was used", passed_over)
    summary = corpus_summary(utterances, rejected, warnings, passed_over, found.skipped)
    write_manifest(manifest, utterances)
    write_rejects(rejects, rejected)
    write_json(metrics, summary)
    if sheet is not None:
        corpus_sheet(utterances, sheet)
    log.info("%d usable utterances of %d speakers, %d rejected (see %s), %d kept with a warning",
             summary["utterances"], summary["speakers"], summary["rejected"], rejects, summary["warnings"])
    if not utterances:
        raise StageError(f"no usable utterance under {root} (source {corpus.source}); reasons in {rejects}")
    if summary["reject_fraction"] > corpus.max_reject_fraction:
        raise StageError(f"{summary['reject_fraction']:.0%} of utterances rejected, more than "
                         f"corpus.max_reject_fraction {corpus.max_reject_fraction:.0%}; reasons in {rejects}")
    return summary


STAGE = Stage(
    run,
    params={"corpus": CorpusParams, "video": VideoParams},
    runtime={"parallel": ParallelParams},
    outputs={"out": "data/corpus", "manifest": "data/manifest.jsonl", "rejects": "data/rejects.tsv",
             "metrics": "metrics/corpus.json", "sheet": "plots/corpus.png"},
)
