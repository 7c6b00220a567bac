"""The whole pipeline as users run it: `dvc repro`, `dvc exp run -S ...`, `dvc metrics diff`."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.io.manifest import read_manifest
from tests.conftest import REPO


def _copy_repo(destination: Path, commit: bool = True) -> Path:
    """The repo's tracked-looking files (no .venv, data, caches, git history) in a new git repo
    with one commit, as a fresh clone has (or none: a new project, an unpacked archive)."""
    ignore = shutil.ignore_patterns(".venv", ".git", "data", "metrics", "__pycache__", "*.egg-info",
                                    ".pytest_cache", "cache", "tmp", "dvc.lock")
    shutil.copytree(REPO, destination, ignore=ignore)
    (destination / "data").mkdir()
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@invalid"]
    subprocess.run(git + ["init", "-q"], cwd=destination, check=True)
    subprocess.run(git + ["add", "-A"], cwd=destination, check=True)
    if commit:
        subprocess.run(git + ["commit", "-qm", "copy"], cwd=destination, check=True)  # like a clone: one commit
    return destination


def _edit_params(repo: Path, **sections) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in sections.items():
        target = params
        for key in section.split("."):
            target = target[key]
        target.update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _dvc(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@invalid", "GIT_COMMITTER_NAME": "test",
           "GIT_COMMITTER_EMAIL": "test@invalid"}
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"dvc {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.slow
def test_dvc_repro_runs_the_pipeline_in_a_fresh_copy(tmp_path: Path):
    """In a git repository with nothing committed yet, as a new project is; then experiments."""
    repo = _copy_repo(tmp_path / "repo", commit=False)
    _edit_params(repo, **{"corpus.synthetic": {"speakers": 2, "utterances_per_speaker": 3},
                          "split": {"train": 0.34, "val": 0.33},
                          "model": {"gru_hidden": 16, "conv_channels": 16, "mlp_hidden": 32, "flow_hidden": 16},
                          "train": {"batch_size": 2, "max_epochs": 1, "window": 16}})
    first = _dvc(repo, "repro")
    for stage in ("corpus", "landmarks", "mouths", "derivatives", "mels", "split", "stats", "train", "references",
                  "evaluate"):
        assert f"Running stage '{stage}'" in first.stdout, first.stdout
    assert len(read_manifest(repo / "data/manifest.jsonl")) == 6
    assert len(list((repo / "data/corpus/video/s1").glob("*.mpg"))) == 3
    assert (repo / "metrics/corpus.json").is_file() and (repo / "data/stats.json").is_file()
    for picture in ("corpus", "landmarks", "mouths"):
        assert (repo / f"plots/{picture}.png").stat().st_size > 5_000

    second = _dvc(repo, "repro")
    assert "Running stage" not in second.stdout, second.stdout
    assert "utterances" in _dvc(repo, "metrics", "show").stdout

    assert (repo / "data/model.pt").is_file() and (repo / "dvclive/plots/metrics/lr.tsv").is_file()
    evaluation = json.loads((repo / "metrics/evaluate.json").read_text())
    assert evaluation["utterances"] == 2 and {"oracle", "mean", "per_speaker"} <= set(evaluation)
    assert evaluation["lipreading_wer"] >= 0  # the default model reads lips too
    assert len(list((repo / "plots/evaluate").glob("*.png"))) == 2
    assert len(list((repo / "data/samples").rglob("*.wav"))) == 2 * 4
    assert "no commit yet" in first.stderr + first.stdout

    # Experiments with another decoder change nothing upstream of `train`.
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, capture_output=True)
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@invalid", "commit", "-qm", "baseline"],
                   cwd=repo, check=True, capture_output=True)
    for decoder in ("mlp", "flow"):
        experiment = _dvc(repo, "exp", "run", "-S", f"decoder={decoder}")
        assert _ran(experiment) == ["evaluate", "train"], experiment.stdout  # the references are kept
        # The workspace now holds the experiment: its metrics against the committed baseline.
        diff = _dvc(repo, "metrics", "diff").stdout
        assert "metrics/evaluate.json" in diff and "mcd_db" in diff and "best_val_loss" in diff, diff
    shown = _dvc(repo, "exp", "show", "--csv").stdout
    assert "mlp" in shown and "flow" in shown

    _edit_params(repo, evaluate={"sigma": 0.4})
    assert _ran(_dvc(repo, "repro")) == ["evaluate"]
    _edit_params(repo, **{"evaluate.vocoder": {"iterations": 30}})
    assert _ran(_dvc(repo, "repro")) == ["evaluate", "references"]
    _edit_params(repo, audio={"n_mels": 40})
    assert _ran(_dvc(repo, "repro")) == ["evaluate", "mels", "references", "stats", "train"]

    # A published protocol on a corpus that lacks its speakers stops at the split, in one line.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    protocol = subprocess.run([sys.executable, "-m", "dvc", "exp", "run", "-S", "split.protocol=grid4"], cwd=repo,
                              env=env, capture_output=True, text=True)
    assert protocol.returncode != 0
    assert ("split.protocol grid4: the corpus has 0 of its 200 test utterances (0 of 3586 train, 0 of 199 val); "
            "it needs GRID speakers s1 s2 s4 s29 at corpus.root") in protocol.stderr + protocol.stdout


def _ran(done: subprocess.CompletedProcess) -> list[str]:
    return sorted(line.split("'")[1] for line in done.stdout.splitlines() if line.startswith("Running stage"))


@pytest.mark.slow
def test_the_open_vocabulary_corpus_generates_trains_and_is_judged_open(tmp_path: Path):
    """`corpus.synthetic.sentences: open` end to end: sentences outside GRID's grammar of several
    lengths, a character lip reader, the open-vocabulary judge with its floor on the recordings."""
    import torch

    from pipeline.corpora import grid

    repo = _copy_repo(tmp_path / "repo")
    _edit_params(repo, **{"corpus.synthetic": {"speakers": 2, "utterances_per_speaker": 4, "sentences": "open"},
                          "split": {"train": 0.5, "val": 0.25},
                          "model": {"gru_hidden": 16, "conv_channels": 16, "mlp_hidden": 32, "flow_hidden": 16},
                          "train": {"batch_size": 2, "max_epochs": 1}})
    _dvc(repo, "repro")
    manifest = read_manifest(repo / "data/manifest.jsonl")
    assert len(manifest) == 8 and len({u.frames for u in manifest}) > 1
    assert not any(grid.is_sentence([w.word for w in u.words]) for u in manifest)
    assert all(3 <= len(u.words) <= 15 and all(w.timed for w in u.words) for u in manifest)
    evaluation = json.loads((repo / "metrics/evaluate.json").read_text())
    assert evaluation["judge"] == "open-vocabulary" and evaluation["utterances"] == 2
    assert 0 <= evaluation["recording"]["wer"] and 0 <= evaluation["wer"] and 0 <= evaluation["mean"]["wer"]
    assert evaluation["lipreading_cer"] >= 0
    checkpoint = torch.load(repo / "data/model.pt", map_location="cpu", weights_only=False)
    assert checkpoint["config"]["model"]["ctc_units"] == "characters"
    assert "judge: open-vocabulary" in (repo / "plots/listening.html").read_text()
