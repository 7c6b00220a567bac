"""Make `open_sentences.txt`, the embedded corpus' open-vocabulary sentences (`corpus.synthetic.
sentences: open`), from the English text that ships with Python: the language reference's topics
(pydoc_data) and the docstrings of the standard library's modules and their members. Python's
documentation is under the PSF License Agreement (the file's header says so).

A sentence is kept when it is one line of 3 to 15 plain words (letters and apostrophes, commas
between them) starting with a capital and ending with a full stop, and the CMU dictionary that
pocketsphinx bundles has every word (the judge can hear it). The file was made once, with
Python 3.12, and is shipped; rerun it only to change the rule:

    python -m pipeline.corpora.synthetic.make_open_sentences
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import re
import sys
import warnings
from pathlib import Path

OUT = Path(__file__).with_name("open_sentences.txt")
SKIPPED_MODULES = {"antigravity", "this", "idlelib", "tkinter", "turtledemo", "test", "lib2to3", "ensurepip",
                   "venv", "pydoc", "turtle"}  # modules that open windows, print, or are tests
SENTENCE = re.compile(r"[A-Z][a-z']*(?:,? [a-z']+){2,14}\.")
HEADER = ("# Sentences from Python's documentation (pydoc_data topics, standard library docstrings),\n"
          "# Copyright (c) 2001 Python Software Foundation; PSF License Agreement. Made by\n"
          "# pipeline/corpora/synthetic/make_open_sentences.py; one sentence a line.\n")


def texts() -> list[str]:
    import pydoc_data.topics

    found = list(pydoc_data.topics.topics.values())
    warnings.filterwarnings("ignore")
    for name in sorted(sys.stdlib_module_names - SKIPPED_MODULES):
        if name.startswith("_"):
            continue
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                module = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module this platform lacks is passed over
            continue
        found += [module.__doc__ or ""] + [getattr(member, "__doc__", None) or "" for _, member in
                                           inspect.getmembers(module)]
    return [text for text in found if isinstance(text, str)]


def main() -> None:
    from pocketsphinx import get_model_path

    dictionary = Path(get_model_path()) / "en-us" / "cmudict-en-us.dict"
    known = {line.split(" ", 1)[0] for line in dictionary.read_text().splitlines()}
    sentences = set()
    for text in texts():
        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(text.split())):
            if SENTENCE.fullmatch(sentence) and all(w in known for w in re.findall(r"[a-z']+", sentence.lower())):
                sentences.add(sentence)
    OUT.write_text(HEADER + "".join(f"{s}\n" for s in sorted(sentences)))


if __name__ == "__main__":
    main()
