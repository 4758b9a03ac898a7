"""Helpers the experiment modules share: budget-shaped recipes, member tables, averages."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

from cnnzoo.analysis.tables import format_count
from cnnzoo.experiments.core import Budget, Context, MemberResult
from cnnzoo.train import Recipe, load_recipe

__all__ = [
    "MEMBER_HEADERS",
    "budget_recipe",
    "judge",
    "mean",
    "member_rows",
    "pct",
    "test_error",
]

MEMBER_HEADERS = [
    "member",
    "seed",
    "params",
    "MACs",
    "best epoch (val)",
    "val acc",
    "final train acc",
    "test acc",
    "s",
]


def budget_recipe(base: str | Recipe, budget: Budget, seed: int = 0, **changes: object) -> Recipe:
    """``base`` (a recipe name or a Recipe) with the budget's data, epochs, limit and ``seed``;
    ``changes`` win over the budget's (e.g. a member's own data set or epochs)."""
    recipe = load_recipe(base) if isinstance(base, str) else base
    fields: dict[str, object] = {
        "data": budget.data,
        "epochs": budget.epochs,
        "limit": budget.limit,
        "seed": seed,
    }
    return recipe.override(where="experiment budget", **(fields | changes))


def mean(values: Iterable[float]) -> float:
    return statistics.fmean(list(values))


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"


def test_error(result: MemberResult) -> float:
    """Test error (%) of the member's best checkpoint (chosen on validation)."""
    return 100.0 - result.test["top1"]


def member_rows(results: Sequence[MemberResult]) -> list[list[str]]:
    """One row per member for :data:`MEMBER_HEADERS`."""
    return [
        [
            r.label,
            str(r.member.recipe.seed),
            format_count(r.params),
            format_count(r.macs),
            str(r.best_epoch),
            pct(r.best.get("val_acc")),
            pct(r.history[-1]["train_acc"] if r.history else None),
            pct(r.test.get("top1")),
            f"{r.seconds:.0f}",
        ]
        for r in results
    ]


def judge(context: Context, holds: bool, found: str, why_not: str) -> tuple[bool | None, str]:
    """``(reproduced, verdict)``: only the full budget judges a claim; a claim that does not
    hold is said plainly, with ``why_not`` (the likely reason)."""
    if context.budget_name != "full":
        return None, f"{found}; not judged at the {context.budget_name} budget"
    if holds:
        return True, found
    return False, f"{found}; NOT reproduced here: {why_not}"
