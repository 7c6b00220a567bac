"""What every stage's `main()` shares: logging set-up, reading params.yaml, and turning an
expected failure (bad params, unusable input) into one line on stderr and exit status 1."""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline import params as params_io


class StageError(Exception):
    """The stage cannot produce a usable result; the message says why."""


def run_stage(log: logging.Logger, body: Callable[[dict[str, Any]], Any], params_path: Path) -> None:
    """Configure logging, load params, run `body(params)`; expected errors exit with status 1."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        body(params_io.load(params_path))
    except (StageError, ValueError, FileNotFoundError, KeyError) as error:
        log.error("%s", error.args[0] if isinstance(error, KeyError) and error.args else error)
        sys.exit(1)
