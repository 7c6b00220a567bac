"""The dependency graph is complete, by construction: dvc.yaml against the code itself.

`dvc repro` reruns exactly what a change touches only if every stage's deps hold its whole import
closure inside the repository, its params are the sections it reads, and dvc.lock records the
code as it is. These tests compute all three from the code (ast, not a hand list) and name the
stage and the file when something is missing.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml

from pipeline.io import params as params_io
from pipeline.speak import SECTIONS as SPEAK_SECTIONS
from pipeline.stages import STAGES, load
from tests.imports import REPO, closure, closure_files, imported_modules, module_file, module_name

DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
OUTPUTS = {next(iter(o)) if isinstance(o, dict) else o
           for stage in DVC.values() for kind in ("outs", "metrics", "plots") for o in stage.get(kind, [])}
# Imports point one way: a module imports only from lower layers and from its own package.
LAYERS = (
    ("pipeline.errors",),
    ("pipeline.io",),
    ("pipeline.compute",),
    ("pipeline.corpora",),
    ("pipeline.face", "pipeline.audio", "models"),
    ("pipeline.learn",),
    ("pipeline.stages", "pipeline.speak", "pipeline.experiments"),
    ("pipeline.__main__",),
)
GENERATOR = "pipeline.corpora.synthetic"


def _code_deps(stage: str) -> list[str]:
    return [d for d in DVC[stage]["deps"] if d not in OUTPUTS]


def _stage_files(stage: str) -> set[Path]:
    return closure_files(["pipeline.__main__", f"pipeline.stages.{stage}"])


def _covered(path: Path, deps: list[str]) -> bool:
    return any(path == REPO / dep or (REPO / dep) in path.parents for dep in deps)


def _all_modules() -> list[str]:
    return sorted(module_name(p) for package in ("pipeline", "models") for p in (REPO / package).rglob("*.py"))


def _package(name: str) -> str:
    return next(prefix for layer in LAYERS for prefix in layer if name == prefix or name.startswith(prefix + "."))


def _layer(name: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if _package(name) in layer)


def test_every_stage_runs_through_the_one_entry_point_with_its_declared_paths():
    assert list(DVC) == list(STAGES)
    for name, spec in DVC.items():
        stage = load(name)
        command = spec["cmd"].split()
        assert command[:4] == ["python", "-m", "pipeline", name], (name, command)
        given = vars(stage.parser().parse_args(command[4:]))
        # The defaults are what dvc.yaml passes, so `python -m pipeline NAME` alone does the same.
        assert {key: str(value) for key, value in given.items() if key != "params"} == stage.paths, name
        for path in stage.inputs.values():
            assert path in spec["deps"], f"stage {name}: input {path} is not among its deps in dvc.yaml"
        for path in stage.outputs.values():
            # A folder output may hold the declared one (dvclive/ holds dvclive/plots/metrics).
            assert any(path == o or o.startswith(path + "/") for o in OUTPUTS), \
                f"stage {name}: output {path} is not among its outs, metrics or plots in dvc.yaml"


@pytest.mark.parametrize("stage", STAGES)
def test_deps_cover_the_stage_import_closure(stage: str):
    deps = _code_deps(stage)
    missing = sorted(str(p.relative_to(REPO)) for p in _stage_files(stage) if not _covered(p, deps))
    assert not missing, (f"stage {stage} runs code dvc.yaml does not list as deps: {', '.join(missing)}; "
                         "add them to its deps (a whole package folder is fine)")


@pytest.mark.parametrize("stage", STAGES)
def test_deps_list_only_code_the_stage_runs(stage: str):
    """A dep the stage never imports would rerun it for nothing."""
    used = _stage_files(stage)
    modules = {module_file(m) for m in closure(["pipeline.__main__", f"pipeline.stages.{stage}"])}
    unused = [dep for dep in _code_deps(stage)
              if not any(p == REPO / dep or (REPO / dep) in p.parents for p in used | modules)]
    assert not unused, f"stage {stage} lists deps it does not import: {', '.join(unused)}"


@pytest.mark.parametrize("stage", STAGES)
def test_params_are_the_sections_the_stage_declares(stage: str):
    declaration = load(stage)
    assert DVC[stage].get("params", []) == list(declaration.params), \
        f"stage {stage}: dvc.yaml params {DVC[stage].get('params', [])} != its STAGE.params {list(declaration.params)}"
    assert not set(declaration.runtime) & set(DVC[stage].get("params", [])), \
        f"stage {stage}: runtime sections (how to run, not what to write) must not be params in dvc.yaml"


def _section_types() -> dict[str, object]:
    """Every section any stage or `speak` reads, with its type (the same type wherever it is read);
    a key inside a section (`evaluate.vocoder`) is checked against its section's field instead."""
    types: dict[str, object] = {}
    for declared in [{**load(s).params, **load(s).runtime} for s in STAGES] + [SPEAK_SECTIONS]:
        for name, kind in declared.items():
            if "." not in name:
                assert types.setdefault(name, kind) == kind, f"section {name} is read as two different types"
    return types


def test_keys_inside_a_section_are_read_as_that_section_types_them():
    types = _section_types()
    dotted = {name: kind for s in STAGES for name, kind in load(s).params.items() if "." in name}
    assert dotted, "the references stage reads evaluate.vocoder and evaluate.samples"
    for name, kind in dotted.items():
        section, key = name.split(".", 1)
        assert key in {f.name for f in dataclasses.fields(types[section])}, f"{name}: {section} has no key {key}"
        assert typing.get_type_hints(types[section])[key] == kind, f"{name} is read as another type than {section}'s"
        assert params_io.lookup(PARAMS, name) is not None, f"params.yaml has no {name}"


def test_params_file_has_exactly_the_sections_the_code_reads_and_they_parse():
    types = _section_types()
    assert sorted(PARAMS) == sorted(types)
    for name, kind in types.items():
        params_io.section(kind, PARAMS[name], name)


@pytest.mark.parametrize("name", sorted(k for k, v in _section_types().items() if dataclasses.is_dataclass(v)))
def test_dataclass_defaults_are_params_yaml(name: str):
    """One source of defaults: code that builds params without the file gets the file's values."""
    kind = _section_types()[name]
    assert params_io.section(kind, None, name) == params_io.section(kind, PARAMS[name], name), \
        f"the defaults of {kind.__name__} differ from params.yaml's '{name}'"


def _missing_keys(kind, values: dict, prefix: str) -> list[str]:
    missing = []
    for field in dataclasses.fields(kind):
        key = f"{prefix}.{field.name}"
        if field.name not in values:
            missing.append(key)
        elif isinstance(values[field.name], dict) and dataclasses.is_dataclass(field.default_factory() if callable(
                field.default_factory) else None):
            missing += _missing_keys(type(field.default_factory()), values[field.name], key)
    return missing


@pytest.mark.parametrize("name", sorted(k for k, v in _section_types().items()
                                         if dataclasses.is_dataclass(v) and k != "recipes"))
def test_params_yaml_names_every_key_so_dvc_exp_run_can_set_it(name: str):
    """`dvc exp run -S section.key=value` can only override a key the file has (`recipes` holds
    open maps of overrides, empty until a recipe is chosen)."""
    missing = _missing_keys(_section_types()[name], PARAMS[name], name)
    assert not missing, f"params.yaml lacks {', '.join(missing)}: `dvc exp run -S` cannot set them"


def test_one_of_choices_are_refused_in_one_style_when_params_load():
    types = _section_types()
    for name, key, bad in (("store", "format", "parquet"), ("mouths", "mode", "wobbly"),
                           ("parallel", "backend", "ray"), ("split", "mode", "random")):
        with pytest.raises(params_io.ParamsError, match=fr"params.yaml: {name}.{key} must be one of .*; got '{bad}'"):
            params_io.section(types[name], {key: bad}, name)
    for name in ("decoder", "normalize"):
        with pytest.raises(params_io.ParamsError, match=fr"params.yaml: {name} must be one of "):
            params_io.section(types[name], "nope", name)
        assert typing.get_origin(types[name]) is typing.Literal


def test_imports_point_one_way():
    wrong = []
    for name in _all_modules():
        for imported in imported_modules(name):
            same_package = _package(imported) == _package(name)
            if not same_package and _layer(imported) >= _layer(name):
                wrong.append(f"{name} imports {imported}")
            if imported.startswith("pipeline.stages.") and imported != name:
                wrong.append(f"{name} imports the stage {imported}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_only_the_corpus_stage_and_the_corpora_package_know_the_generator():
    importers = {name for name in _all_modules() if any(m.startswith(GENERATOR) for m in imported_modules(name))}
    assert {m for m in importers if not m.startswith("pipeline.corpora")} == {"pipeline.stages.corpus"}
    for stage in STAGES:
        if stage != "corpus":
            assert not any(m.startswith(GENERATOR) for m in closure([f"pipeline.stages.{stage}"])), stage
    assert not any(m.startswith(GENERATOR) for m in closure(["pipeline.speak"]))


@pytest.mark.parametrize("module", ["pipeline.io.store", "pipeline.io.splits", "pipeline.learn.checkpoint"])
def test_the_modules_the_issue_names_mark_the_stages_that_read_them(module: str):
    """Appending a comment to the module defining StoreReader, load_split or load_checkpoint marks
    every stage that reads through it."""
    expected = {"pipeline.io.store": {"landmarks", "mouths", "derivatives", "mels", "stats", "train", "references",
                                      "evaluate"},
                "pipeline.io.splits": {"split", "stats", "train", "references", "evaluate"},
                "pipeline.learn.checkpoint": {"train", "evaluate"}}[module]
    marked = {stage for stage in STAGES if _covered(module_file(module), _code_deps(stage))}
    assert marked == expected


@pytest.mark.slow
def test_dvc_lock_records_the_code_and_params_as_they_are():
    """A fresh clone's `dvc status` reports no changed code or params (data is absent there)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    stale = []
    for stage, changes in json.loads(done.stdout or "{}").items():
        for change in changes:
            if change == "changed command":
                stale.append(f"{stage}: its command")
            elif isinstance(change, dict):
                for path, status in change.get("changed deps", {}).items():
                    if path not in OUTPUTS:
                        stale.append(f"{stage}: {path} ({status})")
    assert not stale, "dvc.lock records other code or params than the working tree; run dvc repro and commit " \
                      "dvc.lock:\n" + "\n".join(stale)


def test_the_references_do_not_depend_on_the_model_code():
    """A change to the model, its training or its checkpoint does not recompute the references."""
    modules = closure(["pipeline.stages.references"])
    assert not [m for m in modules if m == "models" or m.startswith(("models.", "pipeline.learn.inference",
                                                                     "pipeline.learn.checkpoint",
                                                                     "pipeline.learn.training"))]
    assert not [d for d in DVC["references"]["deps"] if d.startswith("models") or d == "data/model.pt"]
