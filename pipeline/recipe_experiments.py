"""Why the default recipe is the default: each of its ingredients taken away, one at a time, as a
DVC experiment, and one markdown table of each run against the default on the same test utterances.

    python -m pipeline.recipe_experiments              # queue what is missing, run it, print the table
    python -m pipeline.recipe_experiments --table-only # just the table, from existing experiments
    python -m pipeline.recipe_experiments --out table.md

Every experiment changes the committed params (the default, `recipe-default`) in one respect: the
encoder's second GRU direction, the speaker embedding, the one-cycle schedule at 3x the learning
rate (back to the plateau schedule at 0.001), the detached lip-reading head (multi-task instead,
as the recipe before it had it), and the training seed (how much retraining alone moves the
figures). They are queued as `dvc exp run --queue -n recipe-NAME -S ...` and run one at a time,
as pipeline.thesis_experiments does. The table gives each run's
means with their 95 % bootstrap intervals and, paired on the same test utterances
(pipeline.compare), the differences from the default whose 95 % interval excludes 0: a recipe
change is justified when it makes real differences in its favour, and more than a reseed does.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pipeline.compare import compare, per_utterance_of
from pipeline.errors import StageError, run_command
from pipeline.thesis_experiments import (
    EVALUATE,
    TRAIN,
    Experiment,
    PerUtterance,
    existing_experiments,
    finished,
    run_missing,
    with_interval,
)

log = logging.getLogger("pipeline.recipe_experiments")
PREFIX = "recipe-"

EXPERIMENTS = (
    Experiment("default"),
    Experiment("one-direction", {"model.bidirectional": "false"}),
    Experiment("no-speaker-embedding", {"model.speaker_embedding": "false"}),
    Experiment("plateau", {"train.schedule": "plateau", "train.lr": "0.001"}),
    Experiment("multi-task", {"model.ctc_detach": "false", "model.ctc_weight": "0.1"}),
    Experiment("seed-1", {"train.seed": "1"}),
)

# (metric in metrics/evaluate.json, column label, digits)
COLUMNS = (
    ("mcd_gap_closed", "gap closed ↑", 3),
    ("mcd_db", "MCD dB ↓", 2),
    ("stoi", "STOI ↑", 3),
    ("estoi", "ESTOI ↑", 3),
    ("pesq", "PESQ ↑", 2),
    ("wer", "WER ↓", 3),
    ("lipreading_wer", "lip-reading WER ↓", 3),
)
LABELS = {metric: label.removesuffix(" ↑").removesuffix(" ↓").removesuffix(" dB") for metric, label, _ in COLUMNS}
DIGITS = {metric: digits for metric, _, digits in COLUMNS}


def real_differences(result: dict, default: dict | None, per_utterance: PerUtterance | None) -> str:
    """The metrics in which the run differs for real from the default (paired, 95 %), with the
    difference, its interval and which way; `none real` when none does."""
    if default is None or per_utterance is None or not result.get("rev") or not default.get("rev"):
        return "-"
    if result["rev"] == default["rev"]:
        return "(the default)"
    try:
        differences = {d.metric: d for d in compare(per_utterance(default["rev"]), per_utterance(result["rev"]))}
    except StageError as error:
        return "other test utterances" if "different utterances" in str(error) else "-"
    cells = []
    for metric, _, _ in COLUMNS:
        d = differences[metric]
        if not d.real:
            continue
        digits = DIGITS[d.metric]
        cells.append(f"{LABELS[d.metric]} {d.difference:+.{digits}f} [{d.low:+.{digits}f}, {d.high:+.{digits}f}] "
                     f"{'better' if d.better == 'other' else 'worse'}")
    return "; ".join(cells) or "none real"


def table(results: dict[str, dict], per_utterance: PerUtterance | None = None) -> str:
    """The markdown table, the default first; with `per_utterance` (a revision's per-utterance
    figures), each run's real differences from the default."""
    header = ("| run | changes (`-S`) | " + " | ".join(label for _, label, _ in COLUMNS)
              + " | best val loss | real differences from the default (paired, 95 %) |")
    width = header.count("|") - 1
    default = results.get(PREFIX + "default")
    default = default if default is not None and finished(default) else None
    lines = [header, "|" + "---|" * width]
    for experiment in EXPERIMENTS:
        changes = " ".join(f"`{key}={value}`" for key, value in experiment.changes.items()) or "(committed params)"
        result = results.get(PREFIX + experiment.name)
        if result is None or not finished(result):
            lines.append(f"| {experiment.name} | {changes} | not run (yet) |" + " |" * (width - 3))
            continue
        evaluation, training = result["metrics"].get(EVALUATE, {}), result["metrics"].get(TRAIN, {})
        loss = training.get("best_val_loss")
        lines.append("| " + " | ".join([
            experiment.name,
            changes,
            *(with_interval(evaluation, metric, digits) for metric, _, digits in COLUMNS),
            "-" if loss is None else f"{loss:.4f}",
            real_differences(result, default, per_utterance),
        ]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table-only", action="store_true", help="do not queue or run anything")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--commits", type=int, default=1,
                        help="tabulate experiments based on this many recent commits (default: the current one)")
    args = parser.parse_args(argv)

    def body() -> None:
        if not args.table_only:
            run_missing(existing_experiments(), EXPERIMENTS, PREFIX)
        markdown = table(existing_experiments(args.commits), per_utterance_of)
        print(markdown)
        if args.out:
            args.out.write_text(markdown + "\n")

    run_command(log, body)


if __name__ == "__main__":
    main()
