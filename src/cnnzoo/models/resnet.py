"""Residual networks: ImageNet and CIFAR ResNets, their plain twins and stochastic depth (the
pre-activation ResNets are in :mod:`cnnzoo.models.preact_resnet`).

* K. He, X. Zhang, S. Ren, J. Sun. Deep Residual Learning for Image Recognition. CVPR 2016
  (arXiv:1512.03385, 2015). ImageNet ResNet-18/34/50/101/152 (Table 1), CIFAR ResNet-20 ...
  1202 (Section 4.2, Table 6) and the plain networks of the degradation experiment.
* G. Huang, Y. Sun, Z. Liu, D. Sedra, K. Q. Weinberger. Deep Networks with Stochastic Depth.
  ECCV 2016. Residual branches skipped at random during training, survival probability
  decaying linearly from 1 to ``p_L = 0.5``.

Which ImageNet bottleneck is which. The paper (and the authors' released Caffe models) put the
stride-2 downsampling on the *first 1x1* convolution of the first bottleneck of a stage
(``stride_on="1x1"``): ``resnet50`` is that network, 3.86 GMACs at 224x224. Facebook's Torch
re-implementation moved the stride to the 3x3 convolution, which torchvision, ResNeXt and Wide
ResNet adopted ("ResNet v1.5", ``stride_on="3x3"``): ``resnet50_v1_5``, 4.09 GMACs and, by
NVIDIA's account, about half a point more top-1 accuracy. Both have exactly the same
parameters; only where the spatial size halves differs. In v1.5 the first 1x1 convolution of
those three blocks runs at the input resolution (4x the positions: +77,070,336 MACs each) and
the 3x3 sees every position, where the paper's strided 1x1 skips three pixels in four.
ResNet-18/34 (basic blocks) have one placement only. The unqualified names follow the paper
because this package builds networks as their papers describe them.

Shortcuts. ``shortcut="A"``: identity, subsampled by striding and zero-padded with the new
channels (no parameters; the paper's CIFAR networks). ``shortcut="B"``: a 1x1 convolution + BN
projection where the shape changes, identity elsewhere (the paper's ImageNet networks).

Stochastic depth (``drop_path_rate`` = 1 - p_L, 0.5 in the paper). Block ``l`` of ``L`` is
dropped with probability ``drop_path_rate * l / L``. ``stochastic_depth_mode="batch"`` is the
paper's rule: one decision per mini-batch, a dropped block does not run its residual branch at
all (the training speed-up), a kept branch is not rescaled in training and the branch is
multiplied by its survival probability at test time. ``"row"`` is the per-sample variant of
timm/torchvision (``layers.DropPath``: rescaled by 1/p in training, untouched at test time).

Deliberate deviations: global average pooling is adaptive (any input size works; the papers
use a fixed 7x7 or 8x8 window, identical at the default input); the option-A shortcut appends
the zero channels after the existing ones (the paper does not say where they go).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn as nn

from cnnzoo.layers import ConvNormAct
from cnnzoo.models._base import Classifier
from cnnzoo.models._residual import (
    BlockFactory,
    SDMode,
    ShortcutType,
    StochasticDepth,
    StrideOn,
    ZeroPadShortcut,
    add_stages,
    branch_skipped,
    drop_probs,
    init_weights,
    make_shortcut,
    per_block,
    stochastic_depth,
)
from cnnzoo.registry import Paper, Reported, register_model

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "PlainBlock",
    "ResNet",
    "StochasticDepth",
    "ZeroPadShortcut",
    "drop_probs",
]

HE_2015 = Paper(
    authors="K. He, X. Zhang, S. Ren, J. Sun",
    title="Deep Residual Learning for Image Recognition",
    year=2015,
    venue="CVPR 2016 (arXiv:1512.03385)",
    url="https://arxiv.org/abs/1512.03385",
)
HUANG_2016 = Paper(
    authors="G. Huang, Y. Sun, Z. Liu, D. Sedra, K. Q. Weinberger",
    title="Deep Networks with Stochastic Depth",
    year=2016,
    venue="ECCV 2016 (arXiv:1603.09382)",
    url="https://arxiv.org/abs/1603.09382",
)


# -- post-activation blocks (He et al. 2015) -------------------------------------------------


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers; ReLU after the addition: ``relu(shortcut(x) + F(x))``."""

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        shortcut: ShortcutType = "B",
        drop_prob: float = 0.0,
        sd_mode: SDMode = "batch",
    ) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = ConvNormAct(in_channels, planes, 3, stride=stride)
        self.conv2 = ConvNormAct(planes, out_channels, 3, act_layer=None)
        self.shortcut = make_shortcut(in_channels, out_channels, stride, shortcut)
        self.drop_path = stochastic_depth(drop_prob, sd_mode)
        self.act = nn.ReLU()
        self.out_channels = out_channels

    def last_bn(self) -> nn.BatchNorm2d:
        return self.conv2.bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.shortcut(x)
        if branch_skipped(self.drop_path):
            return self.act(identity)
        out = self.conv2(self.conv1(x))
        return self.act(self.drop_path(out) + identity)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (grouped for ResNeXt) -> 1x1 expand (x4), ReLU after the addition.

    ``width = int(planes * base_width / 64) * groups`` (torchvision's rule: ``planes`` for
    ResNet, ``cardinality x bottleneck width`` for ResNeXt, ``2 x planes`` for WRN-50-2).
    ``stride_on`` chooses which convolution downsamples: the first 1x1 (paper) or the 3x3 (v1.5).
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        shortcut: ShortcutType = "B",
        groups: int = 1,
        base_width: int = 64,
        stride_on: StrideOn = "1x1",
        drop_prob: float = 0.0,
        sd_mode: SDMode = "batch",
    ) -> None:
        super().__init__()
        if stride_on not in ("1x1", "3x3"):
            raise ValueError(f"stride_on must be '1x1' (paper) or '3x3' (v1.5), got {stride_on!r}")
        width = int(planes * base_width / 64) * groups
        out_channels = planes * self.expansion
        stride_1x1, stride_3x3 = (stride, 1) if stride_on == "1x1" else (1, stride)
        self.conv1 = ConvNormAct(in_channels, width, 1, stride=stride_1x1)
        self.conv2 = ConvNormAct(width, width, 3, stride=stride_3x3, groups=groups)
        self.conv3 = ConvNormAct(width, out_channels, 1, act_layer=None)
        self.shortcut = make_shortcut(in_channels, out_channels, stride, shortcut)
        self.drop_path = stochastic_depth(drop_prob, sd_mode)
        self.act = nn.ReLU()
        self.out_channels = out_channels

    def last_bn(self) -> nn.BatchNorm2d:
        return self.conv3.bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.shortcut(x)
        if branch_skipped(self.drop_path):
            return self.act(identity)
        out = self.conv3(self.conv2(self.conv1(x)))
        return self.act(self.drop_path(out) + identity)


class PlainBlock(nn.Module):
    """The plain twin of :class:`BasicBlock`: the same two conv-BN-ReLU layers, no shortcut."""

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(in_channels, planes, 3, stride=stride)
        self.conv2 = ConvNormAct(planes, planes, 3)
        self.out_channels = planes

    def last_bn(self) -> nn.BatchNorm2d:
        return self.conv2.bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


_POST_BLOCKS = ("basic", "bottleneck", "plain")


def _post_block(
    block: str,
    shortcut: ShortcutType,
    groups: int,
    base_width: int,
    stride_on: StrideOn,
    drop_path_rate: float,
    sd_mode: SDMode,
) -> BlockFactory:
    """The block of one post-activation ResNet; refuses options its block type does not have."""
    if block == "plain":
        if drop_path_rate > 0.0:
            raise ValueError(
                "stochastic depth needs a shortcut to fall back on; plain nets have none"
            )
        return lambda cin, planes, stride, _p: PlainBlock(cin, planes, stride)
    if block == "basic":
        if groups != 1 or base_width != 64:
            raise ValueError("basic blocks support only groups=1 and base_width=64")
        return lambda cin, planes, stride, p: BasicBlock(cin, planes, stride, shortcut, p, sd_mode)
    return lambda cin, planes, stride, p: Bottleneck(
        cin, planes, stride, shortcut, groups, base_width, stride_on, p, sd_mode
    )


class ResNet(Classifier):
    """A post-activation ResNet: stem, stages of residual blocks, global pooling, linear head.

    ``stem="imagenet"``: 7x7/2 conv-BN-ReLU + 3x3/2 max pooling. ``stem="cifar"``: one 3x3
    conv-BN-ReLU at full resolution. The first block of every stage but the first halves the
    resolution. Module names: ``stem.conv``, ``stage2.block1.conv2``, ``classifier``.
    """

    def __init__(
        self,
        block: Literal["basic", "bottleneck", "plain"],
        layers: Sequence[int],
        widths: Sequence[int] = (64, 128, 256, 512),
        stem: Literal["imagenet", "cifar"] = "imagenet",
        stem_width: int = 64,
        shortcut: ShortcutType = "B",
        groups: int = 1,
        base_width: int = 64,
        stride_on: StrideOn = "1x1",
        drop_path_rate: float = 0.0,
        stochastic_depth_mode: SDMode = "batch",
        zero_init_residual: bool = False,
        num_classes: int = 1000,
        in_chans: int = 3,
    ) -> None:
        super().__init__(num_classes, in_chans)
        if block not in _POST_BLOCKS:
            raise ValueError(f"block must be one of {', '.join(_POST_BLOCKS)}, got {block!r}")

        if stem == "imagenet":
            self.stem = ConvNormAct(in_chans, stem_width, 7, stride=2, padding=3)
            self.stem.add_module("pool", nn.MaxPool2d(3, stride=2, padding=1))
            reduction = 4
            self.feature_info = [{"module": "stem.act", "num_chs": stem_width, "reduction": 2}]
        elif stem == "cifar":
            self.stem = ConvNormAct(in_chans, stem_width, 3)
            reduction = 1
            self.feature_info = [{"module": "stem.act", "num_chs": stem_width, "reduction": 1}]
        else:
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")

        make_block = _post_block(
            block, shortcut, groups, base_width, stride_on, drop_path_rate, stochastic_depth_mode
        )
        channels, _ = add_stages(
            self,
            make_block,
            layers,
            per_block(layers, widths),
            stem_width,
            reduction,
            drop_path_rate,
        )
        self.num_stages = len(layers)
        self.num_features = channels
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Linear(channels, num_classes)
        init_weights(self)
        if zero_init_residual:
            # Goyal et al. 2017: each residual branch starts as zero, each block as identity.
            for module in self.modules():
                if isinstance(module, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(module.last_bn().weight)

    def stages(self) -> list[nn.Module]:
        return [getattr(self, f"stage{i}") for i in range(1, self.num_stages + 1)]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages():
            x = stage(x)
        return x

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.global_pool(x)))


# -- builders ---------------------------------------------------------------------------------


def _imagenet(block: Literal["basic", "bottleneck"], layers: Sequence[int], **kwargs) -> ResNet:
    kwargs.setdefault("stride_on", "1x1")
    return ResNet(block, layers, **kwargs)


def _cifar(depth: int, block: Literal["basic", "plain"] = "basic", **kwargs) -> ResNet:
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNets have depth 6n+2 (20, 32, 44, 56, 110, 1202), got {depth}")
    n = (depth - 2) // 6
    kwargs.setdefault("shortcut", "A")
    kwargs.setdefault("num_classes", 10)
    return ResNet(block, (n, n, n), widths=(16, 32, 64), stem="cifar", stem_width=16, **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 224, 224),
    params=11_689_512,
    macs=1_814_073_344,
    top1=69.758,
    notes="Basic blocks: the stride sits on the first 3x3 convolution in the paper and in "
    "torchvision alike, so there is no v1.5 twin. Projection shortcuts (option B).",
    figures=(
        Reported(
            "He et al. 2015, Table 1",
            macs=1_800_000_000,
            note="the paper's FLOPs are multiply-adds",
        ),
        Reported("He et al. 2015, Table 2", top1_error=27.88, note="10-crop validation"),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=69.758,
            top5=89.078,
            params=11_689_512,
            macs=1_814_000_000,
        ),
    ),
    torchvision="resnet18",
)
def resnet18(**kwargs) -> ResNet:
    return _imagenet("basic", (2, 2, 2, 2), **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 224, 224),
    params=21_797_672,
    macs=3_663_761_408,
    top1=73.314,
    notes="Basic blocks; identical to torchvision's resnet34. Projection shortcuts (option B).",
    figures=(
        Reported(
            "He et al. 2015, Table 1",
            macs=3_600_000_000,
            note="the paper's FLOPs are multiply-adds",
        ),
        Reported(
            "He et al. 2015, Table 3",
            top1_error=24.52,
            top5_error=7.46,
            note="10-crop validation, option B",
        ),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=73.314,
            top5=91.42,
            params=21_797_672,
            macs=3_664_000_000,
        ),
    ),
    torchvision="resnet34",
)
def resnet34(**kwargs) -> ResNet:
    return _imagenet("basic", (3, 4, 6, 3), **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 224, 224),
    params=25_557_032,
    macs=3_857_973_248,
    top1=75.3,
    notes="The paper's placement: the stride-2 downsampling is on the first 1x1 convolution of "
    "each stage's first bottleneck (3.86 GMACs). resnet50_v1_5 is torchvision's placement.",
    figures=(
        Reported(
            "He et al. 2015, Table 1",
            macs=3_800_000_000,
            note="the paper's FLOPs are multiply-adds",
        ),
        Reported(
            "authors' release (KaimingHe/deep-residual-networks)",
            top1_error=24.7,
            top5_error=7.8,
            note="1-crop validation",
        ),
        Reported(
            "authors' release (KaimingHe/deep-residual-networks)",
            top1_error=22.9,
            top5_error=6.7,
            note="10-crop validation, as in the paper",
        ),
    ),
)
def resnet50(**kwargs) -> ResNet:
    return _imagenet("bottleneck", (3, 4, 6, 3), **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 224, 224),
    params=25_557_032,
    macs=4_089_184_256,
    top1=76.130,
    reported="The paper's 3.8 x 10^9 FLOPs are for resnet50 (stride on the 1x1).",
    notes="ResNet v1.5 (fb.resnet.torch, torchvision, NVIDIA): the stride-2 downsampling is on the "
    "3x3 convolution. Same parameters as resnet50, 231M more MACs at 224x224.",
    figures=(
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=76.13,
            top5=92.862,
            params=25_557_032,
            macs=4_089_000_000,
        ),
    ),
    torchvision="resnet50",
)
def resnet50_v1_5(**kwargs) -> ResNet:
    return _imagenet("bottleneck", (3, 4, 6, 3), stride_on="3x3", **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 224, 224),
    params=44_549_160,
    macs=7_570_194_432,
    top1=76.4,
    notes="The paper's placement (stride on the first 1x1). resnet101_v1_5 is torchvision's.",
    figures=(
        Reported(
            "He et al. 2015, Table 1",
            macs=7_600_000_000,
            note="the paper's FLOPs are multiply-adds",
        ),
        Reported(
            "authors' release (KaimingHe/deep-residual-networks)",
            top1_error=23.6,
            top5_error=7.1,
            note="1-crop validation",
        ),
        Reported(
            "authors' release (KaimingHe/deep-residual-networks)",
            top1_error=21.8,
            top5_error=6.1,
            note="10-crop validation, as in the paper",
        ),
    ),
)
def resnet101(**kwargs) -> ResNet:
    return _imagenet("bottleneck", (3, 4, 23, 3), **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 224, 224),
    params=44_549_160,
    macs=7_801_405_440,
    top1=77.374,
    notes="ResNet v1.5: stride on the 3x3 convolution, as torchvision. Same parameters as resnet101.",
    figures=(
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=77.374,
            top5=93.546,
            params=44_549_160,
            macs=7_801_000_000,
        ),
    ),
    torchvision="resnet101",
)
def resnet101_v1_5(**kwargs) -> ResNet:
    return _imagenet("bottleneck", (3, 4, 23, 3), stride_on="3x3", **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 224, 224),
    params=60_192_808,
    macs=11_282_415_616,
    top1=77.0,
    notes="The paper's placement (stride on the first 1x1). resnet152_v1_5 is torchvision's.",
    figures=(
        Reported(
            "He et al. 2015, Table 1",
            macs=11_300_000_000,
            note="the paper's FLOPs are multiply-adds",
        ),
        Reported(
            "authors' release (KaimingHe/deep-residual-networks)",
            top1_error=23.0,
            top5_error=6.7,
            note="1-crop validation",
        ),
        Reported(
            "authors' release (KaimingHe/deep-residual-networks)",
            top1_error=21.4,
            top5_error=5.7,
            note="10-crop validation, as in the paper",
        ),
    ),
)
def resnet152(**kwargs) -> ResNet:
    return _imagenet("bottleneck", (3, 8, 36, 3), **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 224, 224),
    params=60_192_808,
    macs=11_513_626_624,
    top1=78.312,
    notes="ResNet v1.5: stride on the 3x3 convolution, as torchvision. Same parameters as resnet152.",
    figures=(
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=78.312,
            top5=94.046,
            params=60_192_808,
            macs=11_514_000_000,
        ),
    ),
    torchvision="resnet152",
)
def resnet152_v1_5(**kwargs) -> ResNet:
    return _imagenet("bottleneck", (3, 8, 36, 3), stride_on="3x3", **kwargs)


# CIFAR-10 (He et al. 2015, Section 4.2 and Table 6): 6n+2 layers, widths 16/32/64, option A.
_CIFAR_NOTES = (
    "3x3 stem with 16 filters, three stages of {n} basic blocks (16/32/64 filters, 32/16/8 "
    "pixels), global average pooling, 10-way FC. Option A shortcuts (zero padding, no "
    "parameters) as in the paper; create_model(..., shortcut='B') gives 1x1 projections "
    "({extra:+,} parameters)."
)


@register_model(
    paper=HE_2015,
    input_size=(3, 32, 32),
    num_classes=10,
    params=269_722,
    macs=40_551_040,
    top1=91.25,
    dataset="CIFAR-10",
    notes=_CIFAR_NOTES.format(n=3, extra=2752),
    figures=(Reported("He et al. 2015, Table 6", "CIFAR-10", params=270_000, top1_error=8.75),),
)
def resnet20(**kwargs) -> ResNet:
    return _cifar(20, **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 32, 32),
    num_classes=10,
    params=464_154,
    macs=68_862_592,
    top1=92.49,
    dataset="CIFAR-10",
    notes=_CIFAR_NOTES.format(n=5, extra=2752),
    figures=(Reported("He et al. 2015, Table 6", "CIFAR-10", params=460_000, top1_error=7.51),),
)
def resnet32(**kwargs) -> ResNet:
    return _cifar(32, **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 32, 32),
    num_classes=10,
    params=658_586,
    macs=97_174_144,
    top1=92.83,
    dataset="CIFAR-10",
    notes=_CIFAR_NOTES.format(n=7, extra=2752),
    figures=(Reported("He et al. 2015, Table 6", "CIFAR-10", params=660_000, top1_error=7.17),),
)
def resnet44(**kwargs) -> ResNet:
    return _cifar(44, **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 32, 32),
    num_classes=10,
    params=853_018,
    macs=125_485_696,
    top1=93.03,
    dataset="CIFAR-10",
    notes=_CIFAR_NOTES.format(n=9, extra=2752),
    figures=(Reported("He et al. 2015, Table 6", "CIFAR-10", params=850_000, top1_error=6.97),),
)
def resnet56(**kwargs) -> ResNet:
    return _cifar(56, **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 32, 32),
    num_classes=10,
    params=1_727_962,
    macs=252_887_680,
    top1=93.57,
    dataset="CIFAR-10",
    notes=_CIFAR_NOTES.format(n=18, extra=2752),
    figures=(
        Reported(
            "He et al. 2015, Table 6",
            "CIFAR-10",
            params=1_700_000,
            top1_error=6.43,
            note="best of 5 runs; mean 6.61 +- 0.16",
        ),
    ),
)
def resnet110(**kwargs) -> ResNet:
    return _cifar(110, **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 32, 32),
    num_classes=10,
    params=19_421_274,
    macs=2_829_238_912,
    top1=92.07,
    dataset="CIFAR-10",
    reported="Worse than ResNet-110: the paper attributes it to overfitting.",
    notes=_CIFAR_NOTES.format(n=200, extra=2752),
    figures=(Reported("He et al. 2015, Table 6", "CIFAR-10", params=19_400_000, top1_error=7.93),),
)
def resnet1202(**kwargs) -> ResNet:
    return _cifar(1202, **kwargs)


_PLAIN_NOTES = (
    "The plain twin of resnet{d} for the degradation experiment (paper Section 4.2, Fig. 6): the "
    "same layers and the same parameter count, no shortcut connections. The paper shows the "
    "deeper plain nets with higher training error; it tabulates no figures for them."
)


@register_model(
    paper=HE_2015,
    input_size=(3, 32, 32),
    num_classes=10,
    params=269_722,
    macs=40_551_040,
    dataset="CIFAR-10",
    notes=_PLAIN_NOTES.format(d=20),
    no_figures="the paper shows plain nets only as training curves (Fig. 6), without table figures",
)
def plain20(**kwargs) -> ResNet:
    return _cifar(20, "plain", **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 32, 32),
    num_classes=10,
    params=464_154,
    macs=68_862_592,
    dataset="CIFAR-10",
    notes=_PLAIN_NOTES.format(d=32),
    no_figures="the paper shows plain nets only as training curves (Fig. 6), without table figures",
)
def plain32(**kwargs) -> ResNet:
    return _cifar(32, "plain", **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 32, 32),
    num_classes=10,
    params=658_586,
    macs=97_174_144,
    dataset="CIFAR-10",
    notes=_PLAIN_NOTES.format(d=44),
    no_figures="the paper shows plain nets only as training curves (Fig. 6), without table figures",
)
def plain44(**kwargs) -> ResNet:
    return _cifar(44, "plain", **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 32, 32),
    num_classes=10,
    params=853_018,
    macs=125_485_696,
    dataset="CIFAR-10",
    notes=_PLAIN_NOTES.format(d=56),
    no_figures="the paper shows plain nets only as training curves (Fig. 6), without table figures",
)
def plain56(**kwargs) -> ResNet:
    return _cifar(56, "plain", **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 32, 32),
    num_classes=10,
    params=1_727_962,
    macs=252_887_680,
    dataset="CIFAR-10",
    reported="Paper section 4.2: the 110-layer plain net is hard to optimise.",
    notes=_PLAIN_NOTES.format(d=110),
    no_figures="the paper shows plain nets only as training curves (Fig. 6), without table figures",
)
def plain110(**kwargs) -> ResNet:
    return _cifar(110, "plain", **kwargs)


@register_model(
    paper=HUANG_2016,
    input_size=(3, 32, 32),
    num_classes=10,
    params=1_727_962,
    macs=252_887_680,
    dataset="CIFAR-10",
    reported="",
    notes="resnet110 (option A) with drop_path_rate=0.5 and the paper's per-mini-batch rule: a "
    "dropped block skips its residual branch entirely (output = ReLU(shortcut)); in eval every "
    "branch is scaled by its survival probability. MACs are the full (eval) network's; training "
    "runs on average 25% fewer. The same option exists on every residual net in this family: "
    "create_model('resnet1202', drop_path_rate=0.5).",
    no_figures="the paper's Table 1 error for this 110-layer net could not be checked against a readable copy (the abstract's 4.91% CIFAR-10 error is for 1,202 layers)",
)
def resnet110_sd(**kwargs) -> ResNet:
    kwargs.setdefault("drop_path_rate", 0.5)
    return _cifar(110, **kwargs)
