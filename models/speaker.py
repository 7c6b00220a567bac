"""Speaker conditioning from a recording (`model.speaker_embedding: voice`): a small speaker
encoder over the log-mel of an enrolment utterance, another recording of the same speaker, as
AutoVC and multi-speaker lip-to-speech models condition on a reference recording. It serves
speakers absent from training, where a learned table of speaker vectors has only untrained rows.
"""
from __future__ import annotations

import torch
from torch import nn


class VoiceEncoder(nn.Module):
    """(B, n_mels, L) normalised log-mel of an enrolment recording, with its lengths (B,) -> (B, D)
    speaker vector: two 1D convolutions, the mean over the recording's real frames, a linear map.
    A recording of length 0 (none to enrol from) gives the zero vector: no voice information."""

    def __init__(self, n_mels: int, features: int, hidden: int = 128) -> None:
        super().__init__()
        self.convolutions = nn.ModuleList([nn.Conv1d(n_mels, hidden, 5, padding=2),
                                           nn.Conv1d(hidden, hidden, 5, padding=2)])
        self.project = nn.Linear(hidden, features)

    def forward(self, mel: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # Frames past a recording's length are zeroed before every layer, so padding never reaches
        # the vector: a recording gives the same one alone or in any batch.
        real = (torch.arange(mel.shape[-1], device=mel.device)[None] < lengths[:, None])[:, None]
        hidden = mel
        for convolution in self.convolutions:
            hidden = torch.relu(convolution(hidden * real))
        pooled = (hidden * real).sum(-1) / lengths.clamp(min=1)[:, None].to(hidden.dtype)
        return self.project(pooled) * (lengths > 0)[:, None].to(hidden.dtype)
