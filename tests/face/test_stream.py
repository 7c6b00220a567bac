"""A video's feature windows, made here or ahead in a process of their own (what `speak` reads),
which may write megabytes of warnings without stopping the stream."""
from __future__ import annotations

import os
import threading
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


def _noisy_child(folder: Path, monkeypatch, then: str = "") -> None:
    """Every Python process started with this environment writes 8 MB of warnings to stderr as it
    starts (as a decoder does on a long damaged video), then runs `then`."""
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(
        "import sys\nsys.stderr.write('[mpeg1video] ac-tex damaged at 3 7\\n' * 230_000)\nsys.stderr.flush()\n"
        + then)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(folder), str(REPO),
                                                                   os.environ.get("PYTHONPATH", "")) if p))


def _within(seconds: float, work):
    """`work()`'s result, or a failure when it takes longer (a hang: both processes waiting; the
    thread is a daemon, so a hung one does not keep the test run alive)."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(("result", work()))
        except BaseException as error:  # handed back to the test
            outcome.append(("error", error))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        pytest.fail(f"no result within {seconds} s: the feature process and its reader wait on each other")
    kind, value = outcome[0]
    if kind == "error":
        raise value
    return value


def test_megabytes_on_the_background_process_stderr_do_not_stop_the_stream(tmp_path: Path, monkeypatch):
    _noisy_child(tmp_path / "noisy", monkeypatch)
    windows = _within(60, lambda: list(in_background(REAL, CropParams(), True, LandmarksParams(), 25.0, 30, 6)))
    assert sum(w.new for w in windows) == 75 and all(w.features is not None for w in windows)


def test_a_background_process_that_dies_is_named_by_its_last_words(tmp_path: Path, monkeypatch):
    _noisy_child(tmp_path / "dying", monkeypatch,
                 "sys.stderr.write('fatal: out of memory\\n')\nimport os\nos._exit(3)\n")

    def stream() -> str:
        with pytest.raises(MediaError) as raised:
            list(in_background(REAL, CropParams(), True, LandmarksParams(), 25.0, 30, 6))
        return str(raised.value)

    assert _within(60, stream) == "the feature process stopped (fatal: out of memory)"
