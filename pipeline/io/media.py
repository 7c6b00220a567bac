"""Reading and writing video and audio: OpenCV decodes video frames, PyAV reads audio tracks and
writes videos (`.mpg` as GRID: MPEG-1 video + MPEG layer II audio), soundfile reads/writes wav."""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from pipeline.errors import PipelineError

VIDEO_TRACK = "video track"


class MediaError(PipelineError):
    """A file that cannot be used; the message is a one-line reason."""


@dataclass(frozen=True)
class VideoParams:
    """`video` in params.yaml: the frame rate every video is resampled to (GRID's: 25)."""

    fps: float = 25.0


@dataclass(frozen=True)
class VideoInfo:
    """What decoding a video found: decoded frame count, frame size, and the span its frames'
    presentation timestamps cover (first frame's start to last frame's end, seconds)."""

    frames: int
    width: int
    height: int
    span: float

    @property
    def fps(self) -> float:
        """The average frame rate (a variable-frame-rate file has no other)."""
        return self.frames / self.span if self.span > 0 else 0.0

    def frames_at(self, fps: float) -> int:
        """How many frames the video has once resampled to `fps` (what `iter_video` yields)."""
        return max(1, round(self.span * fps))


def _span(first: float, last: float, step: float) -> float:
    """Seconds from the first frame's start to the last frame's end (microsecond precision)."""
    return round(last - first + step, 6)


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


class _Clock:
    """Presentation times (s) of the frames a capture decodes, kept increasing: a frame without a
    usable timestamp (decoders report 0 for some flushed last frames) follows the one before it by
    the last step seen (at first, the container's nominal rate)."""

    def __init__(self, capture: cv2.VideoCapture) -> None:
        self.capture = capture
        nominal = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.step = 1.0 / nominal if nominal > 0 else 0.04
        self.last: float | None = None

    def tick(self) -> float:
        """The time of the frame just grabbed."""
        moment = self.capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if self.last is not None:
            if moment > self.last:
                self.step = moment - self.last
            else:
                moment = self.last + self.step
        self.last = moment
        return moment


def probe_video(path: Path) -> VideoInfo:
    """Decode every frame (container frame counts and rates are unreliable) and report what was
    found, timing included."""
    capture = _open(path)
    clock = _Clock(capture)
    first = None
    frames = width = height = 0
    try:
        while capture.grab():
            if frames == 0:
                ok, frame = capture.retrieve()
                if not ok:
                    break
                height, width = frame.shape[:2]
            moment = clock.tick()
            first = moment if first is None else first
            frames += 1
    finally:
        capture.release()
    if first is None or clock.last is None:
        raise MediaError("video has no decodable frames")
    return VideoInfo(frames, width, height, _span(first, clock.last, clock.step))


# A piece of a long clip starts decoding this long before its start: the seek lands on a keyframe
# at or before the point asked for, and the frames between are decoded, not kept.
SEEK_MARGIN = 1.0


def _decoded(path: Path, clip: tuple[float, float] | None, seek: bool
             ) -> Iterator[tuple[float, np.ndarray, float]]:
    """(seconds after the file's first frame, BGR frame, the frame step seen so far) for the
    frames of `clip` (every frame when there is none); frames before it are grabbed, not
    converted. With `seek`, a clip starting later than SEEK_MARGIN seeks near it first; a seek
    that fails, lands after the start (a frame would be lost) or finds no timestamps reopens the
    file and decodes from its start."""

    def opened() -> tuple[cv2.VideoCapture, _Clock, float | None]:
        """The file opened, its clock, and its first frame's time (None: no frame) with that frame grabbed."""
        capture = _open(path)
        clock = _Clock(capture)
        return capture, clock, clock.tick() if capture.grab() else None

    capture, clock, origin = opened()
    try:
        if origin is None:
            return
        moment = 0.0
        if clip is not None and seek and clip[0] > SEEK_MARGIN:
            if capture.set(cv2.CAP_PROP_POS_MSEC, (origin + clip[0] - SEEK_MARGIN) * 1000.0) and capture.grab():
                clock = _Clock(capture)  # the step before the jump is not a frame step
                moment = clock.tick() - origin
            if not 0.0 < moment < clip[0] - clock.step / 2:  # 0: landed on the first frame, or no timestamps
                capture.release()
                capture, clock, origin = opened()
                if origin is None:  # unreadable when opened again
                    return
                moment = 0.0
        while True:
            if clip is not None and moment >= clip[1] - clock.step / 2:
                return
            if clip is None or moment >= clip[0] - clock.step / 2:
                ok, frame = capture.retrieve()
                if not ok:
                    return
                yield moment, frame, clock.step
            if not capture.grab():
                return
            moment = clock.tick() - origin
    finally:
        capture.release()


def iter_video(path: Path, grayscale: bool = False, fps: float | None = None,
               clip: tuple[float, float] | None = None, seek: bool = True) -> Iterator[np.ndarray]:
    """Frames one at a time as uint8, (H, W, 3) RGB or (H, W) grayscale. With `fps`, resampled by
    presentation time to that constant rate: output frame i (at i / fps after the first frame)
    is the decoded frame whose timestamp is nearest, so any container rate, and a variable frame
    rate, gives round(span * fps) frames in step with the audio; a video already at `fps` comes
    out unchanged. `clip` (start, end), seconds from the first frame: only the frames of that
    span (with `fps`: round((end - start) * fps) of them), as a piece cut from a long clip; it
    seeks to the piece (the same frames, without decoding the file up to it) unless `seek` is
    False."""
    code = cv2.COLOR_BGR2GRAY if grayscale else cv2.COLOR_BGR2RGB
    frames = ((moment, cv2.cvtColor(frame, code), step) for moment, frame, step in _decoded(path, clip, seek))
    current = next(frames, None)
    if current is None:
        raise MediaError("video has no decodable frames" if clip is None else
                         f"no frames between {clip[0]:g} s and {clip[1]:g} s")
    if fps is None:
        yield current[1]
        for _, frame, _ in frames:
            yield frame
        return
    start, upcoming, index = current[0], next(frames, None), 0
    total = None if clip is None else max(1, round((clip[1] - clip[0]) * fps))
    if clip is not None:
        start = clip[0]
    while total is None or index < total:
        moment = start + index / fps
        while upcoming is not None and abs(upcoming[0] - moment) < abs(current[0] - moment):
            current, upcoming = upcoming, next(frames, None)
        if upcoming is None and total is None:
            total = max(1, round(_span(start, current[0], current[2]) * fps))
            if index >= total:
                break
        yield current[1]
        index += 1


def read_video(path: Path, grayscale: bool = False, fps: float | None = None,
               clip: tuple[float, float] | None = None, seek: bool = True) -> np.ndarray:
    """All frames (of `clip`, when given) as uint8, (T, H, W, 3) RGB or (T, H, W) grayscale;
    resampled to `fps` when given (see `iter_video`)."""
    return np.stack(list(iter_video(path, grayscale, fps, clip, seek)))


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
                    data = data.astype(np.float32) / np.iinfo(data.dtype.str).max
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


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float | Fraction, audio: np.ndarray | None = None,
                sample_rate: int | None = None, bit_rate: int = 1_000_000,
                times: Sequence[float] | None = None, codec: str | None = None) -> None:
    """Encode RGB frames (H, W, 3 each; any iterable, so long videos need not fit in memory) and,
    when given, int16 mono audio into one file whose suffix picks the format (.mpg: MPEG-1 video +
    MPEG layer II audio, like GRID; .mp4: MPEG-4 video + AAC). `fps` is the nominal rate (a
    Fraction for NTSC's 30000/1001); `times` (seconds, one per frame) shows frame i from times[i]
    instead, e.g. a variable frame rate. `codec` replaces the suffix's video codec (e.g. libx264,
    as LRS3's mp4s are). Bit-exact mode keeps the bytes reproducible."""
    import av

    suffix = Path(path).suffix.lower()
    if suffix not in _CONTAINERS:
        raise ValueError(f"cannot write {suffix!r} videos; use one of {', '.join(_CONTAINERS)}")
    if audio is not None and sample_rate is None:
        raise ValueError("audio needs its sample_rate")
    container_format, video_codec, audio_codec = _CONTAINERS[suffix]
    video_codec = codec or video_codec
    frames = iter(frames)
    first = next(frames)
    tick = Fraction(1, 30000)  # explicit timestamps: NTSC frames (1001 ticks) and milliseconds are whole
    with av.open(str(path), "w", format=container_format) as container:
        container.metadata.clear()
        # PyAV takes an int or a Fraction; a float rate becomes the nearest fraction (29.97: 2997/100).
        video = container.add_stream(video_codec, rate=Fraction(fps).limit_denominator(100_000))
        assert isinstance(video, av.VideoStream)
        video.width, video.height = first.shape[1], first.shape[0]
        video.pix_fmt = "yuv420p"
        video.bit_rate = bit_rate
        video.codec_context.options = {"flags": "+bitexact"}
        if times is not None:
            video.codec_context.time_base = tick
        sound: av.AudioStream | None = None
        if audio is not None:
            stream = container.add_stream(audio_codec, rate=sample_rate)
            assert isinstance(stream, av.AudioStream)
            sound = stream
            sound.layout = "mono"
            sound.bit_rate = 64_000
        for index, frame in enumerate(itertools.chain([first], frames)):
            # OpenCV's RGB -> I420 is faster than letting the encoder convert each frame.
            planar = np.asarray(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YUV_I420), np.uint8)
            picture = av.VideoFrame.from_ndarray(planar, format="yuv420p")
            if times is not None:
                picture.pts, picture.time_base = round(times[index] / tick), tick
            for packet in video.encode(picture):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None and audio is not None and sample_rate is not None:
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
