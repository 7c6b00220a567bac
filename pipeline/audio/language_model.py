"""A word n-gram language model for the open-vocabulary judge, estimated from a corpus' training
transcripts and written as an ARPA file that pocketsphinx reads, with the CMU dictionary's
entries for its words.

pocketsphinx's bundled generic English model hears unusual sentences badly: on the open embedded
corpus' recordings it missed 90 % of the words (0.895 WER; 0.867 at its best settings), so it
could not tell a model's speech from the mean voice. The papers' recognisers are trained on their
corpus; likewise this model is estimated from the training split's transcripts only (never the
test split's), so a word no training sentence has cannot be heard.

The estimate is Katz-style backoff with absolute discounting (D = 0.5): a seen n-gram keeps its
count less D over its history's count, and the mass taken goes, through the history's backoff
weight, to the lower order; unigrams are add-one smoothed. `</s>` ends every sentence, `<s>`
starts it (and is never predicted).

    judge = OpenJudge(*write_judge_files(["so we need to", ...], folder))
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path

DISCOUNT = 0.5
ORDER = 3
START, END = "<s>", "</s>"


def _counts(sentences: list[list[str]], order: int) -> list[Counter]:
    counts: list[Counter] = [Counter() for _ in range(order)]
    for words in sentences:
        tokens = [START, *words, END]
        for n in range(1, order + 1):
            for i in range(len(tokens) - n + 1):
                counts[n - 1][tuple(tokens[i:i + n])] += 1
    return counts


def arpa(sentences: list[list[str]], order: int = ORDER, discount: float = DISCOUNT) -> str:
    """The ARPA text of the backoff model of `sentences` (lists of words)."""
    counts = _counts(sentences, order)
    vocabulary = sorted(gram[0] for gram in counts[0])
    predicted = [w for w in vocabulary if w != START]
    total = sum(c for (w,), c in counts[0].items() if w != START)
    probability: list[dict[tuple[str, ...], float]] = [
        {(w,): (counts[0][(w,)] + 1) / (total + len(predicted)) for w in predicted}]
    backoff: list[dict[tuple[str, ...], float]] = [dict() for _ in range(order)]

    def smoothed(gram: tuple[str, ...]) -> float:
        """p(last word | the others), backing off through the weights."""
        if len(gram) == 1:
            return probability[0].get(gram, 0.0)
        if gram in probability[len(gram) - 1]:
            return probability[len(gram) - 1][gram]
        return backoff[len(gram) - 2].get(gram[:-1], 1.0) * smoothed(gram[1:])

    for n in range(2, order + 1):
        followers: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
        for gram in counts[n - 1]:
            followers[gram[:-1]].append(gram)
        history_count = {h: sum(counts[n - 1][g] for g in grams) for h, grams in followers.items()}
        probability.append({g: (counts[n - 1][g] - discount) / history_count[g[:-1]] for g in counts[n - 1]})
        for history, grams in followers.items():
            kept = sum(probability[n - 1][g] for g in grams)
            lower = sum(smoothed(g[1:]) for g in grams)
            backoff[n - 2][history] = (1.0 - kept) / (1.0 - lower) if lower < 1.0 else 1.0

    lines = ["\\data\\"] + [f"ngram {n}={len(counts[n - 1]) if n > 1 else len(vocabulary)}"
                            for n in range(1, order + 1)]
    for n in range(1, order + 1):
        lines += ["", f"\\{n}-grams:"]
        grams = sorted(counts[n - 1]) if n > 1 else [(w,) for w in vocabulary]
        for gram in grams:
            p = probability[n - 1].get(gram)
            logp = -99.0 if p is None else math.log10(p)
            row = f"{logp:.6f}\t{' '.join(gram)}"
            if n < order and gram in backoff[n - 1]:
                row += f"\t{math.log10(max(backoff[n - 1][gram], 1e-99)):.6f}"
            lines.append(row)
    return "\n".join(lines + ["", "\\end\\", ""])


def judge_files(folder: Path) -> tuple[Path, Path]:
    """Where `write_judge_files` puts the language model and the dictionary in `folder`."""
    return folder / "judge.arpa", folder / "judge.dict"


def write_judge_files(texts: list[str], folder: Path, dictionary: Path) -> tuple[str, str, dict]:
    """(language model path, dictionary path, a description) for the open-vocabulary judge, from
    transcripts (normalised words separated by spaces): the ARPA model of their sentences and the
    lines of the CMU-format `dictionary` for their words. Words the dictionary lacks are left out
    of the sentences (the judge could not say them) and counted."""
    entries: dict[str, list[str]] = defaultdict(list)
    for line in dictionary.read_text().splitlines():
        head = line.split(" ", 1)[0]
        entries[head.split("(")[0]].append(line)
    sentences: list[list[str]] = []
    unknown: Counter = Counter()
    for text in sorted(set(texts)):
        words = text.split()
        unknown.update(w for w in words if w not in entries)
        kept = [w for w in words if w in entries]
        if kept:
            sentences.append(kept)
    folder.mkdir(parents=True, exist_ok=True)
    model, pronunciations = judge_files(folder)
    model.write_text(arpa(sentences))
    vocabulary = sorted({w for s in sentences for w in s})
    pronunciations.write_text("".join(line + "\n" for w in vocabulary for line in entries[w]))
    about = {"language_model": "training transcripts", "sentences": len(sentences), "words": len(vocabulary),
             "words_not_in_dictionary": sum(unknown.values())}
    return str(model), str(pronunciations), about
