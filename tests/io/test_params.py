"""Params are checked once, on load, in one message style naming the file and the dotted key."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from pipeline.errors import MissingInput, ParamsError
from pipeline.io.params import section, sections


@dataclass(frozen=True)
class Inner:
    mode: Literal["fast", "slow"] = "fast"
    rate: float = 1.0


@dataclass(frozen=True)
class Outer:
    count: int = 2
    name: str | None = None
    flag: bool = True
    batch: int | Literal["auto"] = "auto"
    speakers: list[str] = field(default_factory=list)
    inner: Inner = field(default_factory=Inner)


def test_values_are_built_into_nested_dataclasses():
    built = section(Outer, {"count": 3, "speakers": ["s1"], "batch": 4, "inner": {"mode": "slow", "rate": 2}}, "x")
    assert built == Outer(count=3, speakers=["s1"], batch=4, inner=Inner("slow", 2.0))
    assert isinstance(built.inner.rate, float)
    assert section(Outer, None, "x") == Outer()
    # PyYAML reads 1e-4 (no dot) as a string: it is still a number.
    assert section(Inner, {"rate": "1e-4"}, "x.inner").rate == 1e-4


@pytest.mark.parametrize("value,message", [
    ({"cuont": 3}, r"params.yaml: unknown key\(s\) in 'x': cuont; known: batch, count, flag, inner, name, speakers"),
    ({"count": "3"}, r"params.yaml: x.count must be an integer; got '3'"),
    ({"count": True}, r"params.yaml: x.count must be an integer; got True"),
    ({"flag": "yes"}, r"params.yaml: x.flag must be true or false; got 'yes'"),
    ({"batch": "many"}, r"params.yaml: x.batch must be an integer or one of auto; got 'many'"),
    ({"speakers": "s1"}, r"params.yaml: x.speakers must be a list of strings; got 's1'"),
    ({"speakers": ["s1", 2]}, r"params.yaml: x.speakers\[1\] must be a string; got 2"),
    ({"inner": {"mode": "quick"}}, r"params.yaml: x.inner.mode must be one of fast, slow; got 'quick'"),
    ({"inner": 3}, r"params.yaml: x.inner must be a mapping of keys; got 3"),
    ({"count": None}, r"params.yaml: x.count is missing; it must be an integer"),
])
def test_bad_values_are_named_with_what_would_do(value, message):
    with pytest.raises(ParamsError, match=message):
        section(Outer, value, "x")


def test_a_scalar_section_must_be_given():
    with pytest.raises(ParamsError, match="params.yaml: decoder is missing; it must be one of mlp, conv"):
        section(Literal["mlp", "conv"], None, "decoder")


def test_sections_come_from_the_named_file(tmp_path: Path):
    path = tmp_path / "other.yaml"
    path.write_text("x:\n  count: 5\nunrelated: 1\n")
    assert sections(path, {"x": Outer}) == {"x": Outer(count=5)}
    path.write_text("x:\n  count: five\n")
    with pytest.raises(ParamsError, match="other.yaml: x.count must be an integer; got 'five'"):
        sections(path, {"x": Outer})
    with pytest.raises(MissingInput, match="no params file at"):
        sections(tmp_path / "missing.yaml", {"x": Outer})
