"""Expected failures and how a command reports them.

An expected failure is bad input or bad settings: an unusable corpus, a missing or damaged store,
a params value out of range. It ends a command with one line on stderr and exit status 1. Any
other exception is a bug and keeps its traceback.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class PipelineError(Exception):
    """An expected failure; the message is one line that says what to fix."""


class StageError(PipelineError):
    """The stage cannot produce a usable result from its inputs."""


class ParamsError(PipelineError, ValueError):
    """A params value the code cannot work with (unknown key, wrong type, not one of the choices)."""


class MissingInput(PipelineError, FileNotFoundError):
    """An input file or store that is not there (an upstream stage has not run)."""


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def run_command(log: logging.Logger, body: Callable[[], T]) -> T:
    """Run `body` with logging configured; an expected failure becomes one line and exit status 1."""
    setup_logging()
    try:
        return body()
    except PipelineError as error:
        log.error("%s", one_line(error))
        sys.exit(1)


def one_line(error: BaseException) -> str:
    """An exception's message on one line (the first line, or the exception's type)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

