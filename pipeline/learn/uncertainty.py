"""How sure a figure over test utterances is: bootstrap intervals of means, and paired tests of
the difference between two runs on the same utterances.

The unit resampled is the utterance (so a WER is resampled by utterance: the word errors of one
sentence are not independent). Resamples are seeded by their size, so reruns and every metric of
one block share the same draws: a ratio of means (the MCD gap closed) or a difference of two runs
is taken draw by draw.

    draws = resamples(len(ids))
    low, high = interval(bootstrap_means(column(values), draws))

Below MIN_UTTERANCES utterances no interval is given and no difference is judged: a bootstrap of
three values gives an interval that holds far less than its level (of one, a zero-width one).

Two runs on the same utterances (`paired_test`): the difference of their means, a studentised
bootstrap interval of it (bootstrap-t: it keeps its level on small samples, where the percentile
interval is too narrow), and the p-value of a paired permutation test (each utterance's two
figures swapped at random: exact under "no difference", whatever their distribution; every
swap pattern below EXACT_UP_TO utterances, else PERMUTATIONS seeded draws). `holm` adjusts the
p-values of several metrics compared at once, so that the chance of calling any of them different
when none is stays within 1 - LEVEL.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
PERMUTATIONS = 10_000
EXACT_UP_TO = 12  # utterances: 2^12 swap patterns enumerated
LEVEL = 0.95
SEED = 20261130
DIGITS = 4
MIN_UTTERANCES = 10  # below this, no interval and no verdict


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


def _rounded(low: float, high: float) -> tuple[float, float]:
    return round(float(low), DIGITS) + 0.0, round(float(high), DIGITS) + 0.0  # + 0.0: no "-0.0"


def interval(statistics: np.ndarray) -> tuple[float, float] | None:
    """The central LEVEL interval of bootstrap statistics (percentiles), rounded; None when no
    draw gave one."""
    finite = statistics[np.isfinite(statistics)]
    if not len(finite):
        return None
    tail = (1 - LEVEL) / 2 * 100
    return _rounded(*np.percentile(finite, [tail, 100 - tail]))


def gap_closed(model: np.ndarray, oracle: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """(mean - model) / (mean - oracle), draw by draw (NaN where the mean voice is not worse)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mean > oracle, (mean - model) / (mean - oracle), np.nan)


def with_interval(block: dict, name: str, bounds: tuple[float, float] | None) -> None:
    """`name_ci_low` and `name_ci_high` next to `name` in a metrics block (null when unknown)."""
    block[f"{name}_ci_low"], block[f"{name}_ci_high"] = bounds if bounds is not None else (None, None)


def too_few(count: int) -> str | None:
    """Why `count` utterances get no interval or verdict, or None when they are enough."""
    return None if count >= MIN_UTTERANCES else \
        f"too few utterances to tell ({count}; at least {MIN_UTTERANCES} needed)"


def interval_of(values: np.ndarray, draws: np.ndarray) -> tuple[float, float] | None:
    """The LEVEL bootstrap interval of the mean of `values` (NaN: missing) over `draws`; None
    when fewer than MIN_UTTERANCES values are present."""
    if too_few(int((~np.isnan(values)).sum())):
        return None
    return interval(bootstrap_means(values, draws))


@functools.lru_cache(maxsize=8)
def swap_patterns(count: int) -> np.ndarray:
    """(patterns, count) 0/1, read-only: which utterances swap their two runs' figures in each
    permutation; every pattern up to EXACT_UP_TO utterances, else PERMUTATIONS seeded draws (the
    same for the same count, so every metric of a comparison shares them)."""
    if count <= EXACT_UP_TO:
        patterns = np.array(list(itertools.product((0.0, 1.0), repeat=count)), np.float64).reshape(-1, count)
    else:
        patterns = np.random.default_rng([SEED, count, 1]).integers(0, 2, size=(PERMUTATIONS, count)).astype(
            np.float64)
    patterns.flags.writeable = False
    return patterns


def permutation_p(observed: float, permuted: np.ndarray, count: int) -> float:
    """Two-sided p-value of an observed statistic among its values under the `swap_patterns` of
    `count` utterances: exact when they are every pattern; a Monte Carlo p-value otherwise, which
    counts the observed as one of the draws, so it is never 0."""
    if not np.isfinite(observed):
        return float("nan")
    at_least = np.abs(permuted) >= abs(observed) * (1 - 1e-9) - 1e-12  # float noise: ties count
    if count <= EXACT_UP_TO:
        return float(at_least.mean())
    return float((at_least.sum() + 1) / (len(permuted) + 1))


@dataclass(frozen=True)
class PairedTest:
    """The difference of two runs' means on the same utterances (second - first), its studentised
    bootstrap interval and the permutation test's p-value."""

    count: int
    difference: float
    low: float
    high: float
    p_value: float


def paired_test(first: np.ndarray, second: np.ndarray) -> PairedTest | None:
    """The paired test of two runs' figures on the same utterances, over the utterances both
    have; None when none has both."""
    both = ~np.isnan(first) & ~np.isnan(second)
    differences = second[both] - first[both]
    count = len(differences)
    if not count:
        return None
    mean = float(differences.mean())
    patterns = swap_patterns(count)
    # Swapping an utterance's two figures negates its difference.
    permuted = (differences[None, :] * (1 - 2 * patterns)).mean(axis=1)
    p_value = permutation_p(mean, permuted, count)
    return PairedTest(count, mean, *studentised_interval(differences), p_value)


def studentised_interval(values: np.ndarray) -> tuple[float, float]:
    """The LEVEL bootstrap-t interval of the mean of `values` (no NaN): the mean minus the
    bootstrap quantiles of (resampled mean - mean) / resampled standard error, times the standard
    error. Values that never vary give a zero-width interval at their mean."""
    count, mean = len(values), float(values.mean())
    error = float(values.std(ddof=1)) / np.sqrt(count) if count > 1 else 0.0
    if error == 0.0:
        return _rounded(mean, mean)
    drawn = values[resamples(count)]
    errors = drawn.std(axis=1, ddof=1) / np.sqrt(count)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (drawn.mean(axis=1) - mean) / errors
    t = t[np.isfinite(t)]
    tail = (1 - LEVEL) / 2 * 100
    upper, lower = np.percentile(t, [100 - tail, tail])
    return _rounded(mean - upper * error, mean - lower * error)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN): a metric is real at the family's level
    when its adjusted p-value is below 1 - LEVEL, and the chance that any of them is called real
    when none differs stays within 1 - LEVEL, however the metrics depend on each other."""
    order = sorted((p, i) for i, p in enumerate(p_values) if np.isfinite(p))
    adjusted = [float("nan")] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p))
        adjusted[index] = running
    return adjusted
