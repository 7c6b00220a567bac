"""The `evaluate` stage on the tiny corpus, with a tiny model trained on it."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from pipeline.corpora import grid
from pipeline.learn.evaluation import CONDITIONS, METRICS, summarise
from pipeline.learn.scoring import RECORDING, sample_ids
from pipeline.learn.uncertainty import MIN_UTTERANCES
from pipeline.stages.evaluate import code_version
from tests.conftest import SEQUENTIAL, evaluate


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
        check_intervals(block)
        assert block["lipreading_wer"] is None and block["lipreading_wer_ci_low"] is None  # no head here

    check(summary)
    assert summary["nonfinite_predictions"] == 0
    assert sorted(summary["per_speaker"]) == ["s1", "s2"]
    for block in summary["per_speaker"].values():
        assert block["utterances"] == 3
        check(block)
    per_utterance = json.loads((tmp_path / "per_utterance.json").read_text())
    assert sorted(per_utterance) == sorted(json.loads(fitted["split"].read_text())["test"])
    first = per_utterance[sorted(per_utterance)[0]]
    assert set(first) == {*CONDITIONS, RECORDING, "transcript", "judge"}
    assert grid.is_sentence(first["transcript"].split())
    assert first["judge"] == summary["judge"] == "grid-grammar" and "open_judge" not in summary
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


def check_intervals(block: dict) -> None:
    """Every mean with its 95 % bootstrap interval, flat next to it; or, for a block of fewer
    utterances than an interval needs, none (not a zero-width one) and the reason."""
    enough = block["utterances"] >= MIN_UTTERANCES
    assert ("intervals" not in block) == enough
    if not enough:
        assert block["intervals"] == f"too few utterances to tell ({block['utterances']}; at least " \
                                     f"{MIN_UTTERANCES} needed)"
    for figures, names in ((block, (*METRICS, "mcd_gap_closed")), (block["oracle"], METRICS),
                           (block["mean"], METRICS), (block[RECORDING], ("wer",))):
        for name in names:
            low, high = figures[f"{name}_ci_low"], figures[f"{name}_ci_high"]
            if enough:
                assert low <= figures[name] <= high, (name, low, figures[name], high)
            else:
                assert low is None and high is None, (name, low, high)


def test_summaries_give_intervals_from_the_minimum_number_of_utterances(evaluated):
    """Twelve utterances (the six evaluated, twice under other ids) have intervals; a speaker's
    six have none, and say why."""
    _, out = evaluated
    per_utterance = json.loads((out / "per_utterance.json").read_text())
    doubled = {f"{i}_{copy}": figures for copy in (1, 2) for i, figures in per_utterance.items()}
    summary = summarise(doubled, {i: i.split("_")[0] for i in doubled})
    assert summary["utterances"] == 12 and summary["stoi_ci_low"] < summary["stoi_ci_high"]
    check_intervals(summary)
    for block in summary["per_speaker"].values():
        assert block["utterances"] == 6
        check_intervals(block)


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


def test_references_and_model_scored_apart_give_the_figures_of_one_evaluation_of_all(evaluated, stores, fitted):
    """What evaluate did before the references stage, in one process: the three conditions of each
    utterance spoken and scored together, the judge on the recording; the two stages agree."""
    from pipeline.io.manifest import read_manifest, speakers_by_id
    from pipeline.io.store import StoreReader
    from pipeline.learn.evaluation import normalised_mse, speak_model
    from pipeline.learn.inference import Synthesiser
    from pipeline.learn.scoring import Spoken, rounded, score, speak_references, speaker_mean_mels
    from pipeline.stages.evaluate import _test_set
    from tests.conftest import FAST

    _, out = evaluated
    per_utterance = json.loads((out / "per_utterance.json").read_text())
    synthesiser = Synthesiser.load(fitted["model"], FAST.vocoder, "cpu")
    utterances = {u.id: u for u in read_manifest(stores["manifest"])}
    split = json.loads(fitted["split"].read_text())
    mels = StoreReader(stores["mels"])
    means = speaker_mean_mels(mels, split["train"], speakers_by_id(list(utterances.values())))
    test = _test_set(synthesiser, stores["features"], stores["mels"], utterances, split["test"])
    for utterance_id in test.ids[:2]:
        utterance = utterances[utterance_id]
        model = speak_model(synthesiser, test.sample(utterance_id), utterance, FAST)
        target = mels.read(utterance_id)["mel"].T
        references = speak_references(synthesiser, target, means[utterance.speaker], utterance)
        mse = {**model.mse, **{condition: normalised_mse(error, synthesiser.normalizer)
                               for condition, error in references.squared_error.items()}}
        together = Spoken(utterance_id, model.words, {**model.waveforms, **references.waveforms}, model.recording,
                          mse, model.nonfinite, lipread=model.lipread)
        _, figures = score(together, synthesiser.audio.sample_rate, judge_recording=True)
        for condition in (*CONDITIONS, RECORDING):
            for metric, value in figures[condition].items():
                stored = per_utterance[utterance_id][condition][metric]
                if metric == "mse":
                    assert stored == pytest.approx(rounded(value), rel=1e-5), (utterance_id, condition)
                else:
                    assert stored == value, (utterance_id, condition, metric)


def test_evaluate_refuses_references_of_another_vocoder_or_split(evaluated, stores, fitted, tmp_path: Path):
    import dataclasses
    import shutil

    from pipeline.errors import StageError
    from tests.conftest import FAST, evaluate_model

    _, out = evaluated
    shutil.copytree(out / "data" / "references", tmp_path / "data" / "references")
    other = dataclasses.replace(FAST, vocoder=dataclasses.replace(FAST.vocoder, iterations=3))
    with pytest.raises(StageError, match="made with the vocoder .*run dvc repro references"):
        evaluate_model(other, SEQUENTIAL, fitted["model"], stores, fitted["split"], tmp_path)
    figures = tmp_path / "data" / "references" / "figures.json"
    kept = json.loads(figures.read_text())
    dropped = sorted(kept["utterances"])[0]
    del kept["utterances"][dropped]
    figures.write_text(json.dumps(kept))
    with pytest.raises(StageError, match=fr"no references for 1 test utterances \(e.g. {dropped}\).*another split"):
        evaluate_model(FAST, SEQUENTIAL, fitted["model"], stores, fitted["split"], tmp_path)


@pytest.mark.cuda
def test_on_the_gpu_the_model_speaks_in_batches_and_scores_as_on_the_cpu(evaluated, stores, fitted, tmp_path: Path):
    """evaluate.device cuda: the mels predicted and vocoded in batches there, scored by the CPU
    workers; the same utterances and, within what GPU arithmetic moves, the same figures."""
    import dataclasses
    import shutil

    from tests.conftest import FAST, evaluate_model

    cpu, out = evaluated
    shutil.copytree(out / "data" / "references", tmp_path / "data" / "references")
    gpu = evaluate_model(dataclasses.replace(FAST, device="cuda"), SEQUENTIAL, fitted["model"], stores,
                         fitted["split"], tmp_path)
    assert gpu["utterances"] == cpu["utterances"] and gpu["oracle"] == cpu["oracle"]
    assert abs(gpu["stoi"] - cpu["stoi"]) < 0.02 and abs(gpu["mcd_db"] - cpu["mcd_db"]) < 0.3
    assert abs(gpu["wer"] - cpu["wer"]) <= 0.2 and gpu["lipreading_wer"] == cpu["lipreading_wer"]
    assert len(list((tmp_path / "data" / "samples").rglob("*.wav"))) == 2 * 4


def test_batched_synthesis_gives_each_utterance_its_one_by_one_speech(stores, fitted, tmp_path: Path):
    """What evaluate does on a GPU (mels predicted one by one, vocoded in batches of one length),
    run on the CPU: every utterance gets the waveform it gets alone, and the shown ones their files."""
    from pipeline.io.manifest import read_manifest
    from pipeline.learn.evaluation import speak_model
    from pipeline.learn.inference import Synthesiser
    from pipeline.stages import evaluate as evaluate_stage
    from tests.conftest import FAST

    synthesiser = Synthesiser.load(fitted["model"], FAST.vocoder, "cpu")
    utterances = {u.id: u for u in read_manifest(stores["manifest"])}
    ids = json.loads(fitted["split"].read_text())["test"]
    test = evaluate_stage._test_set(synthesiser, stores["features"], stores["mels"], utterances, ids)
    shown = {test.ids[1]}
    evaluate_stage.GPU_BATCH, batch = 4, evaluate_stage.GPU_BATCH  # 6 utterances: a batch of 4, one of 2
    try:
        batched = list(evaluate_stage._on_gpu(synthesiser, test, utterances, FAST, shown, tmp_path / "plots",
                                              tmp_path / "samples"))
    finally:
        evaluate_stage.GPU_BATCH = batch
    assert [s.id for s in batched] == test.ids
    for spoken in batched:
        alone = speak_model(synthesiser, test.sample(spoken.id), utterances[spoken.id], FAST)
        # The same samples to float noise (the batched FFTs and products round a little differently).
        np.testing.assert_allclose(spoken.waveforms["model"], alone.waveforms["model"], atol=1e-4)
    assert sorted(p.name for p in (tmp_path / "samples").rglob("*.wav")) == ["model.wav"]
    assert (tmp_path / "plots" / f"{test.ids[1]}.png").is_file()


def test_the_code_version_stays_true_after_the_commit_that_keeps_the_figures(tmp_path: Path, monkeypatch):
    """`dvc repro` runs before the commit that holds its results: the page names the commit the
    code was taken from, the code files changed since and their contents' hash, which the same
    files have in the next commit."""
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@invalid"]
    monkeypatch.chdir(tmp_path)
    subprocess.run(git + ["init", "-q"], check=True)
    (tmp_path / "pipeline").mkdir()
    (tmp_path / "pipeline" / "stage.py").write_text("A = 1\n")
    (tmp_path / "README.md").write_text("words\n")
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "first"], check=True)
    first = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert code_version() == first
    (tmp_path / "README.md").write_text("other words\n")  # not code
    assert code_version() == first
    (tmp_path / "pipeline" / "stage.py").write_text("A = 2\n")
    (tmp_path / "pipeline" / "new stage.py").write_text("B = 1\n")
    version = code_version()
    assert version.startswith(f"{first} with changes in pipeline/new stage.py, pipeline/stage.py (their contents' "
                              "SHA-256 ")
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "second"], check=True)
    digest = hashlib.sha256()
    for path in ("pipeline/new stage.py", "pipeline/stage.py"):
        content = subprocess.run(["git", "show", f"HEAD:{path}"], capture_output=True, check=True).stdout
        digest.update(path.encode() + b"\0" + content + b"\0")
    assert version.endswith(f"SHA-256 {digest.hexdigest()[:12]})")
