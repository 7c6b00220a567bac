"""Is one run better than another? Their per-utterance figures, paired on the same test utterances.

    python -m pipeline.compare BASELINE OTHER     # e.g. HEAD workspace, or a commit and an experiment

BASELINE and OTHER name an evaluation: `workspace` (the files as they are), a git revision (a
commit, a branch, `HEAD~1`), a DVC experiment's name (as `dvc exp show` lists it), or a
per-utterance file (`metrics/evaluate_per_utterance.json` of any run). For each of the model's
metrics (and the MCD gap closed) it prints both means, the difference OTHER - BASELINE over the
utterances both have, its 95 % paired bootstrap interval (the same utterances drawn for both
runs: pipeline.learn.uncertainty), and whether that interval excludes 0 (a real difference) or
not. Runs on different test utterances are refused: their figures are not comparable.
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import StageError, run_command
from pipeline.learn.evaluation import METRICS
from pipeline.learn.uncertainty import bootstrap_means, column, gap_closed, interval, resamples

log = logging.getLogger("pipeline.compare")
PER_UTTERANCE = "metrics/evaluate_per_utterance.json"
LOWER_IS_BETTER = {"mcd_db", "mse", "wer", "lipreading_wer"}


@dataclass(frozen=True)
class Difference:
    """One metric of two runs on the same utterances."""

    metric: str
    baseline: float | None
    other: float | None
    difference: float | None  # other - baseline
    low: float | None
    high: float | None

    @property
    def real(self) -> bool:
        """The 95 % interval of the difference excludes 0."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    @property
    def better(self) -> str:
        """Which run a real difference favours."""
        if not self.real or self.difference is None:
            return ""
        lower = self.difference < 0
        return "other" if lower == (self.metric in LOWER_IS_BETTER) else "baseline"


def per_utterance_of(run: str, repo: Path = Path(".")) -> dict[str, dict]:
    """The per-utterance figures of a run named as the module says; StageError when none is found."""
    path = Path(run)
    if path.is_file():
        return json.loads(path.read_text())
    if run == "workspace":
        return json.loads((repo / PER_UTTERANCE).read_text())

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)

    revision = run if git("rev-parse", "--verify", "-q", f"{run}^{{commit}}").returncode == 0 else None
    if revision is None:
        references = git("for-each-ref", "--format=%(refname)", "refs/exps").stdout.split()
        named = sorted(r for r in references if r.rsplit("/", 1)[-1] == run)
        revision = named[-1] if named else None
    if revision is None:
        raise StageError(f"{run!r} is not a file, `workspace`, a git revision or a DVC experiment here")
    shown = git("show", f"{revision}:{PER_UTTERANCE}")
    if shown.returncode != 0:
        raise StageError(f"{run} has no {PER_UTTERANCE} (not evaluated there?)")
    return json.loads(shown.stdout)


def compare(baseline: dict[str, dict], other: dict[str, dict]) -> list[Difference]:
    """Each model metric of `other` against `baseline` on their common test utterances, paired."""
    if set(baseline) != set(other):
        only = sorted(set(baseline) ^ set(other))
        raise StageError(f"the runs were tested on different utterances ({len(set(baseline))} and {len(set(other))}, "
                         f"{len(only)} not in both, e.g. {only[0]}): their figures are not comparable")
    ids = sorted(baseline)
    draws = resamples(len(ids))
    differences = []
    drawn: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for metric in (*METRICS, "lipreading_wer"):
        first = column([baseline[i]["model"].get(metric) for i in ids])
        second = column([other[i]["model"].get(metric) for i in ids])
        both = ~np.isnan(first) & ~np.isnan(second)
        if not both.any():
            differences.append(Difference(metric, None, None, None, None, None))
            continue
        first, second = np.where(both, first, np.nan), np.where(both, second, np.nan)
        drawn[metric] = bootstrap_means(first, draws), bootstrap_means(second, draws)
        bounds = interval(drawn[metric][1] - drawn[metric][0])
        differences.append(Difference(metric, _mean(first), _mean(second), _round(np.nanmean(second - first)),
                                      *(bounds or (None, None))))
    gaps = []
    for run in (baseline, other):
        mcds = [column([run[i][c]["mcd_db"] for i in ids]) for c in ("model", "oracle", "mean")]
        whole = gap_closed(*(np.array([np.nanmean(mcd)]) for mcd in mcds))[0]
        gaps.append((whole, gap_closed(*(bootstrap_means(mcd, draws) for mcd in mcds))))
    bounds = interval(gaps[1][1] - gaps[0][1])
    differences.append(Difference("mcd_gap_closed", _round(gaps[0][0]), _round(gaps[1][0]),
                                  _round(gaps[1][0] - gaps[0][0]), *(bounds or (None, None))))
    return differences


def _mean(values: np.ndarray) -> float | None:
    return _round(np.nanmean(values)) if np.isfinite(values).any() else None


def _round(value: float) -> float | None:
    return round(float(value), 4) + 0.0 if np.isfinite(value) else None  # + 0.0: no "-0.0"


def table(differences: list[Difference], baseline: str, other: str) -> str:
    """A markdown table of the differences."""
    def shown(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    lines = [f"| metric | {baseline} | {other} | difference | 95 % interval | real? |", "|---|---|---|---|---|---|"]
    for d in differences:
        verdict = f"yes, {d.better} better" if d.real else "no"
        span = "-" if d.low is None else f"{d.low:.4f} to {d.high:.4f}"
        lines.append(f"| {d.metric} | {shown(d.baseline)} | {shown(d.other)} | {shown(d.difference)} | {span} | "
                     f"{verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline")
    parser.add_argument("other")
    args = parser.parse_args(argv)

    def body() -> None:
        baseline, other = per_utterance_of(args.baseline), per_utterance_of(args.other)
        print(f"{len(baseline)} test utterances, paired\n")
        print(table(compare(baseline, other), args.baseline, args.other))

    run_command(log, body)


if __name__ == "__main__":
    main()
