"""Building blocks shared by several families.

Every block keeps the model contract of ``DESIGN.md``: one activation module per use (never
shared, never in-place) so hooks, guided backprop and attribution tools see each of them, and
stable child names (``conv``, ``bn``, ``act``) that users can type.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn

__all__ = [
    "LRN",
    "ConvNormAct",
    "DepthwiseSeparableConv",
    "DropPath",
    "SeparableConv2d",
    "channel_shuffle",
    "conv_output_size",
    "make_divisible",
    "new_linear_head",
    "same_padding",
]

ActLayer = Callable[[], nn.Module]


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps the spatial size of a stride-1 convolution with an odd kernel."""
    return dilation * (kernel_size - 1) // 2


def conv_output_size(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    strict: bool = True,
) -> int:
    """Spatial output size ``(W - K + 2P) / S + 1`` of a convolution or pooling window.

    With ``strict=True`` (the lecture's rule) the window must tile the padded input exactly;
    otherwise the result is floored, as PyTorch does. Raises ``ValueError`` with the numbers
    when the window is larger than the padded input or does not fit.
    """
    for label, value, minimum in (
        ("size", size, 1),
        ("kernel", kernel, 1),
        ("stride", stride, 1),
        ("padding", padding, 0),
        ("dilation", dilation, 1),
    ):
        if not isinstance(value, int) or value < minimum:
            raise ValueError(f"{label} must be an integer >= {minimum}, got {value!r}")
    effective = dilation * (kernel - 1) + 1
    span = size + 2 * padding - effective
    if span < 0:
        raise ValueError(
            f"a {effective}x{effective} window does not fit a {size}-wide input with padding "
            f"{padding}: (W - K + 2P) = {span} < 0, so the output would be empty"
        )
    if strict and span % stride:
        raise ValueError(
            f"(W - K + 2P) / S + 1 = ({size} - {effective} + 2*{padding}) / {stride} + 1 = "
            f"{span / stride + 1:g} is not an integer: the window does not tile the input. "
            f"Change padding or stride, or pass strict=False to floor it like PyTorch "
            f"({span // stride + 1})."
        )
    return span // stride + 1


def new_linear_head(old: nn.Module, num_classes: int) -> nn.Module:
    """A fresh classifier with ``old``'s input width, bias, device and dtype.

    What every model's ``reset_classifier`` builds, so that a head swapped on a bf16 or meta
    model matches the rest of it. ``old`` is an ``nn.Linear`` or the 1x1 ``nn.Conv2d`` of an
    all-convolutional head (NiN, SqueezeNet).
    """
    if not isinstance(old, (nn.Linear, nn.Conv2d)) or getattr(old, "kernel_size", (1, 1)) != (1, 1):
        raise TypeError(f"a head is an nn.Linear or a 1x1 nn.Conv2d, not {old!r}")
    factory = {"bias": old.bias is not None, "device": old.weight.device, "dtype": old.weight.dtype}
    if isinstance(old, nn.Conv2d):
        return nn.Conv2d(old.in_channels, num_classes, 1, **factory)
    return nn.Linear(old.in_features, num_classes, **factory)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` without losing more than 10%.

    The rule of the MobileNet reference code, also used by width multipliers elsewhere.
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class ConvNormAct(nn.Sequential):
    """Conv2d -> BatchNorm2d (optional) -> activation (optional).

    The convolution has no bias when a norm layer follows it (the norm's shift replaces it).
    ``act_layer=None`` gives a linear output (MobileNet v2 bottlenecks).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int = 1,
        padding: int | tuple[int, int] | None = None,
        groups: int = 1,
        dilation: int = 1,
        norm: bool = True,
        act_layer: ActLayer | None = nn.ReLU,
        bn_eps: float = 1e-5,
        bias: bool | None = None,
    ) -> None:
        if padding is None:
            if isinstance(kernel_size, tuple):
                padding = tuple(same_padding(k, dilation) for k in kernel_size)  # type: ignore[assignment]
            else:
                padding = same_padding(kernel_size, dilation)
        layers: dict[str, nn.Module] = {
            "conv": nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=groups,
                bias=(not norm) if bias is None else bias,
            )
        }
        if norm:
            layers["bn"] = nn.BatchNorm2d(out_channels, eps=bn_eps)
        if act_layer is not None:
            layers["act"] = act_layer()
        # nn.Sequential takes named children only from an OrderedDict (a dict raises TypeError).
        super().__init__(OrderedDict(layers))
        self.in_channels = in_channels
        self.out_channels = out_channels


class DepthwiseSeparableConv(nn.Sequential):
    """Depthwise KxK convolution (one filter per channel) followed by a pointwise 1x1.

    Parameters: ``K*K*M + M*N`` instead of ``K*K*M*N`` for a standard convolution (biases
    aside); MobileNet v1 and Xception are stacks of it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        norm: bool = True,
        act_layer: ActLayer | None = nn.ReLU,
        inner_act: bool = True,
        bias: bool | None = None,
    ) -> None:
        super().__init__()
        self.depthwise = ConvNormAct(
            in_channels,
            in_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=in_channels,
            norm=norm,
            act_layer=act_layer if inner_act else None,
            bias=bias,
        )
        self.pointwise = ConvNormAct(
            in_channels, out_channels, 1, norm=norm, act_layer=act_layer, bias=bias
        )
        self.in_channels = in_channels
        self.out_channels = out_channels


class SeparableConv2d(nn.Sequential):
    """Drop-in replacement for a standard ``nn.Conv2d``: ``depthwise`` (KxK, one filter per
    channel, same stride/padding/dilation) -> optional ``norm`` + ``act`` -> ``pointwise`` 1x1.

    The original convolution's bias, if any, moves to the pointwise convolution, so the output
    shape and the role of the layer (usually followed by its own BN/ReLU) are unchanged.
    """

    def __init__(self, conv: nn.Conv2d, norm_act: bool = False) -> None:
        super().__init__()
        factory: dict[str, Any] = {"device": conv.weight.device, "dtype": conv.weight.dtype}
        # The geometry is copied as it is (tuples of two ints; padding may be a string).
        geometry: dict[str, Any] = {
            "kernel_size": conv.kernel_size,
            "stride": conv.stride,
            "padding": conv.padding,
            "dilation": conv.dilation,
        }
        channels = conv.in_channels
        self.depthwise = nn.Conv2d(
            channels,
            channels,
            **geometry,
            groups=channels,
            bias=False,
            padding_mode=conv.padding_mode,
            **factory,
        )
        if norm_act:
            self.norm = nn.BatchNorm2d(channels, **factory)
            self.act = nn.ReLU()
        self.pointwise = nn.Conv2d(
            channels, conv.out_channels, 1, bias=conv.bias is not None, **factory
        )
        self.in_channels = channels
        self.out_channels = conv.out_channels
        self.kernel_size = conv.kernel_size


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: reshape to (groups, C/groups), transpose, flatten.

    Channel ``g * (C/groups) + i`` moves to position ``i * groups + g``, so the next grouped
    convolution sees channels from every group of the previous one.
    """
    batch, channels, height, width = x.shape
    if channels % groups:
        raise ValueError(f"channel_shuffle: {channels} channels do not split into {groups} groups")
    x = x.view(batch, groups, channels // groups, height, width)
    return x.transpose(1, 2).contiguous().view(batch, channels, height, width)


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016) for the residual branch of one sample.

    In training each sample's branch is dropped with probability ``drop_prob`` and the kept
    ones are scaled by ``1 / (1 - drop_prob)``, so that in eval (identity) the expectation
    matches. The paper instead scales by the survival probability at test time; the two are
    equivalent in expectation and this form leaves eval untouched.
    """

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"drop_prob must be in [0, 1), got {drop_prob}")
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0.0:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


# -- Zoo I (plain stacks: AlexNet, ZFNet, VGG A-LRN) ----------------------------------------


class LRN(nn.Module):
    """Local response normalisation across channels, with the constants as AlexNet writes them.

    ``b_i = a_i / (k + alpha * sum_j a_j^2) ** beta``, the sum running over the ``size``
    neighbouring maps ``j`` in ``[i - size//2, i + size//2]`` that exist (Krizhevsky et al. 2012,
    section 3.3: k=2, n=5, alpha=1e-4, beta=0.75). ``torch.nn.LocalResponseNorm`` divides alpha
    by ``size``, so it is given ``alpha * size`` here; a test checks this against the formula.

    ``groups > 1`` normalises each block of channels on its own, as each GPU tower of the original
    AlexNet did (a map never sees its neighbours on the other tower).
    """

    def __init__(
        self,
        size: int = 5,
        alpha: float = 1e-4,
        beta: float = 0.75,
        k: float = 2.0,
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k, self.groups = size, alpha, beta, k, groups

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.local_response_norm(
            x, self.size, alpha=self.alpha * self.size, beta=self.beta, k=self.k
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.groups == 1:
            return self._norm(x)
        if x.shape[1] % self.groups:
            raise ValueError(f"LRN: {x.shape[1]} channels do not split into {self.groups} groups")
        return torch.cat([self._norm(part) for part in x.chunk(self.groups, dim=1)], dim=1)

    def extra_repr(self) -> str:
        groups = f", groups={self.groups}" if self.groups > 1 else ""
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}{groups}"
