"""Time-to-accuracy records on a CPU: one fixed recipe per data set, timed end to end.

:func:`speedrun` loads the data, builds the model, trains it and evaluates it, and times all
of it (wall clock and this process's CPU time) from its own first line: data loading counts,
interpreter start-up and ``import torch`` do not. The recipes in :data:`RECORDS` were chosen on
the validation split only; the test split is evaluated once, after training, and never looked
at before (tests/train/test_speedrun.py checks it).

The tricks, each of which :data:`TRICKS` can remove for an ablation
(``speedrun(..., without=("ema",))``):

``batch_norm``
    batch norm after every convolution (off: plain convolutions with biases).
``label_smoothing``
    cross-entropy against smoothed targets.
``schedule``
    one cycle: the rate rises linearly for ``warmup`` of the steps, then falls linearly to 0
    (off: the peak rate all along).
``augment``
    random translation by up to ``translate`` pixels (zero padding + random crop) and, where the
    data allow it (Fashion-MNIST's clothes, not MNIST's digits), horizontal flips, on whole uint8
    batches (:func:`cnnzoo.data.augment.cifar_augment`).
``tta``
    test-time augmentation: the logits of the image and of its mirror image are added.
``ema``
    evaluate an exponential moving average of the weights (and batch-norm statistics).
``whiten``
    the first convolution's filters are the whitening filters of the training images' 3x3
    patches (airbench), frozen (off: PyTorch's default initialisation, trained).

The training step is the engine's: the fused batch-norm + ReLU kernels of
:mod:`cnnzoo.train.fused`, channels_last, PyTorch's fused SGD, batches gathered and augmented
with single tensor ops.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnzoo.data import DataBundle, TensorSplit, iterate_batches, load_data, normalize
from cnnzoo.data.augment import cifar_augment
from cnnzoo.registry import create_model
from cnnzoo.train.fused import fuse
from cnnzoo.train.optim import param_groups

__all__ = [
    "RECORDS",
    "TRICKS",
    "SpeedrunRecipe",
    "SpeedrunResult",
    "get_record",
    "speedrun",
    "whiten_init",
]


@dataclass(frozen=True)
class SpeedrunRecipe:
    """One record's recipe. ``lr`` is the peak rate of Nesterov SGD; ``weight_decay`` applies
    to conv/linear weights only."""

    name: str
    data: str
    description: str = ""
    model: str = "speednet"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 4
    batch_size: int = 256
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    schedule: str = "onecycle"
    warmup: float = 0.2
    translate: int = 2
    flip: bool = True
    augment: bool = True
    tta: bool = True
    ema: float = 0.0
    """Decay of the weight average per step (0: no average)."""
    ema_every: int = 5
    whiten: bool = True
    batch_norm: bool = True
    val_fraction: float = 1 / 12
    split_seed: int = 0
    """Seed of the train/validation split: the same split for every training seed."""
    target: float = 0.0
    """The record's test accuracy target (%)."""
    time_limit: float = 0.0
    """The record's wall-time target on 2 cores (s)."""

    def without(self, tricks: Sequence[str]) -> SpeedrunRecipe:
        """This recipe with each named trick of :data:`TRICKS` removed."""
        recipe = self
        for trick in tricks:
            if trick not in TRICKS:
                raise ValueError(f"unknown trick {trick!r}; known tricks: {', '.join(TRICKS)}")
            recipe = dataclasses.replace(recipe, **TRICKS[trick])
        return recipe


TRICKS: dict[str, dict[str, Any]] = {
    "batch_norm": {"batch_norm": False},
    "label_smoothing": {"label_smoothing": 0.0},
    "schedule": {"schedule": "constant"},
    "augment": {"augment": False},
    "tta": {"tta": False},
    "ema": {"ema": 0.0},
    "whiten": {"whiten": False},
}
"""What removing each trick changes in a recipe (the ablation of benchmarks/speedrun.py)."""

RECORDS: dict[str, SpeedrunRecipe] = {
    "fashion_mnist": SpeedrunRecipe(
        name="fashion_mnist",
        data="fashion_mnist",
        description="Fashion-MNIST >= 93.0 % test in <= 120 s on 2 cores",
        epochs=2,
        lr=0.1,
        target=93.0,
        time_limit=120.0,
    ),
    "mnist": SpeedrunRecipe(
        name="mnist",
        data="mnist",
        description="MNIST >= 99.4 % test in <= 45 s on 2 cores",
        model_kwargs={"widths": (16, 16, 32, 64)},
        epochs=3,
        lr=0.1,
        flip=False,
        tta=False,
        target=99.4,
        time_limit=45.0,
    ),
}
"""The record recipes, by name (``cnnzoo speedrun NAME``)."""


def get_record(name: str) -> SpeedrunRecipe:
    try:
        return RECORDS[name]
    except KeyError:
        raise ValueError(
            f"no speedrun record {name!r}; the records are: {', '.join(RECORDS)}"
        ) from None


@dataclass
class SpeedrunResult:
    """One timed run. Accuracies in %, times in seconds from :func:`speedrun`'s first line."""

    record: str
    seed: int
    threads: int
    without: tuple[str, ...]
    wall_seconds: float
    cpu_seconds: float
    load_seconds: float
    """Of the wall time: loading the data."""
    train_seconds: float
    """Of the wall time: training (whitening, steps, weight average)."""
    val_acc: float
    test_acc: float
    epochs: int
    steps: int
    load_average: tuple[float, float, float]
    """``os.getloadavg()`` when the run started (the machine is shared)."""
    evaluated: list[str] = field(default_factory=list)
    """The splits evaluated, in order (the test split once, last)."""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- whitening --------------------------------------------------------------------------------


def whiten_init(conv: nn.Conv2d, images: torch.Tensor, eps: float = 5e-4) -> int:
    """Set ``conv``'s first filters to the whitening filters of ``images``' patches: for each
    eigenvector v of the patch covariance (eigenvalue e), ``v / sqrt(e + eps)`` and its
    negative (so a ReLU keeps both signs). Returns how many filters were set; the others keep
    their initialisation. ``images`` are normalised float ``(N, C, H, W)``."""
    kh, kw = conv.kernel_size
    if isinstance(conv.padding, str):
        raise ValueError(f"whiten_init needs a numeric padding, got padding={conv.padding!r}")
    patches = F.unfold(images, (kh, kw), padding=conv.padding)  # N, C*kh*kw, L
    flat = patches.transpose(1, 2).reshape(-1, patches.shape[1]).double()
    flat = flat - flat.mean(0)
    cov = flat.T @ flat / max(1, flat.shape[0] - 1)
    values, vectors = torch.linalg.eigh(cov)
    order = values.argsort(descending=True)  # largest variance first
    filters = (vectors[:, order] / (values[order] + eps).sqrt()).T  # D, D
    filters = torch.cat([filters, -filters], dim=1).view(-1, filters.shape[1])
    count = min(conv.out_channels, filters.shape[0])
    with torch.no_grad():
        conv.weight[:count] = filters[:count].view(count, *conv.weight.shape[1:]).float()
    return count


# -- training ---------------------------------------------------------------------------------


def _lr_factor(recipe: SpeedrunRecipe, step: int, total: int) -> float:
    if recipe.schedule == "constant":
        return 1.0
    warm = max(1, round(recipe.warmup * total))
    if step < warm:
        return (step + 1) / warm
    return max(0.0, (total - step) / max(1, total - warm))


def _augment(recipe: SpeedrunRecipe, generator: torch.Generator) -> Callable | None:
    if not recipe.augment or (recipe.translate == 0 and not recipe.flip):
        return None

    def transform(images: torch.Tensor) -> torch.Tensor:
        return cifar_augment(images, generator, padding=recipe.translate, flip=recipe.flip)

    return transform


def _logits(model: nn.Module, x: torch.Tensor, tta: bool) -> torch.Tensor:
    logits = model(x)
    if tta:
        logits = logits + model(x.flip(-1))
    return logits


def _accuracy(
    model: nn.Module, split: TensorSplit, data: DataBundle, tta: bool, batch_size: int = 1000
) -> float:
    correct = 0
    model.eval()
    with torch.inference_mode():
        for images, labels in iterate_batches(split, batch_size, shuffle=False):
            x = normalize(images, data.mean, data.std).contiguous(memory_format=torch.channels_last)
            correct += int((_logits(model, x, tta).argmax(1) == labels).sum())
    return 100.0 * correct / max(1, len(split))


class _Average:
    """An exponential moving average of a model's parameters and buffers, updated every
    ``every`` steps with the decay that ``every`` steps of ``decay`` amount to."""

    def __init__(self, model: nn.Module, decay: float, every: int) -> None:
        self.model = copy.deepcopy(model)
        self.rate = 1.0 - decay**every
        self.every = every
        self.live = model

    @torch.no_grad()
    def update(self, step: int) -> None:
        if (step + 1) % self.every:
            return
        for mine, theirs in zip(
            self.model.state_dict().values(), self.live.state_dict().values(), strict=True
        ):
            if mine.dtype.is_floating_point:
                mine.lerp_(theirs, self.rate)
            else:
                mine.copy_(theirs)


def _train(
    recipe: SpeedrunRecipe,
    data: DataBundle,
    seed: int,
    say: Callable[[str], None],
) -> tuple[nn.Module, int]:
    """Train on ``data.train`` (nothing else of ``data`` but its mean/std is read); returns the
    model to evaluate (the weight average if any) and the number of steps."""
    torch.manual_seed(seed)
    kwargs = {**recipe.model_kwargs}
    if recipe.model == "speednet":
        kwargs["batch_norm"] = recipe.batch_norm
    model = create_model(
        recipe.model, num_classes=data.num_classes, in_chans=data.in_chans, **kwargs
    )
    if recipe.whiten:
        stem = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
        sample = data.train.images[:5000]
        whiten_init(stem, normalize(sample, data.mean, data.std))
        stem.weight.requires_grad_(False)
    model = model.to(memory_format=torch.channels_last)
    forward, _ = fuse(model, training=True)
    optimizer = torch.optim.SGD(
        param_groups(model, recipe.weight_decay),
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=True,
        fused=True,
    )
    average = _Average(model, recipe.ema, recipe.ema_every) if recipe.ema > 0 else None
    steps_per_epoch = math.ceil(len(data.train) / recipe.batch_size)
    total = steps_per_epoch * recipe.epochs
    shuffle = torch.Generator().manual_seed(seed)
    augment = _augment(recipe, torch.Generator().manual_seed(seed + 1))
    step = 0
    for epoch in range(1, recipe.epochs + 1):
        model.train()
        started = time.perf_counter()
        total_loss = 0.0
        batches = iterate_batches(
            data.train, recipe.batch_size, shuffle=True, generator=shuffle, augment=augment
        )
        for images, labels in batches:
            for group in optimizer.param_groups:
                group["lr"] = recipe.lr * _lr_factor(recipe, step, total)
            x = normalize(images, data.mean, data.std).contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(forward(x), labels, label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if average is not None:
                average.update(step)
            total_loss += float(loss.detach())
            step += 1
            if not math.isfinite(total_loss):
                raise FloatingPointError(
                    f"speedrun {recipe.name}: the loss became {total_loss} at step {step}; "
                    f"lower the learning rate (now {recipe.lr:g})"
                )
        say(
            f"epoch {epoch}/{recipe.epochs}  train loss {total_loss / steps_per_epoch:.4f}  "
            f"{time.perf_counter() - started:.1f}s"
        )
    return (average.model if average is not None else model), step


def speedrun(
    record: str | SpeedrunRecipe,
    data_dir: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    threads: int | None = None,
    without: Sequence[str] = (),
    data: DataBundle | None = None,
    log: Callable[[str], None] | None = None,
    test: bool = True,
    **changes: Any,
) -> SpeedrunResult:
    """Run one record (a name of :data:`RECORDS` or a recipe) and time it end to end.

    ``without`` removes tricks (:data:`TRICKS`), ``changes`` override recipe fields (for
    tuning: ``speedrun("mnist", epochs=3)``). ``data`` replaces loading (tests); then
    ``data_dir`` is unused. ``threads`` sets torch's thread count. ``log`` receives progress
    lines. The validation accuracy is measured after training, then the test accuracy, once
    (``test=False``, for tuning: not at all; ``test_acc`` is then NaN).
    """
    wall0, cpu0 = time.perf_counter(), time.process_time()
    load_average = os.getloadavg()
    recipe = get_record(record) if isinstance(record, str) else record
    recipe = dataclasses.replace(recipe.without(without), **changes)
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    say = log or (lambda text: None)
    if data is None:
        data = load_data(
            recipe.data,
            data_dir,
            val_fraction=recipe.val_fraction,
            seed=recipe.split_seed,
            image_size=28,
            in_chans=1,
        )
    load_seconds = time.perf_counter() - wall0
    say(
        f"{recipe.name}: {len(data.train):,} training, {len(data.val):,} validation images "
        f"loaded in {load_seconds:.1f}s"
    )
    train0 = time.perf_counter()
    # Training sees the training split only; validation and test are read after it.
    nothing = data.train.subset(torch.arange(0))
    model, steps = _train(recipe, dataclasses.replace(data, val=nothing, test=nothing), seed, say)
    train_seconds = time.perf_counter() - train0
    evaluated = fuse(model, training=False)[0]
    val_acc = _accuracy(evaluated, data.val, data, recipe.tta)
    test_acc = _accuracy(evaluated, data.test, data, recipe.tta) if test else math.nan
    result = SpeedrunResult(
        record=recipe.name,
        seed=seed,
        threads=torch.get_num_threads(),
        without=tuple(without),
        wall_seconds=time.perf_counter() - wall0,
        cpu_seconds=time.process_time() - cpu0,
        load_seconds=load_seconds,
        train_seconds=train_seconds,
        val_acc=val_acc,
        test_acc=test_acc,
        epochs=recipe.epochs,
        steps=steps,
        load_average=load_average,
        evaluated=["val", "test"] if test else ["val"],
    )
    say(
        f"{recipe.name} seed {seed}: validation {val_acc:.2f}%, test {test_acc:.2f}% in "
        f"{result.wall_seconds:.1f}s wall, {result.cpu_seconds:.1f}s CPU"
    )
    return result
