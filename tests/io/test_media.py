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


@pytest.mark.parametrize("codec", ["libx264", "mpeg4"])
def test_a_piece_of_a_long_clip_is_the_same_whether_sought_or_decoded_from_the_start(tmp_path: Path, codec: str):
    """A piece cut from a long clip (LRS3's pretrain, Lip2Wav's 30 s cuts) seeks near its start
    instead of decoding the file up to it: the frames must be those of decoding from the start,
    for H.264 with B-frames and long keyframe intervals (LRS3's mp4s) and for MPEG-4 Part 2."""
    from pipeline.io.media import write_video

    count = 40 * 25
    video = tmp_path / f"{codec}.mp4"
    write_video(video, index_frames(count, bits=10), 25, tone(40.0), 16000, bit_rate=4_000_000, codec=codec)
    for clip in [(0.0, 15.0), (1.52, 2.52), (14.96, 29.96), (27.32, 39.0), (33.0, 40.0)]:
        sought = read_video(video, fps=25, clip=clip)
        decoded = read_video(video, fps=25, clip=clip, seek=False)
        np.testing.assert_array_equal(sought, decoded, err_msg=str(clip))
        first = round(clip[0] * 25)
        assert [frame_index(f, bits=10) for f in sought] == list(range(first, first + len(sought))), clip


def test_seeking_follows_timestamps_in_ntsc_variable_rate_and_grid_videos(tmp_path: Path):
    """Where frames are not at 25 fps, or GRID's MPEG-1 program stream, a sought piece is the
    piece decoded from the start."""
    steps = [0.02] * 100 + [0.06] * 100 + [1001 / 30000] * 200
    vfr = write_timed_video(tmp_path / "vfr.mp4", index_frames(len(steps), bits=9), list(np.cumsum([0.0] + steps[:-1])))
    ntsc = write_timed_video(tmp_path / "ntsc.mp4", index_frames(400, bits=9), [i * 1001 / 30000 for i in range(400)])
    for video, clips in [(vfr, [(1.2, 3.0), (2.5, 8.0), (7.9, 14.0)]), (ntsc, [(1.1, 5.0), (6.0, 13.3)]),
                         (REAL, [(1.5, 3.0), (2.2, 2.6)])]:
        for clip in clips:
            for fps in (25, None):
                np.testing.assert_array_equal(read_video(video, fps=fps, clip=clip),
                                              read_video(video, fps=fps, clip=clip, seek=False),
                                              err_msg=f"{video.name} {clip} {fps}")


def test_a_stream_without_timestamps_is_decoded_from_its_start_not_sought(tmp_path: Path):
    """A raw H.264 stream has no timestamps to say where a seek landed (OpenCV reports 0 for
    every frame): the piece is decoded from the file's start, frame for frame."""
    import av

    video = tmp_path / "raw.h264"
    with av.open(str(video), "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for frame in index_frames(500, bits=9):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    for clip in [(5.0, 8.0), (12.0, 19.0)]:
        frames = read_video(video, fps=25, clip=clip)
        assert [frame_index(f, bits=9) for f in frames] == list(range(round(clip[0] * 25), round(clip[1] * 25)))
