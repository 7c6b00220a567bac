"""Cutting a long clip into utterances of at most `corpus.max_seconds`, as auto_avsr's and
AV-HuBERT's preparation cut LRS3's pretrain clips: at word boundaries (in the middle of the pause
between two words), so no word is split. A clip without word times is cut into equal windows
where its corpus allows it (Lip2Wav: lectures without transcripts) and rejected otherwise.

Every boundary falls on a video frame (a multiple of 1 / fps), so a piece's frames and samples
are the same whichever stage reads them, and the same clip always gives the same pieces.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pipeline.io.manifest import Word

LongClips = Literal["words", "windows"]  # how a source cuts clips longer than max_seconds


class CutError(ValueError):
    """A long clip that cannot be cut; the message is the one-line reason."""


@dataclass(frozen=True)
class Piece:
    """A span of a clip (seconds from its first frame) and its words, timed from the piece's start."""

    start: float
    end: float
    words: tuple[Word, ...]


def _on_frame(seconds: float, fps: float) -> float:
    return round(round(seconds * fps) / fps, 6)


def _shifted(words: list[Word], start: float) -> tuple[Word, ...]:
    return tuple(Word(w.word, *(round(t - start, 4) for t in w.span())) if w.timed else w for w in words)


def at_words(words: list[Word], duration: float, max_seconds: float, fps: float) -> list[Piece]:
    """Pieces of at most max_seconds holding whole words, cut mid-pause; CutError when a word table
    is missing or one word is longer than max_seconds."""
    if not words or not all(w.timed for w in words):
        raise CutError(f"lasts {duration:.1f} s, more than corpus.max_seconds {max_seconds:g}, and has no word "
                       "times to cut it at")
    pieces: list[Piece] = []
    start = 0.0
    current: list[tuple[Word, float, float]] = []  # the piece being filled: its words with their spans
    for word in words:
        begin, finish = word.span()
        if current and finish - start > max_seconds:
            cut = _on_frame(min((current[-1][2] + begin) / 2, start + max_seconds), fps)
            pieces.append(Piece(start, cut, _shifted([w for w, _, _ in current], start)))
            start, current = cut, []
        if finish - start > max_seconds:
            start = _on_frame(math.floor(begin * fps) / fps, fps)
            if finish - start > max_seconds:
                raise CutError(f"the word {word.word!r} at {begin:.2f} s lasts longer than corpus.max_seconds "
                               f"{max_seconds:g}")
        current.append((word, begin, finish))
    end = _on_frame(min(duration, start + max_seconds), fps)
    if end < current[-1][2]:
        end = _on_frame(math.ceil(current[-1][2] * fps) / fps, fps)
    pieces.append(Piece(start, end, _shifted([w for w, _, _ in current], start)))
    return pieces


def in_windows(duration: float, max_seconds: float, fps: float) -> list[Piece]:
    """Equal pieces, as few as keep each within max_seconds (no words: a clip without transcript)."""
    count = math.ceil(duration / max_seconds - 1e-9)
    bounds = [_on_frame(duration * k / count, fps) for k in range(count + 1)]
    return [Piece(a, b, ()) for a, b in zip(bounds, bounds[1:], strict=False)]


def cut(words: list[Word], duration: float, max_seconds: float, fps: float,
        rule: LongClips | str) -> list[Piece]:
    """The clip as one piece when it fits in max_seconds, else its pieces by `rule`."""
    if duration <= max_seconds:
        return [Piece(0.0, duration, tuple(words))]
    if rule == "windows" and not any(w.timed for w in words):
        return in_windows(duration, max_seconds, fps)
    return at_words(words, duration, max_seconds, fps)
