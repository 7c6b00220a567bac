"""Corpora, one module per corpus (grid, lombard, lrs3, lrs2, lip2wav, folder: finding a tree as
downloaded, naming rules, defects), what they share (files, lrs, sources: the per-utterance checks,
cuts: long clips into utterances), unpacking archives, the papers' protocols, and (in `synthetic`)
the generator of the embedded corpus."""
from typing import Literal

# `corpus.source`; synthetic: the embedded corpus
Source = Literal["synthetic", "grid", "lombardgrid", "lrs3", "lrs2", "lip2wav", "folder"]
