"""What every compression tool shares: the trained model it starts from, its data, the run
folder it writes, and how a compressed model's speed and accuracy are measured."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cnnzoo.data import DataBundle, load_data
from cnnzoo.train import (
    Metrics,
    Recipe,
    RunFolder,
    evaluate,
    load_checkpoint,
    recipe_from_dict,
    save_checkpoint,
)
from cnnzoo.train.checkpoint import atomic_write_text

__all__ = [
    "SideBySide",
    "Source",
    "alternating",
    "evaluate_on",
    "latency_ms",
    "load_source",
    "module_structure",
    "side_by_side",
    "write_compressed_run",
]


@dataclass
class Source:
    """A trained model with the metadata and data it was trained with."""

    model: nn.Module
    meta: dict[str, Any]
    data: DataBundle
    recipe: Recipe
    path: Path

    @property
    def name(self) -> str:
        return str(self.meta["model"])


def load_source(
    source: str | Path, data_dir: str | None = None, limit: int | None = None
) -> Source:
    """Load a run folder's best checkpoint (or a checkpoint file) and the same data split."""
    path = Path(source)
    model, meta = load_checkpoint(path)
    data_meta = meta.get("data") or {}
    if "name" not in data_meta:
        raise ValueError(f"{path} does not record the data it was trained on; retrain with cnnzoo")
    recipe = recipe_from_dict(meta.get("recipe") or {}, where=str(path))
    if data_dir is None:
        data_dir = _recorded_data_dir(path)
    meta["data_dir"] = data_dir
    c, h, w = data_meta["input_size"]
    data = load_data(
        data_meta["name"],
        data_dir,
        val_fraction=recipe.val_fraction,
        seed=data_meta.get("split_seed", 0),
        image_size=(h, w),
        in_chans=c,
        limit=limit,
    )
    return Source(model, meta, data, recipe, path)


def _recorded_data_dir(path: Path) -> str | None:
    """The ``data_dir`` the run (or the run a checkpoint belongs to) was trained with."""
    folder = path if path.is_dir() else path.parent.parent
    config = RunFolder(folder).config
    if not config.is_file():
        return None
    return RunFolder(folder).read_config().get("data_dir")


def evaluate_on(model: nn.Module, source: Source, split: str = "test") -> Metrics:
    """Top-1 etc. of ``model`` on a split of the source's data, normalised as in training."""
    data_meta = source.meta["data"]
    return evaluate(
        model,
        getattr(source.data, split),
        mean=data_meta.get("mean", source.data.mean),
        std=data_meta.get("std", source.data.std),
        num_classes=source.data.num_classes,
    )


def latency_ms(
    forward: Callable[[torch.Tensor], Any],
    input_size: tuple[int, ...],
    batch: int,
    steps: int = 20,
    warmup: int = 5,
) -> float:
    """Median wall time of one forward pass at ``batch`` (ms), after ``warmup`` calls."""
    x = torch.randn(batch, *input_size)
    times = []
    with torch.inference_mode():
        for i in range(warmup + steps):
            t0 = time.perf_counter()
            forward(x)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


@dataclass
class SideBySide:
    """Median wall and CPU time (ms) of two models' forward passes, measured in alternation."""

    batch: int
    rounds: int
    wall: tuple[float, float]
    cpu: tuple[float, float]

    def to_text(self, names: tuple[str, str] = ("reference", "pruned")) -> str:
        (wa, wb), (ca, cb) = self.wall, self.cpu
        return (
            f"Side by side at batch {self.batch} ({self.rounds} alternating rounds, one process): "
            f"{names[0]} {wa:.1f} ms wall / {ca:.1f} ms CPU, {names[1]} {wb:.1f} ms wall / "
            f"{cb:.1f} ms CPU: speed-up {wa / wb:.2f}x wall, {ca / cb:.2f}x CPU."
        )


def alternating(
    forwards: Mapping[str, Callable[[torch.Tensor], Any]],
    input_size: tuple[int, ...],
    batch: int,
    rounds: int = 15,
    warmup: int = 2,
) -> dict[str, tuple[float, float]]:
    """Time every forward in turn on the same input, ``rounds`` times, so a load change on a
    shared machine hits all alike: ``{name: (median wall ms, median CPU ms)}``. CPU time (this
    thread's) is what the work cost, wall time what a user waits."""
    x = torch.randn(batch, *input_size)
    wall: dict[str, list[float]] = {name: [] for name in forwards}
    cpu: dict[str, list[float]] = {name: [] for name in forwards}
    with torch.inference_mode():
        for i in range(warmup + rounds):
            for name, forward in forwards.items():
                w0, c0 = time.perf_counter(), time.thread_time()
                forward(x)
                if i >= warmup:
                    wall[name].append(time.perf_counter() - w0)
                    cpu[name].append(time.thread_time() - c0)
    med = statistics.median
    return {name: (1000 * med(wall[name]), 1000 * med(cpu[name])) for name in forwards}


def side_by_side(
    first: Callable[[torch.Tensor], Any],
    second: Callable[[torch.Tensor], Any],
    input_size: tuple[int, ...],
    batch: int,
    rounds: int = 15,
    warmup: int = 2,
) -> SideBySide:
    """:func:`alternating` for two models."""
    times = alternating({"a": first, "b": second}, input_size, batch, rounds, warmup)
    (wa, ca), (wb, cb) = times["a"], times["b"]
    return SideBySide(batch, rounds, (wa, wb), (ca, cb))


# Shape attributes a structural change may alter; load_checkpoint restores exactly these.
STRUCTURE_ATTRS = {
    nn.Conv2d: ("in_channels", "out_channels", "groups"),
    nn.Conv1d: ("in_channels", "out_channels", "groups"),
    nn.Linear: ("in_features", "out_features"),
    nn.BatchNorm2d: ("num_features",),
    nn.BatchNorm1d: ("num_features",),
}


def module_structure(model: nn.Module, reference: nn.Module) -> dict[str, dict[str, int]]:
    """The shape attributes of ``model``'s modules that differ from ``reference`` (the registered
    architecture): what a checkpoint must record to rebuild a channel-pruned model."""
    ref = dict(reference.named_modules())
    changed: dict[str, dict[str, int]] = {}
    for name, module in model.named_modules():
        attrs = STRUCTURE_ATTRS.get(type(module))
        if not attrs or name not in ref:
            continue
        values = {a: int(getattr(module, a)) for a in attrs}
        if values != {a: int(getattr(ref[name], a)) for a in attrs}:
            changed[name] = values
    return changed


def write_compressed_run(
    run_dir: str | Path,
    model: nn.Module,
    source: Source,
    compression: dict[str, Any],
    report: str,
    metrics: dict[str, float] | None = None,
    structure: dict[str, dict[str, int]] | None = None,
) -> RunFolder:
    """A run folder for a compressed model: ``checkpoints/best.safetensors`` (+ JSON) that
    ``cnnzoo evaluate/predict/summary/export`` load, ``config.yaml`` and ``report.md``."""
    run = RunFolder(run_dir)
    if run.best.is_file():
        raise ValueError(f"{run.path} already holds a compressed model; choose another --out")
    run.create()
    meta = {
        key: source.meta[key]
        for key in ("model", "model_kwargs", "data", "recipe")
        if key in source.meta
    }
    if structure:
        meta["structure"] = structure
    meta.update(
        {
            "source": str(source.path),
            "compression": compression,
            "metrics": metrics or {},
            "epoch": 0,
        }
    )
    save_checkpoint(run.best, model, meta)
    run.write_config(
        {**meta, "torch": str(torch.__version__), "data_dir": source.meta.get("data_dir")}
    )
    atomic_write_text(run.report, report)
    return run
