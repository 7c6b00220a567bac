"""The mouths stage: every utterance with landmarks gets its crops, in each mode."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.face.crop import CropParams
from pipeline.io.store import StoreParams, StoreReader
from pipeline.stages.mouths import run
from tests.conftest import SEQUENTIAL


@pytest.mark.parametrize("mode", ["fixed", "tracked", "aligned"])
def test_mouths_stage_crops_every_utterance_with_landmarks(stores, tmp_path: Path, mode: str):
    count = run(CropParams(mode=mode), StoreParams("hdf5"), SEQUENTIAL, manifest=stores["manifest"],
                landmarks=stores["landmarks"], out=tmp_path / "mouths", sheet=tmp_path / "mouths.png")
    crops = StoreReader(tmp_path / "mouths")
    assert count == 6 and len(crops) == 6 and crops.format == "hdf5" and crops.attrs["mode"] == mode
    first = crops.read(crops.ids[0])["crops"]
    assert first.shape == (75, 64, 64) and first.dtype == np.uint8
    assert first.std() > 10  # an image, not a blank
    # The mouth opens and closes, so the crops change over time.
    assert np.abs(np.diff(first.astype(int), axis=0)).mean() > 1
    assert (tmp_path / "mouths.png").stat().st_size > 5_000
