"""``cnnzoo sweep``: hyper-parameter sweeps on Optuna, and ``cnnzoo sweep report``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cnnzoo.analysis.tables import FORMATS
from cnnzoo.cli import add_threads_option, positive_int

__all__ = ["register"]

EPILOG = """examples:
  cnnzoo sweep lenet5 --space lr=log:1e-4:1e-1 --space batch_size=choice:32,64,128 --trials 12
  cnnzoo sweep fashion_cnn --recipe fashion-cnn --data-dir ../shared/datasets --limit 6000 \\
      --epochs 3 --space lr=log:1e-4:1e-2 --space weight_decay=log:1e-6:1e-3 --trials 12 --jobs 2
  cnnzoo sweep report sweeps/fashion_cnn-fashion-cnn   # MODEL-RECIPE --format md

Each trial is an ordinary run folder (SWEEP/trial-NNNN). Running the same command again continues
a sweep: trials left running by a killed process are failed after 20 s without a heartbeat and run
again, resuming their run folder. --trials counts complete and pruned trials of the whole study.
Space kinds: log:LOW:HIGH, float:LOW:HIGH, int:LOW:HIGH, choice:A,B,C over recipe fields.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="hyper-parameter sweep on Optuna (TPE, median pruning, resumable); `sweep report`",
        description="Search recipe fields with Optuna's TPE sampler, pruning trials whose "
        "validation metric (the recipe's monitor) falls below the median of earlier trials at "
        "the same epoch. `cnnzoo sweep report SWEEP` prints the trials table, writes the best "
        "trial's recipe (best-recipe.yaml) and plots history.png and importances.png.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL|report", help="model to sweep, or `report`")
    p.add_argument("sweep_dir", nargs="?", metavar="SWEEP", help="(report) the sweep folder")
    p.add_argument("--recipe", help="base recipe name or YAML file")
    p.add_argument(
        "--space", action="append", default=[], metavar="FIELD=KIND:VALUES", help="repeatable"
    )
    p.add_argument(
        "--trials",
        type=positive_int,
        default=12,
        help="complete or pruned trials the study should reach (default 12)",
    )
    p.add_argument("--jobs", type=positive_int, default=1, help="worker processes (default 1)")
    p.add_argument("--storage", help="Optuna storage URL (default: sqlite:///SWEEP/study.db)")
    p.add_argument("--study", help="study name (default: MODEL-RECIPE)")
    p.add_argument("--out", help="sweep folder (default: sweeps/STUDY); report: where to write")
    p.add_argument("--data", help="dataset (default: the recipe's)")
    p.add_argument("--data-dir", help="where dataset files are")
    p.add_argument("--epochs", type=positive_int, help="epochs per trial (default: recipe's)")
    p.add_argument("--limit", type=positive_int, help="at most N images per split")
    p.add_argument("--seed", type=int, help="seed of the runs and of the sampler")
    p.add_argument("--format", choices=FORMATS, default="text", help="(report) table format")
    add_threads_option(p)
    p.set_defaults(func=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    # Optuna costs ~0.3 s to import (python -X importtime): only `cnnzoo sweep` pays that
    # start-up cost.
    from cnnzoo import sweep

    if args.model == "report":
        given = [
            f"--{k}" for k in ("space", "recipe", "data", "epochs", "limit") if getattr(args, k)
        ]
        if given:
            raise ValueError(
                f"`cnnzoo sweep report` reads an existing sweep; leave out {', '.join(given)} "
                "(options of `cnnzoo sweep MODEL`)"
            )
        return _report(sweep, args)
    if args.sweep_dir:
        raise ValueError(f"unexpected argument {args.sweep_dir!r}; did you mean --out?")
    recipe = _base_recipe(args)
    name = args.study or sweep.default_study_name(args.model, recipe)
    created = sweep.create_sweep(
        args.model,
        recipe,
        args.space,
        args.out or Path("sweeps") / name,
        storage=args.storage,
        study_name=name,
        data_dir=str(Path(args.data_dir).expanduser().resolve()) if args.data_dir else None,
    )
    queued = sweep.requeue_failed(created)
    if queued:
        print(f"continuing failed or killed trial(s) {', '.join(map(str, queued))}")
    done = len(created.study.get_trials(deepcopy=False, states=sweep.DONE))
    print(
        f"sweep {created.study.study_name}: {done} of {args.trials} trials done; "
        f"folder {created.folder}"
    )
    if args.jobs == 1:
        sweep.run_trials(created, args.trials, say=lambda text: print(text, flush=True))
    else:
        sweep.run_jobs(created, args.trials, args.jobs, threads=args.threads)
    print(f"report: cnnzoo sweep report {created.folder}")
    return 0


def _base_recipe(args: argparse.Namespace) -> Any:
    # The same default recipe as `cnnzoo train MODEL`; local imports as in cli/train.py:
    from cnnzoo.cli.train import _default_recipe  # start-up: cnnzoo.train loads numba
    from cnnzoo.registry import get_model_card  # start-up: imports every model file
    from cnnzoo.train import load_recipe  # start-up: cnnzoo.train loads numba

    get_model_card(args.model)  # an unknown model fails here, with suggestions
    recipe = load_recipe(args.recipe) if args.recipe else _default_recipe(args.model, args.data)
    changes = {"data": args.data, "epochs": args.epochs, "limit": args.limit, "seed": args.seed}
    return recipe.override(where="command line", **changes)


def _report(sweep: Any, args: argparse.Namespace) -> int:
    if not args.sweep_dir and not args.storage:
        raise ValueError("give the sweep folder: cnnzoo sweep report SWEEP (or --storage URL)")
    storage = args.storage
    if storage is None:
        db = Path(args.sweep_dir) / "study.db"
        if not db.is_file():
            raise FileNotFoundError(
                f"{db} does not exist; give the folder `cnnzoo sweep` printed, or --storage URL"
            )
        storage = f"sqlite:///{db.resolve()}"
    found = sweep.load_sweep(storage, args.study)
    print(sweep.render_trials(found, args.format), end="")
    if args.format in ("text", "md"):
        for path in sweep.write_report(found, Path(args.out) if args.out else None):
            print(f"wrote {path}")
    else:
        sweep.write_report(found, Path(args.out) if args.out else None)
    return 0
