"""Paired comparison of two evaluations. It keeps its promise: with no true difference, no row is
called real in at least 95 % of simulated pairs (Holm over the rows), at 10, 40 and 160
utterances; a true shift of one per-utterance standard deviation is found at 40; under 10
utterances it gives no verdict; `mse` on other normalisations is not compared. Runs on other
utterances are refused, and runs are found by file, revision or experiment (the newest run of a
name)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.errors import StageError
from pipeline.experiments.compare import COMPARED, NOT_COMPARABLE, compare, per_utterance_of
from pipeline.learn.uncertainty import MIN_UTTERANCES
from tests.conftest import REPO, evaluate

# Per metric: a typical mean and the spread of one run's per-utterance figures (the embedded
# corpus' default model, rounded).
FIGURES = {"mcd_db": (5.5, 0.35), "mse": (0.16, 0.04), "stoi": (0.73, 0.05), "estoi": (0.58, 0.06),
           "pesq": (1.5, 0.2), "pesq_nb8": (1.7, 0.25), "pesq_nb16": (1.8, 0.25)}
SIMULATED = 200


def simulated_pair(count: int, seed: int, shift: dict[str, float] | None = None) -> tuple[dict, dict]:
    """Two runs' per-utterance files on the same `count` utterances that differ only by noise:
    every figure of an utterance follows one shared difficulty (so the metrics depend on each
    other, as real ones do), each run adds its own noise (half the spread), WERs are drawn word by
    word from the utterance's difficulty, the references are the same. `shift` moves the second
    run's metric by that many per-utterance standard deviations."""
    rng = np.random.default_rng(seed)
    difficulty = rng.standard_normal(count)
    ids = [f"s1_u{k:03d}" for k in range(count)]
    base = {metric: mean + spread * (0.8 * difficulty + 0.6 * rng.standard_normal(count))
            for metric, (mean, spread) in FIGURES.items()}
    word_error = 1 / (1 + np.exp(-(difficulty - 1.2)))

    def run(moved: dict[str, float]) -> dict:
        files = {}
        for k, utterance in enumerate(ids):
            model = {metric: float(base[metric][k] + 0.5 * spread * rng.standard_normal()
                                   + moved.get(metric, 0.0) * spread)
                     for metric, (_, spread) in FIGURES.items()}
            model["wer"] = float(rng.binomial(6, word_error[k]) / 6)
            model["lipreading_wer"] = float(rng.binomial(6, min(1.0, word_error[k] + 0.1)) / 6)
            files[utterance] = {"model": model, "oracle": {"mcd_db": 4.0 + 0.1 * difficulty[k], "mse": 0.0},
                                "mean": {"mcd_db": 9.6 + 0.3 * difficulty[k], "mse": 1.0 + 0.1 * difficulty[k]}}
        return files

    return run({}), run(shift or {})


@pytest.mark.parametrize("count", [10, 40, 160])
def test_with_no_true_difference_no_row_is_real_in_95_percent_of_simulated_pairs(count: int):
    called = 0
    for seed in range(SIMULATED):
        differences = compare(*simulated_pair(count, seed))
        assert [d.metric for d in differences] == list(COMPARED) and all(d.p_value is not None for d in differences)
        called += any(d.real for d in differences)
    # At most 5 %, plus two standard errors of a share simulated 200 times.
    assert called / SIMULATED <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / SIMULATED), called


def test_a_true_shift_of_one_standard_deviation_is_found_at_40_utterances():
    found = 0
    for seed in range(100):
        first, second = simulated_pair(40, seed, shift={"stoi": np.sqrt(0.8 ** 2 + 0.6 ** 2 + 0.5 ** 2)})
        stoi = {d.metric: d for d in compare(first, second)}["stoi"]
        found += stoi.real and stoi.better == "other" and stoi.low > 0
    assert found >= 95, found


def test_under_the_minimum_there_is_no_verdict_and_the_command_says_so(tmp_path: Path):
    first, second = simulated_pair(MIN_UTTERANCES - 1, 0, shift={"stoi": 5.0, "mcd_db": -5.0})
    differences = compare(first, second)
    assert not any(d.real for d in differences)
    assert all(d.verdict.startswith("too few utterances to tell") for d in differences if d.p_value is not None)
    for count in (3, 1):
        small = [{i: run[i] for i in sorted(run)[:count]} for run in (first, second)]
        for name, run in zip(("a.json", "b.json"), small, strict=True):
            (tmp_path / name).write_text(json.dumps(run))
        done = subprocess.run([sys.executable, "-m", "pipeline", "compare", str(tmp_path / "a.json"),
                               str(tmp_path / "b.json")], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
        assert len(rows) == len(COMPARED) and "yes" not in done.stdout
        assert all(f"too few utterances to tell ({count};" in row for row in rows), done.stdout


def test_mse_of_runs_normalised_differently_is_not_comparable():
    first, second = simulated_pair(40, 1)
    for figures in second.values():  # the same mels on another scale: every normalised MSE x 4
        figures["model"]["mse"] *= 4
        figures["mean"]["mse"] *= 4
    rows = {d.metric: d for d in compare(first, second)}
    assert rows["mse"].verdict == NOT_COMPARABLE and rows["mse"].difference is None and not rows["mse"].real
    assert rows["mcd_db"].p_value is not None and not rows["mcd_db"].note
    assert {d.metric: d for d in compare(first, first)}["mse"].verdict == "no"


@pytest.fixture(scope="module")
def degraded(stores, fitted, tmp_path_factory) -> Path:
    """The fitted model with noise on its decoder's weights, evaluated: its per-utterance file."""
    out = tmp_path_factory.mktemp("degraded")
    checkpoint = torch.load(fitted["model"], weights_only=True)
    generator = torch.Generator().manual_seed(0)
    for name, weights in checkpoint["state_dict"].items():
        if name.startswith("decoder.") and weights.is_floating_point():
            weights += 0.5 * weights.std() * torch.randn(weights.shape, generator=generator)
    torch.save(checkpoint, out / "degraded.pt")
    evaluate(stores, {**fitted, "model": out / "degraded.pt"}, out)
    return out / "per_utterance.json"


def test_two_real_evaluations_are_paired_and_a_run_equals_itself(evaluated, degraded, tmp_path: Path):
    """On the tiny corpus' six test utterances: the degraded model's MCD is higher on the same
    utterances, but six are too few for a verdict; the command prints every row with its interval
    and refuses runs on other utterances."""
    _, out = evaluated
    run = per_utterance_of(str(out / "per_utterance.json"))
    worse = {d.metric: d for d in compare(run, per_utterance_of(str(degraded)))}
    assert worse["mcd_db"].difference > 0 and worse["mcd_gap_closed"].difference < 0
    assert not worse["mcd_db"].real and worse["mcd_db"].verdict.startswith("too few utterances to tell (6;")
    same = compare(run, run)
    assert not any(d.real for d in same) and all(d.difference in (0.0, None) for d in same)
    done = subprocess.run([sys.executable, "-m", "pipeline.experiments.compare", str(out / "per_utterance.json"),
                           str(degraded)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("| mcd_db |"))
    assert " to " in row and "too few utterances to tell" in row
    assert "| stoi |" in done.stdout and "| mcd_gap_closed |" in done.stdout and "p (Holm)" in done.stdout
    fewer = json.loads((out / "per_utterance.json").read_text())
    fewer.pop(sorted(fewer)[0])
    (tmp_path / "fewer.json").write_text(json.dumps(fewer))
    with pytest.raises(StageError, match="different utterances .* not comparable"):
        compare(run, fewer)
    refused = subprocess.run([sys.executable, "-m", "pipeline.experiments.compare", str(out / "per_utterance.json"),
                              str(tmp_path / "fewer.json")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "not comparable" in refused.stderr


def test_runs_are_found_by_revision_and_by_experiment_name_the_newest_run_of_a_name(tmp_path: Path):
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@invalid"]
    subprocess.run(git + ["init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "metrics").mkdir()
    for value, date in ((1.0, "2026-01-01T00:00:00"), (2.0, "2026-01-02T00:00:00"), (3.0, "2026-01-03T00:00:00")):
        (tmp_path / "metrics" / "evaluate_per_utterance.json").write_text(json.dumps({"u1": {"x": value}}))
        subprocess.run(git + ["add", "-A"], cwd=tmp_path, check=True)
        subprocess.run(git + ["commit", "-qm", str(value)], cwd=tmp_path, check=True,
                       env={"GIT_COMMITTER_DATE": date, "GIT_AUTHOR_DATE": date, "PATH": "/usr/bin:/bin"})
    revisions = subprocess.run(["git", "rev-list", "HEAD"], cwd=tmp_path, capture_output=True,
                               text=True).stdout.split()  # newest first
    # One name run on two baselines: the ref of the older run sorts after the newer one's.
    older, newer = revisions[2], revisions[1]
    for revision, baseline in ((older, "ff"), (newer, "00")):
        subprocess.run(["git", "update-ref", f"refs/exps/{baseline}/{revision[2:]}/my-exp", revision], cwd=tmp_path,
                       check=True)
    assert per_utterance_of("HEAD", tmp_path) == {"u1": {"x": 3.0}}
    assert per_utterance_of("my-exp", tmp_path) == {"u1": {"x": 2.0}}
    assert per_utterance_of("workspace", tmp_path) == {"u1": {"x": 3.0}}
    with pytest.raises(StageError, match="not a file, `workspace`, a git revision or a DVC experiment"):
        per_utterance_of("no-such-run", tmp_path)
