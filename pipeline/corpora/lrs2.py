"""LRS2 (Afouras et al. 2018) as its archives unpack: `mvlrs_v1/{main,pretrain}/<ID>/<NNNNN>.{mp4,txt}`
(160 x 160, 25 fps, the `.txt` as LRS3's without `Ref:`), with its lists `pretrain.txt`,
`train.txt`, `val.txt` and `test.txt` beside `mvlrs_v1/` (pipeline.corpora.protocols reads them).
The speaker is the BBC programme's id (the folder), as papers take it; `pretrain/` clips are cut at
word boundaries like LRS3's.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from pipeline.corpora.files import Found
from pipeline.corpora.lrs import ClipText, clip_path, find_clips

PARTS = ("main", "pretrain")
LISTS = ("pretrain.txt", "train.txt", "val.txt", "test.txt")


def speaker(folder: str, text: ClipText) -> str:
    return folder


def find_lrs2(root: Path) -> Found:
    """Every LRS2 clip under root."""
    return find_clips(root, "lrs2", PARTS, speaker)


def unpacked_path(member: PurePosixPath, archive: str) -> str | None:
    """Where a member of an LRS2 tar goes: `mvlrs_v1/<part>/<ID>/<file>`, the lists beside
    `mvlrs_v1/`; None for other files."""
    if member.name in LISTS:
        return member.name
    return clip_path(member, "mvlrs_v1", PARTS)
