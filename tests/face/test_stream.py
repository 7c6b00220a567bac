"""A video's feature windows, made here or ahead in a process of their own (what `speak` reads)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.face.crop import CropParams
from pipeline.face.landmarks import LandmarksParams
from pipeline.face.stream import feature_windows, in_background
from pipeline.io.media import MediaError
from tests.conftest import REPO

REAL = REPO / "tests" / "data" / "real_grid" / "bbaf2n.mpg"


def test_the_background_process_gives_the_windows_made_here():
    arguments = (REAL, CropParams(), True, LandmarksParams(), 25.0, 30, 6)
    here, ahead = list(feature_windows(*arguments)), list(in_background(*arguments))
    assert [(w.frames, w.new) for w in ahead] == [(w.frames, w.new) for w in here]
    assert sum(w.new for w in ahead) == 75 and len(ahead) == 3
    for mine, theirs in zip(here, ahead, strict=True):
        assert mine.features is not None and theirs.features is not None
        np.testing.assert_array_equal(theirs.features, mine.features)
        assert theirs.features.shape == (mine.frames, 3, 64, 64) and theirs.features.dtype == np.int16


def test_an_unreadable_video_ends_the_background_stream_with_its_reason(tmp_path: Path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    with pytest.raises(MediaError, match="video does not open"):
        list(in_background(broken, CropParams(), True, LandmarksParams(), 25.0, 30, 6))
