"""Hyper-parameter sweeps on Optuna: the TPE sampler (Bergstra et al., "Algorithms for
Hyper-Parameter Optimization", NeurIPS 2011) and median pruning (Golovin et al., "Google Vizier",
KDD 2017) over ordinary cnnzoo runs.

A sweep is a folder (``study.db``, one run folder ``trial-NNNN`` per trial) and an Optuna study
in SQLite storage that records everything the trials need (model, base recipe, space, data
folder), so that several processes can share it (``jobs``) and a killed sweep continues where it
stopped: a trial left running by a dead process is failed once its heartbeat is stale, and every
failed trial is queued again with the same parameters and resumes its own run folder after its
last completed epoch. A trial whose loss diverges counts as pruned (a result, not a failure).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

import cnnzoo.registry
from cnnzoo.data import DataBundle
from cnnzoo.sweep.space import Param, parse_space, suggest
from cnnzoo.train import (
    NonFiniteLossError,
    Recipe,
    build_model,
    fit,
    load_data_for,
    load_state,
    recipe_from_dict,
)

__all__ = [
    "DONE",
    "Sweep",
    "create_sweep",
    "default_study_name",
    "load_sweep",
    "open_storage",
    "requeue_failed",
    "run_jobs",
    "run_trials",
]

DONE = (TrialState.COMPLETE, TrialState.PRUNED)
"""The states that count towards a sweep's number of trials."""

HEARTBEAT_SECONDS = 5
GRACE_SECONDS = 20
"""A running trial whose process sent no heartbeat for this long is failed (and queued again)."""


@dataclass
class Sweep:
    """What every trial of a study shares, as recorded in the study."""

    study: optuna.Study
    model: str
    recipe: Recipe
    params: list[Param]
    folder: Path
    data_dir: str | None
    storage: str
    """The storage URL (what worker processes open)."""

    @property
    def direction(self) -> str:
        return "minimize" if self.recipe.monitor == "val_loss" else "maximize"


optuna.logging.set_verbosity(optuna.logging.WARNING)


@contextlib.contextmanager
def _quietly() -> Iterator[None]:
    # Heartbeats have been "experimental" since Optuna 2.9 (2021) and are what makes a killed
    # sweep resumable; their warning would be printed by every process on every start.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """SQLite (or any RDB) storage with heartbeats, shared safely by several processes."""
    with _quietly():
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs={"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None,
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=GRACE_SECONDS,
        )


def _sampler_and_pruner(seed: int) -> dict[str, Any]:
    # Median pruning once 3 trials have finished, from the first epoch on (short CPU runs).
    return {
        "sampler": optuna.samplers.TPESampler(seed=seed),
        "pruner": optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
    }


def _record(model: str, recipe: Recipe, params: Sequence[Param], folder: Path, data_dir: Any):
    return {
        "model": model,
        "recipe": recipe.to_dict(),
        "space": [p.spec() for p in params],
        "folder": str(folder),
        "data_dir": data_dir,
    }


def create_sweep(
    model: str,
    recipe: Recipe,
    specs: Sequence[str],
    folder: str | os.PathLike[str],
    *,
    storage: str | None = None,
    study_name: str | None = None,
    data_dir: str | None = None,
) -> Sweep:
    """Create the study (or check that an existing one of that name sweeps the same thing)."""
    params = parse_space(specs, recipe)
    folder = Path(folder).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{folder / 'study.db'}"
    name = study_name or default_study_name(model, recipe)
    wanted = _record(model, recipe, params, folder, data_dir)
    direction = "minimize" if recipe.monitor == "val_loss" else "maximize"
    study = optuna.create_study(
        study_name=name,
        storage=open_storage(url),
        direction=direction,
        load_if_exists=True,
        **_sampler_and_pruner(recipe.seed),
    )
    known = study.user_attrs.get("cnnzoo")
    if known is None:
        study.set_user_attr("cnnzoo", wanted)
    elif _differences(known, wanted):
        raise ValueError(
            f"study {name!r} in {url} already sweeps something else ({_differences(known, wanted)}"
            "); give another --study name, or the same model, recipe and --space to continue it"
        )
    return load_sweep(url, name)


def default_study_name(model: str, recipe: Recipe) -> str:
    """``MODEL-RECIPE``, or the recipe's name alone when it starts with the model's."""
    return recipe.name if recipe.name.startswith(model) else f"{model}-{recipe.name}"


def _differences(known: dict[str, Any], wanted: dict[str, Any]) -> str:
    keys = ("model", "space", "recipe", "folder")
    changed = [k for k in keys if json.dumps(known[k]) != json.dumps(wanted[k], default=str)]
    return "; ".join(f"{k}: {_short(known[k])} there, {_short(wanted[k])} now" for k in changed)


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "another recipe"
    return " ".join(value) if isinstance(value, list) else str(value)


def load_sweep(storage: str, study_name: str | None = None, *, job: int = 0) -> Sweep:
    """The sweep stored in ``storage`` (the only study there, or ``study_name``); ``job`` seeds
    this process's sampler, so that parallel jobs propose different trials."""
    names = optuna.get_all_study_names(storage=open_storage(storage))
    if study_name is None:
        if len(names) != 1:
            raise ValueError(
                f"{storage} holds {len(names)} studies ({', '.join(names) or 'none'}); "
                "choose one with --study NAME"
            )
        study_name = names[0]
    if study_name not in names:
        raise KeyError(
            f"no study {study_name!r} in {storage}; it holds: {', '.join(names) or 'none'}"
        )
    probe = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    record = probe.user_attrs.get("cnnzoo")
    if record is None:
        raise ValueError(f"study {study_name!r} in {storage} was not created by `cnnzoo sweep`")
    recipe = recipe_from_dict(record["recipe"], where=f"study {study_name}")
    study = optuna.load_study(
        study_name=study_name,
        storage=open_storage(storage),
        **_sampler_and_pruner(recipe.seed + job),
    )
    return Sweep(
        study=study,
        model=record["model"],
        recipe=recipe,
        params=parse_space(record["space"], recipe),
        folder=Path(record["folder"]),
        data_dir=record["data_dir"],
        storage=storage,
    )


def done_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=DONE))


def requeue_failed(sweep: Sweep) -> list[int]:
    """Fail trials whose process died, then queue every failed trial that nothing continues yet
    with its parameters again; the new trial resumes the failed one's run folder."""
    with _quietly():
        optuna.storages.fail_stale_trials(sweep.study)
    trials = sweep.study.get_trials(deepcopy=False)
    continued = {t.user_attrs.get("continues") for t in trials}
    queued = []
    for t in trials:
        if t.state == TrialState.FAIL and t.number not in continued and "run_dir" in t.user_attrs:
            sweep.study.enqueue_trial(
                t.params, user_attrs={"continues": t.number, "run_dir": t.user_attrs["run_dir"]}
            )
            queued.append(t.number)
    return queued


def _objective(
    sweep: Sweep, data: DataBundle, say: Callable[[str], None]
) -> Callable[[optuna.Trial], float]:
    monitor = sweep.recipe.monitor

    def objective(trial: optuna.Trial) -> float:
        values = suggest(trial, sweep.params)
        run_dir = Path(trial.user_attrs.get("run_dir", sweep.folder / f"trial-{trial.number:04d}"))
        trial.set_user_attr("run_dir", str(run_dir))
        recipe = sweep.recipe.override(where=f"trial {trial.number}", **values)
        resume = (run_dir / "config.yaml").is_file()
        if resume and (run_dir / "optimizer.pt").is_file():
            for row in load_state(run_dir / "optimizer.pt")["history"]:
                trial.report(row[monitor], int(row["epoch"]))
        pruned: list[int] = []

        def report(row: dict[str, float]) -> None:
            trial.report(row[monitor], int(row["epoch"]))
            if trial.should_prune():
                pruned.append(int(row["epoch"]))
                raise KeyboardInterrupt  # fit stops resumably after this committed epoch

        model = build_model(sweep.model, data, recipe)
        try:
            result = fit(
                model,
                data,
                recipe,
                run_dir,
                model_name=sweep.model,
                resume=resume,
                evaluate_test=False,
                log=lambda text: None,
                on_epoch_end=report,
                extra_config={"data_dir": sweep.data_dir, "sweep_trial": trial.number},
            )
        except KeyboardInterrupt:
            if not pruned:
                raise
            trial.set_user_attr("epochs", pruned[0])
            raise optuna.TrialPruned(f"pruned after epoch {pruned[0]}") from None
        except NonFiniteLossError as error:
            trial.set_user_attr("diverged", str(error).split(";")[0])
            raise optuna.TrialPruned("diverged") from None
        trial.set_user_attr("epochs", len(result.history))
        trial.set_user_attr("best_epoch", result.best_epoch)
        return float(result.best[monitor])

    return objective


def _trial_line(job: int, say: Callable[[str], None]) -> Callable[[optuna.Study, Any], None]:
    def line(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        params = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items()
        )
        if trial.state == TrialState.COMPLETE:
            what = f"{trial.value:.4g}"
        elif "diverged" in trial.user_attrs:
            what = "diverged"
        elif trial.state == TrialState.PRUNED:
            what = f"pruned after epoch {trial.user_attrs.get('epochs', '?')}"
        else:
            what = trial.state.name.lower()
        prefix = f"[job {job}] " if job else ""
        say(f"{prefix}trial {trial.number}: {what}  ({params})")

    return line


def run_trials(
    sweep: Sweep, trials: int, *, job: int = 0, say: Callable[[str], None] = print
) -> int:
    """Run trials in this process until the study has ``trials`` complete or pruned ones;
    returns how many this process ran."""
    if done_count(sweep.study) >= trials:
        return 0
    data = load_data_for(sweep.model, sweep.recipe, sweep.data_dir)
    before = len(sweep.study.get_trials(deepcopy=False))
    sweep.study.optimize(
        _objective(sweep, data, say),
        callbacks=[
            optuna.study.MaxTrialsCallback(trials, states=DONE),
            _trial_line(job, say),
        ],
    )
    return len(sweep.study.get_trials(deepcopy=False)) - before


def run_jobs(sweep: Sweep, trials: int, jobs: int, *, threads: int | None = None) -> None:
    """``jobs`` worker processes sharing the study (``python -m cnnzoo.sweep``), waited for;
    a worker that fails makes this raise after the others have finished."""
    command = [sys.executable, "-m", "cnnzoo.sweep", sweep.storage, sweep.study.study_name]
    extra = ["--threads", str(threads)] if threads else []
    # Workers import the same cnnzoo as this process (a source tree need not be installed).
    source = str(Path(cnnzoo.registry.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")])),
    }
    workers = [
        subprocess.Popen([*command, str(trials), "--job", str(job), *extra], env=env)
        for job in range(1, jobs + 1)
    ]
    codes = [w.wait() for w in workers]
    failed = [job for job, code in enumerate(codes, start=1) if code != 0]
    if failed:
        raise RuntimeError(
            f"sweep job(s) {', '.join(map(str, failed))} exited with an error (see above); "
            "run the same command again to continue the sweep"
        )
