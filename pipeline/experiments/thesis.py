"""The thesis' comparisons (its tables 6.1-6.6) as DVC experiments on the current corpus, and one
markdown table of the results.

    lip2speech experiments thesis               # queue what is missing, run it, print the table
    lip2speech experiments thesis --table-only  # just the table, from existing experiments
    lip2speech experiments thesis --out table.md

Every experiment changes one thing from the committed params (the baseline): mouth padding 25, no
derivatives, min-max normalisation, the mlp and flow decoders, one and two speakers. They are
queued with `dvc exp run --queue -n thesis-NAME -S ...` and run one at a time with `dvc exp run
--run-all`; an experiment already named so on the current commit is not run again (`dvc exp remove
-A` or a new commit starts over). The table puts our figures (val loss, MCD in dB, STOI, the
judge's WER, each with its 95 % interval) next to the references (oracle and mean MCD, gap closed),
each row's MCD and WER against the baseline's on the same test utterances (the paired difference,
its 95 % interval, and whether it is real after Holm's adjustment over every metric compared:
pipeline.experiments.compare), and the thesis' own figure for that row (its loss on normalised
mels, or its MCD on dB-mel values: another scale than ours).
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

PREFIX = "thesis-"

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


def against_baseline(result: dict, baseline: dict | None, per_utterance: PerUtterance | None) -> str:
    """The row's MCD and WER against the baseline's on the same test utterances: the paired
    difference, its 95 % interval, and whether it is real (Holm over every metric compared:
    pipeline.experiments.compare)."""
    differences = paired_with(result, baseline, per_utterance, "(baseline)")
    if isinstance(differences, str):
        return differences
    cells = []
    for metric, label in (("mcd_db", "MCD"), ("wer", "WER")):
        d = differences[metric]
        if d.difference is None or d.low is None:
            continue
        verdict = d.note or (f"real, {'better' if d.better == 'other' else 'worse'}" if d.real else "not real")
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


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    command_line(argv, prog, __doc__, EXPERIMENTS, PREFIX, table)


if __name__ == "__main__":
    main()
