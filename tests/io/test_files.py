"""Files written whole: a reader or a kill never finds a published file missing or half-written."""
import os
from pathlib import Path

import pytest

from pipeline.io import files


def test_a_replaced_file_is_there_at_every_moment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The resume state of a training run is rewritten after every epoch while a test (or a user)
    may read it: the old file stays until the new one is renamed over it."""
    path = tmp_path / "model.pt.resume"
    files.write_text(path, "epoch 1")
    rename = os.replace
    seen: list[str] = []

    def replace_watching(source, target):
        seen.append(Path(target).read_text())
        rename(source, target)

    monkeypatch.setattr(files.os, "replace", replace_watching)
    files.write_text(path, "epoch 2")
    assert seen == ["epoch 1"] and path.read_text() == "epoch 2"
    assert not files.partial_path(path).exists()


def test_a_folder_replaces_a_folder_and_a_failed_write_leaves_the_old_one(tmp_path: Path):
    store = tmp_path / "mels.zarr"
    with files.replacing(store) as partial:
        partial.mkdir()
        (partial / "a").write_text("old")
    with files.replacing(store) as partial:
        partial.mkdir()
        (partial / "b").write_text("new")
    assert sorted(p.name for p in store.iterdir()) == ["b"]
    with pytest.raises(RuntimeError), files.replacing(store) as partial:
        partial.mkdir()
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in store.iterdir()) == ["b"] and not files.partial_path(store).exists()
