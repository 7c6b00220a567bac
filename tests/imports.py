"""The repository's own import graph, read from the code (ast), for the dependency-graph tests."""
from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "models")


def module_file(name: str) -> Path | None:
    """The file of a module of this repository (None for anything else)."""
    parts = name.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = REPO.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def module_name(path: Path) -> str:
    relative = path.resolve().relative_to(REPO).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


@cache
def imported_modules(name: str) -> frozenset[str]:
    """Repository modules that module `name` imports anywhere in its code (functions included)."""
    path = module_file(name)
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(c for c in candidates if module_file(c) is not None)
    return frozenset(found)


def with_packages(name: str) -> set[str]:
    """A module and the packages that importing it runs first (pipeline, pipeline.io, ...)."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def closure(roots: list[str]) -> set[str]:
    """Every repository module that running `roots` can import."""
    seen: set[str] = set()
    pending = [m for root in roots for m in with_packages(root)]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        pending += [m for imported in imported_modules(name) for m in with_packages(imported)]
    return seen


def has_behaviour(path: Path) -> bool:
    """False for a module that is only a docstring (editing it cannot change what runs)."""
    body = ast.parse(path.read_text()).body
    return not all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def data_files(path: Path) -> set[Path]:
    """Files next to a module that it names in a string (e.g. face/reference.py reads
    "reference_face.json" from its own folder), and the files of a data folder beside it that it
    names (corpora/protocols.py reads "protocol_lists")."""
    siblings = {p.name: p for p in path.parent.iterdir()
                if (p.is_file() and p.suffix not in (".py", ".pyc")) or (p.is_dir() and not any(p.glob("*.py")))}
    named = {siblings[node.value] for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in siblings}
    return {f for p in named for f in ([p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()])}


def closure_files(roots: list[str]) -> set[Path]:
    """The files running `roots` reads as code: its modules (docstring-only packages left out) and
    the data files they read from their own folders."""
    modules = {module_file(name) for name in closure(roots)}
    return {m for m in modules if has_behaviour(m)} | {f for m in modules for f in data_files(m)}
