"""The corpus stage: the same files and manifest with any number of workers."""
from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.compute.parallel import ParallelParams
from pipeline.corpora.synthetic.generator import SyntheticParams
from pipeline.io.manifest import read_manifest
from pipeline.io.media import VideoParams
from pipeline.stages.corpus import CorpusParams, run


def _tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_outputs_are_identical_across_worker_counts(tmp_path: Path):
    corpus = CorpusParams(synthetic=SyntheticParams(speakers=2, utterances_per_speaker=2, seed=3))
    results = {}
    for n_jobs in (1, 2):
        out = tmp_path / f"jobs{n_jobs}"
        run(corpus, VideoParams(), ParallelParams(n_jobs=n_jobs), out=out / "corpus", manifest=out / "manifest.jsonl",
            rejects=out / "rejects.tsv", metrics=out / "metrics.json")
        manifest = (out / "manifest.jsonl").read_text().replace(str(out), "OUT")
        results[n_jobs] = (_tree_hashes(out / "corpus"), manifest, (out / "metrics.json").read_text())
        assert not (out / "corpus.partial").exists()
    assert results[1] == results[2]
    assert len(read_manifest(tmp_path / "jobs1" / "manifest.jsonl")) == 4

