"""`lip2speech`, the one command: it lists every stage and command, each says what it does with an
example (`--help`), and each runs for real once here (the installed script, as a user types it)."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import soundfile

from pipeline.__main__ import COMMANDS, EXPERIMENT_SETS
from pipeline.stages import STAGES
from tests.conftest import REPO, manifest_of
from tests.experiments.test_compare import simulated_pair

SCRIPT = Path(sys.executable).parent / "lip2speech"  # installed by `pip install -e .` ([project.scripts])
REAL_GRID = REPO / "tests" / "data" / "real_grid"


def lip2speech(*args: str, cwd: Path = REPO, timeout: int = 300) -> subprocess.CompletedProcess:
    assert SCRIPT.is_file(), f"{SCRIPT} is missing: install the project (make test does: pip install -e .)"
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_the_command_lists_every_stage_and_command():
    done = lip2speech("--help")
    assert done.returncode == 0 and done.stdout.startswith("usage: lip2speech COMMAND")
    for name in (*STAGES, *COMMANDS):
        assert f"\n  {name} " in done.stdout, name
    unknown = lip2speech("nonsense")
    assert unknown.returncode == 2 and "unknown command 'nonsense'" in unknown.stderr


@pytest.mark.parametrize("command", [*STAGES[:1], *(c for c in COMMANDS if c != "experiments"),
                                     *(f"experiments {s}" for s in EXPERIMENT_SETS)])
def test_each_command_says_what_it_does_with_an_example(command: str):
    done = lip2speech(*command.split(), "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: lip2speech {command}") and "example" in done.stdout, done.stdout
    if command == STAGES[0]:  # a stage's help names its paths with dvc.yaml's defaults
        assert "(default: data/manifest.jsonl)" in done.stdout
    listing = lip2speech("experiments", "--help")
    assert listing.returncode == 0 and all(f"  {name} " in listing.stdout for name in EXPERIMENT_SETS)


def test_a_stage_runs_through_the_command(tmp_path: Path):
    rows = [{"id": f"s{s}_u{u}", "speaker": f"s{s}", "video": "v.mpg", "audio": "video track", "frames": 75,
             "fps": 25.0, "width": 360, "height": 288, "duration": 3.0, "sample_rate": 16000, "words": []}
            for s in (1, 2, 3) for u in range(20)]
    manifest, params, split = tmp_path / "manifest.jsonl", tmp_path / "params.yaml", tmp_path / "split.json"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    paths = ("--params", str(params), "--manifest", str(manifest), "--out", str(split), "--metrics",
             str(tmp_path / "split_metrics.json"))
    params.write_text("split: {mode: unseen, test_speakers: [s2], val_speakers: []}\n"
                      "corpus: {source: folder, root: data}\n")
    done = lip2speech("split", *paths)
    assert done.returncode == 1 and "split leaves val empty" in done.stderr  # one line, exit 1
    params.write_text("split: {mode: unseen, test_speakers: [s2], val_speakers: [s3]}\n"
                      "corpus: {source: folder, root: data}\n")
    done = lip2speech("split", *paths)
    assert done.returncode == 0, done.stderr
    assert {name: len(ids) for name, ids in json.loads(split.read_text()).items()} == {"train": 20, "val": 20,
                                                                                      "test": 20}


def test_speak_runs_through_the_command(tiny_corpus, fitted, tmp_path: Path):
    utterance = manifest_of(tiny_corpus[0])[0]
    done = lip2speech("speak", utterance.video, "-o", str(tmp_path / "speech.wav"), "--model", str(fitted["model"]))
    assert done.returncode == 0, done.stderr[-2000:]
    assert soundfile.info(tmp_path / "speech.wav").duration == pytest.approx(utterance.frames / utterance.fps,
                                                                              abs=1e-3)


def test_compare_runs_through_the_command(tmp_path: Path):
    for name, run in zip(("a.json", "b.json"), simulated_pair(20, 0), strict=True):
        (tmp_path / name).write_text(json.dumps(run))
    done = lip2speech("compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("20 test utterances, paired") and "| mcd_gap_closed |" in done.stdout


def test_unpack_runs_through_the_command(tmp_path: Path):
    archive = tmp_path / "s1.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.write(REAL_GRID / "bbaf2n.mpg", "s1/bbaf2n.mpg")
    done = lip2speech("unpack", str(archive), "--to", str(tmp_path / "GRID"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "GRID" / "video" / "s1" / "bbaf2n.mpg").read_bytes() == (REAL_GRID / "bbaf2n.mpg").read_bytes()
    assert "| s1 | 1 |" in done.stdout


def test_framing_runs_through_the_command():
    done = lip2speech("framing", str(REAL_GRID / "bbaf2n.mpg"))
    assert done.returncode == 0, done.stderr
    assert all(mode in done.stdout for mode in ("fixed", "tracked", "aligned", "avsr"))


def test_experiments_run_through_the_command(tmp_path: Path):
    """In a new DVC project with no experiment yet: every row of the table is still to run."""
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@invalid"]
    subprocess.run(git + ["init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(git + ["commit", "-qm", "init"], cwd=tmp_path, check=True)
    done = lip2speech("experiments", "recipes", "--table-only", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("| run |") and done.stdout.count("not run (yet)") == 6
