"""Corpora, one module per corpus (grid, lombard, folder: finding a tree as downloaded, naming
rules, defects), what they share (files, sources: the per-utterance checks), unpacking archives,
the papers' GRID protocols, and (in `synthetic`) the generator of the embedded GRID-format corpus."""
from typing import Literal

Source = Literal["synthetic", "grid", "lombardgrid", "folder"]  # `corpus.source`; synthetic: the embedded corpus
