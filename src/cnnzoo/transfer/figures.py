"""The neighbours figure of Krizhevsky, Sutskever & Hinton ("ImageNet Classification with Deep
Convolutional Neural Networks", NeurIPS 2012, Figure 4, right): each query test image, then the
training images nearest to it in feature space (L2), nearest first."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from matplotlib.figure import Figure

from cnnzoo.train.checkpoint import atomic_write_with

__all__ = ["neighbors_figure"]


def _show(ax, image: torch.Tensor) -> None:
    if image.shape[0] == 1:
        ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(image.permute(1, 2, 0).numpy())
    ax.set_xticks([])
    ax.set_yticks([])


def neighbors_figure(
    path: str | os.PathLike[str],
    queries: torch.Tensor,
    query_labels: torch.Tensor,
    neighbors: torch.Tensor,
    neighbor_labels: torch.Tensor,
    distances: torch.Tensor,
    classes: Sequence[str],
    title: str = "",
) -> Path:
    """Write the PNG: one row per query (uint8 ``(Q, C, H, W)``), its ``k`` neighbours
    (``(Q, k, C, H, W)``) beside it, each captioned with its class and L2 distance; a neighbour
    of another class than the query is captioned in red."""
    rows, k = neighbors.shape[:2]
    fig = Figure(figsize=(1.25 * (k + 1), 1.35 * rows + 0.5))
    grid = fig.add_gridspec(rows, k + 1, wspace=0.1, hspace=0.45)
    for r in range(rows):
        ax = fig.add_subplot(grid[r, 0])
        _show(ax, queries[r])
        ax.set_title(f"query: {classes[int(query_labels[r])]}"[:18], fontsize=7, weight="bold")
        for j in range(k):
            ax = fig.add_subplot(grid[r, j + 1])
            _show(ax, neighbors[r, j])
            same = int(neighbor_labels[r, j]) == int(query_labels[r])
            ax.set_title(
                f"{classes[int(neighbor_labels[r, j])][:10]} {float(distances[r, j]):.1f}",
                fontsize=7,
                color="black" if same else "red",
            )
    if title:
        fig.suptitle(title, fontsize=9)
    path = Path(path)
    atomic_write_with(path, lambda buffer: fig.savefig(buffer, format="png", dpi=72))
    return path
