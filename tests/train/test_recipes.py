"""Recipes: every shipped file is valid and states its paper's numbers; bad input is named."""

from pathlib import Path

import pytest

import cnnzoo
from cnnzoo.train import Recipe, RecipeError, list_recipes, load_recipe, recipe_from_dict
from cnnzoo.train.recipes import recipe_dirs

RECIPE_DIR = Path(__file__).resolve().parents[2] / "recipes"


def test_every_shipped_recipe_loads() -> None:
    names = list_recipes()
    assert {p.stem for p in RECIPE_DIR.glob("*.yaml")} <= set(names)
    # They ship inside the package (package data), so a non-editable install finds them too.
    assert (Path(cnnzoo.__file__).parent / "recipes" / "fashion-cnn.yaml").is_file()
    assert recipe_dirs()[-1] == Path(cnnzoo.__file__).resolve().parent / "recipes"
    for name in names:
        recipe = load_recipe(name)
        assert recipe.name == name and recipe.description and recipe.source


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "alexnet",
            {
                "optimizer": "sgd",
                "lr": 0.01,
                "momentum": 0.9,
                "weight_decay": 5e-4,
                "batch_size": 128,
                "schedule": "plateau",
                "gamma": 0.1,
            },
        ),
        (
            "vgg",
            {
                "optimizer": "sgd",
                "lr": 0.01,
                "momentum": 0.9,
                "weight_decay": 5e-4,
                "batch_size": 256,
                "schedule": "plateau",
                "gamma": 0.1,
            },
        ),
        (
            "resnet-imagenet",
            {
                "lr": 0.1,
                "momentum": 0.9,
                "batch_size": 256,
                "weight_decay": 1e-4,
                "schedule": "plateau",
                "gamma": 0.1,
            },
        ),
        (
            "resnet-cifar",
            {
                "lr": 0.1,
                "batch_size": 128,
                "schedule": "multistep",
                "schedule_unit": "iteration",
                "milestones": [32000, 48000],
                "augment": "cifar",
            },
        ),
        ("googlenet", {"aux_weight": 0.3, "momentum": 0.9, "step_size": 8, "gamma": 0.96}),
        ("mobilenet", {"optimizer": "rmsprop", "alpha": 0.9, "eps": 1.0}),
        (
            "fashion-cnn",
            {
                "optimizer": "adam",
                "batch_size": 256,
                "epochs": 10,
                "lr": 0.001,
                "data": "fashion_mnist",
                "val_fraction": 0.2,
            },
        ),
        ("lenet5-digits", {"model": "lenet5", "data": "digits"}),
    ],
)
def test_paper_recipes_carry_the_papers_numbers(name: str, expected: dict) -> None:
    recipe = load_recipe(name)
    for key, value in expected.items():
        assert getattr(recipe, key) == value, key


def test_unknown_field_is_named_with_a_suggestion() -> None:
    with pytest.raises(RecipeError, match=r"unknown field 'epoch'\. Did you mean: epochs\?"):
        recipe_from_dict({"epoch": 3}, where="my.yaml")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"batch_size": "big"}, r"my\.yaml: field 'batch_size' must be an integer, got 'big'"),
        ({"epochs": True}, r"field 'epochs' must be an integer, got True"),
        ({"bf16": "yes"}, r"field 'bf16' must be true or false"),
        ({"lr": 0}, r"field 'lr' is 0\.0; it must be > 0"),
        ({"momentum": 1.5}, r"field 'momentum' is 1\.5; it must be >= 0\.0 and <= 1\.0"),
        ({"val_fraction": 0.0}, r"field 'val_fraction' is 0\.0; it must be > 0\.0"),
        (
            {"optimizer": "lbfgs"},
            r"field 'optimizer' is 'lbfgs'; choose one of sgd, adam, adamw, rmsprop",
        ),
        ({"milestones": [48000, 32000]}, r"'milestones' must be increasing"),
        ({"schedule": "multistep"}, r"schedule 'multistep' needs 'milestones'"),
        ({"betas": [0.9]}, r"'betas' must be two numbers"),
    ],
)
def test_bad_values_are_named(values: dict, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        recipe_from_dict(values, where="my.yaml")


def test_yaml_numbers_without_dot_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("lr: 1e-3\nweight_decay: 5e-4\nepochs: 2\n")
    recipe = load_recipe(path)
    assert recipe.name == "mine" and recipe.lr == 0.001 and recipe.weight_decay == 0.0005


def test_bad_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("lr: [1,\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(path)
    path.write_text("- 1\n- 2\n")
    with pytest.raises(RecipeError, match="must be a mapping"):
        load_recipe(path)
    with pytest.raises(
        FileNotFoundError, match=r"no recipe named 'alexnett'.*Did you mean: alexnet"
    ):
        load_recipe("alexnett")


def test_override_validates_and_ignores_none() -> None:
    recipe = load_recipe("alexnet").override(epochs=3, lr=None, batch_size=16)
    assert (recipe.epochs, recipe.lr, recipe.batch_size) == (3, 0.01, 16)
    with pytest.raises(RecipeError, match="field 'lr'"):
        Recipe().override(lr=-1.0)
