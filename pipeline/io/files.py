"""Writing files so that a reader never sees half of one: write `PATH.partial`, then rename.

An interrupted writer leaves at most a `.partial` next to the target, which the next writer
removes and nothing reads, so a rerun never trusts a half-written output.

    with replacing(Path("data/mouths")) as partial:   # a file or a folder
        write_everything_into(partial)
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def partial_path(path: Path) -> Path:
    """Where `path` is written before it is moved into place."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


def remove(path: Path) -> None:
    """Delete a file or a folder tree, if there is one."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def prepare_partial(path: Path) -> Path:
    """A clean `path.partial` (leftovers of a crashed writer removed) whose folder exists."""
    partial = partial_path(path)
    remove(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    return partial


def publish(partial: Path, path: Path) -> None:
    """Move a finished `partial` into place, replacing what was at `path`. A file replaces a file
    in one step, so a reader (or a kill) never finds `path` missing; a folder cannot be renamed
    over another, so the old one goes first."""
    if (path.is_dir() and not path.is_symlink()) or partial.is_dir():
        remove(path)
    os.replace(partial, path)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield `path.partial` to write (a file or a folder); it replaces `path` when the block ends
    normally and is removed when it raises."""
    partial = prepare_partial(path)
    try:
        yield partial
    except BaseException:
        remove(partial)
        raise
    publish(partial, Path(path))


def write_text(path: Path, text: str) -> None:
    with replacing(path) as partial:
        partial.write_text(text)


def write_json(path: Path, payload: dict) -> None:
    """Indented JSON with sorted keys (identical payloads give identical bytes)."""
    write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")
