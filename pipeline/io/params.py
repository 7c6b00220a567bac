"""Reading params.yaml into typed values, checking every key and value once, on load.

A section's type is a dataclass (nested dataclasses for nested mappings) or a plain type; fields
say what they accept through their type hints: `int`, `float`, `bool`, `str`, `list[str]`,
`X | None`, and `Literal["a", "b"]` for "one of" choices. Every problem is a ParamsError in one
style, naming the file and the dotted key:

    params.yaml: store.format must be one of zarr, hdf5; got 'parquet'
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union

import yaml

from pipeline.errors import MissingInput, ParamsError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

DataclassT = TypeVar("DataclassT", bound="DataclassInstance")
DEFAULT_PATH = Path("params.yaml")


def load(path: Path = DEFAULT_PATH) -> dict[str, Any]:
    """The whole params file as a dict."""
    path = Path(path)
    if not path.is_file():
        raise MissingInput(f"no params file at {path}")
    with open(path) as stream:
        values = yaml.safe_load(stream) or {}
    if not isinstance(values, dict):
        raise ParamsError(f"{path.name}: expected a mapping of sections, got {type(values).__name__}")
    return values


def section(kind: Any, value: Any, name: str, source: str = DEFAULT_PATH.name) -> Any:
    """`value` (a params section, or None for the defaults) checked and built as `kind`."""
    try:
        return _convert(kind, value, name)
    except ParamsError as error:
        raise ParamsError(f"{source}: {error}") from None


def sections(path: Path, kinds: Mapping[str, Any]) -> dict[str, Any]:
    """The named sections of a params file, each checked and built as its type; a dotted name
    (`evaluate.vocoder`) is a key inside a section."""
    values = load(path)
    return {name: section(kind, lookup(values, name), name, Path(path).name) for name, kind in kinds.items()}


def lookup(values: dict[str, Any], name: str) -> Any:
    """The value at a dotted key (`evaluate.vocoder.iterations`), None when absent."""
    value: Any = values
    for key in name.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def choices(kind: Any) -> tuple:
    """The values a `Literal[...]` type allows."""
    return typing.get_args(kind)


def _convert(hint: Any, value: Any, name: str) -> Any:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass(hint, value, name)
    origin = typing.get_origin(hint)
    if value is None:
        if _accepts_none(hint):
            return None
        raise ParamsError(f"{name} is missing; it must be {_describe(hint)}")
    if origin is Literal:
        if value in typing.get_args(hint) and type(value) in {type(c) for c in typing.get_args(hint)}:
            return value
    elif origin in (Union, types.UnionType):
        for option in typing.get_args(hint):
            if option is type(None):
                continue
            try:
                return _convert(option, value, name)
            except ParamsError:
                continue
    elif origin is list:
        if isinstance(value, list):
            (item,) = typing.get_args(hint) or (Any,)
            return [_convert(item, v, f"{name}[{i}]") for i, v in enumerate(value)]
    elif hint is Any:
        return value
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        # PyYAML reads `1e-4` (no dot) as a string; take any number written as one.
        number = _number(value)
        if number is not None:
            return number
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"params type {hint!r} of {name} is not supported")
    raise ParamsError(f"{name} must be {_describe(hint)}; got {value!r}")


def _dataclass(kind: type[DataclassT], value: Any, name: str) -> DataclassT:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ParamsError(f"{name} must be a mapping of keys; got {value!r}")
    hints = typing.get_type_hints(kind)
    known = sorted(f.name for f in dataclasses.fields(kind) if f.init)
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ParamsError(f"unknown key(s) in '{name}': {', '.join(unknown)}; known: {', '.join(known)}")
    return kind(**{key: _convert(hints[key], item, f"{name}.{key}") for key, item in value.items()})


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _accepts_none(hint: Any) -> bool:
    return hint is Any or (typing.get_origin(hint) in (Union, types.UnionType) and type(None) in typing.get_args(hint))


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(str(c) for c in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return " or ".join("null" if option is type(None) else _describe(option) for option in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return f"a list of {_describe(item).removeprefix('a ').removeprefix('an ')}s"
    if dataclasses.is_dataclass(hint):
        return "a mapping of keys"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))
