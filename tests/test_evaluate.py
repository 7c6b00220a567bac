"""The `evaluate` stage and `speak` on the tiny corpus, with tiny models trained here."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from pipeline.evaluate import CONDITIONS, METRICS, EvaluateParams, Inputs, run, sample_ids
from pipeline.parallel import ParallelParams
from pipeline.train import Inputs as TrainInputs
from pipeline.train import TrainParams
from pipeline.train import run as train
from pipeline.vocoder import VocoderParams
from tests.conftest import REPO, frames_with_motion, manifest_of
from tests.test_train import TINY_MODEL

FAST = EvaluateParams(vocoder=VocoderParams(iterations=16), samples=2)
SEQUENTIAL = ParallelParams(n_jobs=1)


@pytest.fixture(scope="module")
def fitted(stores, tmp_path_factory) -> dict[str, Path]:
    """A conv model trained on all six utterances until it fits them, and a split whose test
    part is those same utterances: with six utterances this checks that training taught the
    model the video-to-speech mapping it was shown (not that it generalises; the README's figures
    on the embedded corpus measure that, on held-out utterances)."""
    out = tmp_path_factory.mktemp("fitted")
    every = sorted(i for ids in json.loads(stores["split"].read_text()).values() for i in ids)
    split = out / "split.json"
    split.write_text(json.dumps({"train": every, "val": every, "test": every}))
    inputs = TrainInputs(stores["features"], stores["mels"], split, stores["stats"], stores["manifest"])
    train("conv", TINY_MODEL, TrainParams(batch_size=2, lr=3e-3, max_epochs=40, early_stopping=40, window=None),
          "standard", inputs, out / "model.pt", out / "train.json", out / "dvclive")
    return {"model": out / "model.pt", "split": split}


def _evaluate(stores, fitted, out: Path, params: EvaluateParams = FAST) -> dict:
    inputs = Inputs(fitted["model"], stores["features"], stores["mels"], fitted["split"], stores["manifest"])
    return run(params, SEQUENTIAL, inputs, out / "evaluate.json", out / "per_utterance.json", out / "plots",
               out / "samples")


def test_metrics_file_has_every_metric_for_model_references_and_speakers(stores, fitted, tmp_path: Path):
    summary = _evaluate(stores, fitted, tmp_path)
    assert json.loads((tmp_path / "evaluate.json").read_text()) == summary
    assert summary["utterances"] == 6

    def check(block: dict) -> None:
        for metric in METRICS:
            assert isinstance(block[metric], float) and np.isfinite(block[metric]), (metric, block)
            for reference in CONDITIONS[1:]:
                assert isinstance(block[reference][metric], float), (reference, metric, block)
        assert isinstance(block["mcd_gap_closed"], float)
        assert block["oracle"]["mse"] == 0.0 and block["mse"] > 0 and 0 < block["stoi"] <= 1

    check(summary)
    assert sorted(summary["per_speaker"]) == ["s1", "s2"]
    for block in summary["per_speaker"].values():
        assert block["utterances"] == 3
        check(block)
    per_utterance = json.loads((tmp_path / "per_utterance.json").read_text())
    assert sorted(per_utterance) == sorted(json.loads(fitted["split"].read_text())["test"])
    assert set(per_utterance[sorted(per_utterance)[0]]) == set(CONDITIONS)

    # Pictures and sound for two utterances, one per speaker; wavs as long as the recording.
    shown = sorted(p.stem for p in (tmp_path / "plots").glob("*.png"))
    assert len(shown) == 2 and {i.split("_")[0] for i in shown} == {"s1", "s2"}
    for utterance_id in shown:
        assert (tmp_path / "plots" / f"{utterance_id}.png").stat().st_size > 10_000
        lengths = {soundfile.info(tmp_path / "samples" / utterance_id / f"{name}.wav").frames
                   for name in ("recording", *CONDITIONS)}
        assert lengths == {75 * 3 * 294}


def test_trained_model_lies_between_the_oracle_and_the_speaker_mean(stores, fitted, tmp_path: Path):
    summary = _evaluate(stores, fitted, tmp_path)
    report = {name: summary[name]["mcd_db"] for name in CONDITIONS[1:]} | {"model": summary["mcd_db"]}
    assert summary["oracle"]["mcd_db"] < summary["mcd_db"] < summary["mean"]["mcd_db"], report
    assert 0 < summary["mcd_gap_closed"] < 1
    assert summary["mse"] < summary["mean"]["mse"]


def test_evaluation_is_deterministic(stores, fitted, tmp_path: Path):
    first = _evaluate(stores, fitted, tmp_path / "a")
    second = _evaluate(stores, fitted, tmp_path / "b")
    assert first == second
    wav = Path(sorted((tmp_path / "a" / "samples").rglob("model.wav"))[0]).relative_to(tmp_path / "a")
    assert (tmp_path / "a" / wav).read_bytes() == (tmp_path / "b" / wav).read_bytes()


def test_samples_take_speakers_in_turn():
    speaker_of = {"s1_a": "s1", "s1_b": "s1", "s2_a": "s2", "s3_a": "s3"}
    assert sample_ids(list(speaker_of), speaker_of, 3) == ["s1_a", "s2_a", "s3_a"]
    assert sample_ids(list(speaker_of), speaker_of, 9) == ["s1_a", "s2_a", "s3_a", "s1_b"]


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
    from pipeline.media import write_video

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
