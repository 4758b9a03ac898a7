"""The run folder: everything a training run leaves behind, written atomically.

```
runs/<model>-<data>-<timestamp>/
  config.yaml             fully resolved: model + kwargs, data (name, split seed, sizes, mean/std), recipe
  metrics.csv             one row per epoch (also metrics.jsonl)
  events.out.tfevents.*   TensorBoard scalars (tensorboard --logdir runs)
  curves.png              training/validation loss and accuracy per epoch
  checkpoints/best.safetensors + best.json    best epoch on validation (never on test)
  checkpoints/last.safetensors + last.json    last completed epoch
  optimizer.pt            weights + optimizer + schedule + RNG state of the last epoch (resume)
  report.md               summary, test metrics of the best checkpoint, confusion matrix
```
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from cnnzoo.train.checkpoint import atomic_write_text, atomic_write_with

__all__ = ["METRIC_COLUMNS", "RunFolder", "default_run_dir"]

METRIC_COLUMNS = [
    "epoch",
    "lr",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "val_top5",
    "train_seconds",
    "eval_seconds",
    "images_per_second",
]


def default_run_dir(model_name: str, data_name: str, root: str | os.PathLike[str] = "runs") -> Path:
    """``runs/<model>-<data>-<YYYYmmdd-HHMMSS>`` (with ``-2``, ``-3`` ... if it exists)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{model_name}-{data_name}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


class RunFolder:
    """Paths of a run and the writers of its files."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._writer: Any = None

    # -- paths -------------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def metrics_csv(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def metrics_jsonl(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def curves(self) -> Path:
        return self.path / "curves.png"

    @property
    def best(self) -> Path:
        return self.path / "checkpoints" / "best.safetensors"

    @property
    def last(self) -> Path:
        return self.path / "checkpoints" / "last.safetensors"

    @property
    def state(self) -> Path:
        return self.path / "optimizer.pt"

    @property
    def report(self) -> Path:
        return self.path / "report.md"

    def create(self) -> None:
        (self.path / "checkpoints").mkdir(parents=True, exist_ok=True)

    # -- writers -----------------------------------------------------------------------------
    def write_config(self, config: dict[str, Any]) -> None:
        # Through JSON so tuples, paths and str subclasses become plain YAML.
        plain = json.loads(json.dumps(config, default=str))
        atomic_write_text(self.config, yaml.safe_dump(plain, sort_keys=False))

    def read_config(self, required: tuple[str, ...] = ("model", "recipe")) -> dict[str, Any]:
        """The run's ``config.yaml``; a missing, broken or incomplete one raises naming it.

        ``required`` are the top-level keys a classifier run has; other kinds of run (language
        models, GANs, captioning) pass their own and check their section themselves."""
        if not self.config.is_file():
            raise FileNotFoundError(
                f"{self.path} is not a cnnzoo run folder (no config.yaml); give the folder that "
                "`cnnzoo train` created, e.g. runs/lenet5-digits-20250101-120000"
            )
        remedy = (
            "it is written by `cnnzoo train` when the run starts: restore it from a copy, or "
            "start a new run in another folder"
        )
        try:
            config = yaml.safe_load(self.config.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ValueError(f"{self.config} is not valid YAML ({first}); {remedy}") from None
        if not isinstance(config, dict) or not set(required) <= set(config):
            what = (
                "is empty" if config is None else f"lacks the {' and '.join(required)} of the run"
            )
            raise ValueError(f"{self.config} {what}; {remedy}")
        return config

    def write_report(self, text: str) -> None:
        atomic_write_text(self.report, text)

    def remove_temporary_files(self) -> list[Path]:
        """Delete the hidden ``.NAME.*.tmp`` files an atomic write killed midway left behind."""
        leftovers = [*self.path.glob(".*.tmp"), *(self.path / "checkpoints").glob(".*.tmp")]
        for path in leftovers:
            path.unlink(missing_ok=True)
        return leftovers

    def write_metrics(self, history: Sequence[dict[str, float]]) -> None:
        """Rewrite metrics.csv and metrics.jsonl from the whole history (so a resumed run never
        keeps rows of an epoch that was interrupted)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in history:
            writer.writerow({k: row.get(k, "") for k in METRIC_COLUMNS})
        atomic_write_text(self.metrics_csv, buffer.getvalue())
        atomic_write_text(self.metrics_jsonl, "".join(json.dumps(row) + "\n" for row in history))

    def log_scalars(self, row: dict[str, float], purge_step: int | None = None) -> None:
        """TensorBoard scalars of one epoch (``purge_step`` drops events of a resumed epoch)."""
        if self._writer is None:
            # start-up: torch.utils.tensorboard costs 0.2 s on top of `import cnnzoo`; only a
            # run that logs needs it.
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.path), purge_step=purge_step)
        epoch = int(row["epoch"])
        for key in ("train_loss", "val_loss"):
            self._writer.add_scalar(f"loss/{key.split('_')[0]}", row[key], epoch)
        for key in ("train_acc", "val_acc"):
            self._writer.add_scalar(f"accuracy/{key.split('_')[0]}", row[key], epoch)
        self._writer.add_scalar("lr", row["lr"], epoch)
        self._writer.add_scalar("images_per_second", row["images_per_second"], epoch)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write_curves(self, history: Sequence[dict[str, float]], title: str = "") -> None:
        """Loss and accuracy per epoch, training vs validation, as in the course's plots."""
        write_curves(self.curves, history, title)


def write_curves(path: Path, history: Sequence[dict[str, float]], title: str = "") -> None:
    # matplotlib.figure costs ~1 s to import here: only runs that draw curves pay it (measured start-up).
    from matplotlib.figure import Figure

    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(10, 4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for ax, key, label in ((ax_loss, "loss", "Loss"), (ax_acc, "acc", "Accuracy (%)")):
        ax.plot(epochs, [row[f"train_{key}"] for row in history], "o-", label="training")
        ax.plot(epochs, [row[f"val_{key}"] for row in history], "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    ax_loss.set_title("Training and validation loss")
    ax_acc.set_title("Training and validation accuracy")
    if title:
        fig.suptitle(title)
    # Fixed margins instead of tight_layout, which draws the figure once more to measure it
    # (a third of the CPU time of a one-epoch run's end in the smoke experiments).
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.12, top=0.82 if title else 0.9, wspace=0.22)
    atomic_write_with(path, lambda buffer: fig.savefig(buffer, format="png", dpi=100))
