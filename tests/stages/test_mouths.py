"""The mouths stage: every utterance with landmarks gets its crops, in each mode."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.face.crop import MOUTH, CropParams, apply
from pipeline.io.store import StoreParams, StoreReader
from pipeline.stages.mouths import run
from tests.conftest import SEQUENTIAL


@pytest.mark.parametrize("mode", ["fixed", "tracked", "aligned", "avsr"])
def test_mouths_stage_crops_every_utterance_with_landmarks(stores, tmp_path: Path, mode: str):
    count = run(CropParams(mode=mode), StoreParams("hdf5"), SEQUENTIAL, manifest=stores["manifest"],
                landmarks=stores["landmarks"], out=tmp_path / "mouths", sheet=tmp_path / "mouths.png")
    crops = StoreReader(tmp_path / "mouths")
    assert count == 6 and len(crops) == 6 and crops.format == "hdf5" and crops.attrs["mode"] == mode
    first, transform = (crops.read(crops.ids[0])[name] for name in ("crops", "transform"))
    assert first.shape == (75, 64, 64) and first.dtype == np.uint8
    assert transform.shape == (75, 2, 3) and transform.dtype == np.float32
    # The transform takes the utterance's mouth landmarks into its crop.
    mouth = StoreReader(stores["landmarks"]).read(crops.ids[0], ["points"])["points"][:, MOUTH]
    mapped = apply(transform.astype(np.float64), mouth.astype(np.float64))
    assert ((mapped > -0.5) & (mapped < 63.5)).mean() > 0.95
    assert first.std() > 10  # an image, not a blank
    # The mouth opens and closes, so the crops change over time.
    assert np.abs(np.diff(first.astype(int), axis=0)).mean() > 1
    sheet = cv2.imread(str(tmp_path / "mouths.png"))
    green = (sheet[:, :, 1] > 180) & (sheet[:, :, 0] < 80) & (sheet[:, :, 2] < 80)
    assert green.sum() > 100  # the mapped mouth landmarks drawn on the crops
