"""Run-folder plumbing shared by the training loops that are not classifiers (language models,
captioning, GANs): open or resume a folder, commit an epoch atomically, write metrics and curves.

The layout is the engine's (:class:`cnnzoo.train.runs.RunFolder`): ``config.yaml``,
``metrics.csv`` + ``metrics.jsonl``, ``checkpoints/{best,last}.safetensors`` + JSON,
``optimizer.pt`` (the commit point of an epoch, loaded with ``weights_only=True``), ``curves.png``
and ``report.md``. These loops have their own metrics (bits per character, BLEU, GAN losses), so
the columns are whatever the loop's rows hold.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from matplotlib.figure import Figure

from cnnzoo.data import load_data
from cnnzoo.train import build_model, fit, load_recipe
from cnnzoo.train.checkpoint import (
    atomic_write_text,
    atomic_write_with,
    load_state,
    repair_checkpoints,
)
from cnnzoo.train.checkpoint import commit_epoch as commit_files
from cnnzoo.train.runs import RunFolder, default_run_dir

__all__ = [
    "commit_epoch",
    "open_run",
    "plot_history",
    "restore",
    "rng_state",
    "set_rng_state",
    "train_classifier",
]


def open_run(
    run_dir: str | Path | None, default_name: tuple[str, str], resume: bool
) -> tuple[RunFolder, dict[str, Any] | None]:
    """The run folder and, when resuming, its saved state (``None`` for a new run).

    A new run refuses a folder that already holds one; a resume needs ``optimizer.pt``.
    """
    if resume and run_dir is None:
        raise ValueError("resume needs the run folder to continue, e.g. runs/char_lstm-...")
    run = RunFolder(run_dir if run_dir is not None else default_run_dir(*default_name))
    if resume:
        if not run.state.is_file():
            raise FileNotFoundError(
                f"cannot resume {run.path}: it has no optimizer.pt (no epoch was completed); "
                "start a new run instead"
            )
        return run, load_state(run.state)
    if run.config.is_file():
        raise ValueError(
            f"{run.path} already holds a run; continue it with --resume {run.path} or choose "
            "another folder with --out"
        )
    run.create()
    return run, None


def rng_state(generator: torch.Generator) -> dict[str, torch.Tensor]:
    return {"torch": torch.get_rng_state(), "generator": generator.get_state()}


def set_rng_state(state: dict[str, torch.Tensor], generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])


def restore(
    state: dict[str, Any] | None,
    parts: dict[str, Any],
    generator: torch.Generator,
    say: Callable[[str], None],
    run: RunFolder,
) -> tuple[list[dict[str, float]], float, int]:
    """``(history, best, first epoch to train)``: a new run's, or a resumed one's after loading
    each of ``parts`` (models and optimizers, by their key in the saved state) and the random
    states."""
    if state is None:
        return [], math.inf, 1
    for key, part in parts.items():
        part.load_state_dict(state[key])
    set_rng_state(state["rng"], generator)
    say(f"resuming {run.path} after epoch {state['epoch']}")
    commit = state.get("commit")  # absent in runs saved before it was recorded
    if commit is not None:
        models = {role: parts[role] for role in commit["roles"]}
        repair_checkpoints(
            _checkpoints(run, models, commit["is_best"]), state["epoch"], commit["meta"]
        )
    return list(state["history"]), state.get("best", math.inf), state["epoch"] + 1


def commit_epoch(
    run: RunFolder,
    models: dict[str, nn.Module],
    meta: dict[str, Any],
    state: dict[str, Any],
    history: Sequence[dict[str, float]],
    is_best: bool,
) -> None:
    """Write one finished epoch as the engine does (:func:`cnnzoo.train.checkpoint.commit_epoch`):
    ``optimizer.pt`` first (everything a resume needs, one atomic file: the commit point), then
    the checkpoints of every model (``best`` if it is, and ``last``), then the metrics. So the
    best checkpoint always belongs to an epoch in the run's history.

    With several models (a GAN's generator and discriminator) the main one is saved as
    ``best``/``last`` and the others beside it as ``<role>_last.safetensors``. The state records
    which checkpoints the epoch wrote and their metadata, so :func:`restore` can rewrite one
    that a kill right after the commit point left an epoch behind.
    """
    commit = {"roles": list(models), "is_best": is_best, "meta": meta}
    commit_files(
        run.state,
        {**state, "history": list(history), "commit": commit},
        _checkpoints(run, models, is_best),
        meta,
    )
    write_metrics(run, history)


def _checkpoints(
    run: RunFolder, models: dict[str, nn.Module], is_best: bool
) -> list[tuple[Path, nn.Module]]:
    written = []
    for role, model in models.items():
        stem = "" if role == "model" else f"{role}_"
        kinds = ["best", "last"] if is_best else ["last"]
        written += [
            (run.path / "checkpoints" / f"{stem}{kind}.safetensors", model) for kind in kinds
        ]
    return written


def write_metrics(run: RunFolder, history: Sequence[dict[str, float]]) -> None:
    columns = list(dict.fromkeys(key for row in history for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow(row)
    atomic_write_text(run.metrics_csv, buffer.getvalue())
    atomic_write_text(run.metrics_jsonl, "".join(json.dumps(row) + "\n" for row in history))


def plot_history(
    path: Path, history: Sequence[dict[str, float]], panels: dict[str, Sequence[str]], title: str
) -> Path:
    """One panel per entry of ``panels`` (panel title -> metric keys), metrics against epoch."""
    fig = Figure(figsize=(5 * len(panels), 3.6))
    epochs = [row["epoch"] for row in history]
    for i, (panel, keys) in enumerate(panels.items(), start=1):
        ax = fig.add_subplot(1, len(panels), i)
        for key in keys:
            ax.plot(epochs, [row[key] for row in history], "o-", label=key)
        ax.set_xlabel("epoch")
        ax.set_title(panel)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    atomic_write_with(path, lambda buffer: fig.savefig(buffer, format="png", dpi=90))
    return path


def train_classifier(
    model_name: str,
    data: str,
    data_dir: str | None,
    run_dir: str | Path,
    epochs: int,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Train a zoo classifier on the real training split of ``data`` (28x28, one channel) with
    the engine and the course's ``fashion-cnn`` recipe (Adam 1e-3, batch 256); a run folder that
    already has a best checkpoint is reused as it is. GAN scores and the captioning encoder use it.
    """
    run = RunFolder(run_dir)
    if run.best.is_file():
        return run.path
    recipe = load_recipe("fashion-cnn").override(data=data, epochs=epochs)
    bundle = load_data(
        data,
        data_dir,
        seed=recipe.seed,
        val_fraction=recipe.val_fraction,
        image_size=28,
        in_chans=1,
    )
    model = build_model(model_name, bundle, recipe)
    result = fit(model, bundle, recipe, run.path, model_name=model_name, log=log, quiet=log is None)
    return result.run_dir
