"""Each decoder's own training recipe: `recipes` in params.yaml.

The `model` and `train` sections hold the settings tuned for the conv decoder (the default);
`recipes.<decoder>` lists the keys of `model` and `train` whose values differ for that decoder,
and the train stage lays them over the two sections for the decoder it trains. So
`dvc exp run -S decoder=mlp` alone trains the MLP with its own recipe, and
`dvc exp run -S decoder=mlp -S recipes.mlp.train.lr=0.001` changes one of its settings (a key the
recipe sets wins over the same key in `train`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from models.model import Decoder, ModelParams
from pipeline.io.params import section
from pipeline.learn.training import TrainParams


@dataclass(frozen=True)
class Recipe:
    """One decoder's settings that differ from `model` and `train`: a mapping of their keys each."""

    model: Any = None
    train: Any = None


@dataclass(frozen=True)
class Recipes:
    """`recipes` in params.yaml."""

    mlp: Recipe = field(default_factory=lambda: Recipe(model={"mel_head_weight": 1.0, "dropout": 0.0}))
    conv: Recipe = field(default_factory=Recipe)
    flow: Recipe = field(default_factory=lambda: Recipe(model={"flow_dropout": 0.5, "mel_head_weight": 1.0}))

    def apply(self, decoder: Decoder, model: ModelParams, train: TrainParams) -> tuple[ModelParams, TrainParams]:
        """`model` and `train` with `decoder`'s recipe laid over them, checked as params.yaml is."""
        recipe: Recipe = getattr(self, decoder)
        return (_over(ModelParams, model, recipe.model, f"recipes.{decoder}.model"),
                _over(TrainParams, train, recipe.train, f"recipes.{decoder}.train"))


def _over(kind: Any, base: Any, settings: Any, name: str) -> Any:
    if not settings:
        return base
    if not isinstance(settings, dict):
        return section(kind, settings, name)  # refused in the params file's one style
    return section(kind, {**dataclasses.asdict(base), **settings}, name)
