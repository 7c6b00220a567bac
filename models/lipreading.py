"""The lip-reading (CTC) head: it reads the transcript's characters or words off the encoder's
per-frame output, and greedy CTC decoding of it is the model's own lip reading.

A head is built with its vocabulary (class 0 is the CTC blank, then the tokens): the characters
below, or the words of the training transcripts. With `detach` it reads the encoder's output
with the gradient stopped there: the encoder then learns from the speech alone and the head
only reads what it encodes (a probe); without it the CTC loss trains the encoder too
(multi-task text supervision).
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from models.encoder import run_gru

Units = Literal["characters", "words"]  # `model.ctc_units`
CHARACTERS = tuple(" abcdefghijklmnopqrstuvwxyz'")


def tokens(text: str, units: Units) -> list[str]:
    """A transcript as the head's tokens: lower-case characters, or words."""
    return text.lower().split() if units == "words" else list(" ".join(text.lower().split()))


def word_vocabulary(texts: list[str]) -> tuple[str, ...]:
    """The sorted words of `texts`: the classes of a word-level head."""
    return tuple(sorted({word for text in texts for word in tokens(text, "words")}))


class LipReadingHead(nn.Module):
    """(B, T, D) encoder features -> (B, T, classes) CTC log-probabilities: an optional
    bidirectional GRU of `hidden` units (0: none), then a linear layer."""

    def __init__(self, features: int, vocabulary: tuple[str, ...], units: Units, hidden: int = 0,
                 detach: bool = False) -> None:
        super().__init__()
        self.vocabulary, self.units, self.detach = tuple(vocabulary), units, detach
        self.classes = {token: i + 1 for i, token in enumerate(self.vocabulary)}  # 0 is the blank
        # Initialised on a fork of the random stream, so that adding a head leaves every other
        # random draw of the run (dropout, augmentation) as it was.
        with torch.random.fork_rng(devices=[]):
            self.gru = nn.GRU(features, hidden, batch_first=True, bidirectional=True) if hidden else None
            self.linear = nn.Linear(2 * hidden if hidden else features, len(self.vocabulary) + 1)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.detach:
            features = features.detach()
        if self.gru is not None:
            features = run_gru(self.gru, features, lengths)
        return self.linear(features).float().log_softmax(-1)

    def encode(self, text: str) -> list[int]:
        """CTC targets of a transcript: its tokens' classes (1..); tokens outside the vocabulary
        are left out."""
        return [self.classes[token] for token in tokens(text, self.units) if token in self.classes]

    def decode(self, classes: list[int]) -> str:
        """Best-path CTC decoding: collapse repeats, drop blanks (0), join the tokens."""
        kept = [self.vocabulary[c - 1] for i, c in enumerate(classes) if c != 0 and (i == 0 or c != classes[i - 1])]
        return (" ".join(kept) if self.units == "words" else "".join(kept)).strip()

    def loss(self, log_probs: torch.Tensor, lengths: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """Mean CTC loss per target token over the utterances with a transcript."""
        targets = [self.encode(text) for text in texts]
        keep = [i for i, target in enumerate(targets) if target]
        index = torch.tensor(keep, device=log_probs.device)
        return nn.functional.ctc_loss(
            log_probs.index_select(0, index).transpose(0, 1),
            torch.tensor([c for i in keep for c in targets[i]], dtype=torch.long, device=log_probs.device),
            lengths.index_select(0, index.to(lengths.device)), torch.tensor([len(targets[i]) for i in keep]),
            blank=0, reduction="mean", zero_infinity=True)
