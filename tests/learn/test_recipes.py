"""Each decoder's recipe is laid over `model` and `train` for that decoder only, checked on load."""
from __future__ import annotations

import dataclasses

import pytest

from models.model import ModelParams
from pipeline.io.params import ParamsError, section
from pipeline.learn.recipes import Recipe, Recipes
from pipeline.learn.training import TrainParams
from tests.conftest import REPO


def test_a_recipe_replaces_only_the_keys_it_sets_and_only_for_its_decoder():
    recipes = Recipes(mlp=Recipe(model={"dropout": 0.5}, train={"window": 25, "lr": "1e-3"}))
    model, train = recipes.apply("mlp", ModelParams(), TrainParams())
    assert (model.dropout, train.window, train.lr) == (0.5, 25, 0.001)
    assert dataclasses.replace(model, dropout=ModelParams().dropout) == ModelParams()
    assert dataclasses.replace(train, window=None, lr=TrainParams().lr) == TrainParams()
    assert recipes.apply("conv", ModelParams(), TrainParams()) == (ModelParams(), TrainParams())


def test_the_recipes_in_params_yaml_parse_and_the_conv_decoder_keeps_model_and_train():
    import yaml

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    recipes = section(Recipes, params["recipes"], "recipes")
    model, train = section(ModelParams, params["model"], "model"), section(TrainParams, params["train"], "train")
    assert recipes.apply("conv", model, train) == (model, train)
    for decoder in ("mlp", "flow"):
        recipes.apply(decoder, model, train)  # every key a recipe sets exists and has a valid value


@pytest.mark.parametrize("recipe,message", [
    (Recipe(train={"wobble": 1}), r"params.yaml: unknown key\(s\) in 'recipes.mlp.train': wobble"),
    (Recipe(model={"dropout": "lots"}), r"params.yaml: recipes.mlp.model.dropout must be a number; got 'lots'"),
    (Recipe(train=3), r"params.yaml: recipes.mlp.train must be a mapping of keys; got 3"),
])
def test_a_bad_recipe_is_refused_in_one_line_naming_its_key(recipe: Recipe, message: str):
    with pytest.raises(ParamsError, match=message):
        Recipes(mlp=recipe).apply("mlp", ModelParams(), TrainParams())
