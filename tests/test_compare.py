"""Paired comparison of two evaluations: a real difference is found, none between a run and
itself, runs on other utterances are refused, and runs are found by file, revision or experiment."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pipeline.compare import compare, per_utterance_of
from pipeline.errors import StageError
from tests.conftest import REPO, evaluate


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


def test_a_degraded_model_is_found_worse_and_a_run_equal_to_itself(evaluated, degraded):
    _, out = evaluated
    run = per_utterance_of(str(out / "per_utterance.json"))
    worse = {d.metric: d for d in compare(run, per_utterance_of(str(degraded)))}
    assert worse["mcd_db"].real and worse["mcd_db"].better == "baseline" and worse["mcd_db"].difference > 0
    assert worse["mcd_db"].low > 0 and worse["mcd_gap_closed"].real and worse["mcd_gap_closed"].difference < 0
    same = compare(run, run)
    assert not any(d.real for d in same) and all(d.difference in (0.0, None) for d in same)


def test_the_command_prints_each_metric_with_its_interval_and_refuses_other_utterances(evaluated, degraded,
                                                                                   tmp_path: Path):
    _, out = evaluated
    done = subprocess.run([sys.executable, "-m", "pipeline.compare", str(out / "per_utterance.json"), str(degraded)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("| mcd_db |"))
    assert row.endswith("| yes, baseline better |") and " to " in row
    assert "| stoi |" in done.stdout and "| mcd_gap_closed |" in done.stdout
    fewer = json.loads((out / "per_utterance.json").read_text())
    fewer.pop(sorted(fewer)[0])
    (tmp_path / "fewer.json").write_text(json.dumps(fewer))
    with pytest.raises(StageError, match="different utterances .* not comparable"):
        compare(per_utterance_of(str(out / "per_utterance.json")), fewer)
    refused = subprocess.run([sys.executable, "-m", "pipeline.compare", str(out / "per_utterance.json"),
                              str(tmp_path / "fewer.json")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "not comparable" in refused.stderr


def test_runs_are_found_by_revision_and_by_experiment_name(tmp_path: Path):
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@invalid"]
    subprocess.run(git + ["init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "metrics").mkdir()
    for value in (1.0, 2.0):
        (tmp_path / "metrics" / "evaluate_per_utterance.json").write_text(json.dumps({"u1": {"x": value}}))
        subprocess.run(git + ["add", "-A"], cwd=tmp_path, check=True)
        subprocess.run(git + ["commit", "-qm", str(value)], cwd=tmp_path, check=True)
    first = subprocess.run(["git", "rev-parse", "HEAD~1"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    subprocess.run(["git", "update-ref", f"refs/exps/{first[:2]}/{first[2:]}/my-exp", first], cwd=tmp_path, check=True)
    assert per_utterance_of("HEAD", tmp_path) == {"u1": {"x": 2.0}}
    assert per_utterance_of("my-exp", tmp_path) == {"u1": {"x": 1.0}}
    assert per_utterance_of("workspace", tmp_path) == {"u1": {"x": 2.0}}
    with pytest.raises(StageError, match="not a file, `workspace`, a git revision or a DVC experiment"):
        per_utterance_of("no-such-run", tmp_path)
