"""Video decoding by presentation time: any container rate, or a variable one, resampled to the
pipeline's rate in step with the audio; a video already at that rate comes out unchanged."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.io.media import MediaError, iter_video, probe_video, read_audio, read_video
from tests.conftest import REPO, frame_index, index_frames, tone, write_timed_video

REAL = REPO / "tests" / "data" / "real_grid" / "bbaf2n.mpg"


def test_a_video_at_the_target_rate_comes_out_frame_for_frame():
    capture, decoded = cv2.VideoCapture(str(REAL)), []
    while (read := capture.read())[0]:
        decoded.append(cv2.cvtColor(read[1], cv2.COLOR_BGR2GRAY))
    info = probe_video(REAL)
    assert (info.frames, info.span, info.fps, info.frames_at(25)) == (75, 3.0, 25.0, 75)
    np.testing.assert_array_equal(read_video(REAL, grayscale=True, fps=25), np.stack(decoded))
    np.testing.assert_array_equal(read_video(REAL, grayscale=True), np.stack(decoded))


def test_ntsc_29_97_fps_is_resampled_to_25_by_timestamps(tmp_path: Path):
    times = [i * 1001 / 30000 for i in range(90)]
    video = write_timed_video(tmp_path / "ntsc.mp4", index_frames(90), times, tone(3.003, 48000), 48000)
    info = probe_video(video)
    assert info.frames == 90 and info.fps == pytest.approx(29.97, abs=1e-3) and info.span == pytest.approx(3.003)
    frames = read_video(video, fps=25)
    assert len(frames) == info.frames_at(25) == 75
    # Output frame i shows the source frame nearest to i / 25 s.
    expected = [int(np.argmin(np.abs(np.array(times) - i / 25))) for i in range(75)]
    assert [frame_index(f) for f in frames] == expected
    samples, rate = read_audio("video track", video)  # AAC
    assert rate == 48000 and abs(len(samples) / rate - info.span) < 0.05


def test_a_variable_frame_rate_follows_the_timestamps(tmp_path: Path):
    steps = [0.02] * 30 + [0.06] * 20 + [0.04] * 25  # 50 fps, then ~16.7 fps, then 25 fps
    times = list(np.cumsum([0.0] + steps[:-1]))
    video = write_timed_video(tmp_path / "vfr.mp4", index_frames(len(times)), times)
    info = probe_video(video)
    assert info.frames == 75 and info.span == pytest.approx(times[-1] + steps[-1], abs=1e-3)
    frames = list(iter_video(video, fps=25))
    assert len(frames) == info.frames_at(25) == round(info.span * 25)
    shown = [frame_index(f) for f in frames]
    expected = [int(np.argmin(np.abs(np.array(times) - i / 25 + 1e-9))) for i in range(len(frames))]
    assert shown == expected
    assert shown[:5] == [0, 2, 4, 6, 8]  # the 50 fps part, every second frame


def test_unreadable_videos_are_named():
    with pytest.raises(MediaError, match="missing file"):
        probe_video(Path("/nowhere.mpg"))
