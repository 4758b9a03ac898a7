"""PyramidNet: deep pyramidal residual networks (additive widening).

D. Han, J. Kim, J. Kim. Deep Pyramidal Residual Networks. CVPR 2017 (arXiv:1610.02915).

Instead of doubling the width at each downsampling, every residual unit widens a little:
unit ``k`` of ``N`` has ``round(16 + alpha * k / N)`` channels (additive PyramidNet), so the
last unit has ``16 + alpha`` (basic) or ``4 x (16 + alpha)`` (bottleneck). The pyramidal unit
is BN -> conv -> BN -> ReLU -> conv -> BN (no ReLU at the start, none after the addition; the
bottleneck adds a BN-ReLU-1x1 conv), and the shortcut is the zero-padded identity, downsampled
by 2x2 average pooling in the first unit of stages 2 and 3. Stem: 3x3 conv with 16 filters + BN;
head: BN -> ReLU -> global average pooling -> FC. Depth 110 = 3 x 18 basic units; 164 / 272 =
3 x 18 / 3 x 30 bottlenecks.

The widths follow the authors' PyTorch code (dyhan0920/PyramidNet-PyTorch): an accumulated
float width rounded with Python's ``round``. That code gives counts a few percent above the
paper's rounded ones (1.77M for alpha = 48 where the paper says 1.7M); the cards say so.

Deliberate deviations: adaptive global average pooling (fixed 8x8 in the authors' code,
identical at 32x32); stochastic depth (``drop_path_rate``) is available as on the other
residual nets, although the paper does not use it.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn

from cnnzoo.models._base import Classifier
from cnnzoo.models._residual import (
    SDMode,
    ZeroPadShortcut,
    add_preact_head,
    add_stages,
    branch_skipped,
    init_weights,
    stochastic_depth,
)
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["PyramidBasicBlock", "PyramidBottleneck", "PyramidNet", "pyramid_widths"]

HAN_2017 = Paper(
    authors="D. Han, J. Kim, J. Kim",
    title="Deep Pyramidal Residual Networks",
    year=2017,
    venue="CVPR 2017 (arXiv:1610.02915)",
    url="https://arxiv.org/abs/1610.02915",
)


def pyramid_widths(alpha: float, blocks_per_stage: int, start: int = 16) -> list[int]:
    """Inner width of every unit, as the authors' code accumulates and rounds it."""
    add_rate = alpha / (3 * blocks_per_stage)
    width = float(start)
    widths = []
    for _ in range(3 * blocks_per_stage):
        width += add_rate
        widths.append(round(width))
    return widths


class PyramidBasicBlock(nn.Module):
    """BN -> 3x3 conv -> BN -> ReLU -> 3x3 conv -> BN, plus the zero-padded shortcut."""

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        drop_prob: float = 0.0,
        sd_mode: SDMode = "batch",
    ) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, out_channels, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut = ZeroPadShortcut(in_channels, out_channels, stride, pool="avg")
        self.drop_path = stochastic_depth(drop_prob, sd_mode)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.shortcut(x)
        if branch_skipped(self.drop_path):
            return identity
        out = self.conv1(self.bn1(x))
        out = self.bn3(self.conv2(self.act(self.bn2(out))))
        return self.drop_path(out) + identity


class PyramidBottleneck(nn.Module):
    """BN -> 1x1 -> BN -> ReLU -> 3x3 -> BN -> ReLU -> 1x1 (x4) -> BN, plus the padded shortcut."""

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        drop_prob: float = 0.0,
        sd_mode: SDMode = "batch",
    ) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.act3 = nn.ReLU()
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn4 = nn.BatchNorm2d(out_channels)
        self.shortcut = ZeroPadShortcut(in_channels, out_channels, stride, pool="avg")
        self.drop_path = stochastic_depth(drop_prob, sd_mode)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.shortcut(x)
        if branch_skipped(self.drop_path):
            return identity
        out = self.conv1(self.bn1(x))
        out = self.conv2(self.act2(self.bn2(out)))
        out = self.bn4(self.conv3(self.act3(self.bn3(out))))
        return self.drop_path(out) + identity


class PyramidNet(Classifier):
    """Additive PyramidNet for 32x32 inputs: ``depth`` and widening factor ``alpha``."""

    def __init__(
        self,
        depth: int = 110,
        alpha: float = 48,
        block: Literal["basic", "bottleneck"] = "basic",
        drop_path_rate: float = 0.0,
        stochastic_depth_mode: SDMode = "batch",
        num_classes: int = 10,
        in_chans: int = 3,
    ) -> None:
        super().__init__(num_classes, in_chans)
        block_cls = {"basic": PyramidBasicBlock, "bottleneck": PyramidBottleneck}.get(block)
        if block_cls is None:
            raise ValueError(f"block must be 'basic' or 'bottleneck', got {block!r}")
        layers_per_block = 2 if block == "basic" else 3
        if (depth - 2) % (3 * layers_per_block):
            raise ValueError(
                f"PyramidNet with {block} units has depth {3 * layers_per_block}n+2 "
                f"(e.g. {'110' if block == 'basic' else '164, 272'}), got {depth}"
            )
        n = (depth - 2) // (3 * layers_per_block)
        self.depth = depth
        self.alpha = alpha

        stem_width = 16
        self.stem = nn.Sequential()
        self.stem.add_module("conv", nn.Conv2d(in_chans, stem_width, 3, padding=1, bias=False))
        self.stem.add_module("bn", nn.BatchNorm2d(stem_width))
        self.feature_info = [{"module": "stem", "num_chs": stem_width, "reduction": 1}]

        def make_block(cin: int, planes: int, stride: int, drop_prob: float) -> nn.Module:
            return block_cls(cin, planes, stride, drop_prob, stochastic_depth_mode)

        widths = pyramid_widths(alpha, n, stem_width)
        channels, reduction = add_stages(
            self, make_block, (n, n, n), widths, stem_width, 1, drop_path_rate
        )

        add_preact_head(self, channels, reduction, num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.final_act(self.final_bn(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.global_pool(x)))


@register_model(
    paper=HAN_2017,
    input_size=(3, 32, 32),
    num_classes=10,
    params=1_772_706,
    macs=403_813_504,
    top1=95.38,
    dataset="CIFAR-10",
    notes="Basic pyramidal units, 18 per stage, widths 17 -> 64. The authors' PyTorch code (followed "
    "here) has 1,772,706 parameters (1,759,538 without BN), 4% above the paper's 1.7M.",
    figures=(
        Reported(
            "authors' release (jhkim89/PyramidNet)",
            "CIFAR-10",
            params=1_700_000,
            top1_error=4.62,
            note="additive, alpha=48, output width 64",
        ),
        Reported(
            "authors' release (jhkim89/PyramidNet)",
            "CIFAR-100",
            params=1_700_000,
            top1_error=23.31,
            note="additive, alpha=48, output width 64",
        ),
    ),
)
def pyramidnet110_a48(**kwargs) -> PyramidNet:
    return PyramidNet(110, 48, "basic", **kwargs)


@register_model(
    paper=HAN_2017,
    input_size=(3, 32, 32),
    num_classes=10,
    params=3_904_446,
    macs=772_168_168,
    top1=95.73,
    dataset="CIFAR-10",
    notes="Basic pyramidal units, 18 per stage, widths 18 -> 100. The authors' code gives 3,904,446 "
    "parameters (3,885,338 without BN), 3% above the paper's 3.8M.",
    figures=(
        Reported(
            "authors' release (jhkim89/PyramidNet)",
            "CIFAR-10",
            params=3_800_000,
            top1_error=4.27,
            note="additive, alpha=84, output width 100",
        ),
        Reported(
            "authors' release (jhkim89/PyramidNet)",
            "CIFAR-100",
            params=3_800_000,
            top1_error=20.21,
            note="additive, alpha=84, output width 100",
        ),
    ),
)
def pyramidnet110_a84(**kwargs) -> PyramidNet:
    return PyramidNet(110, 84, "basic", **kwargs)


@register_model(
    paper=HAN_2017,
    input_size=(3, 32, 32),
    num_classes=10,
    params=28_485_477,
    macs=4_717_983_724,
    top1=96.27,
    dataset="CIFAR-10",
    notes="Basic pyramidal units, 18 per stage, widths 21 -> 286. The authors' code gives 28,485,477 "
    "parameters (28,435,679 without BN), 0.7% above the paper's 28.3M.",
    figures=(
        Reported(
            "authors' release (jhkim89/PyramidNet)",
            "CIFAR-10",
            params=28_300_000,
            top1_error=3.73,
            note="additive, alpha=270, output width 286",
        ),
        Reported(
            "authors' release (jhkim89/PyramidNet)",
            "CIFAR-100",
            params=28_300_000,
            top1_error=18.25,
            note="additive, alpha=270, output width 286",
        ),
    ),
)
def pyramidnet110_a270(**kwargs) -> PyramidNet:
    return PyramidNet(110, 270, "basic", **kwargs)


@register_model(
    paper=HAN_2017,
    input_size=(3, 32, 32),
    num_classes=10,
    params=27_216_021,
    macs=4_569_837_040,
    top1=96.52,
    dataset="CIFAR-10",
    notes="Pyramidal bottlenecks, 18 per stage, inner widths 21 -> 286, outputs 4x. 27,216,021 "
    "parameters; without the 165,844 BN parameters 27,050,177 = the README's 27.0M.",
    figures=(
        Reported(
            "authors' release (jhkim89/PyramidNet)",
            "CIFAR-10",
            params=27_000_000,
            top1_error=3.48,
            note="additive bottleneck, alpha=270, output width 1144",
        ),
        Reported(
            "authors' release (jhkim89/PyramidNet)",
            "CIFAR-100",
            params=27_000_000,
            top1_error=17.01,
            note="additive bottleneck, alpha=270, output width 1144",
        ),
    ),
)
def pyramidnet164_a270(**kwargs) -> PyramidNet:
    return PyramidNet(164, 270, "bottleneck", **kwargs)


@register_model(
    paper=HAN_2017,
    input_size=(3, 32, 32),
    num_classes=10,
    params=26_210_842,
    macs=4_488_778_176,
    top1=96.69,
    dataset="CIFAR-10",
    notes="Pyramidal bottlenecks, 30 per stage, inner widths 18 -> 216, outputs 4x. 26,210,842 "
    "parameters; without the 210,864 BN parameters 25,999,978 = the README's 26.0M.",
    figures=(
        Reported(
            "authors' release (jhkim89/PyramidNet)",
            "CIFAR-10",
            params=26_000_000,
            top1_error=3.31,
            note="additive bottleneck, alpha=200, output width 864",
        ),
        Reported(
            "authors' release (jhkim89/PyramidNet)",
            "CIFAR-100",
            params=26_000_000,
            top1_error=16.35,
            note="additive bottleneck, alpha=200, output width 864",
        ),
    ),
)
def pyramidnet272_a200(**kwargs) -> PyramidNet:
    return PyramidNet(272, 200, "bottleneck", **kwargs)
