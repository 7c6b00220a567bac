"""Bootstrap intervals over utterances: where they lie, how wide, that they are reproducible and
keep their level on small samples; the paired test and Holm's adjustment."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.learn.uncertainty import (
    MIN_UTTERANCES,
    bootstrap_means,
    column,
    gap_closed,
    holm,
    interval,
    interval_of,
    paired_test,
    resamples,
    studentised_interval,
    too_few,
)


def test_an_interval_holds_the_mean_narrows_with_more_utterances_and_repeats_exactly():
    base = np.random.default_rng(3).normal(0.7, 0.1, 12)
    widths = []
    for count in (12, 48, 192):
        values = np.tile(base, count // 12)  # the same spread at every size
        low, high = interval(bootstrap_means(values, resamples(count)))
        assert low < values.mean() < high
        widths.append(high - low)
        assert (low, high) == interval(bootstrap_means(values, resamples(count)))  # seeded
    # The standard error falls as 1/sqrt(n): each 4x the utterances halves the width, roughly.
    assert 1.6 < widths[0] / widths[1] < 2.5 and 1.6 < widths[1] / widths[2] < 2.5
    assert abs(widths[0] / 2 - 1.96 * base.std() / np.sqrt(12)) < 0.2 * widths[0]


def test_missing_figures_are_left_out_and_constant_ones_have_no_width():
    assert interval(bootstrap_means(column([0.5, 0.5, 0.5]), resamples(3))) == (0.5, 0.5)
    values = column([1.0, None, 3.0, None])
    low, high = interval(bootstrap_means(values, resamples(4)))
    assert 1.0 <= low <= high <= 3.0
    assert interval(bootstrap_means(column([None, None]), resamples(2))) is None


def test_the_gap_closed_is_taken_draw_by_draw_and_undefined_where_the_mean_voice_is_not_worse():
    model, oracle, mean = np.array([5.0, 6.0]), np.array([4.0, 4.0]), np.array([10.0, 3.0])
    gaps = gap_closed(model, oracle, mean)
    assert gaps[0] == (10 - 5) / (10 - 4) and np.isnan(gaps[1])


def test_paired_test_is_exact_for_small_samples_and_holm_steps_down():
    first = np.zeros(10)
    test = paired_test(first, np.full(10, 0.3))
    # Every utterance moved the same way: only "all swapped" and "none swapped" reach it.
    assert test is not None and test.count == 10 and test.p_value == 2 / 2 ** 10
    assert test.difference == pytest.approx(0.3) and (test.low, test.high) == (0.3, 0.3)
    mixed = paired_test(first, np.array([0.3, -0.3] * 5))
    assert mixed is not None and mixed.p_value == 1.0 and mixed.low < 0 < mixed.high
    assert paired_test(column([None, 1.0]), column([2.0, None])) is None
    assert holm([0.01, 0.04, float("nan"), 0.03]) == pytest.approx([0.03, 0.06, float("nan"), 0.06], nan_ok=True)


def test_a_studentised_interval_keeps_its_level_where_the_percentile_one_does_not():
    """Simulated samples of 10 skewed figures: the bootstrap-t interval covers the true mean
    about 95 % of the time, the percentile interval less."""
    rng = np.random.default_rng(0)
    covered = {"studentised": 0, "percentile": 0}
    for _ in range(400):
        values = rng.exponential(1.0, 10)
        low, high = studentised_interval(values)
        covered["studentised"] += low <= 1.0 <= high
        low, high = interval(bootstrap_means(values, resamples(10)))
        covered["percentile"] += low <= 1.0 <= high
    assert covered["studentised"] / 400 >= 0.92 > covered["percentile"] / 400, covered


def test_intervals_need_the_minimum_number_of_utterances():
    assert interval_of(column([0.5, 0.6, 0.7]), resamples(3)) is None and too_few(3)
    values = column([0.5 + 0.01 * k for k in range(MIN_UTTERANCES)])
    assert interval_of(values, resamples(MIN_UTTERANCES)) is not None and too_few(MIN_UTTERANCES) is None
