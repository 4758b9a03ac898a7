"""Pre-activation residual networks (BN -> ReLU -> conv units, nothing after the addition).

K. He, X. Zhang, S. Ren, J. Sun. Identity Mappings in Deep Residual Networks. ECCV 2016
(arXiv:1603.05027). CIFAR ResNet-110 (pre-activation twin of the original), ResNet-164 and
ResNet-1001 with bottleneck units; the base of Wide ResNet. The builders belong to the
``resnet`` family of the registry.

Deliberate deviation: adaptive global average pooling (the paper's fixed 8x8 window, identical
at 32x32).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn as nn

from cnnzoo.models._base import Classifier
from cnnzoo.models._residual import (
    SDMode,
    ShortcutType,
    add_preact_head,
    add_stages,
    branch_skipped,
    init_weights,
    make_shortcut,
    per_block,
    stochastic_depth,
)
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["PreActBasicBlock", "PreActBottleneck", "PreActResNet"]

HE_2016 = Paper(
    authors="K. He, X. Zhang, S. Ren, J. Sun",
    title="Identity Mappings in Deep Residual Networks",
    year=2016,
    venue="ECCV 2016 (arXiv:1603.05027)",
    url="https://arxiv.org/abs/1603.05027",
)


class PreActBasicBlock(nn.Module):
    """BN -> ReLU -> 3x3 conv, twice; nothing after the addition: ``x + F(x)``.

    Where the shape changes, the shortcut takes the pre-activated input (the "common BN, ReLU"
    of the authors' code) so that it, too, sees a normalised signal. ``drop_rate`` puts dropout
    between the two convolutions (Wide ResNet).
    """

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        shortcut: ShortcutType = "B",
        drop_rate: float = 0.0,
        drop_prob: float = 0.0,
        sd_mode: SDMode = "batch",
    ) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.act1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU()
        self.dropout = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(planes, out_channels, 3, padding=1, bias=False)
        self.shortcut = make_shortcut(in_channels, out_channels, stride, shortcut, norm=False)
        self.drop_path = stochastic_depth(drop_prob, sd_mode)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act1(self.bn1(x))
        identity = x if isinstance(self.shortcut, nn.Identity) else self.shortcut(pre)
        if branch_skipped(self.drop_path):
            return identity
        out = self.conv1(pre)
        out = self.conv2(self.dropout(self.act2(self.bn2(out))))
        return self.drop_path(out) + identity


class PreActBottleneck(nn.Module):
    """BN -> ReLU -> 1x1, BN -> ReLU -> 3x3, BN -> ReLU -> 1x1 (x4); ``x + F(x)``.

    The stride sits on the first 1x1 convolution, as in the authors' ResNet-1001 code.
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        shortcut: ShortcutType = "B",
        drop_rate: float = 0.0,
        drop_prob: float = 0.0,
        sd_mode: SDMode = "batch",
    ) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.act1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_channels, planes, 1, stride=stride, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.act3 = nn.ReLU()
        self.dropout = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.shortcut = make_shortcut(in_channels, out_channels, stride, shortcut, norm=False)
        self.drop_path = stochastic_depth(drop_prob, sd_mode)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act1(self.bn1(x))
        identity = x if isinstance(self.shortcut, nn.Identity) else self.shortcut(pre)
        if branch_skipped(self.drop_path):
            return identity
        out = self.conv1(pre)
        out = self.conv2(self.act2(self.bn2(out)))
        out = self.conv3(self.dropout(self.act3(self.bn3(out))))
        return self.drop_path(out) + identity


_PRE_BLOCKS: dict[str, type[nn.Module]] = {
    "basic": PreActBasicBlock,
    "bottleneck": PreActBottleneck,
}


class PreActResNet(Classifier):
    """A pre-activation ResNet for 32x32 inputs (He et al. 2016; also Wide ResNet).

    A bare 3x3 conv stem (the first unit normalises its input), three stages, then the final
    BN -> ReLU that pre-activation units leave to the end (``final_bn``, ``final_act``), global
    average pooling and a linear classifier. ``forward_features`` returns the map after
    ``final_act``.
    """

    def __init__(
        self,
        block: Literal["basic", "bottleneck"],
        layers: Sequence[int],
        widths: Sequence[int] = (16, 32, 64),
        stem_width: int = 16,
        shortcut: ShortcutType = "B",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        stochastic_depth_mode: SDMode = "batch",
        num_classes: int = 10,
        in_chans: int = 3,
    ) -> None:
        super().__init__(num_classes, in_chans)
        if block not in _PRE_BLOCKS:
            raise ValueError(f"block must be one of {', '.join(_PRE_BLOCKS)}, got {block!r}")
        self.stem = nn.Conv2d(in_chans, stem_width, 3, padding=1, bias=False)
        self.feature_info = [{"module": "stem", "num_chs": stem_width, "reduction": 1}]

        unit_cls = _PRE_BLOCKS[block]

        def make_block(cin: int, planes: int, stride: int, drop_prob: float) -> nn.Module:
            return unit_cls(
                cin, planes, stride, shortcut, drop_rate, drop_prob, stochastic_depth_mode
            )

        channels, reduction = add_stages(
            self, make_block, layers, per_block(layers, widths), stem_width, 1, drop_path_rate
        )
        self.num_stages = len(layers)
        add_preact_head(self, channels, reduction, num_classes)
        init_weights(self)

    def stages(self) -> list[nn.Module]:
        return [getattr(self, f"stage{i}") for i in range(1, self.num_stages + 1)]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages():
            x = stage(x)
        return self.final_act(self.final_bn(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.global_pool(x)))


def _preact_cifar(depth: int, block: Literal["basic", "bottleneck"], **kwargs) -> PreActResNet:
    per_block = 2 if block == "basic" else 3
    if (depth - 2) % (3 * per_block):
        raise ValueError(
            f"pre-activation CIFAR ResNets with {block} units have depth "
            f"{3 * per_block}n+2, got {depth}"
        )
    n = (depth - 2) // (3 * per_block)
    return PreActResNet(block, (n, n, n), widths=(16, 32, 64), stem_width=16, **kwargs)


@register_model(
    paper=HE_2016,
    family="resnet",
    input_size=(3, 32, 32),
    num_classes=10,
    params=1_727_962,
    macs=252_887_680,
    dataset="CIFAR-10",
    top1=93.63,
    reported="",
    notes="Full pre-activation basic units (BN-ReLU-conv x2), bare conv stem, final BN-ReLU. Option A "
    "shortcuts, so it is the exact pre-activation twin of resnet110 (same parameter count).",
    figures=(
        Reported(
            "He et al. 2016, Table 3",
            "CIFAR-10",
            top1_error=6.37,
            note="full pre-activation; the original unit has 6.61% in the same table",
        ),
    ),
)
def preact_resnet110(**kwargs) -> PreActResNet:
    kwargs.setdefault("shortcut", "A")
    return _preact_cifar(110, "basic", **kwargs)


@register_model(
    paper=HE_2016,
    family="resnet",
    input_size=(3, 32, 32),
    num_classes=10,
    params=1_703_258,
    macs=244_500_992,
    dataset="CIFAR-10",
    top1=94.54,
    notes="Pre-activation bottleneck units (16/32/64 -> x4), 18 per stage, 1x1 projection shortcuts "
    "on the pre-activated input where the shape changes (KaimingHe/resnet-1k-layers).",
    figures=(
        Reported("He et al. 2016, Table 4", "CIFAR-10", params=1_700_000, top1_error=5.46),
        Reported("He et al. 2016, Table 4", "CIFAR-100", params=1_700_000, top1_error=24.33),
    ),
)
def preact_resnet164(**kwargs) -> PreActResNet:
    return _preact_cifar(164, "bottleneck", **kwargs)


@register_model(
    paper=HE_2016,
    family="resnet",
    input_size=(3, 32, 32),
    num_classes=10,
    params=10_327_706,
    macs=1_487_849_984,
    dataset="CIFAR-10",
    top1=95.08,
    notes="111 pre-activation bottlenecks per stage, as resnet-1k-layers. Our 10,327,706 include "
    "149,216 BatchNorm parameters; the conv + FC weights alone are 10,178,490 = the paper's 10.2M "
    "(the paper's count evidently leaves BN out).",
    figures=(
        Reported(
            "He et al. 2016, Table 4",
            "CIFAR-10",
            params=10_200_000,
            top1_error=4.92,
            note="mini-batch 128",
        ),
        Reported(
            "He et al. 2016, Table 4",
            "CIFAR-100",
            params=10_200_000,
            top1_error=22.71,
            note="mini-batch 128",
        ),
        Reported(
            "authors' release (KaimingHe/resnet-1k-layers)",
            "CIFAR-10",
            top1_error=4.62,
            note="mini-batch 64; the abstract's figure",
        ),
    ),
)
def preact_resnet1001(**kwargs) -> PreActResNet:
    return _preact_cifar(1001, "bottleneck", **kwargs)
