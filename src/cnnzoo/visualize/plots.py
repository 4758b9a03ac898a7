"""Figures shared by the visualisations: image grids, heat maps, atomic PNG writes.

Everything uses matplotlib's object API (``matplotlib.figure.Figure``), never ``pyplot``'s global
state, so figures can be built in threads and notebooks alike.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from cnnzoo.train.checkpoint import atomic_write_with

__all__ = ["grid_figure", "save_figure", "show", "to_display", "unit_scale"]


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Write ``fig`` as a PNG atomically; return the path."""
    path = Path(path)
    atomic_write_with(path, lambda buffer: fig.savefig(buffer, format="png", dpi=dpi))
    return path


def unit_scale(t: torch.Tensor, symmetric: bool = False) -> torch.Tensor:
    """Scale to [0, 1] (``symmetric``: 0.5 is zero, for signed maps such as filters)."""
    t = t.detach().float()
    if symmetric:
        bound = t.abs().max().clamp_min(1e-12)
        return t / (2 * bound) + 0.5
    low, high = t.min(), t.max()
    return (t - low) / (high - low).clamp_min(1e-12)


def to_display(image: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` -> ``(H, W)`` for one channel, ``(H, W, 3)`` for three; uint8 stays 0-255,
    float is taken as already in [0, 1]."""
    image = image.detach().cpu()
    if image.dtype == torch.uint8:
        image = image.float() / 255
    image = image.clamp(0, 1)
    if image.dim() == 3 and image.shape[0] == 1:
        image = image[0]
    elif image.dim() == 3:
        image = image[:3].permute(1, 2, 0)
    return image.numpy()


def show(ax: Any, picture: np.ndarray, cmap: str = "gray", **kwargs: Any) -> Any:
    """``ax.imshow`` of a [0, 1] picture (:func:`to_display`) as it is. Without ``vmin``/``vmax``
    matplotlib stretches a one-channel array to its own minimum and maximum, so zero would no
    longer be mid-grey and filters sharing one scale would each get their own."""
    return ax.imshow(picture, cmap=cmap, vmin=0.0, vmax=1.0, **kwargs)


def grid_figure(
    images: Sequence[torch.Tensor],
    *,
    titles: Sequence[str] | None = None,
    cols: int | None = None,
    title: str = "",
    cmap: str = "gray",
    cell: float = 1.3,
) -> Figure:
    """One image per cell (``(C, H, W)`` tensors in [0, 1] or uint8), no axes."""
    count = len(images)
    cols = cols or max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / cols))
    fig = Figure(figsize=(cols * cell, rows * cell + (0.5 if title else 0)))
    axes = fig.subplots(rows, cols, squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index >= count:
            continue
        show(ax, to_display(images[index]), cmap, interpolation="nearest")
        if titles:
            ax.set_title(titles[index], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
