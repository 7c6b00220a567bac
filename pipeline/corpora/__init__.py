"""Corpora: GRID's grammar and files, sources that index a corpus tree, per-utterance checks, and
(in `synthetic`) the generator of the embedded GRID-format corpus."""
from typing import Literal

Source = Literal["synthetic", "grid", "lombardgrid", "folder"]  # `corpus.source`; synthetic: the embedded corpus
