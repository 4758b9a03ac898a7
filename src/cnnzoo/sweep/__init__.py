"""Hyper-parameter sweeps on Optuna over ordinary cnnzoo runs (TPE, median pruning, SQLite
storage shared by several processes, resumable).

>>> from cnnzoo.sweep import create_sweep, run_trials, render_trials, write_report
>>> from cnnzoo.train import load_recipe
>>> sweep = create_sweep("lenet5", load_recipe("lenet5-digits").override(epochs=2),
...                      ["lr=log:1e-4:1e-1"], "sweeps/lenet5")
>>> run_trials(sweep, 6)
>>> print(render_trials(sweep)); write_report(sweep)

See docs/scaling.md.
"""

from cnnzoo.sweep.report import (
    best_recipe,
    plot_history,
    plot_importances,
    render_trials,
    trial_rows,
    write_report,
)
from cnnzoo.sweep.space import KINDS, Param, parse_space, suggest
from cnnzoo.sweep.study import (
    DONE,
    Sweep,
    create_sweep,
    default_study_name,
    load_sweep,
    open_storage,
    requeue_failed,
    run_jobs,
    run_trials,
)

__all__ = [
    "DONE",
    "KINDS",
    "Param",
    "Sweep",
    "best_recipe",
    "create_sweep",
    "default_study_name",
    "load_sweep",
    "open_storage",
    "parse_space",
    "plot_history",
    "plot_importances",
    "render_trials",
    "requeue_failed",
    "run_jobs",
    "run_trials",
    "suggest",
    "trial_rows",
    "write_report",
]
