"""DenseNet.

G. Huang, Z. Liu, L. van der Maaten, K. Q. Weinberger. Densely Connected Convolutional Networks.
CVPR 2017.

Inside a dense block every layer receives the concatenation of all earlier feature maps of the
block and adds ``k`` (the growth rate) new ones. Between blocks a transition layer
(BN -> ReLU -> 1x1 conv -> 2x2 average pool) halves the resolution and, with compression
``theta``, keeps ``floor(theta * m)`` of its ``m`` channels.

* **DenseNet** (CIFAR, paper Table 2): a 3x3 convolution to 16 channels, three dense blocks of
  ``(L - 4) / 3`` layers BN -> ReLU -> 3x3 conv(k), transitions without compression, BN -> ReLU,
  global average pool (8x8) and an FC layer.
* **DenseNet-BC** (bottleneck + compression): each layer is BN -> ReLU -> 1x1 conv(4k) -> BN ->
  ReLU -> 3x3 conv(k), so a block has ``(L - 4) / 6`` layers; theta = 0.5 and the first
  convolution has 2k channels. The ImageNet models (paper Table 1) are DenseNet-BC with four
  blocks, a 7x7/2 convolution to 2k channels and a 3x3/2 max-pool in front; they match
  torchvision's ``densenet121/161/169/201`` parameter for parameter.

Deviations: none in the layers. Dropout (the paper's 0.2 after each convolution when training
on CIFAR without augmentation) is the ``drop_rate`` option, off by default. The convolutions
have no bias (each is followed or preceded by a BN layer).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from cnnzoo.models._base import Classifier
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["DenseBlock", "DenseLayer", "DenseNet", "Transition"]

HUANG_2017 = Paper(
    authors="G. Huang, Z. Liu, L. van der Maaten, K. Q. Weinberger",
    title="Densely Connected Convolutional Networks",
    year=2017,
    venue="CVPR",
    url="https://arxiv.org/abs/1608.06993",
)


class DenseLayer(nn.Module):
    """BN -> ReLU -> [1x1 conv(bn_size * k) -> BN -> ReLU ->] 3x3 conv(k) on the concatenated
    inputs; returns only the ``k`` new maps (the block concatenates)."""

    def __init__(
        self, in_channels: int, growth_rate: int, bn_size: int | None, drop_rate: float = 0.0
    ) -> None:
        super().__init__()
        # Plain layer: norm1/act1/conv1 (3x3). Bottleneck layer: conv1 is the 1x1 and
        # norm2/act2/conv2 the 3x3, as torchvision names them.
        inner = bn_size * growth_rate if bn_size else growth_rate
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.act1 = nn.ReLU()
        if bn_size:
            self.conv1 = nn.Conv2d(in_channels, inner, 1, bias=False)
            self.drop1 = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
            self.norm2 = nn.BatchNorm2d(inner)
            self.act2 = nn.ReLU()
            self.conv2 = nn.Conv2d(inner, growth_rate, 3, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, growth_rate, 3, padding=1, bias=False)
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.bottleneck = bool(bn_size)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.conv1(self.act1(self.norm1(torch.cat(features, 1))))
        if self.bottleneck:
            x = self.conv2(self.act2(self.norm2(self.drop1(x))))
        return self.drop(x)


class DenseBlock(nn.Module):
    """``num_layers`` dense layers (``layer1`` ...); the output is the input concatenated with
    every layer's new maps: ``in_channels + num_layers * growth_rate`` channels."""

    def __init__(
        self,
        num_layers: int,
        in_channels: int,
        growth_rate: int,
        bn_size: int | None,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        for index in range(num_layers):
            self.add_module(
                f"layer{index + 1}",
                DenseLayer(in_channels + index * growth_rate, growth_rate, bn_size, drop_rate),
            )
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.children():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """BN -> ReLU -> 1x1 conv -> 2x2 average pool."""

    def __init__(self, in_channels: int, out_channels: int, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.act = nn.ReLU()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        if drop_rate > 0:
            self.drop = nn.Dropout(drop_rate)
        self.pool = nn.AvgPool2d(2, stride=2)


class DenseNet(Classifier):
    """DenseNet: ``stem``, ``block1``, ``transition1``, ..., ``blockN``, ``norm``, ``act``, global
    average pool, ``classifier`` (FC).

    ``block_config`` lists the layers per dense block; ``bn_size=None`` gives the plain (non-B)
    layer, ``compression`` is theta; ``imagenet_stem`` switches between the 7x7/2 + max-pool stem
    and the CIFAR 3x3 one; ``stem_channels`` defaults to 2k (BC) or 16.
    """

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, ...] = (6, 12, 24, 16),
        bn_size: int | None = 4,
        compression: float = 0.5,
        stem_channels: int | None = None,
        imagenet_stem: bool = True,
        drop_rate: float = 0.0,
        num_classes: int = 1000,
        in_chans: int = 3,
    ) -> None:
        super().__init__(num_classes, in_chans)
        if not 0.0 < compression <= 1.0:
            raise ValueError(f"compression (theta) must be in (0, 1], got {compression}")
        self.growth_rate = growth_rate
        if stem_channels is None:
            stem_channels = 2 * growth_rate if bn_size else 16
        self.stem = nn.Sequential()
        if imagenet_stem:
            self.stem.add_module("conv", nn.Conv2d(in_chans, stem_channels, 7, 2, 3, bias=False))
            self.stem.add_module("norm", nn.BatchNorm2d(stem_channels))
            self.stem.add_module("act", nn.ReLU())
            self.stem.add_module("pool", nn.MaxPool2d(3, stride=2, padding=1))
            reduction = 4
        else:
            # The CIFAR stem is a bare convolution: the first dense layer starts with BN-ReLU.
            self.stem.add_module(
                "conv", nn.Conv2d(in_chans, stem_channels, 3, padding=1, bias=False)
            )
            reduction = 1
        self.feature_info = [{"module": "stem", "num_chs": stem_channels, "reduction": reduction}]
        channels = stem_channels
        self.num_blocks = len(block_config)
        for index, num_layers in enumerate(block_config, start=1):
            block = DenseBlock(num_layers, channels, growth_rate, bn_size, drop_rate)
            self.add_module(f"block{index}", block)
            channels = block.out_channels
            self.feature_info.append(
                {"module": f"block{index}", "num_chs": channels, "reduction": reduction}
            )
            if index < len(block_config):
                out = int(channels * compression)
                self.add_module(f"transition{index}", Transition(channels, out, drop_rate))
                channels = out
                reduction *= 2
        self.norm = nn.BatchNorm2d(channels)
        self.act = nn.ReLU()
        self.feature_info.append({"module": "act", "num_chs": channels, "reduction": reduction})
        self.num_features = channels
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Linear(channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # As the reference code: He-normal convolutions, zero FC bias.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)
            elif isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for index in range(1, self.num_blocks + 1):
            x = getattr(self, f"block{index}")(x)
            if index < self.num_blocks:
                x = getattr(self, f"transition{index}")(x)
        return self.act(self.norm(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.global_pool(x)))


def cifar_densenet(
    depth: int, growth_rate: int, bc: bool, num_classes: int = 10, **kwargs
) -> DenseNet:
    """The paper's CIFAR DenseNet(-BC) of depth ``L``: three equal blocks."""
    per_block, rest = divmod(depth - 4, 6 if bc else 3)
    if rest or per_block < 1:
        kind = "DenseNet-BC needs L = 6n + 4" if bc else "DenseNet needs L = 3n + 4"
        raise ValueError(f"{kind}, got L = {depth}")
    return DenseNet(
        growth_rate=growth_rate,
        block_config=(per_block,) * 3,
        bn_size=4 if bc else None,
        compression=0.5 if bc else 1.0,
        imagenet_stem=False,
        num_classes=num_classes,
        **kwargs,
    )


# -- ImageNet (paper Table 1; DenseNet-161 from the authors' repository) -----------------------


@register_model(
    paper=HUANG_2017,
    input_size=(3, 224, 224),
    params=7_978_856,
    macs=2_834_161_664,
    top1=74.98,
    notes="k=32, blocks 6/12/24/16; torchvision's densenet121 layer for layer. top1 is the "
    "paper's.",
    figures=(
        Reported("Huang et al. 2017, Table 3", top1_error=25.02, note="single crop"),
        Reported(
            "authors' release (liuzhuang13/DenseNet)",
            top1_error=25.0,
            note="Torch model, 224x224 single crop",
        ),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=74.434,
            top5=91.972,
            params=7_978_856,
            macs=2_834_000_000,
        ),
    ),
    torchvision="densenet121",
)
def densenet121(**kwargs) -> DenseNet:
    return DenseNet(growth_rate=32, block_config=(6, 12, 24, 16), **kwargs)


@register_model(
    paper=HUANG_2017,
    input_size=(3, 224, 224),
    params=14_149_480,
    macs=3_359_843_328,
    top1=76.20,
    notes="k=32, blocks 6/12/32/32; torchvision's densenet169. top1 is the paper's.",
    figures=(
        Reported("Huang et al. 2017, Table 3", top1_error=23.8, note="single crop"),
        Reported(
            "authors' release (liuzhuang13/DenseNet)",
            top1_error=23.6,
            note="Torch model, 224x224 single crop",
        ),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=75.6,
            top5=92.806,
            params=14_149_480,
            macs=3_360_000_000,
        ),
    ),
    torchvision="densenet169",
)
def densenet169(**kwargs) -> DenseNet:
    return DenseNet(growth_rate=32, block_config=(6, 12, 32, 32), **kwargs)


@register_model(
    paper=HUANG_2017,
    input_size=(3, 224, 224),
    params=20_013_928,
    macs=4_291_365_888,
    top1=77.42,
    notes="k=32, blocks 6/12/48/32; torchvision's densenet201. top1 is the paper's.",
    figures=(
        Reported("Huang et al. 2017, Table 3", top1_error=22.58, note="single crop"),
        Reported(
            "authors' release (liuzhuang13/DenseNet)",
            top1_error=22.5,
            note="Torch model, 224x224 single crop",
        ),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=76.896,
            top5=93.37,
            params=20_013_928,
            macs=4_291_000_000,
        ),
    ),
    torchvision="densenet201",
)
def densenet201(**kwargs) -> DenseNet:
    return DenseNet(growth_rate=32, block_config=(6, 12, 48, 32), **kwargs)


@register_model(
    paper=HUANG_2017,
    input_size=(3, 224, 224),
    params=28_681_000,
    macs=7_727_907_072,
    top1=77.138,
    reported="Not in the paper: the authors released it with the code.",
    notes="k=48, 96 stem channels, blocks 6/12/36/24; torchvision's densenet161. top1 is "
    "torchvision's.",
    figures=(
        Reported(
            "authors' release (liuzhuang13/DenseNet)",
            top1_error=22.2,
            note="Torch model, 224x224 single crop",
        ),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=77.138,
            top5=93.56,
            params=28_681_000,
            macs=7_728_000_000,
        ),
    ),
    torchvision="densenet161",
)
def densenet161(**kwargs) -> DenseNet:
    return DenseNet(growth_rate=48, block_config=(6, 12, 36, 24), stem_channels=96, **kwargs)


# -- CIFAR (paper Table 2; top-1 = 100 - error on C10+, i.e. with standard augmentation) --------


@register_model(
    paper=HUANG_2017,
    input_size=(3, 32, 32),
    num_classes=10,
    params=1_019_722,
    macs=264_812_928,
    top1=94.76,
    dataset="CIFAR-10",
    notes="DenseNet (L=40, k=12): 3 blocks of 12 BN-ReLU-3x3 layers, no compression.",
    figures=(
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-10",
            params=1_000_000,
            top1_error=5.24,
            note="C10+ / C100+: standard augmentation",
        ),
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-10",
            params=1_000_000,
            top1_error=7.0,
            note="no augmentation, dropout 0.2",
        ),
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-100",
            params=1_000_000,
            top1_error=24.42,
            note="C10+ / C100+: standard augmentation",
        ),
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-100",
            params=1_000_000,
            top1_error=27.55,
            note="no augmentation, dropout 0.2",
        ),
    ),
)
def densenet40_k12(**kwargs) -> DenseNet:
    return cifar_densenet(40, 12, bc=False, **kwargs)


@register_model(
    paper=HUANG_2017,
    input_size=(3, 32, 32),
    num_classes=10,
    params=6_979_642,
    macs=1_769_516_448,
    top1=95.90,
    dataset="CIFAR-10",
    notes="DenseNet (L=100, k=12): 3 blocks of 32 BN-ReLU-3x3 layers, no compression.",
    figures=(
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-10",
            params=7_000_000,
            top1_error=4.1,
            note="C10+ / C100+: standard augmentation",
        ),
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-10",
            params=7_000_000,
            top1_error=5.77,
            note="no augmentation, dropout 0.2",
        ),
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-100",
            params=7_000_000,
            top1_error=20.2,
            note="C10+ / C100+: standard augmentation",
        ),
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-100",
            params=7_000_000,
            top1_error=23.79,
            note="no augmentation, dropout 0.2",
        ),
    ),
)
def densenet100_k12(**kwargs) -> DenseNet:
    return cifar_densenet(100, 12, bc=False, **kwargs)


@register_model(
    paper=HUANG_2017,
    input_size=(3, 32, 32),
    num_classes=10,
    params=27_249_082,
    macs=6_889_347_744,
    top1=96.26,
    dataset="CIFAR-10",
    notes="DenseNet (L=100, k=24): 3 blocks of 32 BN-ReLU-3x3 layers, no compression.",
    figures=(
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-10",
            params=27_200_000,
            top1_error=3.74,
            note="C10+ / C100+: standard augmentation",
        ),
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-10",
            params=27_200_000,
            top1_error=5.83,
            note="no augmentation, dropout 0.2",
        ),
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-100",
            params=27_200_000,
            top1_error=19.25,
            note="C10+ / C100+: standard augmentation",
        ),
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-100",
            params=27_200_000,
            top1_error=23.42,
            note="no augmentation, dropout 0.2",
        ),
    ),
)
def densenet100_k24(**kwargs) -> DenseNet:
    return cifar_densenet(100, 24, bc=False, **kwargs)


@register_model(
    paper=HUANG_2017,
    input_size=(3, 32, 32),
    num_classes=10,
    params=769_162,
    macs=287_929_692,
    top1=95.49,
    dataset="CIFAR-10",
    notes="DenseNet-BC (L=100, k=12): 3 blocks of 16 bottleneck layers, theta = 0.5.",
    figures=(
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-10",
            params=800_000,
            top1_error=4.51,
            note="C10+ / C100+: standard augmentation",
        ),
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-10",
            params=800_000,
            top1_error=5.92,
            note="no augmentation, dropout 0.2",
        ),
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-100",
            params=800_000,
            top1_error=22.27,
            note="C10+ / C100+: standard augmentation",
        ),
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-100",
            params=800_000,
            top1_error=24.15,
            note="no augmentation, dropout 0.2",
        ),
    ),
)
def densenet_bc100_k12(**kwargs) -> DenseNet:
    return cifar_densenet(100, 12, bc=True, **kwargs)


@register_model(
    paper=HUANG_2017,
    input_size=(3, 32, 32),
    num_classes=10,
    params=15_324_406,
    macs=5_418_785_724,
    top1=96.38,
    dataset="CIFAR-10",
    notes="DenseNet-BC (L=250, k=24): 3 blocks of 41 bottleneck layers, theta = 0.5.",
    figures=(
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-10",
            params=15_300_000,
            top1_error=3.62,
            note="C10+ / C100+: standard augmentation",
        ),
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-10",
            params=15_300_000,
            top1_error=5.19,
            note="no augmentation, dropout 0.2",
        ),
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-100",
            params=15_300_000,
            top1_error=17.6,
            note="C10+ / C100+: standard augmentation",
        ),
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-100",
            params=15_300_000,
            top1_error=19.64,
            note="no augmentation, dropout 0.2",
        ),
    ),
)
def densenet_bc250_k24(**kwargs) -> DenseNet:
    return cifar_densenet(250, 24, bc=True, **kwargs)


@register_model(
    paper=HUANG_2017,
    input_size=(3, 32, 32),
    num_classes=10,
    params=25_624_430,
    macs=9_301_945_740,
    top1=96.54,
    dataset="CIFAR-10",
    notes="DenseNet-BC (L=190, k=40): 3 blocks of 31 bottleneck layers, theta = 0.5.",
    figures=(
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-10",
            params=25_600_000,
            top1_error=3.46,
            note="C10+ / C100+: standard augmentation",
        ),
        Reported(
            "Huang et al. 2017, Table 2",
            "CIFAR-100",
            params=25_600_000,
            top1_error=17.18,
            note="C10+ / C100+: standard augmentation",
        ),
    ),
)
def densenet_bc190_k40(**kwargs) -> DenseNet:
    return cifar_densenet(190, 40, bc=True, **kwargs)
