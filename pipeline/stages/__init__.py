"""The DVC stages, one module each, and how each runs from the command line (what dvc.yaml calls):

    python -m pipeline STAGE [--params params.yaml] [--PATH-NAME PATH ...]   # or: lip2speech STAGE
    python -m pipeline --help            # the stages and the other commands (pipeline/__main__.py)
    python -m pipeline landmarks --help  # one stage's paths and their defaults

A stage module defines `run(...)` and `STAGE`, the one declaration of what it reads and writes:
- `params`: the params.yaml sections that shape its outputs, with their types. They are the
  stage's `params:` in dvc.yaml (a test checks that), and the only sections `run` receives. A
  dotted name is a key inside a section (`evaluate.vocoder`: `run` gets it as `vocoder`), for a
  stage that depends on part of a section only.
- `runtime`: sections that only say how to run (`parallel`: workers, Dask). They never change
  the outputs, so dvc.yaml leaves them out and changing them reruns nothing.
- `inputs` and `outputs`: its paths, with the defaults dvc.yaml passes.
The runner loads and checks those sections, then calls `run` with one keyword argument per section
and per path. An expected failure (bad params, unusable input) ends with one line and exit status
1; anything else is a bug and keeps its traceback.

Stage modules are imported only when run, so a stage's import closure (its dvc.yaml deps) holds
its own libraries and nothing of the other stages.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import run_command
from pipeline.io import params as params_io

STAGES = ("corpus", "landmarks", "mouths", "derivatives", "mels", "split", "stats", "train", "references",
          "evaluate")


def argument(section: str) -> str:
    """The keyword `run` receives a params section as: its last dotted part."""
    return section.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Stage:
    """What a stage reads and writes; see the module docstring."""

    run: Callable[..., Any]
    params: Mapping[str, Any] = field(default_factory=dict)
    runtime: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [*map(argument, self.params), *map(argument, self.runtime), *self.inputs, *self.outputs]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise TypeError(f"stage {self.name}: {', '.join(repeated)} declared twice")
        # Fail at import, not after an hour of work, when `run` cannot take what is declared.
        inspect.signature(self.run).bind(**dict.fromkeys(names))

    @property
    def name(self) -> str:
        return self.run.__module__.rsplit(".", 1)[-1]

    @property
    def description(self) -> str:
        """The module docstring's first sentence, without its "Stage `name`:" prefix."""
        doc = sys.modules[self.run.__module__].__doc__ or self.name
        paragraph = " ".join(doc.strip().split("\n\n")[0].split())
        return paragraph.split(". ")[0].rstrip(".").removeprefix(f"Stage `{self.name}`: ")

    @property
    def paths(self) -> dict[str, str]:
        return {**self.inputs, **self.outputs}

    def parser(self, prog: str | None = None) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog=prog or f"python -m pipeline {self.name}", description=self.description,
            epilog=f"example: {prog or 'python -m pipeline ' + self.name} --params params.yaml   "
                   "(the paths default to dvc.yaml's)")
        parser.add_argument("--params", type=Path, default=params_io.DEFAULT_PATH,
                            help="params file (default: %(default)s)")
        for kind, paths in (("input", self.inputs), ("output", self.outputs)):
            for name, default in paths.items():
                parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=Path, default=Path(default),
                                    metavar="PATH", help=f"{kind} (default: %(default)s)")
        return parser

    def main(self, argv: list[str], prog: str | None = None) -> Any:
        args = self.parser(prog).parse_args(argv)
        log = logging.getLogger(self.run.__module__)

        def body() -> Any:
            sections = params_io.sections(args.params, {**self.params, **self.runtime})
            return self.run(**{argument(name): value for name, value in sections.items()},
                            **{name: getattr(args, name) for name in self.paths})

        return run_command(log, body)


def load(name: str) -> Stage:
    """The STAGE declaration of a stage module (imported now, and only this one)."""
    if name not in STAGES:
        raise KeyError(f"no stage {name!r}; stages: {', '.join(STAGES)}")
    return importlib.import_module(f"{__name__}.{name}").STAGE
