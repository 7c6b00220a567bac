"""Every mode the README advertises, through the whole pipeline on a tiny corpus (one epoch):
the stages run, the metrics are finite, and the checkpoint records the preprocessing the params
asked for (so `speak` and `evaluate` redo exactly that)."""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile

from bench.common import preprocess
from pipeline.audio.mels import AudioParams
from pipeline.audio.vocoder import VocoderParams
from pipeline.compute.parallel import ParallelParams
from pipeline.corpora.synthetic.generator import SyntheticParams, generate_corpus
from pipeline.errors import StageError
from pipeline.face.crop import CropParams
from pipeline.face.landmarks import LandmarksParams
from pipeline.io.manifest import read_manifest
from pipeline.io.splits import SplitParams
from pipeline.io.store import StoreParams, StoreReader
from pipeline.learn.checkpoint import load_checkpoint
from pipeline.learn.evaluation import CONDITIONS, METRICS, EvaluateParams
from pipeline.learn.inference import Synthesiser
from pipeline.learn.scoring import speaker_mean_mels
from pipeline.learn.training import TrainParams
from pipeline.speak import speak, speech_mel
from tests.conftest import SEQUENTIAL, TINY_MODEL, evaluate_model, train_model

pytestmark = pytest.mark.slow
FAST = EvaluateParams(vocoder=VocoderParams(iterations=8), samples=1)
ONE_EPOCH = TrainParams(batch_size=2, max_epochs=1, window=16, device="cpu")


def _pipeline(corpus: Path, out: Path, split: SplitParams | None = None, model=TINY_MODEL, train=ONE_EPOCH,
              normalize: str = "standard", parallel: ParallelParams = SEQUENTIAL, **sections) -> dict:
    """The stages from landmarks to evaluate; returns the paths, the summary and the checkpoint."""
    paths = preprocess(corpus, out, split, parallel=parallel, **sections)
    train_model(paths, out, model=model, train=train, normalize=normalize)
    summary = evaluate_model(FAST, parallel, out / "model.pt", paths, paths["split"], out)
    _, checkpoint = load_checkpoint(out / "model.pt")
    return {**paths, "model": out / "model.pt", "summary": summary, "checkpoint": checkpoint}


def _check(result: dict, crop: CropParams = CropParams(), audio: AudioParams = AudioParams()) -> None:
    summary = result["summary"]
    for block in (summary, *(summary[c] for c in CONDITIONS[1:])):
        for metric in METRICS:
            assert block[metric] is not None and math.isfinite(block[metric]), (metric, block)
    recorded = result["checkpoint"]["preprocessing"]
    assert {key: recorded["features"][key] for key in ("mode", "size", "padding", "grayscale")} == \
        dataclasses.asdict(crop)
    assert {key: recorded["audio"][key] for key in dataclasses.asdict(audio)} == dataclasses.asdict(audio)


@pytest.mark.parametrize("crop", [CropParams(mode="tracked"), CropParams(mode="aligned", padding=6),
                                  CropParams(mode="avsr", size=96), CropParams(mode="fixed", grayscale=False)],
                         ids=["tracked", "aligned", "avsr", "rgb"])
def test_mouth_crop_modes(tiny_corpus, tmp_path: Path, crop: CropParams):
    result = _pipeline(tiny_corpus[0], tmp_path, mouths=crop)
    _check(result, crop)
    channels = result["checkpoint"]["preprocessing"]["features"]["channels"]
    assert len(channels) == (3 if crop.grayscale else 9)


def test_hdf5_stores_with_worker_processes_and_dataloader_workers(tiny_corpus, tmp_path: Path):
    workers = ParallelParams(n_jobs=2)
    train = dataclasses.replace(ONE_EPOCH, num_workers=2)
    result = _pipeline(tiny_corpus[0], tmp_path, store=StoreParams("hdf5"), parallel=workers, train=train)
    _check(result)
    for name in ("landmarks", "mouths", "features", "mels"):
        assert StoreReader(result[name]).format == "hdf5" and result[name].is_file()
    assert result["checkpoint"]["params"]["train"]["num_workers"] == 2


def test_minmax_normalisation_gives_a_sigmoid_model_through_evaluate_and_speak(tiny_corpus, tmp_path: Path):
    result = _pipeline(tiny_corpus[0], tmp_path, normalize="minmax")
    _check(result)
    assert result["checkpoint"]["config"]["shapes"]["output"] == "sigmoid"
    assert result["checkpoint"]["params"]["normalize"] == "minmax"
    video = Path(read_manifest(result["manifest"])[0].video)
    seconds = speak(video, tmp_path / "spoken.wav", result["model"], LandmarksParams(), FAST)
    audio, rate = soundfile.read(tmp_path / "spoken.wav")
    assert seconds == pytest.approx(3.0, abs=1e-3) and np.isfinite(audio).all() and np.abs(audio).max() > 1e-3


@pytest.fixture(scope="module")
def three_speakers(tmp_path_factory) -> Path:
    corpus = tmp_path_factory.mktemp("three_speakers")
    generate_corpus(corpus, SyntheticParams(speakers=3, utterances_per_speaker=2, seed=5), SEQUENTIAL)
    return corpus


UNSEEN = SplitParams(mode="unseen", val_speakers=["s2"], test_speakers=["s3"])


@pytest.mark.parametrize("conditioning", ["none", "voice"])
def test_unseen_speakers_train_and_evaluate_with_no_parameter_of_their_own(three_speakers, tmp_path: Path,
                                                                          conditioning: str):
    """Under an unseen-speaker split, `none` and `voice` train and evaluate; no trained parameter
    belongs to a speaker absent from training (there is no table; the stats name the training
    speakers only); the voice model speaks for s3 from another recording of s3 (`speak --voice`)
    and refuses to speak without one; the mean-voice reference falls back to the train mean."""
    model = dataclasses.replace(TINY_MODEL, speaker_embedding=conditioning)
    result = _pipeline(three_speakers, tmp_path / "run", UNSEEN, model=model)
    _check(result)
    assert list(result["summary"]["per_speaker"]) == ["s3"]
    checkpoint = result["checkpoint"]
    assert checkpoint["stats"]["speakers"] == ["s1"] and checkpoint["config"]["model"]["speaker_embedding"] == \
        conditioning
    assert not any(name.startswith("speaker.") for name in checkpoint["state_dict"])
    assert any(name.startswith("voice.") for name in checkpoint["state_dict"]) == (conditioning == "voice")
    # s3 has no train utterance: its "mean" reference is the train split's mean mel.
    splits = json.loads(result["split"].read_text())
    speakers = {u.id: u.speaker for u in read_manifest(result["manifest"])}
    train_mean = np.asarray(checkpoint["stats"]["mel"]["mean"], np.float32)
    means = speaker_mean_mels(StoreReader(result["mels"]), splits["train"], speakers)
    np.testing.assert_allclose(means["s3"], train_mean, atol=1e-5)  # the stats keep 6 decimals
    store = StoreReader(result["mels"])
    own = np.concatenate([store.read(i, ["mel"])["mel"] for i in splits["train"] if speakers[i] == "s1"])
    np.testing.assert_allclose(means["s1"], own.mean(axis=0, dtype=np.float64), atol=1e-5)  # its own train mels'
    assert sorted(means) == sorted(set(speakers.values()))
    if conditioning == "voice":
        videos = {u.id: Path(u.video) for u in read_manifest(result["manifest"])}
        video, recording = (videos[i] for i in sorted(splits["test"]))  # two of s3's
        seconds = speak(video, tmp_path / "s3.wav", result["model"], LandmarksParams(), FAST, voice=recording)
        assert seconds == pytest.approx(3.0, abs=1e-3)
        synthesiser = Synthesiser.load(result["model"], FAST.vocoder, "cpu")
        voices = [speech_mel(video, synthesiser, LandmarksParams(), FAST, voice=recording),
                  speech_mel(video, synthesiser, LandmarksParams(), FAST, voice=video)]
        assert np.abs(voices[0] - voices[1]).mean() > 1e-5  # the recording changes the voice
        with pytest.raises(StageError, match="give one .speak --voice FILE."):
            speak(video, tmp_path / "none.wav", result["model"], LandmarksParams(), FAST)


def test_a_speaker_table_refuses_a_split_whose_speakers_it_has_not_seen(three_speakers, tmp_path: Path):
    model = dataclasses.replace(TINY_MODEL, speaker_embedding="table")
    with pytest.raises(StageError) as refused:
        _pipeline(three_speakers, tmp_path / "run", UNSEEN, model=model)
    assert str(refused.value) == ("model.speaker_embedding: table has no trained vector for speakers absent from "
                                  "training (val: s2; test: s3); use voice (a vector from another recording of the "
                                  "speaker) or none")
    assert not (tmp_path / "run" / "model.pt").exists()


def test_postnet_and_speaker_embedding_and_speak_with_a_speaker(tiny_corpus, tmp_path: Path):
    model = dataclasses.replace(TINY_MODEL, postnet=True, speaker_embedding="table")
    result = _pipeline(tiny_corpus[0], tmp_path, model=model)
    _check(result)
    checkpoint = result["checkpoint"]
    assert checkpoint["params"]["model"]["postnet"] and checkpoint["config"]["model"]["speaker_embedding"]
    synthesiser = Synthesiser.load(result["model"], FAST.vocoder, "cpu")
    video = Path(read_manifest(result["manifest"])[0].video)
    voices = {s: speech_mel(video, synthesiser, LandmarksParams(), FAST, s) for s in ("s1", "s2")}
    assert np.abs(voices["s1"] - voices["s2"]).mean() > 1e-4  # the speaker changes the voice
    seconds = speak(video, tmp_path / "s2.wav", result["model"], LandmarksParams(), FAST, speaker="s2")
    assert seconds == pytest.approx(3.0, abs=1e-3)


def test_multi_task_lip_reading_l1_loss_onecycle_and_augmentation_through_evaluate(tiny_corpus, tmp_path: Path):
    model = dataclasses.replace(TINY_MODEL, ctc_weight=0.5, ctc_units="characters", ctc_hidden=0, ctc_detach=False,
                                mel_loss="l1+mse")
    train = dataclasses.replace(ONE_EPOCH, schedule="onecycle", shift=2, time_mask=4)
    result = _pipeline(tiny_corpus[0], tmp_path, model=model, train=train)
    _check(result)
    assert result["checkpoint"]["config"]["vocabulary"] == list(" abcdefghijklmnopqrstuvwxyz'")
    summary = result["summary"]
    # What the head reads from the video alone, scored against the transcript: overall, per
    # speaker and per utterance (one epoch reads little: the figure only has to be a real WER).
    assert summary["lipreading_wer"] is not None and summary["lipreading_wer"] >= 0
    assert all(block["lipreading_wer"] is not None for block in summary["per_speaker"].values())
    per_utterance = json.loads((tmp_path / "per_utterance.json").read_text())
    read = [entry["model"]["lipread"] for entry in per_utterance.values()]
    assert read and all(isinstance(text, str) for text in read)
