"""Reading and writing video and audio: OpenCV decodes video frames, PyAV reads audio tracks and
writes videos (`.mpg` as GRID: MPEG-1 video + MPEG layer II audio), soundfile reads/writes wav."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.errors import PipelineError

VIDEO_TRACK = "video track"


class MediaError(PipelineError):
    """A file that cannot be used; the message is a one-line reason."""


@dataclass(frozen=True)
class VideoInfo:
    """What decoding a video found: decoded frame count, frame rate, frame size, duration (s)."""

    frames: int
    fps: float
    width: int
    height: int

    @property
    def duration(self) -> float:
        return self.frames / self.fps if self.fps > 0 else 0.0


def _open(path: Path) -> cv2.VideoCapture:
    path = Path(path)
    if not path.exists():
        raise MediaError(f"missing file {path}")
    if path.stat().st_size == 0:
        raise MediaError("empty file (0 bytes)")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise MediaError("video does not open (not a video, or a codec OpenCV lacks)")
    return capture


def probe_video(path: Path) -> VideoInfo:
    """Decode every frame (container frame counts are unreliable) and report what was found."""
    capture = _open(path)
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        frames, width, height = 0, 0, 0
        while capture.grab():
            if frames == 0:
                ok, frame = capture.retrieve()
                if not ok:
                    break
                height, width = frame.shape[:2]
            frames += 1
    finally:
        capture.release()
    if frames == 0:
        raise MediaError("video has no decodable frames")
    return VideoInfo(frames, fps, width, height)


def read_video(path: Path, grayscale: bool = False) -> np.ndarray:
    """All frames as uint8, (T, H, W, 3) RGB or (T, H, W) grayscale."""
    capture = _open(path)
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            code = cv2.COLOR_BGR2GRAY if grayscale else cv2.COLOR_BGR2RGB
            frames.append(cv2.cvtColor(frame, code))
    finally:
        capture.release()
    if not frames:
        raise MediaError("video has no decodable frames")
    return np.stack(frames)


def read_audio(path: Path | str, video: Path | None = None) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate, from a wav/flac/... file, or from the
    audio track of `video` when `path` is VIDEO_TRACK."""
    if path == VIDEO_TRACK:
        if video is None:
            raise ValueError("reading a video track needs the video path")
        return _read_audio_track(Path(video))
    import soundfile

    path = Path(path)
    if not path.exists():
        raise MediaError(f"missing audio file {path}")
    if path.stat().st_size == 0:
        raise MediaError("empty audio file (0 bytes)")
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise MediaError(f"audio does not decode: {str(error).splitlines()[0]}") from error
    return samples.mean(axis=1), int(rate)


def _read_audio_track(video: Path) -> tuple[np.ndarray, int]:
    import av

    try:
        with av.open(str(video)) as container:
            if not container.streams.audio:
                raise MediaError("no audio: no wav file and no audio track in the video")
            stream = container.streams.audio[0]
            chunks = []
            for frame in container.decode(stream):
                data = frame.to_ndarray()
                if data.dtype.kind == "i":
                    data = data.astype(np.float32) / np.iinfo(data.dtype).max
                # Planar formats give (channels, n); packed give (1, n * channels).
                channels = len(frame.layout.channels)
                data = data.reshape(channels, -1) if frame.format.is_planar else data.reshape(-1, channels).T
                chunks.append(data.mean(axis=0).astype(np.float32))
            rate = stream.rate
    except av.FFmpegError as error:
        raise MediaError(f"audio track does not decode: {error}") from error
    if not chunks:
        raise MediaError("audio track is empty")
    return np.concatenate(chunks), int(rate)


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM wav (no metadata chunks, so identical samples give identical bytes)."""
    import soundfile

    soundfile.write(str(path), samples, sample_rate, subtype="PCM_16", format="WAV")


# Container, video codec and audio codec by file suffix; `.mpg` is GRID's MPEG-1 program stream.
_CONTAINERS = {
    ".mpg": ("mpeg", "mpeg1video", "mp2"),
    ".mov": ("mov", "mpeg4", "aac"),
    ".mp4": ("mp4", "mpeg4", "aac"),
    ".avi": ("avi", "mpeg4", "mp2"),
}


def write_video(path: Path, frames: np.ndarray, fps: int, audio: np.ndarray | None = None,
                sample_rate: int | None = None, bit_rate: int = 1_000_000) -> None:
    """Encode RGB frames (T, H, W, 3) and, when given, int16 mono audio into one file whose
    suffix picks the format (.mpg: MPEG-1 video + MPEG layer II audio, like GRID). Bit-exact mode
    keeps the bytes reproducible."""
    import av

    suffix = Path(path).suffix.lower()
    if suffix not in _CONTAINERS:
        raise ValueError(f"cannot write {suffix!r} videos; use one of {', '.join(_CONTAINERS)}")
    container_format, video_codec, audio_codec = _CONTAINERS[suffix]
    with av.open(str(path), "w", format=container_format) as container:
        container.metadata.clear()
        video = container.add_stream(video_codec, rate=fps)
        video.width, video.height = frames.shape[2], frames.shape[1]
        video.pix_fmt = "yuv420p"
        video.bit_rate = bit_rate
        video.codec_context.options = {"flags": "+bitexact"}
        sound = None
        if audio is not None:
            sound = container.add_stream(audio_codec, rate=sample_rate)
            sound.layout = "mono"
            sound.bit_rate = 64_000
        for frame in frames:
            # OpenCV's RGB -> I420 is faster than letting the encoder convert each frame.
            planar = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YUV_I420)
            for packet in video.encode(av.VideoFrame.from_ndarray(planar, format="yuv420p")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            chunk = av.AudioFrame.from_ndarray(audio.reshape(1, -1).astype(np.int16), format="s16", layout="mono")
            chunk.sample_rate, chunk.pts = sample_rate, 0
            for packet in sound.encode(chunk):
                container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)


def rms_db(samples: np.ndarray) -> float:
    """Root-mean-square level in dB relative to full scale (-inf for digital silence)."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    return 20 * np.log10(rms) if rms > 0 else float("-inf")
