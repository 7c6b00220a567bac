"""Bootstrap intervals over utterances: where they lie, how wide, and that they are reproducible."""
from __future__ import annotations

import numpy as np

from pipeline.learn.uncertainty import bootstrap_means, column, gap_closed, interval, resamples


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
