"""`python -m pipeline.speak`: one video in, one wav out, with the stages' own code."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from pipeline.face.landmarks import LandmarksParams
from pipeline.io.manifest import read_manifest
from pipeline.io.media import write_video
from pipeline.io.store import StoreReader
from pipeline.learn.dataset import LipSpeechDataset
from pipeline.learn.evaluation import EvaluateParams, predict_mel
from pipeline.learn.inference import Synthesiser
from pipeline.speak import speech_mel
from tests.conftest import REPO, frames_with_motion, manifest_of


def _speak(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.speak", *args, "--params", str(REPO / "params.yaml")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def test_speak_writes_a_wav_as_long_as_the_video(tiny_corpus, fitted, tmp_path: Path):
    utterance = manifest_of(tiny_corpus[0])[0]
    out = tmp_path / "spoken.wav"
    done = _speak(utterance.video, "-o", str(out), "--model", str(fitted["model"]), "--speaker", "s2")
    assert done.returncode == 0, done.stderr[-2000:]
    info = soundfile.info(out)
    assert info.samplerate == 22050
    assert info.frames / info.samplerate == pytest.approx(utterance.frames / utterance.fps, abs=1e-3)
    audio, _ = soundfile.read(out)
    assert np.sqrt(np.mean(audio ** 2)) > 1e-3  # not silence


def test_speak_without_a_face_fails_with_the_reason(fitted, tmp_path: Path):
    video = tmp_path / "no_face.mpg"
    write_video(video, frames_with_motion(30), 25)
    done = _speak(str(video), "-o", str(tmp_path / "out.wav"), "--model", str(fitted["model"]))
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "no face in any of 30 frames" in errors[0], done.stderr[-2000:]
    assert not (tmp_path / "out.wav").exists()


def test_speak_on_an_unreadable_video_or_unknown_speaker_fails_with_the_reason(tiny_corpus, fitted, tmp_path: Path):
    broken = tmp_path / "broken.mpg"
    broken.write_text("not a video")
    done = _speak(str(broken), "-o", str(tmp_path / "out.wav"), "--model", str(fitted["model"]))
    assert done.returncode == 1 and "video does not open" in done.stderr, done.stderr[-2000:]
    video = manifest_of(tiny_corpus[0])[0].video
    done = _speak(video, "-o", str(tmp_path / "out.wav"), "--model", str(fitted["model"]), "--speaker", "s9")
    assert done.returncode == 1 and "unknown speaker 's9'; the model knows s1, s2" in done.stderr, done.stderr[-2000:]


def test_speak_predicts_what_evaluate_predicts(stores, fitted):
    """For a test utterance, speak (from the video: landmarks, crop, features) gives the mel that
    evaluate (from the stores) gives."""
    params = EvaluateParams()
    synthesiser = Synthesiser.load(fitted["model"], params.vocoder, "cpu")
    checkpoint = synthesiser.checkpoint
    utterances = {u.id: u for u in read_manifest(stores["manifest"])}
    test_ids = json.loads(fitted["split"].read_text())["test"]
    dataset = LipSpeechDataset(test_ids, StoreReader(stores["features"]), StoreReader(stores["mels"]),
                               checkpoint["stats"], {i: u.speaker for i, u in utterances.items()},
                               normalize=checkpoint["params"]["normalize"])
    for index in (0, len(dataset) - 1):
        sample = dataset[index]
        utterance = utterances[sample.id]
        evaluated, _ = predict_mel(synthesiser, sample, utterance, params)
        spoken = speech_mel(Path(utterance.video), synthesiser, LandmarksParams(), params, utterance.speaker)
        np.testing.assert_array_equal(spoken, evaluated)


def _clip(tmp_path: Path, name: str, source: Path, times_of, repeat: int = 1) -> tuple[Path, float]:
    """A real GRID video's frames (repeated) re-timed by `times_of(count)`, with AAC audio."""
    from pipeline.io.media import read_audio, read_video
    from tests.conftest import write_timed_video

    frames = np.concatenate([read_video(source)] * repeat)
    times = times_of(len(frames))
    step = times[-1] - times[-2]
    samples, rate = read_audio("video track", source)
    audio = np.tile(np.round(samples * 32767).astype(np.int16), repeat)
    return write_timed_video(tmp_path / name, frames, times, audio, rate), times[-1] + step


@pytest.mark.parametrize("name,times_of", [
    ("ntsc.mp4", lambda count: [i * 1001 / 30000 for i in range(count)]),
    ("vfr.mp4", lambda count: list(np.cumsum([0.0] + [0.03 if (i // 20) % 2 else 0.05 for i in range(count - 1)]))),
], ids=["29.97 fps mp4 with aac", "variable frame rate"])
def test_speak_takes_any_frame_rate_and_lasts_as_long_as_the_video(fitted, tmp_path: Path, name: str, times_of):
    video, seconds = _clip(tmp_path, name, REPO / "tests" / "data" / "real_grid" / "bbaf2n.mpg", times_of)
    out = tmp_path / "spoken.wav"
    done = _speak(str(video), "-o", str(out), "--model", str(fitted["model"]))
    assert done.returncode == 0, done.stderr[-2000:]
    info = soundfile.info(out)
    assert abs(info.frames / info.samplerate - seconds) <= 1 / 25  # within one frame at 25 fps


def test_speak_streams_a_long_real_recording_window_by_window(fitted, tmp_path: Path):
    """Twenty seconds of a real GRID speaker (six takes back to back) at 25 fps: eight overlapping
    windows, one wav as long as the video, speech (not silence) throughout."""
    video, seconds = _clip(tmp_path, "long.mp4", REPO / "tests" / "data" / "real_grid" / "swwp2s.mpg",
                           lambda count: [i / 25 for i in range(count)], repeat=6)
    out = tmp_path / "long.wav"
    done = _speak(str(video), "-o", str(out), "--model", str(fitted["model"]))
    assert done.returncode == 0, done.stderr[-2000:]
    audio, rate = soundfile.read(out)
    assert len(audio) == round(seconds * 25) * 3 * 294 and rate == 22050
    levels = [np.sqrt(np.mean(audio[i:i + rate] ** 2)) for i in range(0, len(audio) - rate, rate)]
    assert min(levels) > 1e-3, levels
