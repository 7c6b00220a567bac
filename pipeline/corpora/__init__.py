"""Corpora: GRID's grammar and files, sources that index a corpus tree, per-utterance checks, and
(in `synthetic`) the generator of the embedded GRID-format corpus."""
