"""What every corpus source shares: the `Candidate` utterance it finds, what finding gives back
(`Found`), and walking a downloaded tree the way the archives unpack (speaker folders, macOS junk).
"""
from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.io.manifest import Reject

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mpg", ".mpeg", ".avi", ".mkv", ".webm", ".m4v")
AUDIO_EXTENSIONS = (".wav", ".flac")
SPEAKER_FOLDER = re.compile(r"^s\d+$")  # GRID's and Lombard GRID's speaker names: s1 .. s55
JUNK_FOLDERS = ("__MACOSX",)  # what macOS zips add beside the real files


@dataclass(frozen=True)
class Candidate:
    """An utterance a source found, not yet checked.

    `audios`: audio files that may hold its speech, in the order to try them; the first as long as
    the video is used, else the video's own track. `sentence`: its words when its name spells them
    (a GRID id); they are the transcript, and `align` gives only their times. `align_format` says
    how to read `align`: grid (.align), lombard (.json), transcript (.txt) or lrs (an LRS3/LRS2
    .txt). `long_clips`: how a clip longer than `corpus.max_seconds` is cut (pipeline.corpora.cuts)."""

    id: str
    speaker: str
    video: str
    audios: tuple[str, ...] = ()
    align: str | None = None
    align_format: str = "grid"
    sentence: tuple[str, ...] | None = None
    long_clips: str = "words"
    extra: dict = field(default_factory=dict)


@dataclass
class Found:
    """What a source finds under its root: candidates, files rejected by name alone, warnings
    about the tree (e.g. an alignment folder that holds another speaker's files) and counts of
    files passed over on purpose (e.g. a second copy of a video)."""

    candidates: list[Candidate] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)


def walk(root: Path, skipped: Counter | None = None) -> Iterator[Path]:
    """Every file under root, sorted, leaving out macOS metadata (`__MACOSX/`, `._name`) and
    hidden folders; counts what it leaves out in `skipped`."""
    for folder, subfolders, names in os.walk(root):
        for name in [s for s in subfolders if s in JUNK_FOLDERS or s.startswith(".")]:
            subfolders.remove(name)
            if skipped is not None and name in JUNK_FOLDERS:
                skipped["macOS metadata"] += sum(len(files) for _, _, files in os.walk(Path(folder) / name))
        subfolders.sort()
        for name in sorted(names):
            if name.startswith("._"):
                if skipped is not None:
                    skipped["macOS metadata"] += 1
                continue
            if not name.startswith("."):
                yield Path(folder) / name


def nearest_speaker_folder(folders: Iterable[str]) -> str | None:
    """The first of `folders` (nearest first) named sN, or None."""
    return next((folder for folder in folders if SPEAKER_FOLDER.match(folder)), None)


def speaker_folder(path: Path, root: Path) -> str | None:
    """The speaker named by the nearest folder above `path` called sN (root itself included), or
    None: `s14/video/mpg_6000/x.mpg` and `audio_25k/s14/x.wav` are both s14's."""
    return nearest_speaker_folder([*reversed(path.relative_to(root).parts[:-1]), root.name])
