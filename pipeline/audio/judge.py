"""The intelligibility judges: an offline speech recogniser, and the word error rate of what it hears.

pocketsphinx 5 (its wheel bundles the US-English acoustic model, the CMU dictionary and a generic
English trigram language model; nothing is downloaded). Two judges, picked per utterance by its
transcript (`judge_for`):
- `grid-grammar` (GridJudge): a JSGF grammar of GRID's six slots, generated from the grammar the
  corpus uses (pipeline.corpora.grid), for GRID sentences;
- `open-vocabulary` (OpenJudge): for any other sentence (LRS3, LRS2, the open embedded corpus),
  a word trigram model of the corpus' training transcripts with their words' CMU entries
  (pipeline.audio.language_model; `evaluate.judge_lm: training`), or the bundled generic English
  model and the whole dictionary (`generic`), a weak recogniser of unusual sentences (82 % WER
  on real GRID recordings, 90 % on the open embedded corpus' recordings). Either way its floor on
  the recordings is what makes a model's WER readable.
Any sample rate in; the decoder gets 16 kHz mono int16. A judge is a measuring instrument, not the
mission's recogniser: its WER on the original recordings is its own floor, reported next to every
system's. Transcripts and what is heard are compared after `normalise`.

    judge = GridJudge()
    judge.recognise(samples, 22050)              # ["bin", "blue", "at", "f", "two", "now"]
    word_errors(reference, hypothesis)           # WordErrors(edits=1, words=6, correct=[...])
"""
from __future__ import annotations

import atexit
import functools
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.audio.mels import resample
from pipeline.corpora import grid

JUDGE_RATE = 16000
GRID_GRAMMAR, OPEN_VOCABULARY = "grid-grammar", "open-vocabulary"  # the judges' names in the metrics

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(number: int) -> list[str]:
    """A whole number as spoken words, the plain way (1984: one thousand nine hundred eighty four;
    a million or more: digit by digit), every word in the CMU dictionary."""
    if number < 20:
        return [_ONES[number]]
    if number < 100:
        return [_TENS[number // 10]] + (number_words(number % 10) if number % 10 else [])
    if number < 1000:
        return number_words(number // 100) + ["hundred"] + (number_words(number % 100) if number % 100 else [])
    if number < 1_000_000:
        return number_words(number // 1000) + ["thousand"] + (number_words(number % 1000) if number % 1000 else [])
    return [" ".join(_ONES[int(d)] for d in str(number))]


def normalise(text: str) -> list[str]:
    """Words to compare, from a transcript or what a judge heard: lower case; digits spoken
    (`42` -> forty two, `3.5` -> three point five, a digit string of 7 or more: digit by digit);
    an apostrophe kept inside a word (`don't`, `o'clock`) and dropped at its edges (quotes);
    every other character that is not a letter (punctuation, hyphens, pocketsphinx's `<sil>` and
    `[noise]` marks, the `(2)` of alternative pronunciations) separates words or goes."""
    text = re.sub(r"<[^>]*>|\[[^\]]*\]|\(\d+\)", " ", text.lower())
    text = re.sub(r"(\d)\.(\d)", r"\1 point \2", text)
    text = re.sub(r"\d+", lambda m: " " + " ".join(number_words(int(m[0]))) + " ", text)
    text = re.sub(r"[^a-z']+", " ", text)
    return [word for word in (w.strip("'") for w in text.split()) if word]


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
        return _decode(_decoder(), samples, sample_rate)


@dataclass(frozen=True)
class OpenJudge:
    """pocketsphinx with a language model (an ARPA file) and a dictionary for sentences outside
    GRID's grammar; None for either: the wheel's generic English model, its whole CMU dictionary.
    A decoder of its own for every recording, as GridJudge."""

    language_model: str | None = None
    dictionary: str | None = None

    def recognise(self, samples: np.ndarray, sample_rate: int) -> list[str]:
        """The words heard (normalised), empty when nothing is."""
        from pocketsphinx import Decoder

        model = _model()
        decoder = Decoder(hmm=str(model / "en-us"), lm=self.language_model or str(model / "en-us.lm.bin"),
                          dict=self.dictionary or str(model / "cmudict-en-us.dict"), loglevel="FATAL")
        return normalise(" ".join(_decode(decoder, samples, sample_rate)))


def judge_for(words: list[str], open_judge: OpenJudge | None = None) -> tuple[str, GridJudge | OpenJudge]:
    """The judge for a transcript and its name: the GRID grammar for a GRID sentence, else the
    open-vocabulary one (`open_judge`, by default the generic model)."""
    if grid.is_sentence(words):
        return GRID_GRAMMAR, GridJudge()
    return OPEN_VOCABULARY, open_judge or OpenJudge()


def cmu_dictionary() -> Path:
    """The CMU pronouncing dictionary pocketsphinx bundles."""
    return _model() / "cmudict-en-us.dict"


def _decode(decoder, samples: np.ndarray, sample_rate: int) -> list[str]:
    audio = resample(np.asarray(samples, np.float32), sample_rate, JUDGE_RATE)
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
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
