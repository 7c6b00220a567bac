"""The intelligibility judge: an offline speech recogniser constrained to GRID's grammar, and the
word error rate of what it hears.

pocketsphinx 5 (its wheel bundles the US-English acoustic model and the CMU dictionary; nothing is
downloaded) decodes with a JSGF grammar of GRID's six slots, generated from the grammar the
corpus uses (pipeline.corpora.grid). Any sample rate in; the decoder gets 16 kHz mono int16. The
judge is a measuring instrument, not the mission's recogniser: its WER on the original recordings
is its own floor, reported next to every system's.

    judge = GridJudge()
    judge.recognise(samples, 22050)              # ["bin", "blue", "at", "f", "two", "now"]
    word_errors(reference, hypothesis)           # WordErrors(edits=1, words=6, correct=[...])
"""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.audio.mels import resample
from pipeline.corpora import grid

JUDGE_RATE = 16000


def grid_jsgf() -> str:
    """GRID's grammar as JSGF: one public rule of six slots, each a list of its words."""
    slots = "".join(f"<{name}> = {' | '.join(words)};\n"
                    for name, words in zip(grid.SLOT_NAMES, grid.SLOTS, strict=True))
    sentence = " ".join(f"<{name}>" for name in grid.SLOT_NAMES)
    return f"#JSGF V1.0;\ngrammar grid;\npublic <sentence> = {sentence};\n{slots}"


class GridJudge:
    """pocketsphinx with the GRID grammar. Every recording gets a decoder of its own: a
    pocketsphinx decoder carries state from one utterance to the next, so reusing one made what it
    heard depend on what it heard before, i.e. on the order evaluate's workers took the utterances
    in (one word in 72 moved between identical runs). The decoder's dictionary is the CMU
    dictionary's entries for GRID's words only (`grid_dictionary`): the grammar can use no other,
    so it hears the same, and a decoder takes 0.01 s to make instead of 0.1 s."""

    def recognise(self, samples: np.ndarray, sample_rate: int) -> list[str]:
        """The words heard in mono float audio in [-1, 1] at any rate (empty when nothing is)."""
        audio = resample(np.asarray(samples, np.float32), sample_rate, JUDGE_RATE)
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        decoder = _decoder()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        return hypothesis.hypstr.split() if hypothesis is not None else []


def _model() -> Path:
    from pocketsphinx import get_model_path

    return Path(get_model_path()) / "en-us"


def grid_dictionary(full: Path) -> str:
    """The lines of a CMU-format dictionary for GRID's words (with their alternative
    pronunciations, `word(2)`); ValueError when one of them is missing."""
    wanted = {word for slot in grid.SLOTS for word in slot}
    lines = [line for line in full.read_text().splitlines() if line.split(" ", 1)[0].split("(")[0] in wanted]
    missing = wanted - {line.split(" ", 1)[0].split("(")[0] for line in lines}
    if missing:
        raise ValueError(f"{full} has no pronunciation for {', '.join(sorted(missing))}")
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=1)
def _dictionary_file() -> str:
    """GRID's dictionary, written once per process to a file of its own (pocketsphinx reads a path)."""
    folder = Path(tempfile.mkdtemp(prefix="grid-judge-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "grid.dict"
    path.write_text(grid_dictionary(_model() / "cmudict-en-us.dict"))
    return str(path)


def _decoder():
    from pocketsphinx import Decoder

    model = _model()
    decoder = Decoder(hmm=str(model / "en-us"), dict=_dictionary_file(), lm=None, loglevel="FATAL")
    decoder.add_jsgf_string("grid", grid_jsgf())
    decoder.activate_search("grid")
    return decoder


@dataclass(frozen=True)
class WordErrors:
    """Edit distance of a hypothesis to a reference, and which reference words it got right."""

    edits: int
    words: int
    correct: tuple[bool, ...]  # per reference word: matched by the best alignment

    @property
    def wer(self) -> float:
        return self.edits / self.words if self.words else 0.0


def align_words(reference: list[str], hypothesis: list[str]) -> list[tuple[str | None, str | None]]:
    """An optimal Levenshtein alignment of two word lists (substitutions, insertions, deletions
    cost 1): pairs (reference word, hypothesis word), None on the side a word is missing from."""
    rows, columns = len(reference) + 1, len(hypothesis) + 1
    cost = np.zeros((rows, columns), np.int64)
    cost[:, 0], cost[0, :] = np.arange(rows), np.arange(columns)
    for i in range(1, rows):
        for j in range(1, columns):
            same = reference[i - 1] == hypothesis[j - 1]
            cost[i, j] = min(cost[i - 1, j - 1] + (not same), cost[i - 1, j] + 1, cost[i, j - 1] + 1)
    pairs: list[tuple[str | None, str | None]] = []
    i, j = len(reference), len(hypothesis)
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i, j] == cost[i - 1, j - 1] + (reference[i - 1] != hypothesis[j - 1]):
            pairs.append((reference[i - 1], hypothesis[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and cost[i, j] == cost[i - 1, j] + 1:
            pairs.append((reference[i - 1], None))
            i -= 1
        else:
            pairs.append((None, hypothesis[j - 1]))
            j -= 1
    return pairs[::-1]


def word_errors(reference: list[str], hypothesis: list[str]) -> WordErrors:
    """Edit distance over words, and the reference words an optimal alignment matches exactly."""
    pairs = align_words(reference, hypothesis)
    correct = tuple(heard == said for said, heard in pairs if said is not None)
    return WordErrors(sum(said != heard for said, heard in pairs), len(reference), correct)
