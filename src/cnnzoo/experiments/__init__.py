"""The lectures' claims as named, reproducible experiments (``cnnzoo.experiments``).

>>> from cnnzoo.experiments import get_experiment, run_experiment
>>> folder = run_experiment(get_experiment("lenet5-mnist"), "smoke")   # seconds, digits
>>> (folder / "results.json").is_file()
True

Each experiment module declares its models, data, recipes, seeds, budgets and the claim it
checks (:class:`Experiment`); :func:`run_experiment` trains its members as ordinary, resumable
run folders and writes ``results.json``, ``report.md`` and PNG figures;
:func:`write_lab_report` gathers the latest results into ``docs/experiments.md``.
See docs/experiments.md.
"""

from __future__ import annotations

from cnnzoo.experiments import (
    classic_table,
    depth_degradation,
    dsc_conversion,
    efficient_nets,
    ensemble,
    fashion_augmentation,
    finetune_rules,
    inception_bottleneck,
    kernel_factorisation,
    lenet5_mnist,
    skip_landscape,
    stochastic_depth,
)
from cnnzoo.experiments.core import (
    BUDGETS,
    Budget,
    Context,
    Experiment,
    Finetune,
    Member,
    MemberResult,
    Outcome,
)
from cnnzoo.experiments.report import TIME_BASIS, total_full_minutes, write_lab_report
from cnnzoo.experiments.runner import DEFAULT_ROOT, find_folders, run_experiment
from cnnzoo.train import TrainingError

__all__ = [
    "BUDGETS",
    "DEFAULT_ROOT",
    "EXPERIMENTS",
    "TIME_BASIS",
    "Budget",
    "Context",
    "Experiment",
    "Finetune",
    "Member",
    "MemberResult",
    "Outcome",
    "TrainingError",
    "find_folders",
    "get_experiment",
    "list_experiments",
    "run_experiment",
    "total_full_minutes",
    "write_lab_report",
]

EXPERIMENTS: dict[str, Experiment] = {
    module.EXPERIMENT.name: module.EXPERIMENT
    for module in (
        lenet5_mnist,
        depth_degradation,
        fashion_augmentation,
        inception_bottleneck,
        kernel_factorisation,
        ensemble,
        dsc_conversion,
        stochastic_depth,
        classic_table,
        efficient_nets,
        finetune_rules,
        skip_landscape,
    )
}


def list_experiments() -> list[str]:
    return list(EXPERIMENTS)


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise KeyError(
            f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)} "
            "(see `cnnzoo experiment list`)"
        )
    return EXPERIMENTS[name]
