"""Residual networks: ImageNet and CIFAR ResNets, their plain twins, pre-activation ResNets and
stochastic depth.

* K. He, X. Zhang, S. Ren, J. Sun. Deep Residual Learning for Image Recognition. CVPR 2016
  (arXiv:1512.03385, 2015). ImageNet ResNet-18/34/50/101/152 (Table 1), CIFAR ResNet-20 ...
  1202 (Section 4.2, Table 6) and the plain networks of the degradation experiment.
* K. He, X. Zhang, S. Ren, J. Sun. Identity Mappings in Deep Residual Networks. ECCV 2016.
  Pre-activation units (BN -> ReLU -> conv), e.g. ResNet-164 and ResNet-1001 on CIFAR.
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
import torch.nn.functional as F

from cnnzoo.layers import ConvNormAct, DropPath
from cnnzoo.models._base import Classifier
from cnnzoo.registry import Paper, register_model

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "PlainBlock",
    "PreActBasicBlock",
    "PreActBottleneck",
    "PreActResNet",
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
HE_2016 = Paper(
    authors="K. He, X. Zhang, S. Ren, J. Sun",
    title="Identity Mappings in Deep Residual Networks",
    year=2016,
    venue="ECCV 2016 (arXiv:1603.05027)",
    url="https://arxiv.org/abs/1603.05027",
)
HUANG_2016 = Paper(
    authors="G. Huang, Y. Sun, Z. Liu, D. Sedra, K. Q. Weinberger",
    title="Deep Networks with Stochastic Depth",
    year=2016,
    venue="ECCV 2016 (arXiv:1603.09382)",
    url="https://arxiv.org/abs/1603.09382",
)

ShortcutType = Literal["A", "B"]
StrideOn = Literal["1x1", "3x3"]
SDMode = Literal["batch", "row"]


# -- shared pieces ---------------------------------------------------------------------------


def drop_probs(drop_path_rate: float, num_blocks: int) -> list[float]:
    """Huang et al.'s linear decay: block ``l`` (1-based) of ``L`` is dropped with ``rate * l / L``.

    The last block is dropped with probability ``drop_path_rate`` (= 1 - p_L).
    """
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}")
    return [drop_path_rate * (i + 1) / num_blocks for i in range(num_blocks)]


class StochasticDepth(DropPath):
    """Drops a residual branch: the paper's per-mini-batch rule or timm's per-sample one.

    ``mode="batch"`` (Huang et al.): the block asks :meth:`skips_branch` before running its
    branch; when it says yes the branch is not computed at all. Kept branches pass unscaled in
    training and are multiplied by the survival probability ``1 - drop_prob`` in eval.
    ``mode="row"``: :class:`~cnnzoo.layers.DropPath` (per sample, 1/p rescaling in training).
    """

    def __init__(self, drop_prob: float = 0.0, mode: SDMode = "batch") -> None:
        super().__init__(drop_prob)
        if mode not in ("batch", "row"):
            raise ValueError(f"stochastic depth mode must be 'batch' or 'row', got {mode!r}")
        self.mode = mode

    def skips_branch(self) -> bool:
        if self.mode != "batch" or not self.training or self.drop_prob == 0.0:
            return False
        # One draw per mini-batch on the CPU generator, whatever the model's device.
        return bool(torch.rand((), device="cpu") < self.drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "row":
            return super().forward(x)
        if self.training or self.drop_prob == 0.0:
            return x
        return x * (1.0 - self.drop_prob)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}, mode={self.mode!r}"


def _stochastic_depth(drop_prob: float, mode: SDMode) -> nn.Module:
    return StochasticDepth(drop_prob, mode) if drop_prob > 0.0 else nn.Identity()


def _skips(drop_path: nn.Module) -> bool:
    return isinstance(drop_path, StochasticDepth) and drop_path.skips_branch()


class ZeroPadShortcut(nn.Module):
    """Option A: an identity shortcut that subsamples and zero-pads the new channels.

    ``pool="subsample"`` keeps every ``stride``-th position (He et al.; written as a 1x1
    average pooling so the summary follows the receptive field); ``pool="avg"`` averages
    ``stride x stride`` windows (PyramidNet). No parameters.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        pool: Literal["subsample", "avg"] = "subsample",
    ) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f"a zero-padding shortcut cannot reduce channels ({in_channels} -> "
                f"{out_channels}); use shortcut='B' (1x1 projection)"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            kernel = 1 if self.pool == "subsample" else self.stride
            x = F.avg_pool2d(x, kernel, self.stride, ceil_mode=True)
        extra = self.out_channels - self.in_channels
        if extra:
            x = F.pad(x, (0, 0, 0, 0, 0, extra))
        return x

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}, pool={self.pool!r}"


def make_shortcut(
    in_channels: int,
    out_channels: int,
    stride: int,
    shortcut: ShortcutType,
    norm: bool = True,
) -> nn.Module:
    """Identity where the shape is kept, otherwise option A (zero-pad) or B (1x1 projection)."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    if shortcut == "A":
        return ZeroPadShortcut(in_channels, out_channels, stride)
    if shortcut == "B":
        # Pre-activation units project the already normalised input, so no BN there.
        return ConvNormAct(
            in_channels, out_channels, 1, stride=stride, norm=norm, act_layer=None, bias=False
        )
    raise ValueError(f"shortcut must be 'A' (zero-padding) or 'B' (projection), got {shortcut!r}")


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
        groups: int = 1,
        base_width: int = 64,
        stride_on: StrideOn = "1x1",
        drop_prob: float = 0.0,
        sd_mode: SDMode = "batch",
    ) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock supports only groups=1 and base_width=64")
        out_channels = planes * self.expansion
        self.conv1 = ConvNormAct(in_channels, planes, 3, stride=stride)
        self.conv2 = ConvNormAct(planes, out_channels, 3, act_layer=None)
        self.shortcut = make_shortcut(in_channels, out_channels, stride, shortcut)
        self.drop_path = _stochastic_depth(drop_prob, sd_mode)
        self.act = nn.ReLU()
        self.out_channels = out_channels

    def last_bn(self) -> nn.BatchNorm2d:
        return self.conv2.bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.shortcut(x)
        if _skips(self.drop_path):
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
        self.drop_path = _stochastic_depth(drop_prob, sd_mode)
        self.act = nn.ReLU()
        self.out_channels = out_channels

    def last_bn(self) -> nn.BatchNorm2d:
        return self.conv3.bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.shortcut(x)
        if _skips(self.drop_path):
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
        shortcut: ShortcutType = "A",
        groups: int = 1,
        base_width: int = 64,
        stride_on: StrideOn = "1x1",
        drop_prob: float = 0.0,
        sd_mode: SDMode = "batch",
    ) -> None:
        super().__init__()
        if drop_prob > 0.0:
            raise ValueError(
                "stochastic depth needs a shortcut to fall back on; plain nets have none"
            )
        self.conv1 = ConvNormAct(in_channels, planes, 3, stride=stride)
        self.conv2 = ConvNormAct(planes, planes, 3)
        self.out_channels = planes

    def last_bn(self) -> nn.BatchNorm2d:
        return self.conv2.bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


_POST_BLOCKS: dict[str, type[nn.Module]] = {
    "basic": BasicBlock,
    "bottleneck": Bottleneck,
    "plain": PlainBlock,
}


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
        if len(layers) != len(widths):
            raise ValueError(f"layers {tuple(layers)} and widths {tuple(widths)} differ in length")
        block_cls = _POST_BLOCKS[block]

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

        probs = drop_probs(drop_path_rate, sum(layers))
        channels = stem_width
        index = 0
        for stage, (count, planes) in enumerate(zip(layers, widths, strict=True), start=1):
            blocks = nn.Sequential()
            for i in range(count):
                stride = 2 if stage > 1 and i == 0 else 1
                unit = block_cls(
                    channels,
                    planes,
                    stride=stride,
                    shortcut=shortcut,
                    groups=groups,
                    base_width=base_width,
                    stride_on=stride_on,
                    drop_prob=probs[index],
                    sd_mode=stochastic_depth_mode,
                )
                blocks.add_module(f"block{i + 1}", unit)
                channels = unit.out_channels
                index += 1
            if stage > 1:
                reduction *= 2
            self.add_module(f"stage{stage}", blocks)
            self.feature_info.append(
                {"module": f"stage{stage}", "num_chs": channels, "reduction": reduction}
            )
        self.num_stages = len(layers)
        self.num_features = channels
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Linear(channels, num_classes)
        _init_weights(self)
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


def _init_weights(model: nn.Module) -> None:
    # He et al. initialisation (fan-out, as in the authors' and torchvision's code); BN = identity.
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


# -- pre-activation blocks (He et al. 2016) --------------------------------------------------


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
        self.drop_path = _stochastic_depth(drop_prob, sd_mode)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act1(self.bn1(x))
        identity = x if isinstance(self.shortcut, nn.Identity) else self.shortcut(pre)
        if _skips(self.drop_path):
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
        self.drop_path = _stochastic_depth(drop_prob, sd_mode)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act1(self.bn1(x))
        identity = x if isinstance(self.shortcut, nn.Identity) else self.shortcut(pre)
        if _skips(self.drop_path):
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
        if len(layers) != len(widths):
            raise ValueError(f"layers {tuple(layers)} and widths {tuple(widths)} differ in length")
        block_cls = _PRE_BLOCKS[block]
        self.stem = nn.Conv2d(in_chans, stem_width, 3, padding=1, bias=False)
        self.feature_info = [{"module": "stem", "num_chs": stem_width, "reduction": 1}]

        probs = drop_probs(drop_path_rate, sum(layers))
        channels = stem_width
        reduction = 1
        index = 0
        for stage, (count, planes) in enumerate(zip(layers, widths, strict=True), start=1):
            blocks = nn.Sequential()
            for i in range(count):
                stride = 2 if stage > 1 and i == 0 else 1
                unit = block_cls(
                    channels,
                    planes,
                    stride=stride,
                    shortcut=shortcut,
                    drop_rate=drop_rate,
                    drop_prob=probs[index],
                    sd_mode=stochastic_depth_mode,
                )
                blocks.add_module(f"block{i + 1}", unit)
                channels = unit.out_channels
                index += 1
            if stage > 1:
                reduction *= 2
            self.add_module(f"stage{stage}", blocks)
            self.feature_info.append(
                {"module": f"stage{stage}", "num_chs": channels, "reduction": reduction}
            )
        self.num_stages = len(layers)
        self.num_features = channels
        self.final_bn = nn.BatchNorm2d(channels)
        self.final_act = nn.ReLU()
        self.feature_info.append(
            {"module": "final_act", "num_chs": channels, "reduction": reduction}
        )
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Linear(channels, num_classes)
        _init_weights(self)

    def stages(self) -> list[nn.Module]:
        return [getattr(self, f"stage{i}") for i in range(1, self.num_stages + 1)]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages():
            x = stage(x)
        return self.final_act(self.final_bn(x))

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
    paper=HE_2015,
    input_size=(3, 224, 224),
    params=11_689_512,
    macs=1_814_073_344,
    top1=69.758,
    reported="Paper Table 1: 1.8 x 10^9 FLOPs (= mult-adds); Table 2: 27.88% top-1 error (10-crop). "
    "torchvision resnet18: 11,689,512 params, 1.81 GFLOPS (MACs), 69.758% top-1 (single crop).",
    notes="Basic blocks: the stride sits on the first 3x3 convolution in the paper and in "
    "torchvision alike, so there is no v1.5 twin. Projection shortcuts (option B).",
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
    reported="Paper Table 1: 3.6 x 10^9 FLOPs (= mult-adds); Table 3: 24.52% top-1 error (10-crop, "
    "option B). torchvision resnet34: 21,797,672 params, 3.66 GFLOPS (MACs), 73.314% top-1.",
    notes="Basic blocks; identical to torchvision's resnet34. Projection shortcuts (option B).",
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
    reported="Paper Table 1: 3.8 x 10^9 FLOPs (= mult-adds); authors' released model (KaimingHe/"
    "deep-residual-networks): 24.7% top-1 error single crop, 22.9% 10-crop as in the paper. "
    "torchvision resnet50 (v1.5): 25,557,032 params, 4.09 GFLOPS (MACs).",
    notes="The paper's placement: the stride-2 downsampling is on the first 1x1 convolution of "
    "each stage's first bottleneck (3.86 GMACs). resnet50_v1_5 is torchvision's placement.",
)
def resnet50(**kwargs) -> ResNet:
    return _imagenet("bottleneck", (3, 4, 6, 3), **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 224, 224),
    params=25_557_032,
    macs=4_089_184_256,
    top1=76.130,
    reported="torchvision resnet50 (IMAGENET1K_V1): 25,557,032 params, 4.09 GFLOPS (MACs), "
    "76.130% top-1 single crop. Paper (stride on the 1x1): 3.8 x 10^9 FLOPs.",
    notes="ResNet v1.5 (fb.resnet.torch, torchvision, NVIDIA): the stride-2 downsampling is on the "
    "3x3 convolution. Same parameters as resnet50, 231M more MACs at 224x224.",
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
    reported="Paper Table 1: 7.6 x 10^9 FLOPs (= mult-adds); authors' released model: 23.6% top-1 "
    "error single crop, 21.8% 10-crop. torchvision resnet101 (v1.5): 44,549,160 params, 7.80 GFLOPS.",
    notes="The paper's placement (stride on the first 1x1). resnet101_v1_5 is torchvision's.",
)
def resnet101(**kwargs) -> ResNet:
    return _imagenet("bottleneck", (3, 4, 23, 3), **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 224, 224),
    params=44_549_160,
    macs=7_801_405_440,
    top1=77.374,
    reported="torchvision resnet101 (IMAGENET1K_V1): 44,549,160 params, 7.80 GFLOPS (MACs), "
    "77.374% top-1 single crop.",
    notes="ResNet v1.5: stride on the 3x3 convolution, as torchvision. Same parameters as resnet101.",
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
    reported="Paper Table 1: 11.3 x 10^9 FLOPs (= mult-adds); authors' released model: 23.0% top-1 "
    "error single crop, 21.4% 10-crop. torchvision resnet152 (v1.5): 60,192,808 params, 11.51 GFLOPS.",
    notes="The paper's placement (stride on the first 1x1). resnet152_v1_5 is torchvision's.",
)
def resnet152(**kwargs) -> ResNet:
    return _imagenet("bottleneck", (3, 8, 36, 3), **kwargs)


@register_model(
    paper=HE_2015,
    input_size=(3, 224, 224),
    params=60_192_808,
    macs=11_513_626_624,
    top1=78.312,
    reported="torchvision resnet152 (IMAGENET1K_V1): 60,192,808 params, 11.51 GFLOPS (MACs), "
    "78.312% top-1 single crop.",
    notes="ResNet v1.5: stride on the 3x3 convolution, as torchvision. Same parameters as resnet152.",
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
    reported="Paper Table 6: 0.27M params, 8.75% test error.",
    notes=_CIFAR_NOTES.format(n=3, extra=2752),
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
    reported="Paper Table 6: 0.46M params, 7.51% test error.",
    notes=_CIFAR_NOTES.format(n=5, extra=2752),
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
    reported="Paper Table 6: 0.66M params, 7.17% test error.",
    notes=_CIFAR_NOTES.format(n=7, extra=2752),
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
    reported="Paper Table 6: 0.85M params, 6.97% test error.",
    notes=_CIFAR_NOTES.format(n=9, extra=2752),
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
    reported="Paper Table 6: 1.7M params, 6.43% test error (best of 5 runs; 6.61 +- 0.16 mean).",
    notes=_CIFAR_NOTES.format(n=18, extra=2752),
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
    reported="Paper Table 6: 19.4M params, 7.93% test error (worse than ResNet-110: overfitting).",
    notes=_CIFAR_NOTES.format(n=200, extra=2752),
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
    reported="Paper Fig. 6 (left): training curves only; no table figures.",
    notes=_PLAIN_NOTES.format(d=20),
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
    reported="Paper Fig. 6 (left): training curves only; no table figures.",
    notes=_PLAIN_NOTES.format(d=32),
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
    reported="Paper Fig. 6 (left): training curves only; no table figures.",
    notes=_PLAIN_NOTES.format(d=44),
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
    reported="Paper Fig. 6 (left): training curves only; no table figures.",
    notes=_PLAIN_NOTES.format(d=56),
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
    reported="Paper Section 4.2: the 110-layer plain net is hard to optimise; no table figures.",
    notes=_PLAIN_NOTES.format(d=110),
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
    reported="Paper: the 110-layer ResNet of He et al. trained with stochastic depth, p_L = 0.5 "
    "(linear decay); about 25% faster training; 4.91% CIFAR-10 error for the 1202-layer version "
    "(abstract).",
    notes="resnet110 (option A) with drop_path_rate=0.5 and the paper's per-mini-batch rule: a "
    "dropped block skips its residual branch entirely (output = ReLU(shortcut)); in eval every "
    "branch is scaled by its survival probability. MACs are the full (eval) network's; training "
    "runs on average 25% fewer. The same option exists on every residual net in this family: "
    "create_model('resnet1202', drop_path_rate=0.5).",
)
def resnet110_sd(**kwargs) -> ResNet:
    kwargs.setdefault("drop_path_rate", 0.5)
    return _cifar(110, **kwargs)


@register_model(
    paper=HE_2016,
    input_size=(3, 32, 32),
    num_classes=10,
    params=1_727_962,
    macs=252_887_680,
    dataset="CIFAR-10",
    top1=93.63,
    reported="Paper Table 2/3: pre-activation ResNet-110, 6.37% CIFAR-10 error (vs 6.61% original); "
    "1.7M params.",
    notes="Full pre-activation basic units (BN-ReLU-conv x2), bare conv stem, final BN-ReLU. Option A "
    "shortcuts, so it is the exact pre-activation twin of resnet110 (same parameter count).",
)
def preact_resnet110(**kwargs) -> PreActResNet:
    kwargs.setdefault("shortcut", "A")
    return _preact_cifar(110, "basic", **kwargs)


@register_model(
    paper=HE_2016,
    input_size=(3, 32, 32),
    num_classes=10,
    params=1_703_258,
    macs=244_500_992,
    dataset="CIFAR-10",
    top1=94.54,
    reported="Paper Table 4: ResNet-164 (pre-activation) 1.7M params, 5.46% CIFAR-10 / 24.33% "
    "CIFAR-100 error.",
    notes="Pre-activation bottleneck units (16/32/64 -> x4), 18 per stage, 1x1 projection shortcuts "
    "on the pre-activated input where the shape changes (KaimingHe/resnet-1k-layers).",
)
def preact_resnet164(**kwargs) -> PreActResNet:
    return _preact_cifar(164, "bottleneck", **kwargs)


@register_model(
    paper=HE_2016,
    input_size=(3, 32, 32),
    num_classes=10,
    params=10_327_706,
    macs=1_487_849_984,
    dataset="CIFAR-10",
    top1=95.08,
    reported="Paper Table 4: ResNet-1001 (pre-activation) 10.2M params, 4.92% CIFAR-10 / 22.71% "
    "CIFAR-100 error with mini-batch 128; 4.62% (abstract; resnet-1k-layers README) with mini-batch 64.",
    notes="111 pre-activation bottlenecks per stage, as resnet-1k-layers. Our 10,327,706 include "
    "149,216 BatchNorm parameters; the conv + FC weights alone are 10,178,490 = the paper's 10.2M "
    "(the paper's count evidently leaves BN out).",
)
def preact_resnet1001(**kwargs) -> PreActResNet:
    return _preact_cifar(1001, "bottleneck", **kwargs)
