"""Video features: the frame and its temporal differences, exact in int16."""
from __future__ import annotations

import numpy as np

from pipeline.face.features import temporal_difference, video_features


def test_derivatives_match_a_hand_computed_example():
    crops = np.array([0, 10, 15, 15, 5], np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8)
    features = video_features(crops)
    assert features.shape == (5, 3, 2, 2) and features.dtype == np.int16
    np.testing.assert_array_equal(features[:, 0, 0, 0], [0, 10, 15, 15, 5])
    np.testing.assert_array_equal(features[:, 1, 0, 0], [0, 10, 5, 0, -10])  # x[t] - x[t-1], x[-1] = x[0]
    np.testing.assert_array_equal(features[:, 2, 0, 0], [0, 10, -5, -5, -10])  # the same on the first
    assert video_features(crops, derivatives=False).shape == (5, 1, 2, 2)
    extreme = np.array([0, 255, 0], np.uint8)[:, None, None]
    assert temporal_difference(temporal_difference(extreme)).min() == -510  # int16 holds it
