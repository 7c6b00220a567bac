"""A video's mouth features as a stream of overlapping windows, optionally made in a process of
its own so that the face tracking (one core) runs while the model and the vocoder work on the
previous window (the other cores): what `speak` reads a recording with.

    for window in feature_windows(video, crop, derivatives=True, landmarks=params, fps=25.0, window=75, overlap=15):
        window.features    # (T, C, S, S) int16, or None where no face was found (window.reason says why)
    for window in in_background(video, ...):   # the same windows, computed ahead in a spawned process

The background process imports no torch (this module and what it reads are numpy, OpenCV and
dlib), stays about one window ahead, and is stopped when the reader stops; a video it cannot read
ends the stream with the MediaError it met.
"""
from __future__ import annotations

import pickle
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.compute.windows import windowed
from pipeline.face.crop import CropParams, mouth_crops
from pipeline.face.features import video_features
from pipeline.face.landmarks import LandmarksParams, landmarks_of
from pipeline.io.media import MediaError, iter_video


@dataclass(frozen=True)
class FeatureWindow:
    """One window of a video: how many frames, how many of them are new (not in the previous
    window), and their features, or None and the reason when the face was not found."""

    frames: int
    new: int
    features: np.ndarray | None
    reason: str = ""


def feature_windows(video: Path, crop: CropParams, derivatives: bool, landmarks: LandmarksParams, fps: float,
                    window: int, overlap: int) -> Iterator[FeatureWindow]:
    """The video resampled to `fps`, in windows of `window` frames overlapping by `overlap`, each
    tracked (`landmarks`), cropped (`crop`) and turned into features."""
    frames = iter_video(video, grayscale=crop.grayscale, fps=fps)
    for index, taken in enumerate(windowed(frames, window, overlap)):
        new = len(taken) - (overlap if index else 0)
        stacked = np.stack(taken)
        gray = stacked if crop.grayscale else np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in taken])
        track = landmarks_of(gray, landmarks)
        if isinstance(track, str):
            yield FeatureWindow(len(taken), new, None, track)
            continue
        crops = mouth_crops(stacked, track.points, crop).crops
        yield FeatureWindow(len(taken), new, video_features(crops, derivatives))


@dataclass(frozen=True)
class _Failure:
    message: str


def in_background(video: Path, crop: CropParams, derivatives: bool, landmarks: LandmarksParams, fps: float,
                  window: int, overlap: int) -> Iterator[FeatureWindow]:
    """`feature_windows`, computed ahead in a process of its own (`python -m pipeline.face.stream`,
    which imports none of the reader's libraries), the windows coming back pickled through a pipe:
    the pipe's small buffer keeps the process at most about one window ahead (bounded memory)."""
    arguments = pickle.dumps((Path(video), crop, derivatives, landmarks, fps, window, overlap))
    # Its stderr (decoder warnings: megabytes for a long damaged video) goes to a file: a pipe that
    # nobody reads until the end would fill and stop both processes.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=errors)
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(arguments)
            process.stdin.close()
            while True:
                try:
                    item = pickle.load(process.stdout)
                except EOFError:
                    process.wait()
                    raise MediaError(f"the feature process stopped ({_last_line(errors)})") from None
                if item is None:
                    return
                if isinstance(item, _Failure):
                    raise MediaError(item.message)
                yield item
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            process.stdout.close()


def _last_line(stream, tail: int = 4096) -> str:
    """The last non-empty line of what a process wrote to `stream` (a file), or "no message"."""
    stream.seek(0, 2)
    stream.seek(max(0, stream.tell() - tail))
    lines = stream.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no message"


def main() -> None:
    """The background process: the arguments pickled on stdin, every window pickled to stdout, then
    None (or the failure)."""
    cv2.setNumThreads(1)
    arguments = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    try:
        for item in feature_windows(*arguments):
            pickle.dump(item, out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
    except MediaError as error:
        pickle.dump(_Failure(str(error)), out)
    else:
        pickle.dump(None, out)
    out.flush()


if __name__ == "__main__":
    # Run the module under its own name, so the windows pickle as pipeline.face.stream.FeatureWindow.
    from pipeline.face import stream

    stream.main()
