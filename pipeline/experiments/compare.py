"""Is one run better than another? Their per-utterance figures, paired on the same test utterances.

    lip2speech compare BASELINE OTHER      # e.g. HEAD workspace, or a commit and an experiment

BASELINE and OTHER name an evaluation: `workspace` (the files as they are), a git revision (a
commit, a branch, `HEAD~1`), a DVC experiment's name (as `dvc exp show` lists it; a name run on
several commits is the newest run of it), or a per-utterance file
(`metrics/evaluate_per_utterance.json` of any run). For each of the model's metrics (and the MCD
gap closed) it prints both means, the difference OTHER - BASELINE over the utterances both have,
its 95 % studentised bootstrap interval, the p-value of a paired permutation test, that p-value
adjusted by Holm's method over every row printed, and the verdict: a difference is real only when
its adjusted p-value is below 0.05, so the chance of calling any row real when the runs do not
differ stays within 5 % (pipeline.learn.uncertainty). Under 10 paired utterances there is no
verdict ("too few utterances to tell"). `mse` is on each run's own normalisation: two runs whose
normalisations differ (their mean voices' MSE differ) are "not comparable" there. Runs on
different test utterances are refused: their figures are not comparable.
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pipeline.errors import StageError, run_command
from pipeline.learn.evaluation import METRICS
from pipeline.learn.uncertainty import (
    LEVEL,
    bootstrap_means,
    column,
    gap_closed,
    holm,
    interval,
    paired_test,
    permutation_p,
    resamples,
    swap_patterns,
    too_few,
)

log = logging.getLogger(__name__)
PER_UTTERANCE = "metrics/evaluate_per_utterance.json"
LOWER_IS_BETTER = {"mcd_db", "mse", "wer", "lipreading_wer"}
COMPARED = (*METRICS, "lipreading_wer", "mcd_gap_closed")
SCALE_TOLERANCE = 1e-4  # relative: per-utterance figures are rounded to 6 significant digits
NOT_COMPARABLE = "not comparable (another normalisation)"


@dataclass(frozen=True)
class Difference:
    """One metric of two runs on the same utterances. `adjusted` is the p-value after Holm's
    adjustment over every metric compared; `note` says why there is no verdict."""

    metric: str
    baseline: float | None
    other: float | None
    difference: float | None  # other - baseline
    low: float | None
    high: float | None
    p_value: float | None = None
    adjusted: float | None = None
    note: str = ""

    @property
    def real(self) -> bool:
        """The difference is real at the family's level (Holm-adjusted p-value below 1 - LEVEL)."""
        return not self.note and self.adjusted is not None and self.adjusted < 1 - LEVEL

    @property
    def better(self) -> str:
        """Which run a real difference favours."""
        if not self.real or self.difference is None:
            return ""
        lower = self.difference < 0
        return "other" if lower == (self.metric in LOWER_IS_BETTER) else "baseline"

    @property
    def verdict(self) -> str:
        if self.note:
            return self.note
        if self.p_value is None:
            return "-"
        return f"yes, {self.better} better" if self.real else "no"


def _experiment(run: str, git) -> str | None:
    """The newest run of the DVC experiment named `run` (its ref), logging the older ones passed over."""
    named = [ref for ref in git("for-each-ref", "--sort=-committerdate", "--format=%(refname)",
                                "refs/exps").stdout.split() if ref.rsplit("/", 1)[-1] == run]
    if len(named) > 1:
        log.info("%s names %d experiment runs; taking the newest (%s), not %s", run, len(named), named[0],
                 ", ".join(named[1:]))
    return named[0] if named else None


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
    revision = revision or _experiment(run, git)
    if revision is None:
        raise StageError(f"{run!r} is not a file, `workspace`, a git revision or a DVC experiment here")
    shown = git("show", f"{revision}:{PER_UTTERANCE}")
    if shown.returncode != 0:
        raise StageError(f"{run} has no {PER_UTTERANCE} (not evaluated there?)")
    return json.loads(shown.stdout)


def _same_scale(baseline: dict[str, dict], other: dict[str, dict], ids: list[str]) -> bool:
    """Whether both runs' `mse` is on one scale: the mean voice's MSE, on each run's normalised
    mels, is the same utterance by utterance exactly when their normalisations are."""
    first, second = (column([run[i].get("mean", {}).get("mse") for i in ids]) for run in (baseline, other))
    both = ~np.isnan(first) & ~np.isnan(second)
    return bool(both.any()) and bool(np.allclose(first[both], second[both], rtol=SCALE_TOLERANCE, atol=1e-9))


def _gap_difference(baseline: dict[str, dict], other: dict[str, dict], ids: list[str]) -> Difference:
    """The MCD gap closed (a ratio of means) of both runs, the percentile bootstrap interval of its
    difference and a permutation test that swaps whole utterances between the runs."""
    columns = np.array([[column([run[i][c]["mcd_db"] for i in ids]) for c in ("model", "oracle", "mean")]
                        for run in (baseline, other)])  # (run, condition, utterance)
    present = ~np.isnan(columns).any(axis=(0, 1))
    columns = columns[:, :, present]
    count = columns.shape[2]
    if not count:
        return Difference("mcd_gap_closed", None, None, None, None, None)
    whole = [float(gap_closed(*run.mean(axis=1))) for run in columns]
    draws = resamples(count)
    drawn = [gap_closed(*(bootstrap_means(c, draws) for c in run)) for run in columns]
    bounds = interval(drawn[1] - drawn[0])
    patterns = swap_patterns(count)
    shift = (patterns @ (columns[1] - columns[0]).T) / count  # (pattern, condition): what swapping moves
    means = columns.mean(axis=2)
    permuted = gap_closed(*(means[1] - shift).T) - gap_closed(*(means[0] + shift).T)
    difference = whole[1] - whole[0]
    low, high = bounds or (None, None)
    return Difference("mcd_gap_closed", _round(whole[0]), _round(whole[1]), _round(difference), low, high,
                      permutation_p(difference, permuted, count), note=too_few(count) or "")


def compare(baseline: dict[str, dict], other: dict[str, dict]) -> list[Difference]:
    """Each model metric of `other` against `baseline` on their common test utterances, paired,
    with Holm's adjustment over all of them."""
    if set(baseline) != set(other):
        only = sorted(set(baseline) ^ set(other))
        raise StageError(f"the runs were tested on different utterances ({len(set(baseline))} and {len(set(other))}, "
                         f"{len(only)} not in both, e.g. {only[0]}): their figures are not comparable")
    ids = sorted(baseline)
    differences = []
    for metric in COMPARED[:-1]:
        first = column([baseline[i]["model"].get(metric) for i in ids])
        second = column([other[i]["model"].get(metric) for i in ids])
        tested = paired_test(first, second)
        if tested is None:
            differences.append(Difference(metric, None, None, None, None, None))
            continue
        both = ~np.isnan(first) & ~np.isnan(second)
        means = _round(first[both].mean()), _round(second[both].mean())
        if metric == "mse" and not _same_scale(baseline, other, ids):
            # Each on its own scale: a difference would show the change of scale.
            differences.append(Difference(metric, *means, None, None, None, note=NOT_COMPARABLE))
            continue
        differences.append(Difference(metric, *means, _round(tested.difference), tested.low, tested.high,
                                      tested.p_value, note=too_few(tested.count) or ""))
    differences.append(_gap_difference(baseline, other, ids))
    # The family: every row with a verdict to give.
    judged = [d.p_value if d.p_value is not None and not d.note else float("nan") for d in differences]
    return [replace(d, adjusted=_round(adjusted) if np.isfinite(adjusted) else None)
            for d, adjusted in zip(differences, holm(judged), strict=True)]


def _round(value: float) -> float | None:
    return round(float(value), 4) + 0.0 if np.isfinite(value) else None  # + 0.0: no "-0.0"


def table(differences: list[Difference], baseline: str, other: str) -> str:
    """A markdown table of the differences."""
    def shown(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    lines = [f"| metric | {baseline} | {other} | difference | 95 % interval | p | p (Holm) | real? |",
             "|---|---|---|---|---|---|---|---|"]
    for d in differences:
        span = "-" if d.low is None else f"{d.low:.4f} to {d.high:.4f}"
        lines.append(f"| {d.metric} | {shown(d.baseline)} | {shown(d.other)} | {shown(d.difference)} | {span} | "
                     f"{shown(d.p_value)} | {shown(d.adjusted)} | {d.verdict} |")
    return "\n".join(lines)


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  lip2speech compare HEAD workspace           # this run against the last commit's\n"
               "  lip2speech compare recipe-default recipe-seed-1\n"
               "  lip2speech compare a/evaluate_per_utterance.json b/evaluate_per_utterance.json")
    parser.add_argument("baseline", help="workspace, a git revision, an experiment's name or a per-utterance file")
    parser.add_argument("other", help="the same kinds")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    args = parser(prog).parse_args(argv)

    def body() -> None:
        baseline, other = per_utterance_of(args.baseline), per_utterance_of(args.other)
        print(f"{len(baseline)} test utterances, paired; real: Holm-adjusted p below {1 - LEVEL:.2f} over the "
              f"{len(COMPARED)} rows\n")
        print(table(compare(baseline, other), args.baseline, args.other))

    run_command(log, body)


if __name__ == "__main__":
    main()
