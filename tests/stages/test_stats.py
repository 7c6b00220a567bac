"""The stats stage: per-channel figures over the train split, equal to numpy's."""
from __future__ import annotations

import json

import numpy as np

from pipeline.io.store import StoreReader


def test_stats_match_numpy_on_the_train_ids(stores):
    result = json.loads(stores["stats"].read_text())
    train = json.loads(stores["split"].read_text())["train"]
    video = np.concatenate([StoreReader(stores["features"]).read(i)["video"] for i in train]).astype(np.float64)
    mel = np.concatenate([StoreReader(stores["mels"]).read(i)["mel"] for i in train]).astype(np.float64)
    assert result["train_utterances"] == len(train) == 2 and result["speakers"] == ["s1", "s2"]
    np.testing.assert_allclose(result["video"]["mean"], video.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result["video"]["std"], video.std(axis=(0, 2, 3)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result["video"]["min"], video.min(axis=(0, 2, 3)))
    np.testing.assert_allclose(result["mel"]["mean"], mel.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result["mel"]["max"], mel.max(axis=0), atol=1e-6)  # stored to 6 decimals
