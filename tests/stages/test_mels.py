"""The mels stage: stored values equal an independent computation, and speech sits in the mels
where the alignment says, at 25 and at 30 fps."""
from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile

from pipeline.audio.mels import AudioParams
from pipeline.corpora import grid
from pipeline.io.manifest import Utterance, read_manifest, write_manifest
from pipeline.io.media import read_video, write_video
from pipeline.io.store import StoreParams, StoreReader
from pipeline.stages.mels import run
from tests.conftest import SEQUENTIAL, manifest_of

AUDIO = AudioParams()


def independent_log_mel(wav: Path, frames: int, fps: float) -> np.ndarray:
    """(k*T, n_mels) from the wav by the documented rule, with numpy's FFT: the audio cut or
    zero-padded to T*k*hop samples, a centred STFT (reflect padding, periodic Hann window),
    librosa's mel filterbank, the last frame dropped, natural log floored at 1e-5."""
    samples, rate = soundfile.read(wav, dtype="float64")
    assert rate == AUDIO.sample_rate  # the embedded corpus is at 22 050 Hz: nothing to resample
    k, n_fft = AUDIO.mel_frames_per_video_frame, AUDIO.n_fft
    hop = round(rate / (fps * k))
    wanted = frames * k * hop
    audio = np.pad(samples[:wanted], (0, max(0, wanted - len(samples))))
    padded = np.pad(audio, n_fft // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    starts = np.arange(frames * k) * hop  # T*k+1 centred frames; the last (past the end) dropped
    spectrum = np.abs(np.fft.rfft(np.stack([padded[s:s + n_fft] * window for s in starts]), axis=1))
    basis = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=AUDIO.n_mels, fmin=AUDIO.fmin, fmax=AUDIO.fmax)
    return np.log(np.maximum(spectrum @ basis.T, 1e-5))


def speech_span(mel: np.ndarray, hop_seconds: float, words) -> tuple[float, float]:
    """Times (s) of the first and last mel frame louder than halfway (in log level) between the
    frames clear of the words and those inside them: where speech starts and stops in the mels."""
    level = np.log(np.exp(mel).sum(axis=1))
    times = np.arange(len(mel)) * hop_seconds  # centred frames
    clear = (times < words[0].start - 0.05) | (times > words[-1].end + 0.05)
    inside = (times > words[0].start) & (times < words[-1].end)
    halfway = (np.median(level[clear]) + np.median(level[inside])) / 2
    loud = np.flatnonzero(level > halfway)
    return times[loud[0]], times[loud[-1]]


def _check_timing(mels: StoreReader, utterances: list[Utterance]) -> None:
    errors = []
    for utterance in utterances:
        k = AUDIO.mel_frames_per_video_frame
        onset, offset = speech_span(mels.read(utterance.id)["mel"], 1 / (utterance.fps * k), utterance.words)
        errors.append((onset - utterance.words[0].start, offset - utterance.words[-1].end))
    errors = np.abs(np.array(errors))
    frame = 1 / utterances[0].fps
    # Within one video frame everywhere, and well within it on average (a shift of a frame fails).
    assert errors.max() < frame and errors.mean() < frame / 3, errors


def test_stored_mels_equal_an_independent_computation(stores):
    mels = StoreReader(stores["mels"])
    for utterance in read_manifest(stores["manifest"]):
        expected = independent_log_mel(Path(utterance.audio), utterance.frames, utterance.fps)
        np.testing.assert_allclose(mels.read(utterance.id)["mel"], expected, atol=1e-5, rtol=0)


def test_speech_in_the_mels_starts_and_ends_where_the_alignment_says(stores):
    _check_timing(StoreReader(stores["mels"]), read_manifest(stores["manifest"]))


@pytest.fixture(scope="module")
def at_30_fps(tiny_corpus, tmp_path_factory) -> tuple[list[Utterance], Path]:
    """The tiny corpus' videos re-timed to 30 fps (90 frames for the same 3 s), with their wavs and
    alignments, through the mels stage."""
    out = tmp_path_factory.mktemp("fps30")
    root = out / "corpus"
    for utterance in manifest_of(tiny_corpus[0]):
        speaker, name = utterance.speaker, utterance.id.split("_", 1)[1]
        frames = read_video(Path(utterance.video))
        retimed = frames[np.minimum((np.arange(90) * 25 / 30).astype(int), len(frames) - 1)]
        for kind, source in (("audio", utterance.audio), ("align", str(Path(utterance.audio).parents[2] / "align" /
                                                                            speaker / f"{name}.align"))):
            target = root / kind / speaker / Path(source).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(Path(source).read_bytes())
        (root / "video" / speaker).mkdir(parents=True, exist_ok=True)
        write_video(root / "video" / speaker / f"{name}.mpg", retimed, 30)
    utterances = manifest_of(root, fps=30)  # the pipeline at video.fps 30
    assert {(u.fps, u.frames, u.source_fps) for u in utterances} == {(30.0, 90, 30.0)}
    write_manifest(out / "manifest.jsonl", utterances)
    run(AUDIO, StoreParams(), SEQUENTIAL, manifest=out / "manifest.jsonl", out=out / "mels")
    return utterances, out / "mels"


def test_at_30_fps_the_mels_are_exact_and_timed_too(at_30_fps):
    utterances, path = at_30_fps
    mels = StoreReader(path)
    assert mels.attrs["hop_length"] == {"30.0": 245}
    for utterance in utterances:
        mel = mels.read(utterance.id)["mel"]
        assert mel.shape == (3 * 90, AUDIO.n_mels)
        np.testing.assert_allclose(mel, independent_log_mel(Path(utterance.audio), 90, 30.0), atol=1e-5, rtol=0)
    _check_timing(mels, utterances)
    assert all(w.word not in grid.PAUSES for u in utterances for w in u.words)
