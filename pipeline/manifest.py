"""The corpus manifest (one JSON object per line, one line per usable utterance, sorted by id)
and the rejects file (tab-separated path and one-line reason)."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Word:
    """A spoken word with start/end seconds; times are None when only the transcript is known."""

    word: str
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True)
class Utterance:
    """One usable utterance: where its video and audio are and what decoding them found.

    `audio` is a file path or "video track" (the video's own audio stream)."""

    id: str
    speaker: str
    video: str
    audio: str
    frames: int
    fps: float
    width: int
    height: int
    duration: float
    sample_rate: int
    words: list[Word] = field(default_factory=list)

    @classmethod
    def from_dict(cls, row: dict) -> Utterance:
        return cls(**{**row, "words": [Word(**w) for w in row.get("words", [])]})


@dataclass(frozen=True)
class Reject:
    """An input that could not be used, with a one-line reason."""

    path: str
    reason: str


def _replace_atomically(path: Path, text: str) -> None:
    """Write next to `path`, then rename: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def write_manifest(path: Path, utterances: list[Utterance]) -> None:
    rows = [json.dumps(asdict(u), sort_keys=True) + "\n" for u in sorted(utterances, key=lambda u: u.id)]
    _replace_atomically(path, "".join(rows))


def read_manifest(path: Path) -> list[Utterance]:
    with open(path) as lines:
        return [Utterance.from_dict(json.loads(line)) for line in lines if line.strip()]


def write_rejects(path: Path, rejects: list[Reject]) -> None:
    rows = [f"{r.path}\t{' '.join(r.reason.split())}\n" for r in sorted(rejects, key=lambda r: r.path)]
    _replace_atomically(path, "path\treason\n" + "".join(rows))


def read_rejects(path: Path) -> list[Reject]:
    lines = Path(path).read_text().splitlines()[1:]
    return [Reject(*line.split("\t", 1)) for line in lines if line]


def write_json(path: Path, payload: dict) -> None:
    _replace_atomically(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")
