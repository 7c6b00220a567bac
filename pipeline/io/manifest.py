"""The corpus manifest (one JSON object per line, one line per usable utterance, sorted by id)
and the rejects file (tab-separated path and one-line reason)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.errors import MissingInput, StageError
from pipeline.io.files import write_text


@dataclass(frozen=True)
class Word:
    """A spoken word (or GRID's `sil`) with start and end in seconds; times are None when only the
    transcript is known."""

    word: str
    start: float | None = None
    end: float | None = None

    @property
    def timed(self) -> bool:
        return self.start is not None and self.end is not None

    def span(self) -> tuple[float, float]:
        """(start, end) in seconds; ValueError when only the transcript is known."""
        if self.start is None or self.end is None:
            raise ValueError(f"word {self.word!r} has no times")
        return self.start, self.end


@dataclass(frozen=True)
class Utterance:
    """One usable utterance: where its video and audio are and what decoding them found.

    `audio` is a file path or "video track" (the video's own audio stream). `frames` and `fps`
    are the video as the stages read it, resampled to `video.fps`; `source_frames` and
    `source_fps` (the average rate) are the file's own; `duration` is the seconds both span.
    A piece cut from a long clip has `start` and `end`, seconds from the file's first frame (its
    word times are from `start`); a whole file has neither, and the manifest leaves them out."""

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
    source_frames: int | None = None
    source_fps: float | None = None
    start: float | None = None
    end: float | None = None

    @property
    def transcript(self) -> str:
        """Its words joined by spaces ("" without words)."""
        return " ".join(w.word for w in self.words)

    @property
    def clip(self) -> tuple[float, float] | None:
        """(start, end) of a piece cut from its file, None for the whole file."""
        return None if self.start is None or self.end is None else (self.start, self.end)

    @classmethod
    def from_dict(cls, row: dict) -> Utterance:
        return cls(**{**row, "words": [Word(**w) for w in row.get("words", [])]})


@dataclass(frozen=True)
class Reject:
    """An input that could not be used, with a one-line reason."""

    path: str
    reason: str


def _row(utterance: Utterance) -> dict:
    """The utterance as a manifest row; a whole file's row has no start and end (as before cuts)."""
    row = asdict(utterance)
    if utterance.clip is None:
        del row["start"], row["end"]
    return row


def write_manifest(path: Path, utterances: list[Utterance]) -> None:
    rows = [json.dumps(_row(u), sort_keys=True) + "\n" for u in sorted(utterances, key=lambda u: u.id)]
    write_text(path, "".join(rows))


def read_manifest(path: Path) -> list[Utterance]:
    """The manifest's utterances; StageError for an id it has twice (every stage maps ids to
    utterances: one would silently stand for both)."""
    if not Path(path).is_file():
        raise MissingInput(f"no manifest at {path}; run the corpus stage")
    with open(path) as lines:
        utterances = [Utterance.from_dict(json.loads(line)) for line in lines if line.strip()]
    seen: dict[str, str] = {}
    for utterance in utterances:
        if utterance.id in seen:
            raise StageError(f"{path}: utterance id {utterance.id} names two videos, {seen[utterance.id]} and "
                             f"{utterance.video}; rerun the corpus stage")
        seen[utterance.id] = utterance.video
    return utterances


def speakers_by_id(utterances: list[Utterance]) -> dict[str, str]:
    """{utterance id: speaker} for the manifest's utterances."""
    return {u.id: u.speaker for u in utterances}


def write_rejects(path: Path, rejects: list[Reject]) -> None:
    rows = [f"{r.path}\t{' '.join(r.reason.split())}\n" for r in sorted(rejects, key=lambda r: r.path)]
    write_text(path, "path\treason\n" + "".join(rows))


def read_rejects(path: Path) -> list[Reject]:
    lines = Path(path).read_text().splitlines()[1:]
    return [Reject(*line.split("\t", 1)) for line in lines if line]
