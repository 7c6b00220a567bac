"""The recipe table: each ingredient taken away, its figures with intervals, and what differs for
real from the default on the same test utterances (the experiments as experiments_from_show gives
them; the per-utterance figures made here, so each verdict is known)."""
from __future__ import annotations

from pipeline.experiments.recipes import EXPERIMENTS, PREFIX, table

IDS = [f"s{s}_u{u}" for s in (1, 2) for u in range(10)]


def _result(rev: str, gap: float, wer: float) -> dict:
    evaluation = {"mcd_gap_closed": gap, "mcd_gap_closed_ci_low": gap - 0.02, "mcd_gap_closed_ci_high": gap + 0.02,
                  "mcd_db": 5.6, "stoi": 0.73, "stoi_ci_low": 0.72, "stoi_ci_high": 0.74, "wer": wer}
    return {"params": {"decoder": "conv"}, "rev": rev,
            "metrics": {"metrics/evaluate.json": evaluation,
                        "metrics/train.json": {"decoder": "conv", "best_val_loss": 0.1587}}}


def _per_utterance(mcd: float, wer: float, count: int = len(IDS)) -> dict:
    """MCDs that vary by utterance; the same WER pattern in every run unless `wer` moves it."""
    return {i: {"model": {"mcd_db": mcd + 0.05 * (k % 7), "wer": wer if k % 2 else 0.0, "stoi": 0.7},
                "oracle": {"mcd_db": 4.0}, "mean": {"mcd_db": 10.0}} for k, i in enumerate(IDS[:count])}


def test_each_run_shows_its_intervals_and_only_the_differences_that_are_real():
    results = {PREFIX + "default": _result("r0", 0.717, 0.181),
               PREFIX + "plateau": _result("r1", 0.650, 0.300),
               PREFIX + "seed-1": _result("r2", 0.717, 0.181),
               PREFIX + "multi-task": _result("r3", 0.717, 0.181)}
    runs = {"r0": _per_utterance(5.6, 0.2), "r1": _per_utterance(6.1, 0.2), "r2": _per_utterance(5.6, 0.2),
            "r3": _per_utterance(5.6, 0.2, count=12)}
    lines = table(results, runs.__getitem__).splitlines()
    assert len(lines) == 2 + len(EXPERIMENTS) and all(line.count("|") == lines[0].count("|") for line in lines)
    rows = {line.split(" | ")[0].strip("| "): line for line in lines[2:]}
    assert "| (committed params) | 0.717 [0.697, 0.737] | 5.60 | 0.730 [0.720, 0.740] |" in rows["default"]
    assert rows["default"].endswith("| 0.1587 | (the default) |")
    # Worse MCD on every utterance: a real difference (and so a real loss of the gap closed);
    # the same WER on every utterance: not listed.
    plateau = rows["plateau"]
    assert "`train.schedule=plateau` `train.lr=0.001`" in plateau
    assert "MCD +0.50 [+0.50, +0.50] worse" in plateau and "gap" in plateau and "WER" not in plateau.split("|")[-2]
    assert rows["seed-1"].endswith("| none real |")
    assert rows["multi-task"].endswith("| other test utterances |")
    assert "not run (yet)" in rows["one-direction"]


def test_without_the_per_utterance_figures_the_table_still_has_every_figure():
    lines = table({PREFIX + "default": _result("r0", 0.717, 0.181)}).splitlines()
    assert "| 0.181 |" in lines[2] and lines[2].endswith("| - |")


def test_a_run_on_too_few_utterances_gets_no_verdict():
    results = {PREFIX + "default": _result("r0", 0.717, 0.181), PREFIX + "plateau": _result("r1", 0.650, 0.300)}
    runs = {"r0": _per_utterance(5.6, 0.2, count=5), "r1": _per_utterance(6.1, 0.2, count=5)}
    plateau = next(line for line in table(results, runs.__getitem__).splitlines() if line.startswith("| plateau |"))
    assert plateau.endswith("| too few utterances to tell (5; at least 10 needed) |")
