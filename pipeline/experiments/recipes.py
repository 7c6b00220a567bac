"""Why the default recipe is the default: each of its ingredients taken away, one at a time, as a
DVC experiment, and one markdown table of each run against the default on the same test utterances.

    lip2speech experiments recipes               # queue what is missing, run it, print the table
    lip2speech experiments recipes --table-only  # just the table, from existing experiments
    lip2speech experiments recipes --out table.md

Every experiment changes the committed params (the default, `recipe-default`) in one respect: the
encoder's second GRU direction, the speaker embedding, the one-cycle schedule at 3x the learning
rate (back to the plateau schedule at 0.001), the detached lip-reading head (multi-task instead,
as the recipe before it had it), and the training seed (how much retraining alone moves the
figures). They are queued as `dvc exp run --queue -n recipe-NAME -S ...` and run one at a time,
as pipeline.experiments.thesis does. The table gives each run's
means with their 95 % bootstrap intervals and, paired on the same test utterances
(pipeline.experiments.compare), the differences from the default that are real after Holm's
adjustment over every metric compared (so a run with no true difference lists none in at least
95 % of cases, however many metrics there are): a recipe change is justified when it makes real
differences in its favour, and more than a reseed does.
"""
from __future__ import annotations

from pipeline.experiments.runs import (
    EVALUATE,
    TRAIN,
    Experiment,
    PerUtterance,
    command_line,
    figure,
    finished,
    paired_with,
    with_interval,
)

PREFIX = "recipe-"

EXPERIMENTS = (
    Experiment("default"),
    Experiment("one-direction", {"model.bidirectional": "false"}),
    Experiment("no-speaker-embedding", {"model.speaker_embedding": "none"}),
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


def real_differences(result: dict, default: dict | None, per_utterance: PerUtterance | None) -> str:
    """The metrics in which the run differs for real from the default (paired, Holm-adjusted, 95 %),
    with the difference, its interval and which way; `none real` when none does, or why there is
    no verdict."""
    differences = paired_with(result, default, per_utterance, "(the default)")
    if isinstance(differences, str):
        return differences
    notes = sorted({d.note for d in differences.values() if d.note and d.note.startswith("too few")})
    if notes:
        return notes[0]
    cells = []
    for metric, label, digits in COLUMNS:
        d = differences[metric]
        if d.real:
            name = label.removesuffix(" ↑").removesuffix(" ↓").removesuffix(" dB")
            cells.append(f"{name} {d.difference:+.{digits}f} [{d.low:+.{digits}f}, {d.high:+.{digits}f}] "
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
        lines.append("| " + " | ".join([
            experiment.name,
            changes,
            *(with_interval(evaluation, metric, digits) for metric, _, digits in COLUMNS),
            figure(training.get("best_val_loss"), 4),
            real_differences(result, default, per_utterance),
        ]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    command_line(argv, prog, __doc__, EXPERIMENTS, PREFIX, table)


if __name__ == "__main__":
    main()
