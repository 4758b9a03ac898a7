"""What a sweep found: the trials table, the best trial's recipe, and two figures (the
objective per trial with the best so far, and fANOVA parameter importances, Hutter et al.,
"An Efficient Approach for Assessing Hyperparameter Importance", ICML 2014, as Optuna
computes them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import yaml
from matplotlib.figure import Figure
from optuna.trial import FrozenTrial, TrialState

from cnnzoo.analysis.tables import check_format, csv_table, markdown_table, text_table
from cnnzoo.sweep.study import Sweep
from cnnzoo.train import Recipe
from cnnzoo.train.checkpoint import atomic_write_text

__all__ = [
    "best_recipe",
    "plot_history",
    "plot_importances",
    "render_trials",
    "trial_rows",
    "write_report",
]


def _state(trial: FrozenTrial) -> str:
    if "diverged" in trial.user_attrs:
        return "diverged"
    return trial.state.name.lower()


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def trial_rows(sweep: Sweep) -> list[dict[str, Any]]:
    """One row per trial: number, state, the monitored value, epochs run, parameters, seconds."""
    rows = []
    for t in sweep.study.get_trials(deepcopy=False):
        seconds = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        rows.append(
            {
                "trial": t.number,
                "state": _state(t),
                sweep.recipe.monitor: t.value,
                "epochs": t.user_attrs.get("epochs", len(t.intermediate_values) or None),
                **{p.name: t.params.get(p.name) for p in sweep.params},
                "seconds": round(seconds, 1) if seconds is not None else None,
                "continues": t.user_attrs.get("continues"),
            }
        )
    if not any(r["continues"] is not None for r in rows):
        for r in rows:
            del r["continues"]
    return rows


def render_trials(sweep: Sweep, fmt: str = "text") -> str:
    """The trials table as text, md, csv or json (the best trial marked with ``*``)."""
    check_format(fmt)
    rows = trial_rows(sweep)
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    if fmt == "csv":
        return csv_table(rows)
    best = _best(sweep)
    header = list(rows[0]) if rows else ["trial", "state", sweep.recipe.monitor]
    cells = [
        [
            _value(v) + ("*" if k == "trial" and best and v == best.number else "")
            for k, v in r.items()
        ]
        for r in rows
    ]
    done = sum(r["state"] in ("complete", "pruned", "diverged") for r in rows)
    notes = [f"{done} of {len(rows)} trials finished; * best {sweep.recipe.monitor}"]
    if fmt == "md":
        return markdown_table(header, cells, notes)
    return text_table(header, cells, left_columns=2, notes=notes)


def _best(sweep: Sweep) -> FrozenTrial | None:
    complete = sweep.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return sweep.study.best_trial if complete else None


def best_recipe(sweep: Sweep) -> Recipe:
    """The base recipe with the best complete trial's parameters."""
    best = _best(sweep)
    if best is None:
        raise ValueError(
            f"study {sweep.study.study_name!r} has no complete trial yet; run more trials "
            "(the same `cnnzoo sweep` command continues it)"
        )
    return sweep.recipe.override(
        where=f"trial {best.number}",
        name=f"{sweep.recipe.name}-best",
        description=f"{sweep.recipe.name} with the best parameters of sweep "
        f"{sweep.study.study_name} (trial {best.number}, {sweep.recipe.monitor} {best.value:.4g})",
        **best.params,
    )


def plot_history(sweep: Sweep, path: Path) -> Path:
    """The monitored value of every finished trial and the best so far."""
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.add_subplot()
    maximize = sweep.direction == "maximize"
    best_so_far: list[float] = []
    xs: list[int] = []
    for t in sweep.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        xs.append(t.number)
        value = float(t.value)
        prev = best_so_far[-1] if best_so_far else value
        best_so_far.append(max(prev, value) if maximize else min(prev, value))
        ax.plot(t.number, value, "o", color="C0")
    for t in sweep.study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)):
        if t.intermediate_values:  # where it was stopped
            ax.plot(t.number, t.intermediate_values[max(t.intermediate_values)], "x", color="C3")
    ax.step(xs, best_so_far, where="post", color="C1", label="best so far")
    ax.plot([], [], "o", color="C0", label="complete")
    ax.plot([], [], "x", color="C3", label="pruned (last epoch)")
    ax.set_xlabel("trial")
    ax.set_ylabel(sweep.recipe.monitor)
    ax.set_title(f"sweep {sweep.study.study_name}")
    ax.legend(fontsize="small")
    fig.savefig(path, dpi=100)
    return path


def plot_importances(sweep: Sweep, path: Path) -> Path | None:
    """fANOVA importances of the parameters (``None`` below 2 complete trials)."""
    complete = sweep.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2 or not sweep.params:
        return None
    importances = optuna.importance.get_param_importances(
        sweep.study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)
    )
    names = list(importances)[::-1]
    fig = Figure(figsize=(5, 0.5 + 0.5 * len(names)), layout="constrained")
    ax = fig.add_subplot()
    ax.barh(names, [importances[n] for n in names], color="C0")
    ax.set_xlabel(f"importance for {sweep.recipe.monitor} (fANOVA, sums to 1)")
    ax.set_title(f"{len(complete)} complete trials")
    fig.savefig(path, dpi=100)
    return path


def write_report(sweep: Sweep, out: Path | None = None) -> list[Path]:
    """``best-recipe.yaml``, ``history.png`` and ``importances.png`` in ``out`` (default: the
    sweep folder); returns the paths written."""
    out = Path(out) if out is not None else sweep.folder
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if _best(sweep) is not None:
        recipe_path = out / "best-recipe.yaml"
        atomic_write_text(
            recipe_path, yaml.safe_dump(best_recipe(sweep).to_dict(), sort_keys=False)
        )
        written.append(recipe_path)
    written.append(plot_history(sweep, out / "history.png"))
    importances = plot_importances(sweep, out / "importances.png")
    if importances is not None:
        written.append(importances)
    return written
