"""Unstructured magnitude pruning: zero the smallest weights, layer by layer or globally.

S. Han, J. Pool, J. Tran, W. J. Dally. Learning both Weights and Connections for Efficient
Neural Networks. NeurIPS 2015 (prune the smallest-magnitude weights, retrain, repeat; per-layer
sensitivity curves); M. Zhu, S. Gupta. To prune, or not to prune. 2017 (the cubic sparsity
schedule of :func:`sparsity_schedule`).

Masks go through ``torch.nn.utils.prune`` (a ``weight_orig`` parameter times a ``weight_mask``
buffer), so fine-tuning between steps keeps pruned weights at exactly zero whatever the
optimizer does; :func:`make_permanent` folds the masks into plain ``weight`` tensors so the model
saves, loads and exports like the original architecture. Shapes and MACs do not change (the
zeros are only saved by sparse storage, see :mod:`cnnzoo.compress.deep`); for a model that is
really smaller and faster, remove channels with :mod:`cnnzoo.compress.structured`.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.utils.prune as prune
from matplotlib.figure import Figure

from cnnzoo.train.checkpoint import atomic_write_with

__all__ = [
    "LayerSparsity",
    "check_sparsity",
    "layer_sparsity",
    "magnitude_prune",
    "make_permanent",
    "plot_sensitivity",
    "prunable_layers",
    "resolve_per_layer",
    "sensitivity",
    "sparsity_schedule",
]

PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def check_sparsity(value: float, what: str = "sparsity") -> float:
    """``value`` if it is a fraction in [0, 1), else a one-line ``ValueError``."""
    if not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise ValueError(
            f"{what} must be a fraction in [0, 1) (the share of weights set to zero), got "
            f"{value!r}; e.g. 0.9 keeps 10% of the weights"
        )
    return float(value)


def prunable_layers(model: nn.Module, exclude: Iterable[str] = ()) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every convolution and linear layer, minus ``exclude`` patterns."""
    exclude = tuple(exclude)
    return [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, PRUNABLE)
        and not any(fnmatch.fnmatch(name, pattern) for pattern in exclude)
    ]


def resolve_per_layer(
    names: Sequence[str], value: float | Mapping[str, float], check: Callable[[float], float]
) -> dict[str, float]:
    """One value per layer name from a number or ``{fnmatch pattern: value}`` (the last matching
    pattern wins; layers no pattern matches are left out)."""
    if not isinstance(value, Mapping):
        return {name: check(value) for name in names}
    result: dict[str, float] = {}
    for pattern, v in value.items():
        matched = [n for n in names if fnmatch.fnmatch(n, pattern)]
        if not matched:
            raise KeyError(
                f"layer pattern {pattern!r} matches none of the prunable layers "
                f"({', '.join(names)})"
            )
        for name in matched:
            result[name] = check(v)
    return result


def _current_weight(module: nn.Module) -> torch.Tensor:
    # With a mask applied, ``weight`` is weight_orig * weight_mask (already zero where pruned).
    return module.weight.detach()


def _keep_mask(magnitude: torch.Tensor, keep: int) -> torch.Tensor:
    mask = torch.zeros(magnitude.numel(), dtype=torch.bool)
    if keep > 0:
        mask[magnitude.flatten().topk(keep).indices] = True
    return mask.view_as(magnitude)


def magnitude_prune(
    model: nn.Module,
    sparsity: float | Mapping[str, float],
    scope: str = "layer",
    exclude: Iterable[str] = (),
) -> dict[str, float]:
    """Zero the smallest-magnitude weights so that each layer (``scope="layer"``) or all chosen
    layers together (``"global"``) reach ``sparsity``; returns each layer's new sparsity.

    ``sparsity`` is one fraction or ``{layer pattern: fraction}`` (layer scope only). Calling it
    again with a higher target prunes further (weights already zero stay zero): the iterative
    schedule of Han et al. Biases are not pruned (they are <1% of the weights here).
    """
    layers = prunable_layers(model, exclude)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Conv/Linear layer to prune")
    if scope not in ("layer", "global"):
        raise ValueError(f"scope must be 'layer' or 'global', got {scope!r}")
    targets = resolve_per_layer([n for n, _ in layers], sparsity, check_sparsity)
    chosen = [(n, m) for n, m in layers if n in targets]
    if scope == "global":
        if isinstance(sparsity, Mapping):
            raise ValueError("global pruning takes one sparsity for all layers, not a mapping")
        flat = torch.cat([_current_weight(m).abs().flatten() for _, m in chosen])
        keep = _keep_mask(flat, round((1.0 - targets[chosen[0][0]]) * flat.numel())).flatten()
        masks, start = {}, 0
        for name, module in chosen:
            n = module.weight.numel()
            masks[name] = keep[start : start + n].view_as(module.weight)
            start += n
    else:
        masks = {
            name: _keep_mask(
                _current_weight(module).abs(),
                round((1.0 - targets[name]) * module.weight.numel()),
            )
            for name, module in chosen
        }
    for name, module in chosen:
        # custom_from_mask multiplies with an existing mask, so earlier zeros are kept.
        prune.custom_from_mask(module, "weight", masks[name].to(module.weight.device))
    return {name: 1.0 - float(masks[name].float().mean()) for name, _ in chosen}


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold every pruning mask into its ``weight`` (``prune.remove``): a plain state dict again."""
    for module in model.modules():
        for hook in list(module._forward_pre_hooks.values()):
            if isinstance(hook, prune.BasePruningMethod):
                prune.remove(module, hook._tensor_name)
    return model


def sparsity_schedule(target: float, steps: int, kind: str = "cubic") -> list[float]:
    """Sparsity after each of ``steps`` pruning steps, ending at ``target``.

    ``cubic`` (Zhu & Gupta 2017): s_i = target * (1 - (1 - i/steps)^3), pruning hard while the
    network has redundancy and gently near the end; ``linear``: equal increments.
    """
    check_sparsity(target)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if kind not in ("cubic", "linear"):
        raise ValueError(f"schedule must be 'cubic' or 'linear', got {kind!r}")
    if kind == "linear":
        return [target * i / steps for i in range(1, steps + 1)]
    return [target * (1.0 - (1.0 - i / steps) ** 3) for i in range(1, steps + 1)]


@dataclass
class LayerSparsity:
    """Weights and non-zero weights of one prunable layer."""

    name: str
    weights: int
    nonzero: int

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzero / self.weights if self.weights else 0.0


def layer_sparsity(model: nn.Module) -> list[LayerSparsity]:
    """Weights and non-zeros of every Conv/Linear weight (masks applied or permanent)."""
    return [
        LayerSparsity(name, module.weight.numel(), int(torch.count_nonzero(module.weight)))
        for name, module in prunable_layers(model)
    ]


def sensitivity(
    model: nn.Module,
    score: Callable[[nn.Module], float],
    sparsities: Sequence[float] = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95),
    exclude: Iterable[str] = (),
) -> dict[str, list[tuple[float, float]]]:
    """Han et al. 2015's sensitivity analysis: prune one layer at a time (no retraining) to each
    sparsity and record ``score(model)`` (e.g. validation top-1); other layers stay dense.

    The model is left as it was (its weights are restored after each layer)."""
    for s in sparsities:
        check_sparsity(s)
    curves: dict[str, list[tuple[float, float]]] = {}
    for name, module in prunable_layers(model, exclude):
        original = module.weight.detach().clone()
        points = []
        for s in sparsities:
            keep = _keep_mask(original.abs(), round((1.0 - s) * original.numel()))
            with torch.no_grad():
                module.weight.copy_(original * keep)
            points.append((s, float(score(model))))
        with torch.no_grad():
            module.weight.copy_(original)
        curves[name] = points
    return curves


def plot_sensitivity(
    curves: Mapping[str, Sequence[tuple[float, float]]], path: str | Path, title: str = ""
) -> Path:
    """Accuracy against sparsity, one line per layer (Han et al. 2015, Fig. 5), as a PNG."""
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    for name, points in curves.items():
        ax.plot([100 * s for s, _ in points], [a for _, a in points], "o-", ms=3, label=name)
    ax.set_xlabel("weights pruned in this layer only (%)")
    ax.set_ylabel("validation top-1 (%)")
    ax.set_title(title or "Per-layer pruning sensitivity (no retraining)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    path = Path(path)
    atomic_write_with(path, lambda buffer: fig.savefig(buffer, format="png", dpi=90))
    return path


def density(model: nn.Module) -> float:
    """Share of non-zero weights over all Conv/Linear layers."""
    rows = layer_sparsity(model)
    total = sum(r.weights for r in rows)
    return sum(r.nonzero for r in rows) / total if total else math.nan
