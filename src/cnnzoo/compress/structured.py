"""Structured (channel) pruning: remove whole filters, so MACs and latency drop, not only the
parameter count.

H. Li, A. Kadav, I. Durdanovic, H. Samet, H. P. Graf. Pruning Filters for Efficient ConvNets.
ICLR 2017 (rank filters by their L1/L2 norm); G. Fang, X. Ma, M. Song, M. B. Mi, X. Wang.
DepGraph: Towards Any Structural Pruning. CVPR 2023 (Torch-Pruning's dependency graph).

Torch-Pruning traces the model once and groups every layer that must lose the same channels
(a convolution, its BatchNorm, the next convolution's inputs, and everything joined by a
residual addition or a concatenation), so the pruned model stays consistent. We use it as is;
what it lacks for us is a way to name the layer it cannot handle and a safe way to save the
result: :func:`cnnzoo.compress.common.module_structure` records the new channel counts in the
checkpoint's JSON, and ``cnnzoo.train.load_checkpoint`` rebuilds the registered architecture with
them, so no pickled modules are ever loaded.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn as nn
import torch_pruning as tp

from cnnzoo.compress.pruning import check_sparsity

__all__ = ["channel_prune", "check_traceable", "count_macs_params"]

IMPORTANCE = {
    "l1": lambda: tp.importance.GroupMagnitudeImportance(p=1),
    "l2": lambda: tp.importance.GroupMagnitudeImportance(p=2),
    "random": tp.importance.RandomImportance,
}


def count_macs_params(model: nn.Module, example: torch.Tensor) -> tuple[int, int]:
    """(MACs, parameters) at ``example``'s shape, as Torch-Pruning counts them."""
    macs, params = tp.utils.count_ops_and_params(model, example)
    return int(macs), int(params)


def check_traceable(model: nn.Module, example: torch.Tensor) -> None:
    """Raise a ``ValueError`` naming the first module that changes the number of channels
    without parameters (e.g. ResNet's zero-padding option-A shortcut): Torch-Pruning's graph
    cannot propagate a channel removal through it, and the pruned model would not run."""
    culprits: list[str] = []
    hooks = []
    for name, module in model.named_modules():
        if any(True for _ in module.children()) or any(True for _ in module.parameters()):
            continue

        def check(mod: nn.Module, inputs: Any, output: Any, name: str = name) -> None:
            x = inputs[0] if inputs else None
            if (
                isinstance(x, torch.Tensor)
                and isinstance(output, torch.Tensor)
                and x.ndim == output.ndim >= 3
                and x.shape[1] != output.shape[1]
            ):
                culprits.append(f"{name} ({type(mod).__name__}: {x.shape[1]} -> {output.shape[1]})")

        hooks.append(module.register_forward_hook(check))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for hook in hooks:
            hook.remove()
    if culprits:
        raise ValueError(
            f"Torch-Pruning cannot trace layer {culprits[0]}: it changes the channel count "
            "without parameters, so removing channels before it breaks the model. Use a variant "
            "with a projection instead (for CIFAR ResNets: model_kwargs shortcut='B'), or "
            "exclude the layers around it with --exclude"
        )


def _ignored(model: nn.Module, exclude: Iterable[str]) -> list[nn.Module]:
    get = getattr(model, "get_classifier", None)
    ignored = [get()] if callable(get) else []
    patterns = tuple(exclude)
    ignored += [m for n, m in model.named_modules() if any(fnmatch.fnmatch(n, p) for p in patterns)]
    return ignored


def channel_prune(
    model: nn.Module,
    example: torch.Tensor,
    ratio: float,
    importance: str = "l2",
    global_pruning: bool = False,
    exclude: Iterable[str] = (),
    round_to: int | None = None,
) -> nn.Module:
    """Remove ``ratio`` of the channels of every prunable group of ``model`` (in place).

    The classifier (``get_classifier()``) keeps its outputs. ``importance``: ``l1``/``l2`` filter
    norms (Li et al. 2017) or ``random`` (a baseline). Removing a share ``r`` of the channels of
    both sides of a convolution cuts its MACs by about ``1 - (1 - r)^2``. Returns the model.
    """
    check_sparsity(ratio, "channel pruning ratio")
    if importance not in IMPORTANCE:
        raise ValueError(f"importance must be one of {', '.join(IMPORTANCE)}, got {importance!r}")
    model.eval()
    check_traceable(model, example)
    pruner = tp.pruner.MetaPruner(
        model,
        example,
        importance=IMPORTANCE[importance](),
        pruning_ratio=ratio,
        global_pruning=global_pruning,
        ignored_layers=_ignored(model, exclude),
        round_to=round_to,
    )
    pruner.step()
    _verify(model, example)
    return model


def _verify(model: nn.Module, example: torch.Tensor) -> None:
    """Run the pruned model once; name the module where it breaks."""
    current: list[str] = []
    hooks = [
        module.register_forward_pre_hook(lambda _m, _i, name=name: current.append(name))
        for name, module in model.named_modules()
        if not any(True for _ in module.children())
    ]
    try:
        with torch.no_grad():
            model(example)
    except RuntimeError as error:
        where = current[-1] if current else "the model's first layer"
        raise ValueError(
            f"Torch-Pruning produced a model that fails at layer {where} "
            f"({str(error).splitlines()[0]}); exclude that layer's block with --exclude"
        ) from None
    finally:
        for hook in hooks:
            hook.remove()
