"""Fan work out over utterances with joblib: `loky` processes on one machine, or joblib's Dask
backend on an existing scheduler. Results come back in input order with a progress bar; native
libraries run one thread per worker so n workers use n cores."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, TypeVar

from tqdm import tqdm

from pipeline.errors import ParamsError

T = TypeVar("T")
R = TypeVar("R")
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class ParallelParams:
    """`parallel` in params.yaml."""

    n_jobs: int = 2
    backend: Literal["loky", "dask"] = "loky"
    scheduler: str | None = None  # dask scheduler address, e.g. tcp://10.0.0.5:8786
    batch_size: int | Literal["auto"] = "auto"


def pin_threads() -> None:
    """One native thread for OpenCV, BLAS/OpenMP and torch in this process."""
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"
    import cv2

    cv2.setNumThreads(1)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


class _Pinned:
    """Picklable wrapper: pins threads in the worker, then calls the function."""

    def __init__(self, function: Callable) -> None:
        self.function = function

    def __call__(self, item):
        pin_threads()
        return self.function(item)


def parallel_map(function: Callable[[T], R], items: Iterable[T], params: ParallelParams,
                 desc: str, unit: str = "utt", total: int | None = None) -> Iterator[R]:
    """function(item) for every item, in order, with a progress bar. Given their `total`, the
    items are drawn as workers need them (a generator that makes them, e.g. on the GPU, runs
    ahead of the workers by a few items only); otherwise they are listed first."""
    if total is None:
        items = list(items)
        total = len(items)
    bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, mininterval=0.5)
    try:
        if params.n_jobs == 1 or total <= 1:
            for item in items:
                yield function(item)
                bar.update()
            return
        yield from _joblib_map(_Pinned(function), items, params, bar)
    finally:
        bar.close()


def _joblib_map(function, items, params: ParallelParams, bar) -> Iterator:
    from joblib import Parallel, delayed, parallel_config

    client = None
    if params.backend == "dask":
        if not params.scheduler:
            raise ParamsError("parallel.backend: dask needs parallel.scheduler (the scheduler address)")
        from dask.distributed import Client

        client = Client(params.scheduler)
        config = parallel_config(backend="dask", n_jobs=params.n_jobs)
    else:
        config = parallel_config(backend="loky", n_jobs=params.n_jobs, inner_max_num_threads=1)
    try:
        with config:
            runner = Parallel(return_as="generator", batch_size=params.batch_size)
            for result in runner(delayed(function)(item) for item in items):
                yield result
                bar.update()
    finally:
        if client is not None:
            client.close()
