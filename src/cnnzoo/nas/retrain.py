"""Retrain searched cells, random cells and hand-designed zoo nets with one recipe on the full
data, and put them in one table: the test of whether the search found anything.

Every entry is an ordinary engine run folder under ``OUT/runs/``; its figures (validation and
test top-1 of the best epoch, parameters, MACs, CPU seconds) go to ``OUT/results.json`` as soon
as it finishes, so a killed comparison continues with the entries not yet done (an entry killed
mid-run resumes from its last epoch), and comparisons run in parallel processes share the file.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from cnnzoo.analysis import summary
from cnnzoo.nas.search import load_study
from cnnzoo.registry import is_model
from cnnzoo.train import Recipe, build_model, fit, load_data_for
from cnnzoo.train.checkpoint import atomic_write_text

__all__ = ["Entry", "best_genotype", "random_entries", "retrain"]


@dataclass(frozen=True)
class Entry:
    """One model of the comparison: a label for the table, a registered model, its kwargs."""

    label: str
    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)


def best_genotype(search_dir: str | Path, strategy: str) -> str:
    """The best completed trial's genotype of a search folder."""
    study = load_study(search_dir, strategy)
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    if not done:
        raise ValueError(f"{search_dir}'s {strategy!r} search has no completed trial yet")
    best = max(done, key=lambda t: t.value)
    return str(best.user_attrs["genotype"])


def random_entries(count: int, seed: int, genotype: Callable[[random.Random], str]) -> list[Entry]:
    """``count`` cells drawn uniformly from the space; cell ``seed + i`` is labelled by its seed,
    so comparisons run in parts (``--seed 0`` and ``--seed 1``) meet in one table."""
    return [
        Entry(f"random {seed + i}", "nas_cell", {"genotype": genotype(random.Random(seed + i))})
        for i in range(count)
    ]


def retrain(
    entries: Sequence[Entry],
    recipe: Recipe,
    out_dir: str | Path,
    data_dir: str | None = None,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Train each entry with ``recipe`` (entries already in ``results.json`` are skipped); the
    rows of all entries, in the order given."""
    say = log or (lambda line: None)
    out = Path(out_dir)
    results_path = out / "results.json"
    for entry in entries:
        if not is_model(entry.model):
            raise KeyError(f"{entry.model!r} is not a registered model (see `cnnzoo list`)")
    for entry in entries:
        if entry.label in _read(results_path):
            continue
        say(f"training {entry.label} ({entry.model}) ...")
        row = _train_one(entry, recipe, out / "runs" / _slug(entry.label), data_dir)
        # read again just before writing: another process may have added its entries meanwhile
        results = {**_read(results_path), entry.label: row}
        atomic_write_text(results_path, json.dumps(list(results.values()), indent=2) + "\n")
        say(f"{entry.label}: val {row['val_acc']:.2f}%  test {row['test_acc']:.2f}%")
    done = _read(results_path)
    return [done[e.label] for e in entries]


def _train_one(entry: Entry, recipe: Recipe, run_dir: Path, data_dir: str | None) -> dict[str, Any]:
    own = recipe.override(model=entry.model, model_kwargs=entry.kwargs)
    data = load_data_for(entry.model, own, data_dir)
    model = build_model(entry.model, data, own)
    s = summary(model, input_size=data.input_size)
    started = time.process_time()
    result = fit(
        model,
        data,
        own,
        run_dir,
        model_name=entry.model,
        model_kwargs=entry.kwargs,
        resume=(run_dir / "optimizer.pt").is_file(),
    )
    assert result.test is not None  # fit evaluates the best checkpoint on test by default
    return {
        "label": entry.label,
        "model": entry.model,
        "genotype": entry.kwargs.get("genotype", ""),
        "params": s.total_params,
        "macs": s.macs,
        "val_acc": float(result.best["val_acc"]),
        "test_acc": float(result.test.top1),
        "epochs": own.epochs,
        "train_images": len(data.train),
        "cpu_seconds": time.process_time() - started,
        "run": str(run_dir),
    }


def _read(path: Path) -> dict[str, dict[str, Any]]:
    rows = json.loads(path.read_text()) if path.is_file() else []
    return {row["label"]: row for row in rows}


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label.lower())
