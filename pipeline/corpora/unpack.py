"""Unpack downloaded corpus archives (zip, tar, tar.gz) into one standard tree.

    lip2speech unpack ~/Downloads/grid --to data/GRID        # or python -m pipeline.corpora.unpack
    lip2speech unpack lombardgrid_*.zip --corpus lombardgrid --to data/lombard
    lip2speech unpack lrs3_pretrain.zip lrs3_trainval.zip lrs3_test_v0.4.zip --corpus lrs3 --to data/LRS3
    lip2speech unpack lrs2_v1.tar pretrain.txt.tar --corpus lrs2 --to data/LRS2   # cat lrs2_v1_parta* > lrs2_v1.tar

Arguments are archives or folders holding them. Each corpus module says where a member goes
(`grid.unpacked_path`: `video/sN/ID.mpg`, `audio/sN/ID.wav`, `audio_25k/sN/ID.wav`,
`align/sN/ID.align`; `lombard.unpacked_path`: `lombardgrid/...` as shipped; `lrs3.unpacked_path`:
`lrs3_v0.4/<part>/<FOLDER>/<NNNNN>.{mp4,txt}`; `lrs2.unpacked_path`: `mvlrs_v1/<part>/<ID>/...`
with the lists beside it); macOS metadata and
files the corpus does not use are left out. An archive is untrusted input: a member that is a link,
or whose path would leave the tree (`..`, an absolute path, a drive letter), is refused with one
line naming it and its archive, and nothing of it is written. It is idempotent: a file already there with the
member's size is not written again, and each file is written under a temporary name and renamed,
so an interrupted run leaves no half-written file. For GRID it ends with what each speaker has of
its 1000 sentences. Then set `corpus.source` and `corpus.root` (docs/corpora.md).
"""
from __future__ import annotations

import argparse
import functools
import logging
import os
import re
import shutil
import stat
import tarfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from tqdm import tqdm

from pipeline.corpora import grid, lombard, lrs2, lrs3
from pipeline.corpora.files import JUNK_FOLDERS
from pipeline.errors import PipelineError

log = logging.getLogger(__name__)
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
DESTINATIONS: dict[str, Callable[[PurePosixPath, str], str | None]] = {
    "grid": grid.unpacked_path,
    "lombardgrid": lombard.unpacked_path,
    "lrs3": lrs3.unpacked_path,
    "lrs2": lrs2.unpacked_path,
}


def archives_in(paths: list[Path]) -> list[Path]:
    """The archives named, and those inside the folders named, sorted; PipelineError for a path
    that is neither."""
    found = []
    for path in paths:
        if path.is_dir():
            found += [p for p in sorted(path.rglob("*")) if p.name.lower().endswith(ARCHIVE_SUFFIXES)]
        elif path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES):
            found.append(path)
        else:
            raise PipelineError(f"{path} is neither a zip or tar archive nor a folder")
    return found


@dataclass(frozen=True)
class Member:
    """One entry of an archive: its name as stored, its size, what kind of entry it is (`file`,
    `symlink`, `hardlink`, `folder` or `other`) and how to open a file's contents."""

    name: str
    size: int
    kind: str
    opener: Callable[[], IO[bytes]]


def _zip_kind(info: zipfile.ZipInfo) -> str:
    kind = stat.S_IFMT(info.external_attr >> 16)  # the Unix file type, when the archive records one
    if info.is_dir():
        return "folder"
    if kind == stat.S_IFLNK:
        return "symlink"
    return "file" if kind in (0, stat.S_IFREG) else "other"


def _zip_members(archive: Path) -> Iterator[Member]:
    with zipfile.ZipFile(archive) as bundle:
        for info in bundle.infolist():
            yield Member(info.filename, info.file_size, _zip_kind(info), functools.partial(bundle.open, info))


def _tar_file(bundle: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    opened = bundle.extractfile(info)
    if opened is None:
        raise tarfile.TarError(f"{info.name} cannot be read")
    return opened


def _tar_kind(info: tarfile.TarInfo) -> str:
    return ("file" if info.isfile() else "symlink" if info.issym() else "hardlink" if info.islnk()
            else "folder" if info.isdir() else "other")


def _tar_members(archive: Path) -> Iterator[Member]:
    with tarfile.open(archive) as bundle:
        for info in bundle:
            yield Member(info.name, info.size, _tar_kind(info), functools.partial(_tar_file, bundle, info))


def _members(archive: Path) -> Iterator[Member]:
    """Every entry of a zip or tar archive."""
    return _zip_members(archive) if archive.name.lower().endswith(".zip") else _tar_members(archive)


def unsafe(member: Member) -> str | None:
    """Why an archive member must not be written anywhere, or None: a link (it could point
    outside the tree, or make a later member write there), a device or pipe, or a name that
    leaves the tree (`..`, an absolute path, a drive letter; `\\` counts as a separator)."""
    if member.kind in ("symlink", "hardlink"):
        return f"a {'symbolic' if member.kind == 'symlink' else 'hard'} link"
    if member.kind == "other":
        return "not a regular file"
    parts = re.split(r"[\\/]", member.name)
    if member.name.startswith(("/", "\\")):
        return "an absolute path"
    if re.match(r"^[A-Za-z]:", member.name):
        return "a path with a drive letter"
    if ".." in parts:
        return "a path with '..'"
    return None


def _is_junk(member: PurePosixPath) -> bool:
    return any(part in JUNK_FOLDERS for part in member.parts) or member.name.startswith("._")


def _inside(root: Path, relative: str) -> bool:
    """Whether root / relative stays inside root, by its name alone."""
    target = os.path.normpath(os.path.join(os.path.abspath(root), relative))
    return target.startswith(os.path.join(os.path.abspath(root), ""))


def unpack(archives: list[Path], root: Path, corpus: str = "grid") -> Counter:
    """Unpack every archive into root; counts of files written, already there, left out and
    refused (a member that is a link or whose path leaves the tree: one warning line each,
    nothing of it written)."""
    destination = DESTINATIONS[corpus]
    counts: Counter = Counter()
    for archive in tqdm(archives, desc="unpack", unit="archive"):
        try:
            for member in tqdm(_members(archive), desc=archive.name, unit="file", leave=False):
                if member.kind == "folder":
                    continue
                reason = unsafe(member)
                path = PurePosixPath(member.name)
                relative = None if reason or _is_junk(path) else destination(path, archive.name)
                if relative is not None and not _inside(root, relative):
                    reason = f"it would be written outside {root}"
                if reason:
                    log.warning("%s: member %r refused: %s; nothing of it is written", archive, member.name, reason)
                    counts["refused"] += 1
                    continue
                if relative is None:
                    counts["left out"] += 1
                    continue
                target = root / relative
                if target.is_file() and target.stat().st_size == member.size:
                    counts["already there"] += 1
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(f".{target.name}.partial")
                with member.opener() as source, open(partial, "wb") as sink:
                    shutil.copyfileobj(source, sink)
                partial.replace(target)
                counts["written"] += 1
        except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
            raise PipelineError(f"{archive}: not a readable archive ({error}); download it again") from error
    return counts


def report(root: Path) -> str:
    """GRID: per speaker, how many of its 1000 sentences each kind of file has, as a table."""
    lines = ["| speaker | videos | audio (full length) | audio_25k (trimmed) | alignments | note |",
             "|---|---|---|---|---|---|"]
    for row in grid.unpacked_report(root):
        lines.append(f"| {row['speaker']} | {row['video']} | {row['audio']} | {row['audio_25k']} | {row['align']} | "
                     f"{row['note']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    description, examples, details = __doc__.split("\n\n", 2)
    parser = argparse.ArgumentParser(prog=prog, description=f"{description}\n\n{details}",
                                     epilog="examples:\n" + examples.replace("    ", "  ", 1).replace("\n    ", "\n  "),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path, help="archives, or folders holding them")
    parser.add_argument("--to", type=Path, required=True, help="the tree to unpack into (corpus.root)")
    parser.add_argument("--corpus", choices=sorted(DESTINATIONS), default="grid")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    archives = archives_in(args.paths)
    if not archives:
        raise SystemExit(f"no zip or tar archive in {', '.join(map(str, args.paths))}")
    counts = unpack(archives, args.to, args.corpus)
    log.info("%d archives into %s: %d files written, %d already there, %d left out (macOS metadata, "
             "files the corpus does not use), %d refused (links, paths leaving the tree)", len(archives), args.to,
             counts["written"], counts["already there"], counts["left out"], counts["refused"])
    if args.corpus == "grid":
        print(report(args.to))


if __name__ == "__main__":
    main()
