"""What LRS3 and LRS2 share: the `.txt` beside each clip, and finding clips in their part folders.

A clip's `.txt` (as auto_avsr's and AV-HuBERT's preparation read it):

    Text:  SO WE NEED TO          (upper case; two spaces after the colon)
    Conf:  4
    Ref:   0Fi83BHQsMA            (LRS3 only: the true YouTube id)
    <blank>
    FRAME X Y W H                 (a row a frame: index and the face box as fractions)
    <blank>
    WORD START END ASDSCORE       (a row a word: seconds from the clip's start)

Some files have no word table: their words are kept without times (and a clip too long to keep
whole is then rejected, see pipeline.corpora.cuts).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipeline.corpora.files import Candidate, Found, walk
from pipeline.corpora.grid import AlignmentError
from pipeline.io.manifest import Reject, Word


@dataclass(frozen=True)
class ClipText:
    """A parsed `.txt`: the transcript's words (lower case), the `Ref:` id if any, and the word
    table's words with their times (empty when the file has none)."""

    words: tuple[str, ...]
    ref: str | None
    timed: tuple[Word, ...]


def parse_text(text: str) -> ClipText:
    """The parts of a clip's `.txt`; AlignmentError for one without a `Text:` line or with a
    word-table row that does not read."""
    words: tuple[str, ...] | None = None
    ref = None
    timed: list[Word] = []
    in_words = False
    for line in text.splitlines():
        fields = line.split()
        if line.startswith("Text:"):
            words = tuple(word.lower() for word in fields[1:])
        elif line.startswith("Ref:") and len(fields) > 1:
            ref = fields[1]
        elif fields[:1] == ["WORD"]:
            in_words = True
        elif in_words and fields:
            try:
                timed.append(Word(fields[0].lower(), round(float(fields[1]), 4), round(float(fields[2]), 4)))
            except (IndexError, ValueError) as error:
                raise AlignmentError(f"word table row {line.strip()!r} is not WORD START END") from error
        elif in_words:
            in_words = False
    if words is None:
        raise AlignmentError("no 'Text:' line")
    return ClipText(words, ref, tuple(timed))


def read_text_file(path: Path) -> ClipText:
    try:
        return parse_text(Path(path).read_text(encoding="utf-8", errors="replace"))
    except OSError as error:
        raise AlignmentError(f"transcript does not read: {error.strerror or error}") from error


def read_words(path: Path) -> list[Word]:
    """The clip's words: timed from the word table when it has one and its words are the `Text:`
    line's, else the `Text:` words without times."""
    clip = read_text_file(path)
    if clip.timed and tuple(w.word for w in clip.timed) == clip.words:
        return list(clip.timed)
    return [Word(word) for word in clip.words]


def find_clips(root: Path, corpus: str, parts: tuple[str, ...], speaker_of: Callable[[str, ClipText], str]) -> Found:
    """Every `<part>/<FOLDER>/<NNNNN>.mp4` under root (any depth above the part folder), with its
    `.txt`; id `<corpus>_<part>_<FOLDER>_<NNNNN>`, speaker `speaker_of(folder, txt)`. A clip without
    its `.txt` or whose `.txt` has no `Text:` line is rejected by name."""
    found = Found()
    for path in walk(root, found.skipped):
        if path.suffix.lower() != ".mp4" or len(path.parts) < 3 or path.parent.parent.name not in parts:
            continue
        part, folder = path.parent.parent.name, path.parent.name
        text = path.with_suffix(".txt")
        if not text.is_file():
            found.rejects.append(Reject(str(path), f"no transcript {text.name} beside it"))
            continue
        try:
            speaker = speaker_of(folder, read_text_file(text))
        except AlignmentError as error:
            found.rejects.append(Reject(str(text), str(error)))
            continue
        found.candidates.append(Candidate(
            id=f"{corpus}_{part}_{folder}_{path.stem}", speaker=speaker, video=str(path), align=str(text),
            align_format="lrs", extra={"part": part},
        ))
    return found


def clip_path(member: PurePosixPath, top: str, parts: tuple[str, ...]) -> str | None:
    """`<top>/<part>/<FOLDER>/<file>` for an archive member that is a clip's mp4 or txt under one
    of the part folders (at any depth), None for anything else."""
    if member.suffix.lower() not in (".mp4", ".txt"):
        return None
    names = member.parts
    at = next((i for i, name in enumerate(names) if name in parts), None)
    if at is None or len(names) - at != 3:
        return None
    return PurePosixPath(top, *names[at:]).as_posix()
