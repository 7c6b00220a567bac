"""The thesis table, built from a recorded `dvc exp show --json` (trimmed to the fields the table
reads; the real run of the thesis experiments (`lip2speech experiments thesis`) at commit a9ce71d,
with the 2-speaker experiment left out to show an unfinished row)."""
from __future__ import annotations

import json

from pipeline.experiments.runs import experiments_from_show
from pipeline.experiments.thesis import EXPERIMENTS, PREFIX, table
from tests.conftest import REPO

RECORDED = json.loads((REPO / "tests" / "data" / "dvc_exp_show.json").read_text())


def test_the_recorded_experiments_are_found_by_name():
    found = experiments_from_show(RECORDED)
    assert sorted(found) == sorted(PREFIX + e.name for e in EXPERIMENTS if e.name != "2-speakers")
    assert found["thesis-flow"]["params"]["decoder"] == "flow"
    assert found["thesis-flow"]["metrics"]["metrics/evaluate.json"]["wer"] == 0.7361


def test_a_failed_or_stopped_run_is_not_a_result():
    """`dvc exp show` gives a failed run its baseline's metrics and an error: left out."""
    shown = json.loads(json.dumps(RECORDED))
    for baseline in shown:
        for experiment in baseline.get("experiments") or []:
            for rev in experiment.get("revs") or []:
                if rev.get("name") == PREFIX + "flow":
                    rev["error"] = {"msg": "Experiment run failed", "type": ""}
    assert PREFIX + "flow" not in experiments_from_show(shown)
    assert any("flow: not run (yet)" in line for line in table(experiments_from_show(shown)).splitlines())


def test_the_table_has_a_row_per_comparison_with_our_figures_and_the_thesis():
    lines = table(experiments_from_show(RECORDED)).splitlines()
    assert lines[0].startswith("| comparison |") and "WER ↓" in lines[0] and lines[0].endswith("| thesis |")
    assert len(lines) == 2 + 12 and all(line.count("|") == lines[0].count("|") for line in lines)
    rows = {line.split(" | ")[0].strip("| "): line for line in lines[2:] if not line.startswith("|  |")}
    padding = rows["padding (thesis table 6.1: 1 speaker, MLP, loss)"]
    assert "| 4 | 10 | yes | standard | conv | 0.3872 | 7.17 | 3.98 | 9.83 | 0.45 | 0.567 | 0.611 | - | 0.0058 |" \
        in padding
    flow = next(line for line in lines if "| flow |" in line)
    assert "| 9.37 |" in flow and "| 0.736 | - | 191 (autoregressive) |" in flow
    assert sum("not run (yet)" in line for line in lines) == 1
    assert any("2-speakers: not run (yet)" in line for line in lines)


def test_each_row_says_whether_it_differs_for_real_from_the_baseline():
    """With each run's per-utterance figures, a row gets its paired MCD and WER difference from
    the baseline's; a row on other test utterances is said to be so."""
    found = experiments_from_show(RECORDED)
    baseline_rev, mlp_rev, speaker_rev = (found[PREFIX + n]["rev"] for n in ("baseline", "mlp", "1-speaker"))
    ids = [f"s1_u{i}" for i in range(12)]

    def run(mcd: float, wer: float, count: int = 12) -> dict:
        return {i: {"model": {"mcd_db": mcd + 0.01 * k, "wer": wer if k % 2 else 0.0},
                    "oracle": {"mcd_db": 4.0}, "mean": {"mcd_db": 10.0}} for k, i in enumerate(ids[:count])}

    runs = {baseline_rev: run(7.0, 0.5), mlp_rev: run(8.0, 0.5), speaker_rev: run(7.0, 0.5, count=3)}
    lines = table(found, lambda revision: runs.get(revision, runs[baseline_rev])).splitlines()
    assert "vs baseline (95 %)" in lines[0]
    mlp = next(line for line in lines if "| mlp |" in line)
    assert "MCD +1.00 (+1.00 to +1.00) real, worse; WER +0.00 (+0.00 to +0.00) not real" in mlp
    assert any("(baseline)" in line for line in lines)
    assert "other test utterances" in next(line for line in lines if line.startswith("| speakers"))
