"""Expected CPU time of each experiment's budget, from measured seconds per training image.

For every member of an experiment's plan at ``--budget`` (default ``full``) this loads the
member's data as the runner does, trains a fresh copy of its model for two short epochs with the
engine (``--images`` training images, the recipe's batch size and optimizer) and evaluates
``--images`` validation images, timing the second epoch's both on this process's CPU clock (``time.process_time``,
1 thread), which stays comparable while other jobs load the machine. The member's time is then

    epochs x (train images x s/train image + validation images x s/eval image)
    + test images x s/eval image  (x epochs for members that draw a test curve)

summed over the members; fine-tuning members are timed as if every layer trained (an upper
bound: frozen layers skip their backward pass). Experiment-specific extras (the Inception
module's CPU timing, the ensemble's averaged evaluations) are small and left out. With one
thread on an idle core, CPU time is wall time; on this shared machine wall time was 2-10x more.

    nice -n 10 python benchmarks/experiment_budgets.py --data-dir ../shared/datasets
    python benchmarks/experiment_budgets.py lenet5-mnist classic-table --budget quick
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import cnnzoo.train.engine as engine_module
from cnnzoo.analysis.tables import text_table
from cnnzoo.data import DataBundle
from cnnzoo.experiments import EXPERIMENTS, Member, runner
from cnnzoo.train import fit


def _timing_data(data: DataBundle, images: int) -> DataBundle:
    take = torch.arange(min(images, len(data.train)))
    val = torch.arange(min(images, len(data.val)))
    return dataclasses.replace(
        data, train=data.train.subset(take), val=data.val.subset(val), test=data.test.subset(val)
    )


def seconds_per_image(member: Member, data: DataBundle, images: int) -> tuple[float, float]:
    """(CPU s per training image, CPU s per evaluated image) of the second of two short engine
    epochs (the first pays the warm-up: allocator, fused kernels' set-up)."""
    small = _timing_data(data, images)
    model = runner._build(dataclasses.replace(member, finetune=None), small)
    recipe = member.recipe.override(where="timing", epochs=2)
    with tempfile.TemporaryDirectory() as tmp:
        result = fit(model, small, recipe, tmp, model_name=member.model, evaluate_test=False)
    row = result.history[1]
    return row["train_seconds"] / len(small.train), row["eval_seconds"] / len(small.val)


def estimate(name: str, budget_name: str, data_dir: str | None, images: int) -> list[list[str]]:
    experiment = EXPERIMENTS[name]
    budget = experiment.budget(budget_name)
    cache: dict[tuple[Any, ...], DataBundle] = {}
    timed: dict[tuple[Any, ...], tuple[float, float]] = {}
    rows, total = [], 0.0
    for member in experiment.plan(budget_name, budget):
        data = runner.member_data(member, budget, data_dir, cache)
        # Members that differ only in seed, data size or freezing cost the same per image.
        key = (member.model, member.image_size, str(member.recipe.model_kwargs))
        key += (member.recipe.batch_size,)
        if key not in timed:
            timed[key] = seconds_per_image(member, data, images)
        train_s, eval_s = timed[key]
        epochs = member.recipe.epochs
        per_epoch = len(data.train) * train_s + len(data.val) * eval_s
        test = len(data.test) * eval_s * (epochs + 1 if member.test_curve else 1)
        seconds = epochs * per_epoch + test
        total += seconds
        rows.append(
            [
                f"{name}/{member.key}",
                f"{len(data.train)}/{len(data.val)}/{len(data.test)}",
                str(epochs),
                f"{train_s * 1e3:.2f}",
                f"{eval_s * 1e3:.2f}",
                f"{per_epoch:.1f}",
                f"{seconds / 60:.1f}",
            ]
        )
    rows.append([f"{name} (total)", "", "", "", "", "", f"{total / 60:.1f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="experiments (default: all)")
    parser.add_argument("--budget", default="full")
    parser.add_argument("--data-dir")
    parser.add_argument("--images", type=int, default=256, help="images per timing epoch")
    args = parser.parse_args()
    torch.set_num_threads(1)
    # The engine times its epochs with time.perf_counter; give it this process's CPU clock.
    engine_module.time = SimpleNamespace(perf_counter=time.process_time)  # type: ignore[assignment]
    headers = ["member", "train/val/test", "epochs", "ms/train img", "ms/eval img", "s/epoch"]
    for name in args.names or list(EXPERIMENTS):
        rows = estimate(name, args.budget, args.data_dir, args.images)
        print(text_table([*headers, "CPU min"], rows, left_columns=2), flush=True)


if __name__ == "__main__":
    main()
