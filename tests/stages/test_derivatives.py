"""The derivatives stage: int16 features lined up with the mels, the same in either store format."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.face.features import FeatureParams
from pipeline.io.store import StoreParams, StoreReader
from pipeline.stages import derivatives


def test_stores_line_up_video_and_mel_frames(stores):
    features, mel_store = StoreReader(stores["features"]), StoreReader(stores["mels"])
    assert features.ids == mel_store.ids and len(features) == 6
    for utterance_id in features.ids:
        video = features.read(utterance_id)["video"]
        assert video.shape == (75, 3, 64, 64) and video.dtype == np.int16
        assert mel_store.read(utterance_id)["mel"].shape == (225, 80)
    assert features.attrs["channels"] == ["frame", "delta", "delta2"]


def test_derivatives_stage_gives_identical_arrays_in_zarr_and_hdf5(stores, tmp_path: Path):
    derivatives.run(FeatureParams(), StoreParams("hdf5"), mouths=stores["mouths"], out=tmp_path / "features.h5")
    zarr_store, hdf5_store = StoreReader(stores["features"]), StoreReader(tmp_path / "features.h5")
    assert hdf5_store.format == "hdf5" and zarr_store.ids == hdf5_store.ids
    for utterance_id in zarr_store.ids:
        np.testing.assert_array_equal(zarr_store.read(utterance_id)["video"], hdf5_store.read(utterance_id)["video"])
