"""What an experiment is: the claim it checks, its budgets, the runs it trains, how it judges.

An :class:`Experiment` is declarative: ``plan(budget)`` lists the :class:`Member` runs (model,
recipe, seed) and ``analyse(context)`` turns their :class:`MemberResult`s (and any extra
measurement, e.g. CPU time of a module) into an :class:`Outcome`: the measured figures, whether
the claim reproduced, a plain verdict, tables and figures. The runner
(:mod:`cnnzoo.experiments.runner`) does the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch.nn as nn

from cnnzoo.data import DataBundle
from cnnzoo.train import Recipe

__all__ = [
    "BUDGETS",
    "Budget",
    "Context",
    "Experiment",
    "Finetune",
    "Member",
    "MemberResult",
    "Outcome",
]

BUDGETS = ("smoke", "quick", "full")
"""smoke: seconds on tiny data (CI); quick: minutes; full: what the claims are judged on."""


@dataclass(frozen=True)
class Budget:
    """How much data and training one budget of an experiment uses."""

    data: str
    """Dataset name for :func:`cnnzoo.data.load_data` (``digits`` for smoke)."""
    epochs: int
    limit: int | None = None
    """At most this many images per split (seeded, stratified); None = the whole set."""
    seeds: tuple[int, ...] = (0,)
    image_size: int | None = None
    """Side the images are stored at; None = the models' own (each member may set it)."""
    minutes: float = 0.0
    """Expected wall time on this 2-core CPU, said in the report."""
    note: str = ""
    """What this budget cuts (subsets, fewer epochs), said in the report."""
    options: dict[str, Any] = field(default_factory=dict)
    """Experiment-specific knobs (e.g. which depths, how many members)."""


@dataclass(frozen=True)
class Finetune:
    """How a member starts from another member's weights (:func:`cnnzoo.transfer.finetune`)."""

    source: str
    """Key of an earlier member of the same plan; its best checkpoint is the starting point."""
    policy: str
    """What stays frozen: ``head``, ``all-but-head``, ``stages:K`` or ``none``
    (:func:`cnnzoo.transfer.freeze`)."""
    head_lr_mult: float = 1.0
    """The new head's learning rate is the recipe's times this (the param groups' lr scale)."""


@dataclass(frozen=True)
class Member:
    """One training run of an experiment; ``key`` is its folder name inside ``runs/``."""

    key: str
    model: str
    """A registered model name, or a label for ``build``'s model."""
    recipe: Recipe
    label: str = ""
    """What the figures call it (default ``model``)."""
    build: Callable[[DataBundle], nn.Module] | None = None
    """Builds an unregistered model for the data (seeded by the runner); None = the registry."""
    image_size: int | None = None
    in_chans: int | None = None
    test_curve: bool = False
    """Also evaluate the test split after every epoch, for the figures only (He et al. 2016
    plot test error per epoch); nothing is chosen with it."""
    group: str = ""
    """Members of one group share a figure line style (e.g. plain vs residual)."""
    data: str | None = None
    """A dataset other than the budget's (e.g. a transfer's source or target set)."""
    train_limit: int | None = None
    """At most this many training images (seeded, stratified); validation and test stay
    capped at the budget's ``limit``, so members with different training sizes are judged on
    the same images."""
    prepare: Callable[[DataBundle], DataBundle] | None = None
    """Turns the loaded data into this member's (e.g. adds offline-augmented copies)."""
    finetune: Finetune | None = None
    """Start from another member's best checkpoint instead of a fresh initialisation."""


@dataclass
class MemberResult:
    """A trained member: its history, best epoch (on validation) and test metrics."""

    member: Member
    run_dir: Path
    history: list[dict[str, float]]
    best_epoch: int
    best: dict[str, float]
    test: dict[str, float]
    test_curve: list[dict[str, float]]
    params: int
    macs: int
    seconds: float
    """Training and evaluation time summed over the epochs (also across resumed sessions)."""
    model: nn.Module = field(repr=False)
    """The model with its best checkpoint's weights (for ensembles and extra measurements)."""

    @property
    def label(self) -> str:
        return self.member.label or self.member.model

    def summary(self) -> dict[str, Any]:
        return {
            "key": self.member.key,
            "model": self.member.model,
            "label": self.label,
            "seed": self.member.recipe.seed,
            "run_dir": str(self.run_dir),
            "epochs": len(self.history),
            "best_epoch": self.best_epoch,
            "best_val_acc": self.best.get("val_acc"),
            "final_train_acc": self.history[-1]["train_acc"] if self.history else None,
            "final_train_loss": self.history[-1]["train_loss"] if self.history else None,
            "test_acc": self.test.get("top1"),
            "test_loss": self.test.get("loss"),
            "params": self.params,
            "macs": self.macs,
            "seconds": round(self.seconds, 2),
        }


@dataclass
class Context:
    """What ``analyse`` gets: the experiment, its budget, the trained members, the folder."""

    experiment: Experiment
    budget_name: str
    budget: Budget
    results: list[MemberResult]
    folder: Path
    data: dict[str, DataBundle]
    """The loaded data by member key (the same bundle object for members that share it)."""

    def by_key(self, key: str) -> MemberResult:
        for result in self.results:
            if result.member.key == key:
                return result
        raise KeyError(f"no member {key!r} in {self.experiment.name}")


@dataclass
class Outcome:
    """What an experiment found."""

    measured: dict[str, Any]
    """The figures the claim is judged on (JSON-serialisable)."""
    reproduced: bool | None
    """True/False on the budget the claim is judged on; None when it cannot say (e.g. smoke)."""
    verdict: str
    """One or two plain sentences: what was found, and the likely reason when it did not
    reproduce."""
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    """(title, headers, rows) for the report."""
    figures: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class Experiment:
    """A named, reproducible check of one claim of the lectures."""

    name: str
    title: str
    claim: str
    source: str
    """Where the claim comes from: the seed deck and the paper (authors, title, year)."""
    measures: str
    """What is measured, in a sentence."""
    budgets: dict[str, Budget]
    plan: Callable[[str, Budget], list[Member]]
    analyse: Callable[[Context], Outcome]

    def budget(self, name: str) -> Budget:
        if name not in self.budgets:
            raise ValueError(
                f"unknown budget {name!r} for experiment {self.name}; choose one of "
                f"{', '.join(self.budgets)}"
            )
        return self.budgets[name]
