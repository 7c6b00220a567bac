"""The `evaluate` stage on the tiny corpus, with a tiny model trained on it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile
import torch

from pipeline.corpora import grid
from pipeline.learn.evaluation import CONDITIONS, METRICS, RECORDING, sample_ids
from tests.conftest import evaluate


def test_metrics_file_has_every_metric_for_model_references_and_speakers(evaluated, fitted):
    summary, tmp_path = evaluated
    assert json.loads((tmp_path / "evaluate.json").read_text()) == summary
    assert summary["utterances"] == 6

    def check(block: dict) -> None:
        for metric in METRICS:
            assert isinstance(block[metric], float) and np.isfinite(block[metric]), (metric, block)
            for reference in CONDITIONS[1:]:
                assert isinstance(block[reference][metric], float), (reference, metric, block)
        assert isinstance(block["mcd_gap_closed"], float)
        assert block["oracle"]["mse"] == 0.0 and block["mse"] > 0 and 0 < block["stoi"] <= 1
        assert 0 <= block[RECORDING]["wer"] <= 1 and set(block["slot_accuracy"]) == set(grid.SLOT_NAMES)
        assert all(0 <= accuracy <= 1 for accuracy in block["slot_accuracy"].values())

    check(summary)
    assert summary["nonfinite_predictions"] == 0
    assert sorted(summary["per_speaker"]) == ["s1", "s2"]
    for block in summary["per_speaker"].values():
        assert block["utterances"] == 3
        check(block)
    per_utterance = json.loads((tmp_path / "per_utterance.json").read_text())
    assert sorted(per_utterance) == sorted(json.loads(fitted["split"].read_text())["test"])
    first = per_utterance[sorted(per_utterance)[0]]
    assert set(first) == {*CONDITIONS, RECORDING, "transcript"} and grid.is_sentence(first["transcript"].split())
    for condition in (*CONDITIONS, RECORDING):
        assert isinstance(first[condition]["heard"], str) and 0 <= first[condition]["wer"] <= 2
    assert set(first["model"]["slots_correct"]) == set(grid.SLOT_NAMES)

    # Pictures and sound for two utterances, one per speaker; wavs as long as the recording.
    shown = sorted(p.stem for p in (tmp_path / "plots" / "evaluate").glob("*.png"))
    assert len(shown) == 2 and {i.split("_")[0] for i in shown} == {"s1", "s2"}
    for utterance_id in shown:
        assert (tmp_path / "plots" / "evaluate" / f"{utterance_id}.png").stat().st_size > 10_000
        lengths = {soundfile.info(tmp_path / "data" / "samples" / utterance_id / f"{name}.wav").frames
                   for name in ("recording", *CONDITIONS)}
        assert lengths == {75 * 3 * 294}


def test_trained_model_lies_between_the_oracle_and_the_speaker_mean(evaluated):
    summary, _ = evaluated
    report = {name: summary[name]["mcd_db"] for name in CONDITIONS[1:]} | {"model": summary["mcd_db"]}
    assert summary["oracle"]["mcd_db"] < summary["mcd_db"] < summary["mean"]["mcd_db"], report
    assert 0 < summary["mcd_gap_closed"] < 1
    assert summary["mse"] < summary["mean"]["mse"]
    # The judge: the recording and its vocoded mel are understood, the mean voice is not.
    assert summary[RECORDING]["wer"] <= 0.2 and summary["oracle"]["wer"] <= summary[RECORDING]["wer"] + 0.2
    assert summary["mean"]["wer"] >= 0.8 and summary["wer"] <= summary["mean"]["wer"]


def test_evaluation_is_deterministic(evaluated, stores, fitted, tmp_path: Path):
    first, first_out = evaluated
    assert evaluate(stores, fitted, tmp_path) == first
    for path in ("per_utterance.json", *(str(p.relative_to(first_out)) for p in (first_out / "data").rglob("*.wav"))):
        assert (tmp_path / path).read_bytes() == (first_out / path).read_bytes(), path


def test_samples_take_speakers_in_turn():
    speaker_of = {"s1_a": "s1", "s1_b": "s1", "s2_a": "s2", "s3_a": "s3"}
    assert sample_ids(list(speaker_of), speaker_of, 3) == ["s1_a", "s2_a", "s3_a"]
    assert sample_ids(list(speaker_of), speaker_of, 9) == ["s1_a", "s2_a", "s3_a", "s1_b"]


def test_a_model_that_predicts_nan_is_scored_as_silence_and_counted(stores, fitted, tmp_path: Path, caplog):
    checkpoint = torch.load(fitted["model"], weights_only=True)
    last = [name for name in checkpoint["state_dict"] if name.startswith("decoder.") and name.endswith(".bias")][-1]
    checkpoint["state_dict"][last] = torch.full_like(checkpoint["state_dict"][last], float("nan"))
    torch.save(checkpoint, tmp_path / "nan.pt")
    summary = evaluate(stores, {**fitted, "model": tmp_path / "nan.pt"}, tmp_path / "out")
    assert summary["nonfinite_predictions"] == summary["utterances"] == 6
    assert all(np.isfinite(summary[metric]) for metric in ("mcd_db", "mse", "stoi", "estoi"))
    assert summary["wer"] == 1.0 and summary["mcd_db"] > summary["mean"]["mcd_db"]  # the worst case
    warned = [r.getMessage() for r in caplog.records if "non-finite" in r.getMessage()]
    assert len(warned) == 6 and warned[0].endswith("scored as silence")
