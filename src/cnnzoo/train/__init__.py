"""Training: the engine (:func:`fit`, :func:`evaluate`), recipes, run folders and checkpoints.

>>> from cnnzoo.train import load_recipe, load_data_for, build_model, fit
>>> recipe = load_recipe("lenet5-digits")
>>> data = load_data_for("lenet5", recipe)
>>> result = fit(build_model("lenet5", data, recipe), data, recipe, quiet=False)
>>> result.test.top1, result.run_dir

See docs/training.md for the recipes, the run folder layout, resuming and the speed figures.
"""

from cnnzoo.train.checkpoint import (
    CheckpointError,
    DiskFullError,
    load_checkpoint,
    load_state,
    load_weights,
    read_metadata,
    save_checkpoint,
)
from cnnzoo.train.engine import (
    RESUMABLE_FIELDS,
    FitResult,
    LostRankError,
    Metrics,
    NonFiniteLossError,
    TrainingError,
    build_model,
    check_compatible,
    check_resumable,
    compute_loss,
    evaluate,
    fit,
    load_data_for,
    resume_recipe,
)
from cnnzoo.train.optim import LRSchedule, build_optimizer
from cnnzoo.train.recipes import Recipe, RecipeError, list_recipes, load_recipe, recipe_from_dict
from cnnzoo.train.runs import RunFolder, default_run_dir

__all__ = [
    "RESUMABLE_FIELDS",
    "CheckpointError",
    "DiskFullError",
    "FitResult",
    "LRSchedule",
    "LostRankError",
    "Metrics",
    "NonFiniteLossError",
    "Recipe",
    "RecipeError",
    "RunFolder",
    "TrainingError",
    "build_model",
    "build_optimizer",
    "check_compatible",
    "check_resumable",
    "compute_loss",
    "default_run_dir",
    "evaluate",
    "fit",
    "list_recipes",
    "load_checkpoint",
    "load_data_for",
    "load_recipe",
    "load_state",
    "load_weights",
    "read_metadata",
    "recipe_from_dict",
    "resume_recipe",
    "save_checkpoint",
]
