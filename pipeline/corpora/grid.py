"""GRID corpus conventions: the sentence grammar, utterance ids and `.align` files.

A GRID sentence is command colour preposition letter digit adverb ("bin blue at f two now"); its id
takes one character per word ("bbaf2n"). Alignments count time in units of 1/1000 of a 25 fps video
frame (40 ms), i.e. 25 000 units per second.
"""
from __future__ import annotations

from pathlib import Path

from pipeline.io.manifest import Word

COMMANDS = ("bin", "lay", "place", "set")
COLOURS = ("blue", "green", "red", "white")
PREPOSITIONS = ("at", "by", "in", "with")
LETTERS = tuple("abcdefghijklmnopqrstuvxyz")  # GRID leaves out w
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ADVERBS = ("again", "now", "please", "soon")
SLOTS = (COMMANDS, COLOURS, PREPOSITIONS, LETTERS, DIGITS, ADVERBS)
SLOT_NAMES = ("command", "colour", "preposition", "letter", "digit", "adverb")
N_SENTENCES = 4 * 4 * 4 * 25 * 10 * 4

UNITS_PER_SECOND = 25_000
SILENCE = "sil"
PAUSES = (SILENCE, "sp")  # what alignments mark between words; not words of the transcript


def _id_char(slot: tuple[str, ...], word: str) -> str:
    if slot is DIGITS:
        return "z" if word == "zero" else str(DIGITS.index(word))
    return word[0]


def sentence_id(words: tuple[str, ...] | list[str]) -> str:
    """GRID id of a sentence, e.g. ("bin", "blue", "at", "f", "two", "now") -> "bbaf2n"."""
    return "".join(_id_char(slot, word) for slot, word in zip(SLOTS, words, strict=True))


def sentence_from_index(index: int) -> tuple[str, ...]:
    """The `index`-th sentence of GRID's grammar (0 <= index < N_SENTENCES), mixed-radix order."""
    if not 0 <= index < N_SENTENCES:
        raise ValueError(f"sentence index {index} outside 0..{N_SENTENCES - 1}")
    words = []
    for slot in reversed(SLOTS):
        index, choice = divmod(index, len(slot))
        words.append(slot[choice])
    return tuple(reversed(words))


def sentence_from_id(utterance_id: str) -> tuple[str, ...] | None:
    """Words of a GRID id ("bbaf2n"), or None when the id is not a GRID sentence."""
    if len(utterance_id) != len(SLOTS):
        return None
    words = []
    for slot, char in zip(SLOTS, utterance_id, strict=True):
        matches = [w for w in slot if _id_char(slot, w) == char]
        if len(matches) != 1:
            return None
        words.append(matches[0])
    return tuple(words)


def is_sentence(words: list[str] | tuple[str, ...]) -> bool:
    """Whether the words are a GRID sentence: six words, each one of its slot's."""
    return len(words) == len(SLOTS) and all(word in slot for word, slot in zip(words, SLOTS, strict=True))


def format_align(words: list[Word]) -> str:
    """GRID `.align` text: one `start end word` line per word, times in 1/1000 frame units."""
    spans = [w.span() for w in words]
    return "".join(f"{round(start * UNITS_PER_SECOND)} {round(end * UNITS_PER_SECOND)} {w.word}\n"
                   for w, (start, end) in zip(words, spans, strict=True))


class AlignmentError(ValueError):
    """A transcript or alignment file that cannot be read; the message says where and why."""


def read_text(path: Path) -> str:
    """A transcript file's text; AlignmentError when it is not UTF-8."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise AlignmentError(f"alignment is not UTF-8 text (byte {error.start})") from error


def read_align(path: Path) -> list[Word]:
    """Parse a GRID `.align` file; AlignmentError naming the line and the problem when malformed."""
    words = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3:
            raise AlignmentError(f"alignment line {number}: expected 'start end word', got {line.strip()!r}")
        if not (parts[0].isdigit() and parts[1].isdigit()):
            raise AlignmentError(f"alignment line {number}: start and end must be whole numbers, got {line.strip()!r}")
        start, end = int(parts[0]), int(parts[1])
        if end < start:
            raise AlignmentError(f"alignment line {number}: end {end} before start {start}")
        words.append(Word(parts[2], start / UNITS_PER_SECOND, end / UNITS_PER_SECOND))
    return words
