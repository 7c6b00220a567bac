"""How sure a figure over test utterances is: bootstrap intervals of means, and of the paired
difference of two runs on the same utterances.

The unit resampled is the utterance (so a WER is resampled by utterance: the word errors of one
sentence are not independent). Resamples are seeded by their size, so reruns and every metric of
one block share the same draws: a ratio of means (the MCD gap closed) or a difference of two runs
is taken draw by draw.

    draws = resamples(len(ids))
    low, high = interval(bootstrap_means(column(values), draws))
"""
from __future__ import annotations

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95
SEED = 20261130
DIGITS = 4


def resamples(count: int, draws: int = RESAMPLES) -> np.ndarray:
    """(draws, count) utterance indices drawn with replacement, the same for the same count."""
    return np.random.default_rng([SEED, count]).integers(0, count, size=(draws, count)) if count else \
        np.zeros((draws, 0), np.int64)


def column(values: list[float | None]) -> np.ndarray:
    """Per-utterance values as floats, NaN where a figure is missing (e.g. PESQ found no speech)."""
    return np.array([np.nan if v is None else float(v) for v in values], np.float64)


def bootstrap_means(values: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """(draws,) the mean of the present values of each resample (NaN when a draw has none)."""
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    counts = present[draws].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return filled[draws].sum(axis=1) / counts


def interval(statistics: np.ndarray) -> tuple[float, float] | None:
    """The central LEVEL interval of bootstrap statistics (percentiles), rounded; None when no
    draw gave one."""
    finite = statistics[np.isfinite(statistics)]
    if not len(finite):
        return None
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return round(float(low), DIGITS) + 0.0, round(float(high), DIGITS) + 0.0  # + 0.0: no "-0.0"


def gap_closed(model: np.ndarray, oracle: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """(mean - model) / (mean - oracle), draw by draw (NaN where the mean voice is not worse)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mean > oracle, (mean - model) / (mean - oracle), np.nan)


def with_interval(block: dict, name: str, bounds: tuple[float, float] | None) -> None:
    """`name_ci_low` and `name_ci_high` next to `name` in a metrics block (null when unknown)."""
    block[f"{name}_ci_low"], block[f"{name}_ci_high"] = bounds if bounds is not None else (None, None)
