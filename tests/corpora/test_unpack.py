"""A downloaded archive is untrusted input: members named with `..`, absolute paths or drive
letters, and symbolic or hard links are refused with one line naming the member and the archive,
for every corpus and both archive kinds, and nothing is written outside `--to`."""
from __future__ import annotations

import io
import logging
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from pipeline.corpora.unpack import DESTINATIONS, unpack
from tests.conftest import REPO

VIDEO = (REPO / "tests" / "data" / "real_grid" / "bbaf2n.mpg").read_bytes()
# (member name, what the member is) of a hostile archive, laid out as each corpus' archives are
# (a good member first, so a refusal is seen not to stop the unpacking).
HOSTILE = {
    "grid": ["s1/bbaf2n.mpg", "s1/../../../escaped/s1/lbax4n.mpg", "/{outside}/s1/pwij3p.mpg",
             "C:/s1/swwp2s.mpg", "C:\\s1\\sbaa1a.mpg", "s1\\..\\..\\..\\s1\\sbaa2a.mpg"],
    "lombardgrid": ["lombardgrid/front/s2_l_bbaf2n.mov", "lombardgrid/../../../escaped/s2_l_lbax4n.wav",
                    "/{outside}/lombardgrid/s2_p_pwij3p.wav", "D:/lombardgrid/front/s2_l_swwp2s.mov",
                    "..\\..\\lombardgrid\\s2_l_sbaa1a.wav"],
    "lrs3": ["trainval/aYBJayS6mTY/50001.mp4", "trainval/../../../escaped/trainval/x/50002.mp4",
             "/{outside}/lrs3_v0.4/test/x/00001.mp4", "E:/test/x/00002.mp4", "..\\..\\test\\x\\00003.mp4"],
    "lrs2": ["mvlrs_v1/main/55354/00001.mp4", "mvlrs_v1/main/../../../../escaped/main/55354/00002.mp4",
             "/{outside}/mvlrs_v1/main/55354/00003.mp4", "F:/mvlrs_v1/main/55354/00004.mp4",
             "..\\..\\mvlrs_v1\\main\\55354\\00005.mp4"],
}
LINKS = {"grid": ("s1/sbab2n.mpg", "s1/sbab3n.mpg"), "lombardgrid": ("lombardgrid/front/s2_l_sbab2n.mov",
                                                                      "lombardgrid/audio/s2_l_sbab3n.wav"),
         "lrs3": ("test/x/00004.mp4", "test/x/00004.txt"), "lrs2": ("mvlrs_v1/main/1/00001.mp4", "train.txt")}


def _zip(path: Path, names: list[str], symlink: str, target: str) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for name in names:
            bundle.writestr(zipfile.ZipInfo(name), VIDEO)
        link = zipfile.ZipInfo(symlink)
        link.external_attr = (stat.S_IFLNK | 0o777) << 16  # how zip stores a Unix symbolic link
        bundle.writestr(link, target)
    return path


def _tar(path: Path, names: list[str], symlink: str, hardlink: str, target: str) -> Path:
    with tarfile.open(path, "w") as bundle:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = len(VIDEO)
            bundle.addfile(info, io.BytesIO(VIDEO))
        for name, kind in ((symlink, tarfile.SYMTYPE), (hardlink, tarfile.LNKTYPE)):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            bundle.addfile(info)
    return path


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.mark.parametrize("corpus", sorted(DESTINATIONS))
@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_a_hostile_archive_writes_nothing_outside_the_tree(corpus: str, kind: str, tmp_path: Path, caplog):
    sandbox = tmp_path / "sandbox"
    downloads, to = sandbox / "downloads", sandbox / "a" / "b" / "c" / "tree"
    downloads.mkdir(parents=True)
    outside = tmp_path / "outside"
    names = [name.format(outside=str(outside).lstrip("/")) for name in HOSTILE[corpus]]
    target = str(tmp_path / "secret")
    archive = downloads / f"s1.{kind}" if corpus == "grid" else downloads / f"lombardgrid_front.{kind}"
    if kind == "zip":
        _zip(archive, names, LINKS[corpus][0], target)
    else:
        _tar(archive, names, *LINKS[corpus], target)
    before = _files(sandbox)
    with caplog.at_level(logging.WARNING, logger="pipeline.corpora.unpack"):
        counts = unpack([archive], to, corpus)
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    expected = len(names) - 1 + (1 if kind == "zip" else 2)
    assert counts["written"] == 1 and counts["refused"] == expected == len(refusals), refusals
    for message in refusals:
        assert message.startswith(f"{archive}: member ") and "\n" not in message
    for reason in ("a path with '..'", "an absolute path", "a path with a drive letter", "a symbolic link"):
        assert any(reason in message for message in refusals), reason
    assert kind == "zip" or any("a hard link" in message for message in refusals)
    # The tree holds the one good member and nothing else; nothing new anywhere else.
    assert _files(sandbox) - before == {f"a/b/c/tree/{p}" for p in _files(to)}
    assert len(_files(to)) == 1 and not any(p.is_symlink() for p in to.rglob("*"))
    assert not outside.exists() and not (tmp_path / "escaped").exists() and not (sandbox / "escaped").exists()
