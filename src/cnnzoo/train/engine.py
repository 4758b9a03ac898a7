"""The training engine: :func:`fit` a model on a :class:`~cnnzoo.data.DataBundle` with a
:class:`~cnnzoo.train.Recipe`, and :func:`evaluate` models (or ensembles) on a split.

Speed on a CPU comes from keeping the data as in-memory uint8 tensors, gathering and normalising
whole batches with single tensor ops (``cnnzoo.data.iterate_batches`` / ``normalize``), doing no
per-sample Python work, fused optimizer updates, fused numba kernels for the memory-bound layers
of small CNNs (:mod:`cnnzoo.train.fused`), evaluating under ``torch.inference_mode()``, and
optional bf16 autocast, ``channels_last`` and ``torch.compile``. Reproducibility comes from
seeding everything from ``recipe.seed`` and saving every random state with each epoch: a resumed
run repeats an uninterrupted one bit for bit.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnzoo.data import DataBundle, TensorSplit, augmentation, iterate_batches, normalize
from cnnzoo.train.checkpoint import load_state, load_weights, save_checkpoint, save_state
from cnnzoo.train.fused import fuse
from cnnzoo.train.optim import LRSchedule, build_optimizer, improved
from cnnzoo.train.recipes import Recipe
from cnnzoo.train.runs import RunFolder, default_run_dir

__all__ = [
    "FitResult",
    "Metrics",
    "NonFiniteLossError",
    "TrainingError",
    "build_model",
    "check_compatible",
    "compute_loss",
    "evaluate",
    "fit",
    "load_data_for",
]


class TrainingError(RuntimeError):
    """Training had to stop; the message says why, where, and what was kept."""


class NonFiniteLossError(TrainingError):
    """The loss became NaN or infinite."""


@dataclass
class Metrics:
    """Loss, top-1 / top-5 accuracy (in %) and the confusion matrix of one evaluation."""

    loss: float
    top1: float
    top5: float
    count: int
    confusion: torch.Tensor = field(repr=False)
    """``confusion[true, predicted]`` counts (int64, K x K)."""

    def as_dict(self) -> dict[str, float]:
        return {"loss": self.loss, "top1": self.top1, "top5": self.top5, "count": self.count}

    def per_class_accuracy(self) -> list[float]:
        totals = self.confusion.sum(1).clamp_min(1)
        return (100.0 * self.confusion.diagonal() / totals).tolist()


@dataclass
class FitResult:
    run_dir: Path
    history: list[dict[str, float]]
    best_epoch: int
    best: dict[str, float]
    """The best epoch's row of ``history``."""
    test: Metrics | None
    """The best checkpoint on the test split (reported only; never used to choose)."""
    stop_reason: str
    seconds: float

    @property
    def best_checkpoint(self) -> Path:
        return self.run_dir / "checkpoints" / "best.safetensors"

    @property
    def last_checkpoint(self) -> Path:
        return self.run_dir / "checkpoints" / "last.safetensors"

    @property
    def curves(self) -> Path:
        return self.run_dir / "curves.png"

    @property
    def report(self) -> Path:
        return self.run_dir / "report.md"


# -- model and data ------------------------------------------------------------------------


def load_data_for(
    model_name: str, recipe: Recipe, data_dir: str | None = None, download: bool = False
) -> DataBundle:
    """Load ``recipe.data`` shaped for ``model_name``: the card's image size and channels unless
    the recipe sets ``image_size`` / ``in_chans``."""
    from cnnzoo.data import load_data
    from cnnzoo.registry import get_model_card

    card = get_model_card(model_name)
    chans, height, _ = card.input_size
    return load_data(
        recipe.data,
        data_dir,
        val_fraction=recipe.val_fraction,
        seed=recipe.seed,
        image_size=recipe.image_size or height,
        in_chans=recipe.in_chans or chans,
        download=download,
        limit=recipe.limit,
    )


def build_model(model_name: str, data: DataBundle, recipe: Recipe) -> nn.Module:
    """The registered model with the data's classes and channels, seeded by ``recipe.seed``."""
    from cnnzoo.registry import create_model

    torch.manual_seed(recipe.seed)
    return create_model(
        model_name, num_classes=data.num_classes, in_chans=data.in_chans, **recipe.model_kwargs
    )


def check_compatible(model: nn.Module, data: DataBundle, name: str) -> None:
    """Raise ``ValueError`` before training if the data cannot go through the model."""
    from cnnzoo.analysis import check_input

    classes = getattr(model, "num_classes", None)
    if classes is not None and classes != data.num_classes:
        raise ValueError(
            f"{name} has {classes} outputs but {data.name} has {data.num_classes} classes; "
            f"build it with num_classes={data.num_classes} (cnnzoo.train.build_model does)"
        )
    chans = getattr(model, "in_chans", None)
    if chans is not None and chans != data.in_chans:
        raise ValueError(
            f"{name} takes {chans}-channel images but {data.name} is loaded with "
            f"{data.in_chans} channel(s); load the data with in_chans={chans} (recipe field "
            f"in_chans) or build the model with in_chans={data.in_chans}"
        )
    check_input(model, data.input_size)


# -- loss ------------------------------------------------------------------------------------


def compute_loss(
    output: torch.Tensor | Sequence[torch.Tensor],
    labels: torch.Tensor,
    *,
    label_smoothing: float = 0.0,
    aux_weight: float = 0.3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, main logits)``. A tuple output is ``(logits, aux1, aux2, ...)`` from a model with
    auxiliary classifiers in training mode; each auxiliary loss is added with ``aux_weight``
    (GoogLeNet: 0.3)."""
    if isinstance(output, (tuple, list)):
        logits, *aux = output
    else:
        logits, aux = output, []
    loss = F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)
    for extra in aux:
        loss = loss + aux_weight * F.cross_entropy(
            extra.float(), labels, label_smoothing=label_smoothing
        )
    return loss, logits


def _autocast(enabled: bool) -> contextlib.AbstractContextManager[Any]:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=torch.bfloat16)


# -- evaluation ------------------------------------------------------------------------------


def evaluate(
    model: nn.Module | Sequence[nn.Module],
    split: TensorSplit,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    batch_size: int = 1000,
    num_classes: int | None = None,
    bf16: bool = False,
    channels_last: bool = False,
) -> Metrics:
    """Loss, top-1, top-5 and confusion matrix of ``model`` on ``split``.

    Give several models for an ensemble: their softmax outputs are averaged (the AlexNet paper's
    averaging of several CNNs' predictions) and the loss is the negative log of that average.
    """
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    if not models:
        raise ValueError("evaluate needs at least one model")
    if num_classes is None:
        num_classes = getattr(models[0], "num_classes", None) or int(split.labels.max()) + 1
    modes = [m.training for m in models]
    for m in models:
        m.eval()
    total_loss = 0.0
    correct1 = correct5 = 0
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.int64)
    k = min(5, num_classes)
    try:
        with torch.inference_mode(), _autocast(bf16):
            for images, labels in iterate_batches(split, batch_size, shuffle=False):
                x = normalize(images, mean, std)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                if len(models) == 1:
                    logits = models[0](x).float()
                    log_probs = F.log_softmax(logits, dim=1)
                else:
                    probs = torch.stack([F.softmax(m(x).float(), dim=1) for m in models]).mean(0)
                    log_probs = probs.clamp_min(1e-12).log()
                total_loss += float(F.nll_loss(log_probs, labels, reduction="sum"))
                top = log_probs.topk(k, dim=1).indices
                hits = top.eq(labels[:, None])
                correct1 += int(hits[:, 0].sum())
                correct5 += int(hits.any(1).sum())
                confusion += torch.bincount(
                    labels * num_classes + top[:, 0], minlength=num_classes * num_classes
                )
    finally:
        for m, mode in zip(models, modes, strict=True):
            m.train(mode)
    n = max(1, len(split))
    return Metrics(
        loss=total_loss / n,
        top1=100.0 * correct1 / n,
        top5=100.0 * correct5 / n,
        count=len(split),
        confusion=confusion.view(num_classes, num_classes),
    )


# -- training --------------------------------------------------------------------------------


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="img",
        unit_scale=True,
        leave=False,
        disable=not enabled,
        dynamic_ncols=True,
        file=sys.stderr,
    )


def _model_name(model: nn.Module) -> str:
    card = getattr(model, "card", None)
    return card.name if card is not None else type(model).__name__


def _rng_state(generators: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    state = {"torch": torch.get_rng_state()}
    state.update({name: g.get_state() for name, g in generators.items()})
    return state


def _set_rng_state(state: dict[str, torch.Tensor], generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    for name, g in generators.items():
        g.set_state(state[name])


def fit(
    model: nn.Module,
    data: DataBundle,
    recipe: Recipe,
    run_dir: str | Path | None = None,
    *,
    model_name: str | None = None,
    model_kwargs: dict[str, Any] | None = None,
    resume: bool = False,
    quiet: bool = True,
    progress: bool | None = None,
    evaluate_test: bool = True,
    log: Callable[[str], None] | None = None,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
    extra_config: dict[str, Any] | None = None,
    param_groups: Callable[[nn.Module, float], list[dict[str, Any]]] | None = None,
) -> FitResult:
    """Train ``model`` on ``data.train`` with ``recipe``, choosing the best epoch on ``data.val``.

    Everything goes to the run folder ``run_dir`` (default ``runs/<model>-<data>-<time>``).
    With ``resume=True`` the run in ``run_dir`` continues after its last completed epoch, with
    the weights, optimizer, schedule and random states it had. At the end the model holds the
    best checkpoint's weights, which are evaluated once on ``data.test`` (for the report only).
    Prints an epoch summary unless ``quiet``; ``progress`` (default: not quiet and stderr is a
    terminal) shows a bar with ETA, images/s and running metrics. ``param_groups(model,
    weight_decay)`` gives the optimizer's groups (fine-tuning: frozen layers left out, head rate
    x ``lr_mult``).
    """
    name = model_name or _model_name(model)
    say = log or (lambda text: None if quiet else print(text, flush=True))
    show_bar = (not quiet and sys.stderr.isatty()) if progress is None else progress
    check_compatible(model, data, name)
    kwargs = {
        "num_classes": getattr(model, "num_classes", data.num_classes),
        "in_chans": getattr(model, "in_chans", data.in_chans),
        **(recipe.model_kwargs if model_kwargs is None else model_kwargs),
    }
    run = RunFolder(run_dir if run_dir is not None else default_run_dir(name, data.name))
    if resume and not run.state.is_file():
        raise FileNotFoundError(
            f"cannot resume {run.path}: it has no optimizer.pt (no epoch was completed)"
        )
    if not resume and run.config.is_file():
        raise ValueError(
            f"{run.path} already holds a run; continue it with resume=True (cnnzoo train --resume "
            f"{run.path}) or choose another run folder"
        )
    run.create()

    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    groups = param_groups(model, recipe.weight_decay) if param_groups is not None else None
    optimizer = build_optimizer(model, recipe, groups)
    steps_per_epoch = math.ceil(len(data.train) / recipe.batch_size)
    schedule = LRSchedule(optimizer, recipe, steps_per_epoch)
    generators = {
        "shuffle": torch.Generator().manual_seed(recipe.seed),
        "augment": torch.Generator().manual_seed(recipe.seed + 1),
    }
    augment = (
        augmentation(recipe.augment, data.image_size, generator=generators["augment"])
        if recipe.augment != "none"
        else None
    )
    history: list[dict[str, float]] = []
    best_value: float | None = None
    best_epoch = 0
    bad_epochs = 0
    start_epoch = 1
    config = {
        "model": name,
        "model_kwargs": kwargs,
        "data": data.describe(),
        "recipe": recipe.to_dict(),
        "torch": str(torch.__version__),
        **(extra_config or {}),
    }
    if resume:
        state = load_state(run.state)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        _set_rng_state(state["rng"], generators)
        history = list(state["history"])
        best_value, best_epoch, bad_epochs = (
            state["best_value"],
            state["best_epoch"],
            state["bad_epochs"],
        )
        start_epoch = int(state["epoch"]) + 1
        config["resumed_from_epoch"] = int(state["epoch"])
        say(f"resuming {run.path} after epoch {state['epoch']}")
    else:
        torch.manual_seed(recipe.seed)
    forward = evaluated = model  # what training steps and evaluations call
    if recipe.fused and not recipe.compile:
        forward, fusion = fuse(model, training=True)
        evaluated, _ = fuse(model, training=False)
        config["fused_layers"] = fusion.fused
        for line in fusion.fused:
            say(f"fused: {line}")
    if recipe.compile:
        forward = torch.compile(model)
    run.write_config(config)
    if start_epoch > recipe.epochs:
        say(f"{run.path} already completed {start_epoch - 1} epochs (recipe: {recipe.epochs})")

    meta_base = {
        "model": name,
        "model_kwargs": kwargs,
        "data": {
            "name": data.name,
            "split_seed": data.split_seed,
            "classes": list(data.classes),
            "input_size": list(data.input_size),
            "mean": list(data.mean),
            "std": list(data.std),
        },
        "recipe": recipe.to_dict(),
    }
    stop_reason = "completed"
    started = time.perf_counter()
    title = f"{name} on {data.name}"
    curves_written = started
    try:
        for epoch in range(start_epoch, recipe.epochs + 1):
            model.train()
            forward.train()
            total_loss = 0.0
            correct = seen = 0
            lr = schedule.current_lr()  # the epoch's starting rate is what its row reports
            bar = _progress(len(data.train), f"epoch {epoch}/{recipe.epochs}", show_bar)
            t0 = time.perf_counter()
            batches = iterate_batches(
                data.train,
                recipe.batch_size,
                shuffle=True,
                generator=generators["shuffle"],
                augment=augment,
            )
            for step, (images, labels) in enumerate(batches, start=1):
                x = normalize(images, data.mean, data.std)
                if recipe.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with _autocast(recipe.bf16):
                    output = forward(x)
                    loss, logits = compute_loss(
                        output,
                        labels,
                        label_smoothing=recipe.label_smoothing,
                        aux_weight=recipe.aux_weight,
                    )
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    bar.close()
                    kept = (
                        f"The last good checkpoint (epoch {epoch - 1}) is kept at {run.last}."
                        if epoch > start_epoch or run.last.is_file()
                        else "No checkpoint had been written yet."
                    )
                    raise NonFiniteLossError(
                        f"loss became {loss_value} at epoch {epoch}, step {step} of "
                        f"{steps_per_epoch} (learning rate {schedule.current_lr():.3g}); training "
                        f"stopped. {kept} Try a lower learning rate, --grad-clip, or fp32 "
                        "instead of bf16."
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if recipe.grad_clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
                optimizer.step()
                schedule.step_iteration()
                batch = labels.shape[0]
                total_loss += loss_value * batch
                correct += int((logits.argmax(1) == labels).sum())
                seen += batch
                bar.update(batch)
                if step % 10 == 0 or seen == len(data.train):
                    bar.set_postfix(
                        loss=f"{total_loss / seen:.4f}", acc=f"{100 * correct / seen:.2f}%"
                    )
            bar.close()
            train_seconds = time.perf_counter() - t0
            t1 = time.perf_counter()
            val = evaluate(
                evaluated,
                data.val,
                mean=data.mean,
                std=data.std,
                batch_size=recipe.eval_batch_size,
                num_classes=data.num_classes,
                bf16=recipe.bf16,
                channels_last=recipe.channels_last,
            )
            row = {
                "epoch": epoch,
                "lr": lr,
                "train_loss": total_loss / max(1, seen),
                "train_acc": 100.0 * correct / max(1, seen),
                "val_loss": val.loss,
                "val_acc": val.top1,
                "val_top5": val.top5,
                "train_seconds": train_seconds,
                "eval_seconds": time.perf_counter() - t1,
                "images_per_second": seen / train_seconds if train_seconds > 0 else 0.0,
            }
            history.append(row)
            value = row[recipe.monitor]
            is_best = improved(value, best_value, recipe.monitor, threshold=0.0)
            if is_best:
                best_value, best_epoch, bad_epochs = value, epoch, 0
            else:
                bad_epochs += 1
            schedule.step_epoch(value)

            meta = {**meta_base, "epoch": epoch, "metrics": row}
            if is_best:
                save_checkpoint(run.best, model, meta)
            save_checkpoint(run.last, model, meta)
            # optimizer.pt is the commit point of an epoch: one atomic file holding everything a
            # resume needs, so a kill at any moment leaves a consistent state behind.
            save_state(
                run.state,
                {
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(),
                    "rng": _rng_state(generators),
                    "history": history,
                    "best_value": best_value,
                    "best_epoch": best_epoch,
                    "bad_epochs": bad_epochs,
                },
            )
            run.write_metrics(history)
            run.log_scalars(row, purge_step=epoch if epoch == start_epoch and resume else None)
            # Plotting costs a few hundred ms: refresh the PNG at most every 30 s, and at the end.
            if time.perf_counter() - curves_written > 30 or epoch == recipe.epochs:
                run.write_curves(history, title)
                curves_written = time.perf_counter()
            say(_epoch_line(row, recipe.epochs, is_best))
            if on_epoch_end is not None:
                on_epoch_end(row)
            if recipe.early_stopping and bad_epochs >= recipe.early_stopping:
                stop_reason = (
                    f"early stopping: {recipe.monitor} did not improve for {bad_epochs} epochs"
                )
                say(stop_reason)
                break
    except NonFiniteLossError as error:
        run.close()
        if history:
            run.write_curves(history, title)
        _write_report(run, name, data, recipe, history, best_epoch, None, f"failed: {error}")
        raise
    except KeyboardInterrupt:
        run.close()
        if history:
            run.write_curves(history, title)
        say(f"\ninterrupted; continue with: cnnzoo train --resume {run.path}")
        raise
    run.close()
    if history and stop_reason != "completed":
        run.write_curves(history, title)  # early stopping ended before the last epoch
    seconds = time.perf_counter() - started

    test = None
    if best_epoch and run.best.is_file():
        load_weights(model, run.best, name=name)
        if evaluate_test:
            test = evaluate(
                evaluated,
                data.test,
                mean=data.mean,
                std=data.std,
                batch_size=recipe.eval_batch_size,
                num_classes=data.num_classes,
                bf16=recipe.bf16,
                channels_last=recipe.channels_last,
            )
    _write_report(run, name, data, recipe, history, best_epoch, test, stop_reason)
    best_row = next((r for r in history if r["epoch"] == best_epoch), {})
    return FitResult(
        run_dir=run.path,
        history=history,
        best_epoch=best_epoch,
        best=best_row,
        test=test,
        stop_reason=stop_reason,
        seconds=seconds,
    )


def _epoch_line(row: dict[str, float], epochs: int, is_best: bool) -> str:
    return (
        f"epoch {int(row['epoch'])}/{epochs}  train loss {row['train_loss']:.4f} acc "
        f"{row['train_acc']:.2f}%  val loss {row['val_loss']:.4f} acc {row['val_acc']:.2f}%  "
        f"lr {row['lr']:.3g}  {row['train_seconds']:.1f}s ({row['images_per_second']:,.0f} img/s)"
        + ("  *" if is_best else "")
    )


def _write_report(
    run: RunFolder,
    name: str,
    data: DataBundle,
    recipe: Recipe,
    history: list[dict[str, float]],
    best_epoch: int,
    test: Metrics | None,
    status: str,
) -> None:
    from cnnzoo.train.checkpoint import atomic_write_text

    c, h, w = data.input_size
    lines = [
        f"# {name} on {data.name}",
        "",
        f"- Status: {status}",
        f"- Data: {data.name} ({data.source}); train {len(data.train):,}, validation "
        f"{len(data.val):,}, test {len(data.test):,} images of {c}x{h}x{w}; split seed "
        f"{data.split_seed}",
        f"- Recipe: {recipe.name}: {recipe.optimizer} lr {recipe.lr:g}, batch {recipe.batch_size}, "
        f"{recipe.epochs} epochs, schedule {recipe.schedule}, weight decay {recipe.weight_decay:g}, "
        f"augmentation {recipe.augment}" + (", bf16" if recipe.bf16 else ""),
    ]
    if history:
        best = next((r for r in history if r["epoch"] == best_epoch), history[-1])
        train_time = sum(r["train_seconds"] for r in history)
        lines += [
            f"- Epochs completed: {len(history)}; training time {train_time:.1f} s "
            f"({train_time / len(history):.2f} s per epoch, "
            f"{sum(r['images_per_second'] for r in history) / len(history):,.0f} images/s)",
            f"- Best epoch (on validation {recipe.monitor}): {best_epoch}: validation loss "
            f"{best['val_loss']:.4f}, top-1 {best['val_acc']:.2f}%, top-5 {best['val_top5']:.2f}%",
        ]
    if test is not None:
        lines += [
            f"- **Test** (best checkpoint, {test.count:,} images): loss {test.loss:.4f}, "
            f"top-1 **{test.top1:.2f}%**, top-5 {test.top5:.2f}%",
        ]
    lines += [
        "",
        "Files: `config.yaml`, `metrics.csv`, `metrics.jsonl`, `curves.png`, "
        "`checkpoints/best.safetensors`, `checkpoints/last.safetensors`, `optimizer.pt`, "
        "TensorBoard events (`tensorboard --logdir " + str(run.path.parent) + "`).",
        "",
    ]
    if history:
        lines += [
            "| epoch | lr | train loss | train acc | val loss | val acc | val top-5 | s | img/s |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in history:
            lines.append(
                f"| {int(r['epoch'])} | {r['lr']:.3g} | {r['train_loss']:.4f} | "
                f"{r['train_acc']:.2f} | {r['val_loss']:.4f} | {r['val_acc']:.2f} | "
                f"{r['val_top5']:.2f} | {r['train_seconds']:.1f} | {r['images_per_second']:,.0f} |"
            )
        lines.append("")
    if test is not None and test.confusion.shape[0] <= 20:
        classes = [str(c) for c in data.classes]
        lines += [
            "Test confusion matrix (rows: true class, columns: predicted):",
            "",
            "| true \\ predicted | " + " | ".join(classes) + " |",
            "|---|" + "---:|" * len(classes),
        ]
        for label, counts in zip(classes, test.confusion.tolist(), strict=True):
            lines.append(f"| {label} | " + " | ".join(str(v) for v in counts) + " |")
        lines.append("")
    atomic_write_text(run.report, "\n".join(lines))
