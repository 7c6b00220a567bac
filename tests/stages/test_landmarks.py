"""The landmarks stage: identical outputs however it is run (workers, a Dask cluster)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pipeline.compute.parallel import ParallelParams
from pipeline.errors import ParamsError
from pipeline.face.landmarks import LandmarksParams
from pipeline.io.store import StoreParams, StoreReader
from pipeline.stages.landmarks import run


def _store_hashes(path: Path) -> dict[str, str]:
    return {p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def _stage(tmp_path: Path, manifest: Path, parallel: ParallelParams, name: str) -> tuple[Path, dict]:
    out = tmp_path / name
    summary = run(LandmarksParams(), StoreParams(), parallel, manifest=manifest, out=out / "landmarks",
                  rejects=out / "rejects.tsv", metrics=out / "metrics.json", per_utterance=out / "per_utterance.json",
                  sheet=out / "sheet.png")
    return out, summary


def test_stage_output_is_identical_across_worker_counts(stores, tmp_path: Path):
    one, summary_one = _stage(tmp_path, stores["manifest"], ParallelParams(n_jobs=1), "one")
    two, summary_two = _stage(tmp_path, stores["manifest"], ParallelParams(n_jobs=2), "two")
    assert summary_one == summary_two and summary_one["utterances"] == 6
    assert _store_hashes(one / "landmarks") == _store_hashes(two / "landmarks")
    assert (one / "per_utterance.json").read_text() == (two / "per_utterance.json").read_text()
    assert (one / "sheet.png").stat().st_size > 10_000
    reader = StoreReader(one / "landmarks")
    assert reader.ids == sorted(reader.ids) and reader.read(reader.ids[0])["points"].shape == (75, 68, 2)


@pytest.mark.slow
def test_dask_cluster_gives_the_same_results_as_loky(stores, tmp_path: Path):
    from dask.distributed import LocalCluster

    loky, _ = _stage(tmp_path, stores["manifest"], ParallelParams(n_jobs=2), "loky")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        dask, _ = _stage(tmp_path, stores["manifest"],
                         ParallelParams(n_jobs=2, backend="dask", scheduler=cluster.scheduler_address), "dask")
    assert _store_hashes(loky / "landmarks") == _store_hashes(dask / "landmarks")


def test_dask_without_a_scheduler_says_what_is_missing(stores, tmp_path: Path):
    with pytest.raises(ParamsError, match="parallel.scheduler"):
        _stage(tmp_path, stores["manifest"], ParallelParams(n_jobs=2, backend="dask"), "x")
