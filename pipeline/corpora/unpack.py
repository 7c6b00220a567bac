"""Unpack downloaded corpus archives (zip, tar, tar.gz) into one standard tree.

    lip2speech unpack ~/Downloads/grid --to data/GRID        # or python -m pipeline.corpora.unpack
    lip2speech unpack lombardgrid_*.zip --corpus lombardgrid --to data/lombard

Arguments are archives or folders holding them. Each corpus module says where a member goes
(`grid.unpacked_path`: `video/sN/ID.mpg`, `audio/sN/ID.wav`, `audio_25k/sN/ID.wav`,
`align/sN/ID.align`; `lombard.unpacked_path`: `lombardgrid/...` as shipped); macOS metadata and
files the corpus does not use are left out. It is idempotent: a file already there with the
member's size is not written again, and each file is written under a temporary name and renamed,
so an interrupted run leaves no half-written file. For GRID it ends with what each speaker has of
its 1000 sentences. Then set `corpus.source` and `corpus.root` (README: Using GRID).
"""
from __future__ import annotations

import argparse
import functools
import logging
import shutil
import tarfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from tqdm import tqdm

from pipeline.corpora import grid, lombard
from pipeline.corpora.files import JUNK_FOLDERS
from pipeline.errors import PipelineError

log = logging.getLogger(__name__)
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
DESTINATIONS: dict[str, Callable[[PurePosixPath, str], str | None]] = {
    "grid": grid.unpacked_path,
    "lombardgrid": lombard.unpacked_path,
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


Member = tuple[PurePosixPath, int, Callable[[], IO[bytes]]]  # path, size, opener


def _zip_members(archive: Path) -> Iterator[Member]:
    with zipfile.ZipFile(archive) as bundle:
        for info in bundle.infolist():
            if not info.is_dir():
                yield PurePosixPath(info.filename), info.file_size, functools.partial(bundle.open, info)


def _tar_file(bundle: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    opened = bundle.extractfile(info)
    if opened is None:
        raise tarfile.TarError(f"{info.name} cannot be read")
    return opened


def _tar_members(archive: Path) -> Iterator[Member]:
    with tarfile.open(archive) as bundle:
        for info in bundle:
            if info.isfile():
                yield PurePosixPath(info.name), info.size, functools.partial(_tar_file, bundle, info)


def _members(archive: Path) -> Iterator[Member]:
    """(path, size, opener) of each file in a zip or tar archive."""
    return _zip_members(archive) if archive.name.lower().endswith(".zip") else _tar_members(archive)


def _is_junk(member: PurePosixPath) -> bool:
    return any(part in JUNK_FOLDERS for part in member.parts) or member.name.startswith("._")


def unpack(archives: list[Path], root: Path, corpus: str = "grid") -> Counter:
    """Unpack every archive into root; counts of files written, already there, and left out."""
    destination = DESTINATIONS[corpus]
    counts: Counter = Counter()
    for archive in tqdm(archives, desc="unpack", unit="archive"):
        try:
            for member, size, opener in tqdm(_members(archive), desc=archive.name, unit="file", leave=False):
                relative = None if _is_junk(member) else destination(member, archive.name)
                if relative is None:
                    counts["left out"] += 1
                    continue
                target = root / relative
                if target.is_file() and target.stat().st_size == size:
                    counts["already there"] += 1
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(f".{target.name}.partial")
                with opener() as source, open(partial, "wb") as sink:
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
             "files the corpus does not use)", len(archives), args.to, counts["written"], counts["already there"],
             counts["left out"])
    if args.corpus == "grid":
        print(report(args.to))


if __name__ == "__main__":
    main()
