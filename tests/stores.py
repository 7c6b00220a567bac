"""Writes the stores of the test suite's tiny corpus to a folder, for a machine that trains but
cannot preprocess (no dlib or espeak-ng, e.g. a GPU node):

    python -m tests.stores FOLDER                     # where the preprocessing runs
    LIP2SPEECH_TEST_STORES=FOLDER pytest -m cuda      # where it cannot

The `stores` fixture then copies FOLDER instead of building the stores. The manifest there names
videos that no longer exist: training reads only the stores.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench.common import SEQUENTIAL, preprocess
from pipeline.corpora.synthetic.generator import generate_corpus
from tests.conftest import TINY_CORPUS


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as scratch:
        generate_corpus(Path(scratch), TINY_CORPUS, SEQUENTIAL)
        paths = preprocess(Path(scratch), out)
    print(f"stores for LIP2SPEECH_TEST_STORES in {out}: {', '.join(sorted(p.name for p in paths.values()))}")


if __name__ == "__main__":
    main()
