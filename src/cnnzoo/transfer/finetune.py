"""Fine-tuning a pretrained model: an ordinary run folder made by :func:`cnnzoo.train.fit`.

The lectures' recipe (after Yosinski et al., "How transferable are features in deep neural
networks?", NeurIPS 2014, and the CS231n notes on transfer learning): replace the last layer with
a fresh one sized for the new classes, freeze what the new data set is too small to retrain
(:mod:`cnnzoo.transfer.freeze`), give the new head a larger learning rate, and optionally unfreeze
everything after a few epochs (``unfreeze_at``).

The new data are normalised as the weights expect (the source's mean/std, at its input size),
and the source, its preprocessing, the policy and the notes go into the run's config.yaml.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cnnzoo.data import DataBundle, load_data
from cnnzoo.registry import create_model
from cnnzoo.train import FitResult, Recipe, RunFolder, fit, read_metadata
from cnnzoo.transfer.freeze import finetune_param_groups, freeze, unfreeze
from cnnzoo.transfer.pretrained import adapt_to

__all__ = ["data_for_weights", "finetune", "normalised_as_weights", "pretrained_model"]


def pretrained_model(
    source: Any, model_name: str | None = None, *, download: bool = False, **kwargs: Any
) -> nn.Module:
    """``create_model(model_name, pretrained=source)``; a run folder or checkpoint names its model."""
    if model_name is None:
        if source == "torchvision" or source is True:
            raise ValueError("pretrained='torchvision' needs a model name (e.g. resnet18)")
        model_name = source_model_name(source)
    return create_model(model_name, pretrained=source, download=download, **kwargs)


def source_model_name(source: Any) -> str:
    """The registered model a run folder or ``.safetensors`` checkpoint was trained as."""
    path = Path(source)
    if path.is_dir():
        path = path / "checkpoints" / "best.safetensors"
    if path.suffix != ".safetensors" or not path.is_file():
        raise ValueError(
            f"{source} does not name its model (only cnnzoo run folders and .safetensors "
            "checkpoints do); give the model name too (--model NAME)"
        )
    name = read_metadata(path).get("model")
    if not name:
        raise ValueError(f"{path} has no cnnzoo metadata naming its model; give --model NAME")
    return str(name)


def data_for_weights(
    model: nn.Module,
    recipe: Recipe,
    data_dir: str | None = None,
    *,
    download: bool = False,
) -> DataBundle:
    """``recipe.data`` at the weights' input size and channels, normalised as they expect."""
    pre = model.pretrained_cfg["preprocessing"]
    chans, height, width = pre["input_size"]
    return load_data(
        recipe.data,
        data_dir,
        val_fraction=recipe.val_fraction,
        seed=recipe.seed,
        image_size=recipe.image_size or (height, width),
        in_chans=chans,
        download=download,
        limit=recipe.limit,
    )


def normalised_as_weights(model: nn.Module, data: DataBundle) -> DataBundle:
    """``data`` with the mean/std the weights were trained with (per channel, adapted)."""
    pre = model.pretrained_cfg["preprocessing"]
    if not pre.get("mean") or len(pre["mean"]) != data.in_chans:
        return data
    return dataclasses.replace(data, mean=tuple(pre["mean"]), std=tuple(pre["std"]))


def finetune(
    model: nn.Module,
    data: DataBundle,
    recipe: Recipe,
    run_dir: str | Path | None = None,
    *,
    policy: str = "none",
    head_lr_mult: float = 1.0,
    unfreeze_at: int | None = None,
    resume: bool = False,
    quiet: bool = True,
    log: Callable[[str], None] | None = None,
    extra_config: dict[str, Any] | None = None,
) -> FitResult:
    """Fine-tune a pretrained ``model`` (from :func:`pretrained_model`) on ``data``.

    The head is re-initialised if ``data`` has other classes; ``policy`` freezes layers
    (:func:`cnnzoo.transfer.freeze`); the head's rate is ``recipe.lr x head_lr_mult``; from epoch
    ``unfreeze_at`` on every layer trains (those layers are in the optimizer from the start but
    get no gradient, hence no update and no state, until then, so a resumed run has the same
    optimizer). Returns :func:`cnnzoo.train.fit`'s result; the run folder is a normal one.
    """
    say = log or (lambda text: None if quiet else print(text, flush=True))
    if head_lr_mult <= 0:
        raise ValueError(f"head_lr_mult must be positive, got {head_lr_mult}")
    if unfreeze_at is not None and unfreeze_at < 1:
        raise ValueError(f"unfreeze_at is an epoch number (1 or more), got {unfreeze_at}")
    if not hasattr(model, "pretrained_cfg"):
        raise ValueError("finetune needs a pretrained model: build it with pretrained_model()")
    if not resume:
        torch.manual_seed(recipe.seed)  # the new head's initialisation
        adapt_to(model, num_classes=data.num_classes)
    data = normalised_as_weights(model, data)
    start = _completed_epochs(run_dir) + 1 if resume else 1
    frozen_now = unfreeze_at is None or start < unfreeze_at
    trainable = freeze(model, policy if frozen_now else "none")
    include = {n for n, _ in model.named_parameters()} if unfreeze_at is not None else None
    total = sum(p.numel() for p in model.parameters())
    share = sum(p.numel() for n, p in model.named_parameters() if n in set(trainable))
    say(f"freeze {policy}: {len(trainable)} tensors train ({share:,} of {total:,} parameters)")
    for note in model.pretrained_cfg["notes"]:
        say(f"pretrained: {note}")

    def on_epoch_end(row: dict[str, float]) -> None:
        if unfreeze_at is not None and int(row["epoch"]) + 1 == unfreeze_at:
            unfreeze(model)
            model.train()
            say(f"epoch {unfreeze_at} on: every layer trains (--unfreeze-at {unfreeze_at})")

    config = {
        "pretrained": model.pretrained_cfg,
        "finetune": {
            "policy": policy,
            "head_lr_mult": head_lr_mult,
            "unfreeze_at": unfreeze_at,
            "trainable_parameters": share,
            "total_parameters": total,
        },
        **(extra_config or {}),
    }
    return fit(
        model,
        data,
        recipe,
        run_dir,
        resume=resume,
        quiet=quiet,
        log=log,
        on_epoch_end=on_epoch_end,
        extra_config=config,
        param_groups=finetune_param_groups(
            model, recipe.weight_decay, head_lr_mult=head_lr_mult, include=include
        ),
    )


def _completed_epochs(run_dir: str | Path | None) -> int:
    if run_dir is None:
        raise ValueError("resuming a fine-tuning run needs its run folder")
    last = RunFolder(run_dir).last
    return int(read_metadata(last).get("epoch", 0)) if last.is_file() else 0
