"""The lectures' formulas as small functions: output sizes, receptive fields, and the cost of a
standard vs a depthwise-separable convolution or of an Inception module with and without 1x1
reductions.

Costs are multiply-accumulates (MACs) of the convolutions only, biases excluded, batch 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Models need this shape arithmetic too, so it lives in `layers` (below `models`) and is
# re-exported here with the other lecture formulas.
from cnnzoo.layers import conv_output_size

__all__ = [
    "InceptionCost",
    "conv_macs",
    "conv_output_size",
    "conv_params",
    "inception_module_cost",
    "receptive_field",
    "separable_conv_macs",
    "separable_conv_params",
]


def receptive_field(layers: Iterable[tuple[int, int] | tuple[int, int, int]]) -> tuple[int, int]:
    """Receptive field and jump (cumulative stride) after a chain of ``(kernel, stride[,
    dilation])`` layers, e.g. three 3x3 stride-1 convs -> ``(7, 1)``, the same as one 7x7.
    """
    rf, jump = 1, 1
    for layer in layers:
        kernel, stride, *rest = layer
        dilation = rest[0] if rest else 1
        rf += dilation * (kernel - 1) * jump
        jump *= stride
    return rf, jump


def conv_params(kernel: int, in_channels: int, out_channels: int, bias: bool = False) -> int:
    """Weights (and biases) of a standard ``kernel x kernel`` convolution."""
    return kernel * kernel * in_channels * out_channels + (out_channels if bias else 0)


def conv_macs(
    kernel: int, in_channels: int, out_channels: int, out_height: int, out_width: int | None = None
) -> int:
    """Multiply-accumulates of a standard convolution producing an ``out_height x out_width`` map."""
    out_width = out_height if out_width is None else out_width
    return conv_params(kernel, in_channels, out_channels) * out_height * out_width


def separable_conv_params(kernel: int, in_channels: int, out_channels: int) -> int:
    """Depthwise ``K*K*M`` plus pointwise ``M*N`` weights (MobileNet, Xception)."""
    return kernel * kernel * in_channels + in_channels * out_channels


def separable_conv_macs(
    kernel: int, in_channels: int, out_channels: int, out_height: int, out_width: int | None = None
) -> int:
    out_width = out_height if out_width is None else out_width
    return separable_conv_params(kernel, in_channels, out_channels) * out_height * out_width


@dataclass(frozen=True)
class InceptionCost:
    """MACs of each convolution of an Inception module, by branch."""

    terms: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.terms.values())


def inception_module_cost(
    height: int,
    width: int,
    in_channels: int,
    branches: Sequence[tuple[int, int]],
    reductions: Sequence[int | None] | None = None,
    pool_projection: int | None = None,
) -> InceptionCost:
    """MACs of an Inception module on a ``height x width x in_channels`` input.

    ``branches`` are ``(kernel, out_channels)`` convolutions fed by the module input (naive) or,
    when ``reductions[i]`` is set, by a 1x1 convolution to that many channels first.
    ``pool_projection`` adds the 1x1 convolution after the pooling branch. Stride 1, 'same'
    padding, so every convolution produces ``height x width`` maps.
    """
    reductions = list(reductions) if reductions is not None else [None] * len(branches)
    if len(reductions) != len(branches):
        raise ValueError(f"{len(branches)} branches but {len(reductions)} reductions")
    terms: dict[str, int] = {}
    for (kernel, out_channels), reduce_to in zip(branches, reductions, strict=True):
        source = in_channels
        if reduce_to:
            terms[f"reduce 1x1@{reduce_to} for {kernel}x{kernel}"] = conv_macs(
                1, in_channels, reduce_to, height, width
            )
            source = reduce_to
        terms[f"{kernel}x{kernel}@{out_channels}"] = conv_macs(
            kernel, source, out_channels, height, width
        )
    if pool_projection:
        terms[f"pool proj 1x1@{pool_projection}"] = conv_macs(
            1, in_channels, pool_projection, height, width
        )
    return InceptionCost(terms)
