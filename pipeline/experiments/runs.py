"""Experiment sets as DVC experiments: queue and run what is missing, read the results back
(`dvc exp show --json`), pair each run with a baseline's per-utterance figures
(pipeline.experiments.compare) and print a set's markdown table. The thesis' comparisons
(pipeline.experiments.thesis) and the default recipe's ablations (pipeline.experiments.recipes)
are such sets.
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import StageError, run_command
from pipeline.experiments.compare import Difference, compare, per_utterance_of

log = logging.getLogger(__name__)
PerUtterance = Callable[[str], dict]  # a revision -> its per-utterance figures
EVALUATE = "metrics/evaluate.json"
TRAIN = "metrics/train.json"


@dataclass(frozen=True)
class Experiment:
    name: str
    changes: dict[str, str] = field(default_factory=dict)  # -S key=value, on top of params.yaml


def _dvc(*args: str, capture: bool = True) -> str:
    done = subprocess.run([sys.executable, "-m", "dvc", *args], capture_output=capture, text=True)
    if done.returncode != 0:
        raise StageError(f"dvc {' '.join(args)} failed: {(done.stderr or '').strip().splitlines()[-1:]}")
    return done.stdout if capture else ""


def _files(data: dict, kind: str) -> dict[str, dict]:
    return {path: (content or {}).get("data", {}) for path, content in (data.get(kind) or {}).items()}


def experiments_from_show(shown: list[dict]) -> dict[str, dict]:
    """{experiment name: {"params": params.yaml values, "metrics": {file: values}}} from the
    output of `dvc exp show --json` (the newest baseline wins for a name run on several; failed
    runs are left out)."""
    found: dict[str, dict] = {}
    for baseline in shown:
        if baseline.get("rev") == "workspace":
            continue
        for experiment in baseline.get("experiments") or []:
            for rev in experiment.get("revs") or []:
                # A failed or stopped run shows its baseline's metrics: not a result.
                if rev.get("name") and rev.get("data") and not rev.get("error") and rev["name"] not in found:
                    data = rev["data"]
                    found[rev["name"]] = {"params": _files(data, "params").get("params.yaml", {}),
                                          "metrics": _files(data, "metrics"), "rev": rev.get("rev")}
    return found


def existing_experiments(commits: int = 1) -> dict[str, dict]:
    """The experiments based on the last `commits` commits (see experiments_from_show)."""
    return experiments_from_show(json.loads(_dvc("exp", "show", "--json", "-n", str(commits)) or "[]"))


def run_missing(existing: dict[str, dict], experiments: tuple[Experiment, ...], prefix: str) -> None:
    """Queue the `experiments` not in `existing` (named `prefix` + name) and run them one at a time."""
    missing = [e for e in experiments if prefix + e.name not in existing]
    for experiment in missing:
        settings = [arg for key, value in experiment.changes.items() for arg in ("-S", f"{key}={value}")]
        _dvc("exp", "run", "--queue", "-n", prefix + experiment.name, *settings)
        log.info("queued %s%s %s", prefix, experiment.name, " ".join(settings[1::2]) or "(committed params)")
    if missing:
        log.info("running %d experiments one at a time (dvc exp run --run-all)", len(missing))
        _dvc("exp", "run", "--run-all", "--jobs", "1", capture=False)


def figure(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def with_interval(metrics: dict, metric: str, digits: int) -> str:
    """`mean [low, high]` of one metric of metrics/evaluate.json (its 95 % interval); the mean
    alone for a run from before intervals; `-` when it has none."""
    value = metrics.get(metric)
    if value is None:
        return "-"
    low, high = metrics.get(f"{metric}_ci_low"), metrics.get(f"{metric}_ci_high")
    shown = f"{value:.{digits}f}"
    return shown if low is None or high is None else f"{shown} [{low:.{digits}f}, {high:.{digits}f}]"


def finished(result: dict) -> bool:
    """Queued or running experiments show no (or the baseline's) metrics: both files, from this
    experiment's decoder, or it does not count."""
    training = result["metrics"].get(TRAIN, {})
    return bool(result["metrics"].get(EVALUATE)) and training.get("decoder") == result["params"].get("decoder")


def paired_with(result: dict, baseline: dict | None, per_utterance: PerUtterance | None,
                itself: str) -> dict[str, Difference] | str:
    """The run's paired differences from the baseline on the same test utterances, by metric
    (pipeline.experiments.compare); or the cell to show instead: `itself` for the baseline's own row, `other
    test utterances`, or `-` when there is nothing to compare."""
    if baseline is None or per_utterance is None or not result.get("rev") or not baseline.get("rev"):
        return "-"
    if result["rev"] == baseline["rev"]:
        return itself
    try:
        return {d.metric: d for d in compare(per_utterance(baseline["rev"]), per_utterance(result["rev"]))}
    except StageError as error:
        return "other test utterances" if "different utterances" in str(error) else "-"


def command_line(argv: list[str] | None, prog: str | None, doc: str, experiments: tuple[Experiment, ...], prefix: str,
                 make_table: Callable[[dict[str, dict], PerUtterance | None], str]) -> None:
    """The command of a set of experiments (`doc`: its module's docstring, whose first paragraph
    describes it): queue and run the missing ones (unless --table-only), then print their table
    (and write it to --out)."""
    name = prefix.rstrip("-")
    parser = argparse.ArgumentParser(
        prog=prog, description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"examples:\n  lip2speech experiments {name}                 # run what is missing, print the table\n"
               f"  lip2speech experiments {name} --table-only    # the table of the experiments there are")
    parser.add_argument("--table-only", action="store_true", help="do not queue or run anything")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--commits", type=int, default=1,
                        help="tabulate experiments based on this many recent commits (default: the current one)")
    args = parser.parse_args(argv)

    def body() -> None:
        if not args.table_only:
            run_missing(existing_experiments(), experiments, prefix)
        markdown = make_table(existing_experiments(args.commits), per_utterance_of)
        print(markdown)
        if args.out:
            args.out.write_text(markdown + "\n")

    run_command(log, body)
