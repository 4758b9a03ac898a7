"""Activation maps of a layer for one image, and learned convolution filters.

The lectures' first look inside a network: every feature map of the first convolution and the
first max-pool for one image, and AlexNet's first-layer filters as colour patches (Krizhevsky,
Sutskever, Hinton. ImageNet Classification with Deep Convolutional Neural Networks. 2012, Fig. 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
from matplotlib.figure import Figure

from cnnzoo.visualize.plots import grid_figure, unit_scale
from cnnzoo.visualize.source import evaluating, find_layer

__all__ = ["activations", "filters", "first_conv", "plot_activations", "plot_filters"]

MAX_MAPS = 64


def activations(
    model: nn.Module, x: torch.Tensor, layers: Sequence[str]
) -> dict[str, torch.Tensor]:
    """``{layer: output}`` for input ``x`` (one forward pass in eval mode, no gradients; the
    model's own mode is restored)."""
    captured: dict[str, torch.Tensor] = {}

    def keep(name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            captured[name] = (output[0] if isinstance(output, (tuple, list)) else output).detach()

        return hook

    handles = [find_layer(model, name).register_forward_hook(keep(name)) for name in layers]
    try:
        with evaluating(model), torch.inference_mode():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    missing = [name for name in layers if name not in captured]
    if missing:
        raise ValueError(f"layer(s) {', '.join(missing)} are not used by the forward pass")
    return {name: captured[name] for name in layers}


def plot_activations(
    maps: torch.Tensor, layer: str, title: str = "", image: torch.Tensor | None = None
) -> Figure:
    """Every map of one image's layer output ``(C, H, W)`` (the first 64), one grid, each map
    scaled to its own range, after the input ``image`` if given; a vector output (after
    flattening) is shown as one strip."""
    if maps.dim() == 1:
        maps = maps.view(1, 1, -1)
    shown = maps[:MAX_MAPS]
    more = f", first {MAX_MAPS} of {maps.shape[0]}" if maps.shape[0] > MAX_MAPS else ""
    size = "x".join(map(str, maps.shape))
    cells = [unit_scale(m).unsqueeze(0) for m in shown]
    titles = [str(i) for i in range(len(shown))]
    if image is not None:
        cells, titles = [image, *cells], ["input", *titles]
    return grid_figure(
        cells, titles=titles, title=f"{title}\n{layer}: {size}{more}", cmap="viridis"
    )


def first_conv(model: nn.Module) -> str:
    """The name of the first ``nn.Conv2d`` in module order."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name
    raise ValueError(f"{type(model).__name__} has no Conv2d layer")


def filters(model: nn.Module, layer: str | None = None) -> torch.Tensor:
    """The weights ``(out, in / groups, kH, kW)`` of a convolution (default: the first)."""
    name = layer or first_conv(model)
    module = find_layer(model, name)
    if not isinstance(module, nn.Conv2d):
        raise ValueError(
            f"layer {name!r} is a {type(module).__name__}, not a Conv2d; filters are shown for "
            f"convolutions (the first is {first_conv(model)!r})"
        )
    return module.weight.detach().clone()


def plot_filters(weight: torch.Tensor, layer: str, title: str = "", limit: int = 64) -> Figure:
    """RGB (grey) patches when the filters see 3 (1) channels, i.e. a first layer, else one grey patch per
    (filter, input channel) pair: rows are filters, columns input channels (up to 16 each).
    Zero is mid-grey; each figure shares one scale, so strong and weak filters compare."""
    out, inputs = weight.shape[:2]
    size = "x".join(map(str, weight.shape))
    if inputs in (1, 3):
        shown = unit_scale(weight[:limit], symmetric=True)
        kind = "RGB" if inputs == 3 else "grey"
        return grid_figure(list(shown), title=f"{title}\n{layer}: {size} ({kind})", cell=0.9)
    rows, cols = min(out, 16), min(inputs, 16)
    patch = unit_scale(weight[:rows, :cols], symmetric=True)
    cells = [patch[r, c].unsqueeze(0) for r in range(rows) for c in range(cols)]
    return grid_figure(
        cells,
        cols=cols,
        title=f"{title}\n{layer}: {size}; rows: filters 0-{rows - 1}, columns: input channels "
        f"0-{cols - 1}",
        cell=0.6 if cols > 1 else 0.9,
    )
