"""LRS3 v0.4 (Afouras et al. 2018) as its zips unpack: `lrs3_v0.4/{pretrain,trainval,test}/
<FOLDER>/<NNNNN>.{mp4,txt}`, 25 fps face-centred crops with 16 kHz audio in the mp4. The root may
be any folder above the part folders.

Its defects: a folder is the YouTube id with `_` and `-` written `S`, so the speaker (one TED
talk's speaker) is the `Ref:` line's true id, the folder name only when a `.txt` has no `Ref:`;
some `.txt` files lack the word table (words kept without times); `pretrain/` clips run to minutes
and are cut at word boundaries into pieces of at most `corpus.max_seconds` (pipeline.corpora.cuts),
`trainval/` and `test/` clips are used whole unless longer.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from pipeline.corpora.files import Found
from pipeline.corpora.lrs import ClipText, clip_path, find_clips

PARTS = ("pretrain", "trainval", "test")


def speaker(folder: str, text: ClipText) -> str:
    """The talk's true YouTube id (`Ref:`), else the folder's name."""
    return text.ref or folder


def find_lrs3(root: Path) -> Found:
    """Every LRS3 clip under root."""
    return find_clips(root, "lrs3", PARTS, speaker)


def unpacked_path(member: PurePosixPath, archive: str) -> str | None:
    """Where a member of an LRS3 zip goes: `lrs3_v0.4/<part>/<FOLDER>/<file>` (the text-only zip
    writes the same paths, completing the clips' folders), None for other files."""
    return clip_path(member, "lrs3_v0.4", PARTS)
