"""The thesis' comparisons (its tables 6.1-6.6) as DVC experiments on the current corpus, and one
markdown table of the results.

    python -m pipeline.thesis_experiments              # queue what is missing, run it, print the table
    python -m pipeline.thesis_experiments --table-only # just the table, from existing experiments
    python -m pipeline.thesis_experiments --out table.md

Every experiment changes one thing from the committed params (the baseline): mouth padding 25, no
derivatives, min-max normalisation, the mlp and flow decoders, one and two speakers. They are
queued with `dvc exp run --queue -n thesis-NAME -S ...` and run one at a time with `dvc exp run
--run-all`; an experiment already named so on the current commit is not run again (`dvc exp remove
-A` or a new commit starts over). The table puts our figures (val loss, MCD in dB, STOI, the
judge's WER, each with its 95 % interval) next to the references (oracle and mean MCD, gap closed),
each row's MCD and WER against the baseline's on the same test utterances (the paired difference,
its 95 % interval, and whether it is real: pipeline.compare), and the thesis' own figure for that
row (its loss on normalised mels, or its MCD on dB-mel values: another scale than ours).
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

from pipeline.compare import Difference, compare, per_utterance_of
from pipeline.errors import StageError, run_command

log = logging.getLogger("pipeline.thesis_experiments")
PerUtterance = Callable[[str], dict]  # a revision -> its per-utterance figures
PREFIX = "thesis-"
EVALUATE = "metrics/evaluate.json"
TRAIN = "metrics/train.json"


@dataclass(frozen=True)
class Experiment:
    name: str
    changes: dict[str, str] = field(default_factory=dict)  # -S key=value, on top of params.yaml


EXPERIMENTS = (
    Experiment("baseline"),
    Experiment("padding-25", {"mouths.padding": "25"}),
    Experiment("no-derivatives", {"features.derivatives": "false"}),
    Experiment("minmax", {"normalize": "minmax"}),
    Experiment("mlp", {"decoder": "mlp"}),
    Experiment("flow", {"decoder": "flow"}),
    Experiment("1-speaker", {"split.speakers": "[s1]"}),
    Experiment("2-speakers", {"split.speakers": "[s1,s2]"}),
)

# (title, rows as (experiment, the thesis' figure for the matching row))
COMPARISONS = (
    ("padding (thesis table 6.1: 1 speaker, MLP, loss)", (("baseline", "0.0058"), ("padding-25", "0.0059"))),
    ("derivatives (table 6.3: 2 speakers, conv, loss)", (("no-derivatives", "0.0053"), ("baseline", "0.0052"))),
    ("normalisation (table 6.4: 2 speakers, MLP, loss)", (("minmax", "0.0060"), ("baseline", "0.0053"))),
    ("decoder (table 6.6: 2 speakers, MCD on its scale)",
     (("mlp", "195"), ("baseline", "169"), ("flow", "191 (autoregressive)"))),
    ("speakers (tables 6.5-6.6: conv, MCD on its scale)",
     (("1-speaker", "169"), ("2-speakers", "169"), ("baseline", "-"))),
)


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


def run_missing(existing: dict[str, dict], experiments: tuple[Experiment, ...] = EXPERIMENTS,
                prefix: str = PREFIX) -> None:
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
    (pipeline.compare); or the cell to show instead: `itself` for the baseline's own row, `other
    test utterances`, or `-` when there is nothing to compare."""
    if baseline is None or per_utterance is None or not result.get("rev") or not baseline.get("rev"):
        return "-"
    if result["rev"] == baseline["rev"]:
        return itself
    try:
        return {d.metric: d for d in compare(per_utterance(baseline["rev"]), per_utterance(result["rev"]))}
    except StageError as error:
        return "other test utterances" if "different utterances" in str(error) else "-"


def against_baseline(result: dict, baseline: dict | None, per_utterance: PerUtterance | None) -> str:
    """The row's MCD and WER against the baseline's on the same test utterances: the paired
    difference, its 95 % interval, and whether it is real (pipeline.compare)."""
    differences = paired_with(result, baseline, per_utterance, "(baseline)")
    if isinstance(differences, str):
        return differences
    cells = []
    for metric, label in (("mcd_db", "MCD"), ("wer", "WER")):
        d = differences[metric]
        if d.difference is None or d.low is None:
            continue
        verdict = f"real, {'better' if d.better == 'other' else 'worse'}" if d.real else "not real"
        cells.append(f"{label} {d.difference:+.2f} ({d.low:+.2f} to {d.high:+.2f}) {verdict}")
    return "; ".join(cells) or "-"


def table(results: dict[str, dict], per_utterance: PerUtterance | None = None) -> str:
    """The markdown table, one block of rows per comparison; with `per_utterance` (a revision's
    per-utterance figures), each row's MCD and WER against the baseline's, paired."""
    header = ("| comparison | speakers | padding | derivatives | normalisation | decoder | val loss | MCD dB ↓ "
              "| oracle MCD | mean MCD | gap closed ↑ | STOI ↑ | WER ↓ | vs baseline (95 %) | thesis |")
    baseline = results.get(PREFIX + "baseline")
    baseline = baseline if baseline is not None and finished(baseline) else None
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for title, rows in COMPARISONS:
        for index, (name, thesis) in enumerate(rows):
            result = results.get(PREFIX + name)
            if result is not None and not finished(result):
                result = None
            if result is None:
                empty = " |" * (header.count("|") - 4)  # the cells between the name and the thesis'
                lines.append(f"| {title if index == 0 else ''} | {name}: not run (yet) |{empty} {thesis} |")
                continue
            params, metrics = result["params"], result["metrics"]
            evaluation, training = metrics.get(EVALUATE, {}), metrics.get(TRAIN, {})
            speakers = params.get("split", {}).get("speakers") or []
            count = len(speakers) or params.get("corpus", {}).get("synthetic", {}).get("speakers", "all")
            lines.append("| " + " | ".join([
                title if index == 0 else "",
                str(count),
                str(params.get("mouths", {}).get("padding", "")),
                "yes" if params.get("features", {}).get("derivatives", True) else "no",
                str(params.get("normalize", "")),
                str(params.get("decoder", "")),
                figure(training.get("best_val_loss"), 4),
                with_interval(evaluation, "mcd_db", 2),
                figure(evaluation.get("oracle", {}).get("mcd_db"), 2),
                figure(evaluation.get("mean", {}).get("mcd_db"), 2),
                with_interval(evaluation, "mcd_gap_closed", 2),
                with_interval(evaluation, "stoi", 3),
                with_interval(evaluation, "wer", 3),
                against_baseline(result, baseline, per_utterance),
                thesis,
            ]) + " |")
    return "\n".join(lines)


def command_line(argv: list[str] | None, description: str, experiments: tuple[Experiment, ...], prefix: str,
                 make_table: Callable[[dict[str, dict], PerUtterance | None], str], logger: logging.Logger) -> None:
    """The command of a set of experiments: queue and run the missing ones (unless --table-only),
    then print their table (and write it to --out)."""
    parser = argparse.ArgumentParser(description=description)
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

    run_command(logger, body)


def main(argv: list[str] | None = None) -> None:
    command_line(argv, __doc__.splitlines()[0], EXPERIMENTS, PREFIX, table, log)


if __name__ == "__main__":
    main()
