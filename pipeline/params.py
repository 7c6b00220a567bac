"""Reading params.yaml into typed sections, with a clear error for unknown or missing keys."""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
DEFAULT_PATH = Path("params.yaml")


def load(path: Path = DEFAULT_PATH) -> dict[str, Any]:
    """The whole params file as a dict."""
    with open(path) as stream:
        return yaml.safe_load(stream) or {}


def section(cls: type[T], values: dict[str, Any] | None, name: str) -> T:
    """Build dataclass `cls` from a params mapping; nested dataclass fields are built recursively.

    Raises ValueError naming the section for keys the dataclass does not know.
    """
    values = dict(values or {})
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"params.yaml: unknown key(s) in '{name}': {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(known))}")
    for key, value in values.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            values[key] = section(hint, value, f"{name}.{key}")
    return cls(**values)
