"""Training recipes: every hyper-parameter of a run in one validated dataclass.

A recipe is a YAML file (``recipes/<name>.yaml``): one per paper, following its training section,
plus fast CPU recipes for the small datasets. Loading checks every field: an unknown key, a wrong
type or an out-of-range value raises :class:`RecipeError` naming the field, the file and what is
allowed, before any data is read. Command-line flags override fields with :meth:`Recipe.override`,
which validates again.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "Recipe",
    "RecipeError",
    "find_recipe",
    "list_recipes",
    "load_recipe",
    "recipe_dirs",
    "recipe_from_dict",
]

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "step", "multistep", "plateau", "cosine", "onecycle")
MONITORS = ("val_acc", "val_loss")
SCHEDULE_UNITS = ("epoch", "iteration")
AUGMENT_PRESETS = ("none", "fashion", "cifar", "imagenet")


class RecipeError(ValueError):
    """A recipe file or override is invalid; the message names the field and what is allowed."""


@dataclass
class Recipe:
    """All hyper-parameters of a training run.

    One rule for defaults: a field a recipe leaves out (an empty recipe file leaves out all)
    takes the value below, and so does a run with no recipe at all (``cnnzoo train MODEL`` with
    no recipe written for MODEL): Adam at 1e-3, batch 128, 10 epochs, constant rate.
    """

    name: str = "custom"
    description: str = ""
    source: str = ""
    """Where the numbers come from (paper section, course notebook)."""
    model: str | None = None
    """The model the recipe was written for (a suggestion; any model can use it)."""
    data: str = "digits"
    val_fraction: float = 0.2
    image_size: int | None = None
    """Resize the data to this side; default: the model card's input size."""
    in_chans: int | None = None
    """Convert the data to this many channels; default: the model card's."""
    limit: int | None = None
    """Use at most this many training images (quick experiments)."""
    augment: str = "none"

    epochs: int = 10
    batch_size: int = 128
    eval_batch_size: int = 1000
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    alpha: float = 0.99
    """RMSprop smoothing constant (its 'decay')."""
    eps: float = 1e-8
    grad_clip: float = 0.0
    """Clip the global gradient norm to this value (0 = off)."""

    schedule: str = "constant"
    schedule_unit: str = "epoch"
    """Whether ``step_size``/``milestones``/``warmup`` count epochs or iterations."""
    step_size: int = 30
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    patience: int = 5
    """Plateau schedule: epochs without improvement of ``monitor`` before multiplying by gamma."""
    min_lr: float = 0.0
    warmup: float = 0.0
    """Linear warm-up length (in ``schedule_unit``s) from lr/100 to lr."""

    monitor: str = "val_acc"
    """Validation metric that picks the best checkpoint and drives plateau and early stopping."""
    early_stopping: int = 0
    """Stop after this many epochs without improvement of ``monitor`` (0 = off)."""

    label_smoothing: float = 0.0
    aux_weight: float = 0.3
    """Weight of each auxiliary classifier's loss (GoogLeNet: 0.3), for models that have them."""

    seed: int = 0
    bf16: bool = False
    compile: bool = False
    channels_last: bool | None = None
    """channels_last (NHWC) tensors; ``None``: decided at start-up for the model and input
    (:mod:`cnnzoo.train.memory_format`), the choice recorded in the run's config."""
    fused: bool = True
    """Train through :func:`cnnzoo.train.fused.fuse` (fused CPU kernels for the
    conv -> ReLU -> max-pool stems and dropout; same results up to float rounding order)."""
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def override(self, *, where: str = "override", **changes: Any) -> Recipe:
        """A copy with ``changes`` applied (``None`` values are ignored), validated; ``where``
        names their source in errors (e.g. "command line")."""
        merged = self.to_dict()
        merged.update({k: v for k, v in changes.items() if v is not None})
        return recipe_from_dict(merged, where=where)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- validation -------------------------------------------------------------------------------

_CHOICES: dict[str, tuple[str, ...]] = {
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
    "monitor": MONITORS,
    "schedule_unit": SCHEDULE_UNITS,
    "augment": AUGMENT_PRESETS,
}
# (minimum, maximum, minimum is exclusive)
_RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    "val_fraction": (0.0, 0.9, True),
    "image_size": (1, None, False),
    "in_chans": (1, None, False),
    "limit": (1, None, False),
    "epochs": (1, None, False),
    "batch_size": (1, None, False),
    "eval_batch_size": (1, None, False),
    "lr": (0.0, None, True),
    "momentum": (0.0, 1.0, False),
    "weight_decay": (0.0, None, False),
    "alpha": (0.0, 1.0, False),
    "eps": (0.0, None, True),
    "grad_clip": (0.0, None, False),
    "step_size": (1, None, False),
    "gamma": (0.0, 1.0, True),
    "patience": (0, None, False),
    "min_lr": (0.0, None, False),
    "warmup": (0.0, None, False),
    "early_stopping": (0, None, False),
    "label_smoothing": (0.0, 1.0, False),
    "aux_weight": (0.0, None, False),
    "seed": (0, None, False),
}


def _type_name(annotation: str) -> str:
    return {
        "str": "a string",
        "str | None": "a string or null",
        "int": "an integer",
        "int | None": "an integer or null",
        "float": "a number",
        "bool": "true or false",
        "bool | None": "true, false or null",
        "list[float]": "a list of numbers",
        "list[int]": "a list of integers",
        "dict[str, Any]": "a mapping",
    }[annotation]


def _check_type(annotation: str, value: Any) -> Any:
    """``value`` converted to the field's type, or raise TypeError."""
    optional = annotation.endswith("| None")
    base = annotation.removesuffix(" | None")
    if value is None:
        if optional:
            return None
        raise TypeError
    if base == "str" and isinstance(value, str):
        return value
    if base == "bool" and isinstance(value, bool):
        return value
    if base == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if base == "float":
        # YAML reads "1e-4" (no dot) as a string; accept numeric strings for convenience.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise TypeError from None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    if base in ("list[float]", "list[int]") and isinstance(value, (list, tuple)):
        item = "float" if base == "list[float]" else "int"
        return [_check_type(item, v) for v in value]
    if base == "dict[str, Any]" and isinstance(value, Mapping):
        return dict(value)
    raise TypeError


def _numbers(value: Any) -> list[float]:
    """The floats in a field's value (a number, or a list of numbers)."""
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, float)]


def recipe_from_dict(values: Mapping[str, Any], where: str = "recipe") -> Recipe:
    """Validate ``values`` and build a :class:`Recipe`; ``where`` names the source in errors."""
    if not isinstance(values, Mapping):
        raise RecipeError(f"{where}: a recipe must be a mapping of field: value, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(Recipe)}
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=3, cutoff=0.6)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise RecipeError(
                f"{where}: unknown field {key!r}.{hint} Known fields: {', '.join(fields)}"
            )
        annotation = str(fields[key].type)
        try:
            value = _check_type(annotation, value)
        except TypeError:
            raise RecipeError(
                f"{where}: field {key!r} must be {_type_name(annotation)}, got {value!r}"
            ) from None
        if not all(map(math.isfinite, _numbers(value))):
            raise RecipeError(
                f"{where}: field {key!r} is {value!r}; it must be a finite number (not NaN or "
                "infinity)"
            )
        if key in _CHOICES and value not in _CHOICES[key]:
            raise RecipeError(
                f"{where}: field {key!r} is {value!r}; choose one of {', '.join(_CHOICES[key])}"
            )
        if key in _RANGES and value is not None:
            low, high, exclusive = _RANGES[key]
            too_low = low is not None and (value <= low if exclusive else value < low)
            too_high = high is not None and value > high
            if too_low or too_high:
                bound = []
                if low is not None:
                    bound.append(f"{'>' if exclusive else '>='} {low}")
                if high is not None:
                    bound.append(f"<= {high}")
                raise RecipeError(
                    f"{where}: field {key!r} is {value!r}; it must be {' and '.join(bound)}"
                )
        clean[key] = value
    if "betas" in clean and (
        len(clean["betas"]) != 2 or not all(0.0 <= b < 1.0 for b in clean["betas"])
    ):
        raise RecipeError(
            f"{where}: field 'betas' must be two numbers in [0, 1), got {clean['betas']}"
        )
    if "milestones" in clean and (
        any(m < 1 for m in clean["milestones"])
        or clean["milestones"] != sorted(clean["milestones"])
    ):
        raise RecipeError(
            f"{where}: field 'milestones' must be increasing positive integers, got "
            f"{clean['milestones']}"
        )
    recipe = Recipe(**clean)
    if recipe.schedule == "multistep" and not recipe.milestones:
        raise RecipeError(f"{where}: schedule 'multistep' needs 'milestones', e.g. [30, 60]")
    return recipe


# -- files ------------------------------------------------------------------------------------


def recipe_dirs() -> list[Path]:
    """Where named recipes are looked up: ``$CNNZOO_RECIPES`` (os.pathsep-separated), then
    the recipes shipped inside the package (``cnnzoo/recipes/``; ``recipes/`` at the top of the
    source tree links there)."""
    dirs = [Path(p) for p in os.environ.get("CNNZOO_RECIPES", "").split(os.pathsep) if p]
    dirs.append(Path(__file__).resolve().parents[1] / "recipes")
    return dirs


def list_recipes() -> list[str]:
    """Names of the recipes found in :func:`recipe_dirs`, sorted."""
    names: set[str] = set()
    for folder in recipe_dirs():
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(names)


def find_recipe(name: str) -> Path:
    """The file of a named recipe, or ``FileNotFoundError`` listing what exists."""
    for folder in recipe_dirs():
        path = folder / f"{name}.yaml"
        if path.is_file():
            return path
    known = list_recipes()
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise FileNotFoundError(
        f"no recipe named {name!r} (looked in {', '.join(str(d) for d in recipe_dirs())}).{hint} "
        f"Known recipes: {', '.join(known) or 'none'}; or pass the path of a YAML file."
    )


def load_recipe(name_or_path: str | os.PathLike[str]) -> Recipe:
    """Load and validate a recipe by name (``"alexnet"``) or from a YAML file path."""
    text = str(name_or_path)
    path = Path(text)
    if not (path.suffix in (".yaml", ".yml") or os.sep in text or path.is_file()):
        path = find_recipe(text)
    if not path.is_file():
        raise FileNotFoundError(f"recipe file {path} does not exist")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise RecipeError(f"{path}: not valid YAML: {error}") from None
    if values is None:
        values = {}
    if isinstance(values, Mapping) and "name" not in values:
        values = {"name": path.stem, **values}
    return recipe_from_dict(values, where=str(path))
