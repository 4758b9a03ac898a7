"""The dataset patches that most excite a feature map, with their deconvnet projections.

Zeiler, Fergus. Visualizing and Understanding Convolutional Networks. ECCV 2014 (arXiv 2013),
Fig. 2: for a feature map, the k images whose strongest unit responds most, each cropped to that
unit's receptive field, beside the deconvnet projection of that one unit back to pixel space.

The strongest unit of every image and channel comes from batched forward passes that stop at the
layer (nothing after it is computed). The projection is captum's ``Deconvolution`` attribution of
that unit, all channels' images in one backward pass. Receptive field and jump come from
:func:`cnnzoo.analysis.summary`; a unit's box is centred on its map position assuming the map is
centred on the input, ``offset = ((W_in - 1) - (W_out - 1) * jump) / 2`` (exact for symmetric
padding; floor-mode pooling can shift it by less than one jump).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib.figure import Figure

from cnnzoo.analysis import summary
from cnnzoo.visualize.attribution import project_units
from cnnzoo.visualize.plots import show, to_display, unit_scale
from cnnzoo.visualize.source import evaluating, layer_output

__all__ = ["TopPatches", "layer_geometry", "plot_top_patches", "strongest_units", "top_patches"]


@dataclass
class TopPatches:
    """For each channel, its ``k`` strongest images (best first)."""

    layer: str
    channels: list[int]
    indices: torch.Tensor
    """``(channels, k)`` positions in the image tensor that was searched."""
    scores: torch.Tensor
    """``(channels, k)`` the strongest unit's activation."""
    units: torch.Tensor
    """``(channels, k, 2)`` that unit's (row, column) in the feature map."""
    boxes: torch.Tensor
    """``(channels, k, 4)`` its receptive field in pixels: top, left, bottom, right (exclusive),
    clipped to the image."""
    patches: torch.Tensor
    """``(channels, k, C, rf, rf)`` uint8 crops; where the field leaves the image, zeros."""
    projections: torch.Tensor
    """``(channels, k, C, rf, rf)`` deconvnet projections of the unit, same crops."""
    receptive_field: int
    jump: int
    method: str = "deconvnet"
    """How the projections were made: deconvnet or guided-backprop."""


def layer_geometry(model: nn.Module, input_size: Sequence[int], layer: str) -> tuple[int, int]:
    """``(receptive field, jump)`` of ``layer`` (a container: its last inner layer) from the
    meta-tensor summary; a field wider than the image is clipped to the image."""
    rows = summary(model, tuple(input_size)).rows
    match = [row for row in rows if row.name == layer] or [
        row for row in rows if row.name.startswith(layer + ".")
    ]
    if not match:
        raise ValueError(f"layer {layer!r} has no row in the summary of {type(model).__name__}")
    row = match[-1]
    if row.receptive_field is None or row.jump is None:
        raise ValueError(
            f"layer {layer!r} sees the whole image (after global pooling or a linear layer); "
            "top patches need a convolutional feature map"
        )
    return min(max(row.receptive_field), max(input_size[1:])), max(row.jump)


def strongest_units(
    model: nn.Module,
    images: torch.Tensor,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    layer: str,
    batch_size: int = 1000,
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """Per image and channel the largest activation and its flat map position:
    ``(values (N, C), positions (N, C), map (H, W))``."""
    values, positions, size = [], [], (1, 1)
    with evaluating(model), torch.inference_mode():
        for start in range(0, images.shape[0], batch_size):
            out = layer_output(model, prepare(images[start : start + batch_size]), layer)
            if out.dim() != 4:
                raise ValueError(f"layer {layer!r} has no feature map (output {tuple(out.shape)})")
            size = tuple(out.shape[2:])
            best = out.flatten(2).max(dim=2)
            values.append(best.values.float())
            positions.append(best.indices)
    return torch.cat(values), torch.cat(positions), size  # type: ignore[return-value]


def _boxes(units: torch.Tensor, rf: int, jump: int, map_size, image_size) -> torch.Tensor:
    """Receptive-field boxes ``(..., 4)`` (unclipped) of map positions ``(..., 2)``."""
    h_in, w_in = image_size
    offsets = torch.tensor(
        [((h_in - 1) - (map_size[0] - 1) * jump) / 2, ((w_in - 1) - (map_size[1] - 1) * jump) / 2]
    )
    centre = units.float() * jump + offsets
    top_left = torch.floor(centre - (rf - 1) / 2 + 1e-6).long()
    return torch.cat([top_left, top_left + rf], dim=-1)


def _crop(image: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """``image[:, top:bottom, left:right]`` with zeros outside the image."""
    top, left, bottom, right = box.tolist()
    h, w = image.shape[-2:]
    pad = (max(0, -left), max(0, right - w), max(0, -top), max(0, bottom - h))
    padded = F.pad(image, pad)
    return padded[:, top + pad[2] : bottom + pad[2], left + pad[0] : right + pad[0]]


def top_patches(
    model: nn.Module,
    images: torch.Tensor,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    layer: str,
    channels: Sequence[int] | None = None,
    k: int = 9,
    *,
    batch_size: int = 1000,
    projection: str = "deconvnet",
) -> TopPatches:
    """The ``k`` images (of uint8 ``images``) that most activate each channel of ``layer``.

    ``prepare`` turns uint8 images into model input (the run's normalisation); ``channels``
    defaults to the first 8; ``projection`` is ``"deconvnet"`` (ZFNet) or ``"guided-backprop"``.
    """
    values, positions, map_size = strongest_units(model, images, prepare, layer, batch_size)
    chosen = list(channels) if channels is not None else list(range(min(8, values.shape[1])))
    bad = [c for c in chosen if not 0 <= c < values.shape[1]]
    if bad:
        raise ValueError(f"{layer!r} has channels 0..{values.shape[1] - 1}, not {bad[0]}")
    k = min(k, images.shape[0])
    scores, indices = values[:, chosen].topk(k, dim=0)  # (k, channels)
    scores, indices = scores.T.contiguous(), indices.T.contiguous()
    flat = torch.gather(positions[:, chosen].T, 1, indices)  # (channels, k)
    units = torch.stack([flat // map_size[1], flat % map_size[1]], dim=-1)
    rf, jump = layer_geometry(model, images.shape[1:], layer)
    boxes = _boxes(units, rf, jump, map_size, images.shape[-2:])
    # Projection of each chosen unit: one batch, one backward pass.
    unit_index = torch.tensor(chosen).view(-1, 1) * (map_size[0] * map_size[1]) + flat
    projected_units = project_units(
        model, prepare(images[indices.flatten()]), layer, unit_index.flatten(), projection
    )
    crops = [_crop(images[i], b) for i, b in zip(indices.flatten(), boxes.view(-1, 4), strict=True)]
    projected = [
        _crop(p, b)
        for p, b in zip(projected_units.view(-1, *images.shape[1:]), boxes.view(-1, 4), strict=True)
    ]
    h, w = images.shape[-2:]
    clipped = torch.stack(
        [
            boxes[..., 0].clamp(0, h),
            boxes[..., 1].clamp(0, w),
            boxes[..., 2].clamp(0, h),
            boxes[..., 3].clamp(0, w),
        ],
        dim=-1,
    )
    return TopPatches(
        layer=layer,
        channels=chosen,
        indices=indices,
        scores=scores,
        units=units,
        boxes=clipped,
        patches=torch.stack(crops).view(len(chosen), k, *crops[0].shape),
        projections=torch.stack(projected).view(len(chosen), k, *projected[0].shape),
        receptive_field=rf,
        jump=jump,
        method=projection,
    )


def plot_top_patches(result: TopPatches, title: str = "", blocks_per_row: int = 4) -> Figure:
    """ZFNet's figure: per channel a block of ``k`` deconvnet projections beside a block of the
    matching image patches (best first, row by row), ``blocks_per_row`` channels across."""
    channels, k = result.indices.shape
    cols = max(1, math.ceil(math.sqrt(k)))
    rows = math.ceil(k / cols)
    across = min(blocks_per_row, channels)
    down = math.ceil(channels / across)
    width = 2 * cols + 1  # projections, a gap, patches
    fig = Figure(figsize=(across * (width + 1) * 0.42, down * (rows + 1) * 0.42 + 0.7))
    grid = fig.add_gridspec(down * (rows + 1), across * (width + 1), wspace=0.05, hspace=0.05)
    for c in range(channels):
        top, left = (c // across) * (rows + 1), (c % across) * (width + 1)
        for i in range(k):
            r, col = top + 1 + i // cols, left + i % cols
            for offset, picture in (
                (0, to_display(unit_scale(result.projections[c, i], symmetric=True))),
                (cols + 1, to_display(result.patches[c, i])),
            ):
                ax = fig.add_subplot(grid[r, col + offset])
                show(ax, picture, interpolation="nearest")
                ax.set_axis_off()
        label = fig.add_subplot(grid[top, left : left + width])
        label.set_axis_off()
        label.text(0.5, 0, f"channel {result.channels[c]}", ha="center", va="bottom", fontsize=7)
    fig.suptitle(
        f"{title}\n{result.layer}: top {k} images per channel, cropped to the receptive field "
        f"({result.receptive_field} px); left {result.method} projection, right image patch",
        fontsize=8,
    )
    return fig
