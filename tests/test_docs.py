"""The documentation site builds strictly, and the strict build catches what would break it: a
link to a page that is not there, an anchor a page does not have, a page left out of the
navigation. The README stays a front page: short, and every page it points to exists."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

README_LINES = 250


def _build(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(root / "site")],
                          cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The documentation's sources, in a folder of their own."""
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    return tmp_path


def test_the_site_builds_strictly_with_every_page(copy: Path):
    done = _build(copy)
    assert done.returncode == 0, done.stderr[-3000:]
    pages = sorted(p.stem for p in (REPO / "docs").glob("*.md"))
    assert all((copy / "site" / ("" if page == "index" else page) / "index.html").is_file() for page in pages)


@pytest.mark.parametrize("planted, message", [
    ("[the old page](benchmarks.md)", "contains a link 'benchmarks.md', but the target is not found"),
    ("[a section](models.md#no-such-section)", "does not contain an anchor '#no-such-section'"),
])
def test_a_broken_link_fails_the_build(copy: Path, planted: str, message: str):
    page = copy / "docs" / "params.md"
    page.write_text(page.read_text() + f"\nSee {planted}.\n")
    done = _build(copy)
    assert done.returncode != 0 and message in done.stderr, done.stderr[-3000:]


def test_a_page_left_out_of_the_navigation_fails_the_build(copy: Path):
    (copy / "docs" / "orphan.md").write_text("# A page nobody links to\n")
    done = _build(copy)
    assert done.returncode != 0 and "orphan.md" in done.stderr, done.stderr[-3000:]


def test_the_readme_is_a_front_page_whose_links_point_at_pages_that_exist():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= README_LINES
    for command in ("make repro", "make test"):
        assert command in text
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not t.startswith(("http://", "https://"))]
    assert any(t.startswith("docs/") for t in local)
    missing = [t for t in local if not (REPO / t).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
