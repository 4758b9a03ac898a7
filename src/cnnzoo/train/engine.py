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
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from cnnzoo.analysis import check_input
from cnnzoo.analysis.tables import markdown_table
from cnnzoo.data import (
    DataBundle,
    TensorSplit,
    augmentation,
    iterate_batches,
    load_data,
    normalize,
)
from cnnzoo.models._aux import loss_with_aux
from cnnzoo.registry import create_model, get_model_card
from cnnzoo.train import distributed
from cnnzoo.train.checkpoint import (
    CheckpointError,
    commit_epoch,
    load_state,
    load_weights,
    repair_checkpoints,
)
from cnnzoo.train.devices import resolve_device
from cnnzoo.train.fused import fuse
from cnnzoo.train.memory_format import MemoryFormatChoice, choose_channels_last
from cnnzoo.train.optim import LRSchedule, build_optimizer, improved
from cnnzoo.train.recipes import Recipe, recipe_from_dict
from cnnzoo.train.runs import RunFolder, default_run_dir

__all__ = [
    "RESUMABLE_FIELDS",
    "FitResult",
    "LostRankError",
    "Metrics",
    "NonFiniteLossError",
    "TrainingError",
    "build_model",
    "check_compatible",
    "check_resumable",
    "compute_loss",
    "evaluate",
    "fit",
    "load_data_for",
    "resume_recipe",
]


class TrainingError(RuntimeError):
    """Training had to stop; the message says why, where, and what was kept."""


class NonFiniteLossError(TrainingError):
    """The loss became NaN or infinite."""


class LostRankError(TrainingError):
    """A data-parallel rank lost contact with the others (one died, hung past the timeout, or
    the network failed); the run folder keeps its last completed epoch."""


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
    def folder(self) -> RunFolder:
        return RunFolder(self.run_dir)

    @property
    def best_checkpoint(self) -> Path:
        return self.folder.best

    @property
    def last_checkpoint(self) -> Path:
        return self.folder.last

    @property
    def curves(self) -> Path:
        return self.folder.curves

    @property
    def report(self) -> Path:
        return self.folder.report


# -- model and data ------------------------------------------------------------------------


def load_data_for(
    model_name: str, recipe: Recipe, data_dir: str | None = None, download: bool = False
) -> DataBundle:
    """Load ``recipe.data`` shaped for ``model_name``: the card's image size and channels unless
    the recipe sets ``image_size`` / ``in_chans``."""
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
    torch.manual_seed(recipe.seed)
    return create_model(
        model_name, num_classes=data.num_classes, in_chans=data.in_chans, **recipe.model_kwargs
    )


def check_compatible(model: nn.Module, data: DataBundle, name: str) -> None:
    """Raise ``ValueError`` before training if the data cannot go through the model."""
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
    """``(loss, main logits)``: :func:`cnnzoo.models.loss_with_aux` (a tuple output is
    ``(logits, aux1, aux2, ...)`` from a model with auxiliary classifiers in training mode),
    with label smoothing, computed in fp32 also under bf16 autocast."""

    def criterion(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), target, label_smoothing=label_smoothing)

    outputs = output if isinstance(output, torch.Tensor) else tuple(output)
    logits = outputs if isinstance(outputs, torch.Tensor) else outputs[0]
    return loss_with_aux(outputs, labels, aux_weight, criterion), logits


def _autocast(
    enabled: bool, device: torch.device | None = None, dtype: torch.dtype = torch.bfloat16
) -> contextlib.AbstractContextManager[Any]:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type if device is not None else "cpu", dtype=dtype)


def _to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` on ``device``; to a CUDA device through pinned (page-locked) memory, which
    the copy engine reads directly and asynchronously, as DataLoader's ``pin_memory`` does."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def _device_of(model: nn.Module) -> torch.device:
    """Where ``model``'s parameters are (the CPU for a model without any)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


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
    Batches go to the first model's device (the data stay in CPU memory).
    """
    models = [model] if isinstance(model, nn.Module) else list(model)
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
    device = _device_of(models[0])
    try:
        with torch.inference_mode(), _autocast(bf16, device):
            for images, cpu_labels in iterate_batches(split, batch_size, shuffle=False):
                x = normalize(images.to(device), mean, std)
                labels = cpu_labels.to(device)
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
                    cpu_labels * num_classes + top[:, 0].cpu(), minlength=num_classes * num_classes
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


# -- resume rules ----------------------------------------------------------------------------

RESUMABLE_FIELDS = ("epochs", "early_stopping", "compile", "bf16", "fused")
"""The recipe fields a resumed run may change: they do not alter what was already trained."""


def check_resumable(config: dict[str, Any], recipe: Recipe, model_name: str, where: str) -> None:
    """Raise ``ValueError`` unless ``recipe`` and ``model_name`` may continue the run whose
    ``config.yaml`` (at ``where``) is ``config``: same model, same recipe but for
    :data:`RESUMABLE_FIELDS`."""
    if config.get("model") != model_name:
        raise ValueError(
            f"{where} trained {config.get('model')!r}, not {model_name!r}; resume it with the "
            "same model (leave MODEL out of `cnnzoo train --resume`)"
        )
    stored = recipe_from_dict(config.get("recipe") or {}, where=where).to_dict()
    changed = [
        key
        for key, value in recipe.to_dict().items()
        if key not in RESUMABLE_FIELDS and stored.get(key) != value
    ]
    if changed:
        details = ", ".join(
            f"--{k.replace('_', '-')} ({recipe.to_dict()[k]!r}; the run has {stored.get(k)!r})"
            for k in changed
        )
        raise ValueError(
            "when resuming only --epochs, --early-stopping, --compile, --bf16 and --no-fused may "
            f"change; got {details}. Start a new run (another --run-dir) to change the others."
        )


def resume_recipe(
    run_dir: str | Path, *, where: str = "override", **changes: Any
) -> tuple[Recipe, dict[str, Any]]:
    """``(recipe, config)`` to continue the run in ``run_dir``: its recorded recipe with
    ``changes`` applied (``None`` values ignored; only :data:`RESUMABLE_FIELDS` may change;
    ``where`` names the changes' source in errors)."""
    run = RunFolder(run_dir)
    config = run.read_config()
    recipe = recipe_from_dict(config["recipe"], where=str(run.config))
    changed = recipe.override(where=where, **changes)
    check_resumable(config, changed, str(config["model"]), str(run.config))
    return changed, config


# -- fit: the run's state and its steps -------------------------------------------------------


@dataclass
class _Run:
    """What one call of :func:`fit` carries from step to step."""

    name: str
    folder: RunFolder
    data: DataBundle
    recipe: Recipe
    model: nn.Module
    forward: Callable[..., Any]
    """What training steps call: the model, its fused trace, or its compiled version."""
    evaluated: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: LRSchedule
    generators: dict[str, torch.Generator]
    augment: Callable[[torch.Tensor], torch.Tensor] | None
    meta: dict[str, Any]
    """Metadata shared by every checkpoint of the run (model, data, recipe)."""
    say: Callable[[str], None]
    show_bar: bool
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    rank: int = 0
    world: int = 1
    """Data-parallel ranks (:mod:`cnnzoo.train.distributed`); rank 0 alone writes the run."""
    scaler: torch.amp.GradScaler | None = None
    """fp16 loss scaling of ``--amp`` (CUDA only)."""
    step: int = 0
    """The step of the epoch being trained (for error messages)."""
    resumed: bool = False
    start_epoch: int = 1
    history: list[dict[str, float]] = field(default_factory=list)
    best_value: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0
    stop_reason: str = "completed"
    failure: str | None = None
    """The report's status when training failed (set before the error is raised)."""
    warned_explosion: bool = False
    curves_epoch: int = 0
    curves_time: float = 0.0
    started: float = 0.0


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
    param_groups: list[dict[str, Any]] | None = None,
    device: str | torch.device = "cpu",
    amp: bool = False,
    sync_bn: bool = False,
) -> FitResult:
    """Train ``model`` on ``data.train`` with ``recipe``, choosing the best epoch on ``data.val``.

    Everything goes to the run folder ``run_dir`` (default ``runs/<model>-<data>-<time>``).
    With ``resume=True`` the run in ``run_dir`` continues after its last completed epoch, with
    the weights, optimizer, schedule and random states it had; ``recipe`` must be the run's own
    except for :data:`RESUMABLE_FIELDS` (:func:`resume_recipe` builds it). A run killed before
    its first epoch ended starts again from the beginning. At the end the model holds the best
    checkpoint's weights, which are evaluated once on ``data.test`` (for the report only).

    Prints an epoch summary unless ``quiet`` (``log`` receives the lines instead, if given);
    ``progress`` (default: not quiet and stderr is a terminal) shows a bar with ETA, images/s
    and running metrics. ``on_epoch_end(row)`` is called after each epoch is committed to the
    run folder, with the epoch's row of the history (raising ``KeyboardInterrupt`` there stops
    the run resumably). ``param_groups`` replaces the optimizer's parameter groups (see
    :func:`cnnzoo.train.build_optimizer`: ``lr_scale`` per group, frozen parameters left out).
    ``extra_config`` is added to ``config.yaml``. ``device`` (see
    :func:`cnnzoo.train.devices.resolve_device`) is where the model and each batch go (on CUDA
    through pinned memory); the fused kernels are a CPU path and step aside on any other device.
    ``amp`` trains in CUDA's fp16 mixed precision (autocast and a gradient scaler); it is
    refused on other devices, where the recipe's ``bf16`` is the mixed precision. ``sync_bn``
    (data parallel only) normalises batch-norm layers with the whole global batch's statistics
    (:class:`cnnzoo.train.distributed.SyncBatchNorm2d`).
    """
    run = _prepare(
        model,
        data,
        recipe,
        run_dir,
        name=model_name or _model_name(model),
        model_kwargs=model_kwargs,
        resume=resume,
        say=log or (lambda text: None if quiet else print(text, flush=True)),
        show_bar=(not quiet and sys.stderr.isatty()) if progress is None else progress,
        extra_config=extra_config or {},
        param_groups=param_groups,
        device=resolve_device(device),
        amp=amp,
        sync_bn=sync_bn,
    )
    try:
        _train_epochs(run, on_epoch_end)
    except KeyboardInterrupt:  # also quiet: the one line that says how to go on
        # (rank 0's folder is the run; cnnzoo's launcher says it once for all ranks)
        if run.rank == 0 and not (run.world > 1 and distributed.launched()):
            note = f"\ninterrupted; continue with: cnnzoo train --resume {run.folder.path}"
            (log or (lambda text: print(text, file=sys.stderr, flush=True)))(note)
        raise
    finally:
        run.folder.close()
        if run.history and run.curves_epoch != run.history[-1]["epoch"]:
            _draw_curves(run)  # interrupted, failed, stopped early, or resumed when complete
        if run.failure is not None:
            _write_report(run, None, run.failure)
    try:
        return _finish(run, evaluate_test)
    finally:
        if run.rank > 0:  # the scratch folder of a data-parallel rank
            shutil.rmtree(run.folder.path, ignore_errors=True)


def _open_folder(
    run_dir: str | Path | None, name: str, data: DataBundle, resume: bool
) -> tuple[RunFolder, bool]:
    """The run folder and whether there is a completed epoch to resume from."""
    run = RunFolder(run_dir if run_dir is not None else default_run_dir(name, data.name))
    if resume and not run.config.is_file():
        raise FileNotFoundError(
            f"cannot resume {run.path}: it is not a run folder (no config.yaml); give the folder "
            "that `cnnzoo train` created"
        )
    if not resume and run.config.is_file():
        raise ValueError(
            f"{run.path} already holds a run; continue it with resume=True (cnnzoo train --resume "
            f"{run.path}) or choose another run folder"
        )
    return run, resume and run.state.is_file()


def _prepare(
    model: nn.Module,
    data: DataBundle,
    recipe: Recipe,
    run_dir: str | Path | None,
    *,
    name: str,
    model_kwargs: dict[str, Any] | None,
    resume: bool,
    say: Callable[[str], None],
    show_bar: bool,
    extra_config: dict[str, Any],
    param_groups: list[dict[str, Any]] | None,
    device: torch.device,
    amp: bool,
    sync_bn: bool,
) -> _Run:
    """Check everything, build optimizer, schedule and fused model, then (only then) create
    the run folder, restore a resumed run and write ``config.yaml``."""
    check_compatible(model, data, name)
    _check_precision(amp, recipe, device)
    rank, world = distributed.world()
    if rank > 0:  # only rank 0 writes the run; the others keep their files in a scratch folder
        run_dir, say, show_bar = tempfile.mkdtemp(prefix=f"cnnzoo-rank{rank}-"), _silent, False
    # Rank 0 alone reads a resumed run; it hands its state to the others (_start_folder).
    folder, restoring = _open_folder(run_dir, name, data, resume and rank == 0)
    if resume and rank == 0:
        stored = folder.read_config()
        if recipe.channels_last is None:  # keep the memory format the run chose at its start
            recipe = recipe.override(
                channels_last=(stored.get("recipe") or {}).get("channels_last")
            )
        check_resumable(stored, recipe, name, str(folder.config))
    kwargs = {
        "num_classes": getattr(model, "num_classes", data.num_classes),
        "in_chans": getattr(model, "in_chans", data.in_chans),
        **(recipe.model_kwargs if model_kwargs is None else model_kwargs),
    }
    model = model.to(device)
    memory_format = _choose_memory_format(model, data, recipe, device)
    recipe = recipe.override(channels_last=memory_format.channels_last)
    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if sync_bn and not distributed.convert_sync_batchnorm(model):
        warnings.warn(f"--sync-bn: {name} has no BatchNorm2d layer to synchronise", stacklevel=3)
    optimizer = build_optimizer(model, recipe, param_groups)
    schedule = LRSchedule(optimizer, recipe, math.ceil(len(data.train) / recipe.batch_size))
    generators = {
        "shuffle": torch.Generator().manual_seed(recipe.seed),
        "augment": torch.Generator().manual_seed(recipe.seed + 1),
    }
    augment = (
        augmentation(recipe.augment, data.image_size, generator=generators["augment"])
        if recipe.augment != "none"
        else None
    )
    run = _Run(
        name=name,
        folder=folder,
        data=data,
        recipe=recipe,
        model=model,
        forward=model,
        evaluated=model,
        optimizer=optimizer,
        schedule=schedule,
        generators=generators,
        augment=augment,
        meta=_checkpoint_meta(name, kwargs, data, recipe),
        say=say,
        show_bar=show_bar,
        device=device,
        rank=rank,
        world=world,
        scaler=torch.amp.GradScaler("cuda") if amp else None,
    )
    config = _run_config(
        run,
        kwargs,
        {"amp": amp, "sync_bn": sync_bn},
        {"memory_format": memory_format.as_config(), **extra_config},
    )
    if not restoring:
        torch.manual_seed(recipe.seed)
    _speed_up(run, config, sync_bn)
    _start_folder(run, config, resume, restoring)
    run.started = run.curves_time = time.perf_counter()
    return run


def _run_config(
    run: _Run, kwargs: dict[str, Any], options: dict[str, bool], extra: dict[str, Any]
) -> dict[str, Any]:
    """``config.yaml``: what was trained on what, how and where (``options`` only when on)."""
    return {
        "model": run.name,
        "model_kwargs": kwargs,
        "data": run.data.describe(),
        "recipe": run.recipe.to_dict(),
        "torch": str(torch.__version__),
        "device": str(run.device),
        "processes": run.world,
        **{key: True for key, on in options.items() if on},
        **extra,
    }


def _check_precision(amp: bool, recipe: Recipe, device: torch.device) -> None:
    """``amp`` is CUDA's fp16 mixed precision; refuse it elsewhere, and together with bf16."""
    if amp and device.type != "cuda":
        raise ValueError(
            f"--amp is CUDA's fp16 mixed precision (autocast and a gradient scaler) and this run "
            f"is on {device}; leave out --amp, or use --bf16 (bf16 autocast, no scaler needed)"
        )
    if amp and recipe.bf16:
        raise ValueError("--amp (fp16) and --bf16 are two mixed precisions; choose one")


def _start_folder(run: _Run, config: dict[str, Any], resume: bool, restoring: bool) -> None:
    """Create the run folder, restore a resumed run's state (rank 0 reads it and sends it to
    the other ranks, so a run resumes with any number of processes), write ``config.yaml``."""
    folder = run.folder
    folder.create()
    if resume and run.rank == 0:
        folder.remove_temporary_files()
    state = load_state(folder.state) if restoring else None
    if run.world > 1 and resume:
        state = _collective(run, distributed.broadcast_object, state)
    if state is not None:
        _restore(run, state)
        config["resumed_from_epoch"] = run.start_epoch - 1
    elif resume:
        run.say(f"{folder.path} has no completed epoch: starting it from the beginning")
    folder.write_config(config)


def _checkpoint_meta(
    name: str, kwargs: dict[str, Any], data: DataBundle, recipe: Recipe
) -> dict[str, Any]:
    return {
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


def _choose_memory_format(
    model: nn.Module, data: DataBundle, recipe: Recipe, device: torch.device
) -> MemoryFormatChoice:
    """The recipe's ``channels_last`` if it sets one (flags, a resumed run's record), else
    :func:`cnnzoo.train.memory_format.choose_channels_last` on the model as it will train."""
    if recipe.channels_last is not None:
        return MemoryFormatChoice(
            recipe.channels_last, f"set: channels_last {str(recipe.channels_last).lower()}"
        )
    fused = recipe.fused and not recipe.compile and device.type == "cpu"

    def prepare(probe: nn.Module) -> Callable[[torch.Tensor], Any]:
        forward = fuse(probe, training=True)[0] if fused else probe

        def step(x: torch.Tensor) -> Any:
            with _autocast(recipe.bf16, device):
                return forward(x)

        return step

    run_steps = recipe.epochs * math.ceil(len(data.train) / recipe.batch_size)
    return choose_channels_last(
        model,
        tuple(data.input_size),
        recipe.batch_size,
        device=device,
        prepare=prepare,
        run_steps=run_steps,
    )


def _speed_up(run: _Run, config: dict[str, Any], sync_bn: bool = False) -> None:
    """Fused kernels (recorded in ``config``) or ``torch.compile``, as the recipe asks. The
    kernels are a CPU path; they also step aside under ``sync_bn`` (their batch norm is one
    process's)."""
    if run.recipe.fused and not run.recipe.compile and run.device.type == "cpu" and not sync_bn:
        run.forward, fusion = fuse(run.model, training=True)
        run.evaluated, _ = fuse(run.model, training=False)
        config["fused_layers"] = fusion.fused
        for line in fusion.fused:
            run.say(f"fused: {line}")
    if run.recipe.compile:
        run.forward = torch.compile(run.model)


def _restore(run: _Run, state: dict[str, Any]) -> None:
    """Continue after the state's epoch; rewrite a checkpoint the kill left behind."""
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.schedule.load_state_dict(state["schedule"])
    _set_rng_state(state["rng"], run.generators)
    if run.scaler is not None and state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    run.history = list(state["history"])
    run.best_value, run.best_epoch = state["best_value"], state["best_epoch"]
    run.bad_epochs = state["bad_epochs"]
    run.start_epoch = int(state["epoch"]) + 1
    run.resumed = True
    run.say(f"resuming {run.folder.path} after epoch {state['epoch']}")
    if run.rank > 0:
        return
    # optimizer.pt is written first at the end of an epoch: a kill right after it can leave
    # last/best of the epoch before; the state holds this epoch's weights, so write them again.
    epoch = int(state["epoch"])
    meta = {**run.meta, "epoch": epoch, "metrics": run.history[-1]}
    targets = [run.folder.last] + ([run.folder.best] if run.best_epoch == epoch else [])
    repair_checkpoints([(path, run.model) for path in targets], epoch, meta)


def _train_epochs(run: _Run, on_epoch_end: Callable[[dict[str, float]], None] | None) -> None:
    recipe = run.recipe
    if run.start_epoch > recipe.epochs:
        run.say(
            f"{run.folder.path} already completed {run.start_epoch - 1} epochs "
            f"(recipe: {recipe.epochs})"
        )
    for epoch in range(run.start_epoch, recipe.epochs + 1):
        row = _collective(run, _train_epoch, run, epoch)
        try:
            is_best = _end_epoch(run, row)
        except CheckpointError as error:  # a file not written whole: the report says so now
            run.failure = f"failed: {error}"
            raise
        run.say(_epoch_line(row, recipe.epochs, is_best))
        if on_epoch_end is not None:
            on_epoch_end(row)
        if recipe.early_stopping and run.bad_epochs >= recipe.early_stopping:
            run.stop_reason = (
                f"early stopping: {recipe.monitor} did not improve for {run.bad_epochs} epochs"
            )
            run.say(run.stop_reason)
            break


def _collective(run: _Run, work: Callable[..., Any], *args: Any) -> Any:
    """``work(*args)``, turning a failed collective of a data-parallel run into one clear
    error."""
    try:
        return work(*args)
    except RuntimeError as error:
        if run.world == 1 or not distributed.is_collective_failure(error):
            raise
        epoch = (int(run.history[-1]["epoch"]) if run.history else run.start_epoch - 1) + 1
        kept = (
            f"the run folder keeps epoch {epoch - 1}: continue with cnnzoo train --resume "
            f"{run.folder.path if run.rank == 0 else 'RUN'} (any --nproc)"
            if epoch > 1
            else "no epoch was completed: start the run again"
        )
        raise LostRankError(
            f"rank {run.rank} of {run.world} lost contact with the other processes in epoch "
            f"{epoch}, step {run.step} ({distributed.describe_failure(error)}): another rank "
            f"died, hung for longer than ${distributed.TIMEOUT_ENV} seconds, or the network "
            f"failed; {kept}"
        ) from None


def _train_epoch(run: _Run, epoch: int) -> dict[str, float]:
    """One pass over the training split, then validation: the epoch's row of the history."""
    recipe, data = run.recipe, run.data
    run.model.train()
    if isinstance(run.forward, nn.Module):
        run.forward.train()
    total_loss = 0.0
    correct = seen = 0
    lr = run.schedule.current_lr()  # the epoch's starting rate is what its row reports
    t0 = time.perf_counter()
    batches = iterate_batches(
        data.train,
        recipe.batch_size,
        shuffle=True,
        generator=run.generators["shuffle"],
        augment=run.augment,
    )
    with _progress(len(data.train), f"epoch {epoch}/{recipe.epochs}", run.show_bar) as bar:
        for step, (images, labels) in enumerate(batches, start=1):
            run.step = step
            if run.world > 1:
                distributed.fault_point(run.rank, epoch, step)
                images, labels = distributed.shard(images, labels, run.rank, run.world)
            loss_value, hits = _train_step(run, images, labels, epoch, step)
            batch = labels.shape[0]
            total_loss += loss_value * batch
            correct += hits
            seen += batch
            bar.update(_global_batch(run, step))
            if step % 10 == 0 or seen == len(data.train):
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{100 * correct / seen:.2f}%")
    if run.world > 1:
        total_loss, summed_correct, summed_seen = distributed.sum_across(total_loss, correct, seen)
        correct, seen = round(summed_correct), round(summed_seen)
    train_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    val = _evaluate_split(run, data.val)
    if not math.isfinite(val.loss):
        raise _non_finite(run, f"validation loss became {val.loss} at epoch {epoch}", lr)
    return {
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


def _train_step(
    run: _Run, images: torch.Tensor, labels: torch.Tensor, epoch: int, step: int
) -> tuple[float, int]:
    """One optimizer step: ``(loss, correct predictions)`` of the batch."""
    recipe, scaler = run.recipe, run.scaler
    x = normalize(_to_device(images, run.device), run.data.mean, run.data.std)
    labels = _to_device(labels, run.device)
    if recipe.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    precision = torch.float16 if scaler is not None else torch.bfloat16
    with _autocast(recipe.bf16 or scaler is not None, run.device, precision):
        loss, logits = compute_loss(
            run.forward(x),
            labels,
            label_smoothing=recipe.label_smoothing,
            aux_weight=recipe.aux_weight,
        )
    loss_value = float(loss.detach())
    if not math.isfinite(loss_value):
        steps = math.ceil(len(run.data.train) / recipe.batch_size)
        raise _non_finite(
            run,
            f"loss became {loss_value} at epoch {epoch}, step {step} of {steps}",
            run.schedule.current_lr(),
        )
    run.optimizer.zero_grad(set_to_none=True)
    if run.world > 1:  # this rank's share of the global batch's mean loss
        loss = loss * (labels.shape[0] / _global_batch(run, step))
    (scaler.scale(loss) if scaler is not None else loss).backward()
    if run.world > 1:
        distributed.sum_gradients(run.model)
    if scaler is not None:
        scaler.unscale_(run.optimizer)  # clip the true gradient; inf/NaN skips the step
    if recipe.grad_clip > 0:
        nn.utils.clip_grad_norm_(run.model.parameters(), recipe.grad_clip)
    if scaler is not None:
        scaler.step(run.optimizer)
        scaler.update()
    else:
        run.optimizer.step()
    run.schedule.step_iteration()
    return loss_value, int((logits.argmax(1) == labels).sum())


def _global_batch(run: _Run, step: int) -> int:
    """The size of global batch ``step`` (the last one may be short)."""
    n, batch = len(run.data.train), run.recipe.batch_size
    return min(batch, n - (step - 1) * batch)


def _silent(text: str) -> None:
    del text


def _non_finite(run: _Run, what: str, lr: float) -> NonFiniteLossError:
    """The error that stops a run whose loss is NaN or infinite; the report records it."""
    kept = (
        f"The last good checkpoint (epoch {int(run.history[-1]['epoch'])}) is kept at "
        f"{run.folder.last}."
        if run.history
        else "No checkpoint had been written yet."
    )
    remedies = ["a lower learning rate"]
    remedies.append("a smaller --grad-clip" if run.recipe.grad_clip > 0 else "--grad-clip 1")
    if run.recipe.bf16:
        remedies.append("fp32 instead of bf16 (leave out --bf16)")
    error = NonFiniteLossError(
        f"{what} (learning rate {lr:.3g}); training stopped. {kept} Try "
        + ", ".join(remedies[:-1])
        + f" or {remedies[-1]}."
    )
    run.failure = f"failed: {error}"
    return error


# A uniform guess over K classes has loss ln K; a mean training loss a hundred times that means
# logits hundreds of units apart on the wrong classes: the rate is far too high (tanh LeNet-5
# at lr 1e6 reaches 1e7 and stays finite).
EXPLODING_LOSS = 100.0
"""An epoch's training loss above ``EXPLODING_LOSS x ln(classes)`` gives a warning."""


def _warn_if_exploding(run: _Run, row: dict[str, float]) -> None:
    limit = EXPLODING_LOSS * math.log(max(2, run.data.num_classes))
    if run.warned_explosion or row["train_loss"] <= limit:
        return
    run.warned_explosion = True
    warnings.warn(
        f"training loss {row['train_loss']:.4g} at epoch {int(row['epoch'])} is over {limit:.0f} "
        f"({EXPLODING_LOSS:g} x ln {run.data.num_classes}, the loss of a uniform guess): it is "
        f"exploding. Try a lower learning rate (now {row['lr']:.3g}) or --grad-clip",
        RuntimeWarning,
        stacklevel=4,
    )


def _end_epoch(run: _Run, row: dict[str, float]) -> bool:
    """Pick the best epoch, commit the epoch to the run folder, log it; ``True`` if best."""
    recipe, folder = run.recipe, run.folder
    epoch = int(row["epoch"])
    _warn_if_exploding(run, row)
    run.history.append(row)
    value = row[recipe.monitor]
    is_best = improved(value, run.best_value, recipe.monitor, threshold=0.0)
    if is_best:
        run.best_value, run.best_epoch, run.bad_epochs = value, epoch, 0
    else:
        run.bad_epochs += 1
    run.schedule.step_epoch(value)
    # optimizer.pt first: the best checkpoint always belongs to a committed epoch.
    meta = {**run.meta, "epoch": epoch, "metrics": row}
    written = [folder.best] if is_best else []
    commit_epoch(
        folder.state, _state(run, epoch), [(p, run.model) for p in [*written, folder.last]], meta
    )
    folder.write_metrics(run.history)
    folder.log_scalars(row, purge_step=epoch if epoch == run.start_epoch and run.resumed else None)
    # Plotting costs a few hundred ms: refresh the PNG at most every 30 s, and at the end.
    if time.perf_counter() - run.curves_time > 30 or epoch == recipe.epochs:
        _draw_curves(run)
    return is_best


def _state(run: _Run, epoch: int) -> dict[str, Any]:
    return {
        "epoch": epoch,
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "schedule": run.schedule.state_dict(),
        "rng": _rng_state(run.generators),
        "history": run.history,
        "best_value": run.best_value,
        "best_epoch": run.best_epoch,
        "bad_epochs": run.bad_epochs,
        **({"scaler": run.scaler.state_dict()} if run.scaler is not None else {}),
    }


def _draw_curves(run: _Run) -> None:
    run.folder.write_curves(run.history, f"{run.name} on {run.data.name}")
    run.curves_epoch = int(run.history[-1]["epoch"])
    run.curves_time = time.perf_counter()


def _evaluate_split(run: _Run, split: TensorSplit) -> Metrics:
    return evaluate(
        run.evaluated,
        split,
        mean=run.data.mean,
        std=run.data.std,
        batch_size=run.recipe.eval_batch_size,
        num_classes=run.data.num_classes,
        bf16=run.recipe.bf16,
        channels_last=bool(run.recipe.channels_last),
    )


def _finish(run: _Run, evaluate_test: bool) -> FitResult:
    """Load the best checkpoint, evaluate it on the test split, write the report."""
    seconds = time.perf_counter() - run.started
    test = None
    if run.best_epoch and run.folder.best.is_file():
        try:
            load_weights(run.model, run.folder.best, name=run.name)
        except CheckpointError as error:
            _write_report(run, None, f"failed: {error}")
            raise
        if evaluate_test:
            test = _evaluate_split(run, run.data.test)
    _write_report(run, test, run.stop_reason)
    return FitResult(
        run_dir=run.folder.path,
        history=run.history,
        best_epoch=run.best_epoch,
        best=next((r for r in run.history if r["epoch"] == run.best_epoch), {}),
        test=test,
        stop_reason=run.stop_reason,
        seconds=seconds,
    )


def _epoch_line(row: dict[str, float], epochs: int, is_best: bool) -> str:
    return (
        f"epoch {int(row['epoch'])}/{epochs}  train loss {row['train_loss']:.4f} acc "
        f"{row['train_acc']:.2f}%  val loss {row['val_loss']:.4f} acc {row['val_acc']:.2f}%  "
        f"lr {row['lr']:.3g}  {row['train_seconds']:.1f}s ({row['images_per_second']:,.0f} img/s)"
        + ("  *" if is_best else "")
    )


# -- report ----------------------------------------------------------------------------------


def _write_report(run: _Run, test: Metrics | None, status: str) -> None:
    """``report.md``: what was trained on what, the best epoch, the test figures and tables."""
    lines = [f"# {run.name} on {run.data.name}", "", *_report_facts(run, test, status), ""]
    lines += [
        "Files: `config.yaml`, `metrics.csv`, `metrics.jsonl`, `curves.png`, "
        "`checkpoints/best.safetensors`, `checkpoints/last.safetensors`, `optimizer.pt`, "
        "TensorBoard events (`tensorboard --logdir " + str(run.folder.path.parent) + "`).",
        "",
    ]
    if run.history:
        lines.append(markdown_table(REPORT_COLUMNS, [_report_row(r) for r in run.history]))
    if test is not None and test.confusion.shape[0] <= 20:
        classes = [str(c) for c in run.data.classes]
        lines += [
            "Test confusion matrix (rows: true class, columns: predicted):",
            "",
            markdown_table(
                ["true \\ predicted", *classes],
                [
                    [label, *map(str, counts)]
                    for label, counts in zip(classes, test.confusion.tolist(), strict=True)
                ],
            ),
        ]
    run.folder.write_report("\n".join(lines))


REPORT_COLUMNS = [
    "epoch",
    "lr",
    "train loss",
    "train acc",
    "val loss",
    "val acc",
    "val top-5",
    "s",
    "img/s",
]


def _report_row(r: dict[str, float]) -> list[str]:
    return [
        str(int(r["epoch"])),
        f"{r['lr']:.3g}",
        f"{r['train_loss']:.4f}",
        f"{r['train_acc']:.2f}",
        f"{r['val_loss']:.4f}",
        f"{r['val_acc']:.2f}",
        f"{r['val_top5']:.2f}",
        f"{r['train_seconds']:.1f}",
        f"{r['images_per_second']:,.0f}",
    ]


def _report_facts(run: _Run, test: Metrics | None, status: str) -> list[str]:
    data, recipe, history = run.data, run.recipe, run.history
    c, h, w = data.input_size
    lines = [
        f"- Status: {status}",
        f"- Data: {data.name} ({data.source}); train {len(data.train):,}, validation "
        f"{len(data.val):,}, test {len(data.test):,} images of {c}x{h}x{w}; split seed "
        f"{data.split_seed}",
        f"- Recipe: {recipe.name}: {recipe.optimizer} lr {recipe.lr:g}, batch {recipe.batch_size}, "
        f"{recipe.epochs} epochs, schedule {recipe.schedule}, weight decay {recipe.weight_decay:g}, "
        f"augmentation {recipe.augment}" + (", bf16" if recipe.bf16 else ""),
    ]
    if history:
        best = next((r for r in history if r["epoch"] == run.best_epoch), history[-1])
        train_time = sum(r["train_seconds"] for r in history)
        lines += [
            f"- Epochs completed: {len(history)}; training time {train_time:.1f} s "
            f"({train_time / len(history):.2f} s per epoch, "
            f"{sum(r['images_per_second'] for r in history) / len(history):,.0f} images/s)",
            f"- Best epoch (on validation {recipe.monitor}): {run.best_epoch}: validation loss "
            f"{best['val_loss']:.4f}, top-1 {best['val_acc']:.2f}%, top-5 {best['val_top5']:.2f}%",
        ]
    if test is not None:
        lines.append(
            f"- **Test** (best checkpoint, {test.count:,} images): loss {test.loss:.4f}, "
            f"top-1 **{test.top1:.2f}%**, top-5 {test.top5:.2f}%"
        )
    return lines
