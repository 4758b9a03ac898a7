"""VGG.

K. Simonyan, A. Zisserman. Very Deep Convolutional Networks for Large-Scale Image Recognition.
ICLR 2015 (arXiv:1409.1556, 2014).

Five stages of 3x3 convolutions (stride 1, padding 1), each closed by a 2x2/2 max-pool, then
FC 4096 -> FC 4096 -> FC 1000 with dropout 0.5 after the two hidden FC layers. The paper's
Table 1 configurations:

==========  ===================  ================================================
name        configuration        convolutions per stage
==========  ===================  ================================================
vgg11       A (11 weight layers) 1, 1, 2, 2, 2
vgg11_lrn   A-LRN                A with LRN after the first convolution
vgg13       B                    2, 2, 2, 2, 2
vgg16_c     C                    2, 2, 3, 3, 3; the third of stages 3-5 is 1x1
vgg16       D                    2, 2, 3, 3, 3
vgg19       E                    2, 2, 4, 4, 4
==========  ===================  ================================================

``*_bn`` adds batch normalisation after every convolution, as torchvision does (Ioffe & Szegedy
2015, after the paper): the convolutions keep their biases, so the counts equal torchvision's.
Like torchvision, the ImageNet models put ``AdaptiveAvgPool2d(7)`` before the classifier (the
identity at 224x224); any input of at least 32x32 then works with the same parameters. The
paper's dense evaluation (FC layers turned into convolutions) is not modelled.

``*_cifar`` variants are for 32x32 inputs: the same five stages bring the map to 1x1x512, and
a small head FC 512 -> ReLU -> dropout 0.5 -> FC classes replaces the 4096-wide one (which
torchvision's adaptive pooling would feed a 1x1 map copied 49 times: 102.8M parameters to learn
from 50,000 images).

Deliberate deviations: initialisation is torchvision's (Kaiming normal for convolutions, N(0,
0.01) for FC layers) rather than the paper's "train A, then copy its layers into the deeper
nets"; LRN in A-LRN uses AlexNet's constants, as the paper says.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn as nn

from cnnzoo.layers import LRN
from cnnzoo.models._base import Classifier
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["VGG", "VGG_CONFIGS"]

SIMONYAN_ZISSERMAN_2014 = Paper(
    authors="K. Simonyan, A. Zisserman",
    title="Very Deep Convolutional Networks for Large-Scale Image Recognition",
    year=2014,
    venue="ICLR 2015 (arXiv:1409.1556)",
    url="https://arxiv.org/abs/1409.1556",
)

Stage = Sequence[tuple[int, int]]
"""The (channels, kernel size) of each convolution of one stage."""


def _stage(width: int, n: int, last_kernel: int = 3) -> tuple[tuple[int, int], ...]:
    return (*((width, 3) for _ in range(n - 1)), (width, last_kernel))


# Table 1 of the paper, by configuration letter.
VGG_CONFIGS: dict[str, tuple[Stage, ...]] = {
    "A": (_stage(64, 1), _stage(128, 1), _stage(256, 2), _stage(512, 2), _stage(512, 2)),
    "B": (_stage(64, 2), _stage(128, 2), _stage(256, 2), _stage(512, 2), _stage(512, 2)),
    "C": (
        _stage(64, 2),
        _stage(128, 2),
        _stage(256, 3, last_kernel=1),
        _stage(512, 3, last_kernel=1),
        _stage(512, 3, last_kernel=1),
    ),
    "D": (_stage(64, 2), _stage(128, 2), _stage(256, 3), _stage(512, 3), _stage(512, 3)),
    "E": (_stage(64, 2), _stage(128, 2), _stage(256, 4), _stage(512, 4), _stage(512, 4)),
}


class VGG(Classifier):
    """``features.stage{i}.conv{j}`` / ``bn{j}`` / ``act{j}`` / ``pool``, then the classifier
    ``classifier.fc1`` ... (``fc3`` for ImageNet, ``fc2`` for the CIFAR head).

    ``head="imagenet"``: adaptive 7x7 average pooling, FC 4096 -> FC 4096 -> FC classes.
    ``head="cifar"``: global average pooling (the identity on the 1x1 map of a 32x32 input),
    FC ``hidden`` -> FC classes.
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        num_classes: int = 1000,
        in_chans: int = 3,
        batch_norm: bool = False,
        lrn: bool = False,
        head: str = "imagenet",
        hidden: int | None = None,
        drop_rate: float = 0.5,
    ) -> None:
        super().__init__(num_classes, in_chans)
        if head not in ("imagenet", "cifar"):
            raise ValueError(f"head must be 'imagenet' or 'cifar', got {head!r}")
        self.features = nn.Sequential()
        chs = in_chans
        for i, stage in enumerate(stages, start=1):
            block = nn.Sequential()
            for j, (width, kernel) in enumerate(stage, start=1):
                block.add_module(f"conv{j}", nn.Conv2d(chs, width, kernel, padding=kernel // 2))
                if batch_norm:
                    block.add_module(f"bn{j}", nn.BatchNorm2d(width))
                block.add_module(f"act{j}", nn.ReLU())
                if lrn and i == 1 and j == 1:
                    block.add_module("lrn", LRN())
                chs = width
            self.feature_info.append(
                {
                    "module": f"features.stage{i}.act{len(stage)}",
                    "num_chs": chs,
                    "reduction": 2 ** (i - 1),
                }
            )
            block.add_module("pool", nn.MaxPool2d(2, 2))
            self.features.add_module(f"stage{i}", block)
        self.num_features = chs
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Sequential()
        if head == "imagenet":
            self.pool = nn.AdaptiveAvgPool2d(7)
            widths = [chs * 7 * 7, hidden or 4096, hidden or 4096]
        else:
            self.pool = nn.AdaptiveAvgPool2d(1)
            widths = [chs, hidden or 512]
        for n, (fan_in, fan_out) in enumerate(pairwise(widths), start=1):
            self.classifier.add_module(f"fc{n}", nn.Linear(fan_in, fan_out))
            self.classifier.add_module(f"act{n}", nn.ReLU())
            self.classifier.add_module(f"drop{n}", nn.Dropout(drop_rate))
        self.head_path = f"classifier.fc{len(widths)}"
        self.classifier.add_module(f"fc{len(widths)}", nn.Linear(widths[-1], num_classes))

        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.pool(x)))


def _vgg(config: str, **kwargs) -> VGG:
    return VGG(VGG_CONFIGS[config], **kwargs)


def _paper_figures(config: str, params_m: int, top1_error: float, top5_error: float) -> tuple:
    """Table 2's rounded parameter count and Table 3's single-scale errors of one configuration."""
    return (
        Reported(
            "Simonyan & Zisserman 2014, Table 2",
            params=params_m * 1_000_000,
            note=f"configuration {config}",
        ),
        Reported(
            "Simonyan & Zisserman 2014, Table 3",
            top1_error=top1_error,
            top5_error=top5_error,
            note=f"configuration {config}, single scale, train and test scale 256, validation",
        ),
    )


@register_model(
    paper=SIMONYAN_ZISSERMAN_2014,
    input_size=(3, 224, 224),
    params=132_863_336,
    macs=7_609_090_048,
    top1=69.02,
    notes="Configuration A. Adaptive 7x7 average pool before FC (identity at 224).",
    figures=(
        *_paper_figures("A", 133, 29.6, 10.4),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=69.02,
            top5=88.628,
            params=132_863_336,
            macs=7_609_000_000,
        ),
    ),
    torchvision="vgg11",
)
def vgg11(**kwargs) -> VGG:
    return _vgg("A", **kwargs)


@register_model(
    paper=SIMONYAN_ZISSERMAN_2014,
    input_size=(3, 224, 224),
    params=132_863_336,
    macs=7_609_090_048,
    top1=70.3,
    notes="Configuration A-LRN: A with LRN (AlexNet constants) after conv1; the paper found it "
    "does not help (29.7% vs 29.6% top-1 error). Not in torchvision.",
    figures=(*_paper_figures("A-LRN", 133, 29.7, 10.5),),
)
def vgg11_lrn(**kwargs) -> VGG:
    return _vgg("A", lrn=True, **kwargs)


@register_model(
    paper=SIMONYAN_ZISSERMAN_2014,
    input_size=(3, 224, 224),
    params=133_047_848,
    macs=11_308_466_176,
    top1=69.928,
    notes="Configuration B.",
    figures=(
        *_paper_figures("B", 133, 28.7, 9.9),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=69.928,
            top5=89.246,
            params=133_047_848,
            macs=11_308_000_000,
        ),
    ),
    torchvision="vgg13",
)
def vgg13(**kwargs) -> VGG:
    return _vgg("B", **kwargs)


@register_model(
    paper=SIMONYAN_ZISSERMAN_2014,
    input_size=(3, 224, 224),
    params=133_638_952,
    macs=11_770_888_192,
    top1=71.9,
    notes="Configuration C: D with the third convolution of stages 3, 4, 5 a 1x1 (padding 0). "
    "Not in torchvision.",
    figures=(*_paper_figures("C", 134, 28.1, 9.4),),
)
def vgg16_c(**kwargs) -> VGG:
    return _vgg("C", **kwargs)


@register_model(
    paper=SIMONYAN_ZISSERMAN_2014,
    input_size=(3, 224, 224),
    params=138_357_544,
    macs=15_470_264_320,
    top1=71.592,
    notes="Configuration D. Course table total 138,423,208 is 65,664 too high: see "
    "docs/zoo-plain.md.",
    figures=(
        *_paper_figures("D", 138, 27.0, 8.8),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=71.592,
            top5=90.382,
            params=138_357_544,
            macs=15_470_000_000,
        ),
    ),
    torchvision="vgg16",
)
def vgg16(**kwargs) -> VGG:
    return _vgg("D", **kwargs)


@register_model(
    paper=SIMONYAN_ZISSERMAN_2014,
    input_size=(3, 224, 224),
    params=143_667_240,
    macs=19_632_062_464,
    top1=72.376,
    notes="Configuration E.",
    figures=(
        *_paper_figures("E", 144, 27.3, 9.0),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=72.376,
            top5=90.876,
            params=143_667_240,
            macs=19_632_000_000,
        ),
    ),
    torchvision="vgg19",
)
def vgg19(**kwargs) -> VGG:
    return _vgg("E", **kwargs)


@register_model(
    paper=SIMONYAN_ZISSERMAN_2014,
    input_size=(3, 224, 224),
    params=132_868_840,
    macs=7_609_090_048,
    top1=70.37,
    notes="Configuration A + batch norm after each convolution (torchvision's variant).",
    figures=(
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=70.37,
            top5=89.81,
            params=132_868_840,
            macs=7_609_000_000,
        ),
    ),
    torchvision="vgg11_bn",
)
def vgg11_bn(**kwargs) -> VGG:
    return _vgg("A", batch_norm=True, **kwargs)


@register_model(
    paper=SIMONYAN_ZISSERMAN_2014,
    input_size=(3, 224, 224),
    params=133_053_736,
    macs=11_308_466_176,
    top1=71.586,
    notes="Configuration B + batch norm after each convolution (torchvision's variant).",
    figures=(
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=71.586,
            top5=90.374,
            params=133_053_736,
            macs=11_308_000_000,
        ),
    ),
    torchvision="vgg13_bn",
)
def vgg13_bn(**kwargs) -> VGG:
    return _vgg("B", batch_norm=True, **kwargs)


@register_model(
    paper=SIMONYAN_ZISSERMAN_2014,
    input_size=(3, 224, 224),
    params=133_647_400,
    macs=11_770_888_192,
    reported="The paper has no batch norm; its figures for configuration C without it are on vgg16_c.",
    notes="Configuration C + batch norm after each convolution. Not in torchvision.",
    no_figures="no source trains configuration C with batch norm",
)
def vgg16_c_bn(**kwargs) -> VGG:
    return _vgg("C", batch_norm=True, **kwargs)


@register_model(
    paper=SIMONYAN_ZISSERMAN_2014,
    input_size=(3, 224, 224),
    params=138_365_992,
    macs=15_470_264_320,
    top1=73.36,
    notes="Configuration D + batch norm after each convolution (torchvision's variant).",
    figures=(
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=73.36,
            top5=91.516,
            params=138_365_992,
            macs=15_470_000_000,
        ),
    ),
    torchvision="vgg16_bn",
)
def vgg16_bn(**kwargs) -> VGG:
    return _vgg("D", batch_norm=True, **kwargs)


@register_model(
    paper=SIMONYAN_ZISSERMAN_2014,
    input_size=(3, 224, 224),
    params=143_678_248,
    macs=19_632_062_464,
    top1=74.218,
    notes="Configuration E + batch norm after each convolution (torchvision's variant).",
    figures=(
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=74.218,
            top5=91.842,
            params=143_678_248,
            macs=19_632_000_000,
        ),
    ),
    torchvision="vgg19_bn",
)
def vgg19_bn(**kwargs) -> VGG:
    return _vgg("E", batch_norm=True, **kwargs)


# -- CIFAR-size variants (32x32 input) ----------------------------------------------------------

_CIFAR_NOTES = (
    "32x32 input: five 2x2 pools leave a 1x1x512 map; global average pooling (the identity at "
    "32x32, and what lets larger inputs work) -> FC 512 -> ReLU -> dropout 0.5 -> FC classes."
)


def _cifar_card(config: str, params: int, macs: int) -> dict:
    return {
        "paper": SIMONYAN_ZISSERMAN_2014,
        "input_size": (3, 32, 32),
        "num_classes": 10,
        "params": params,
        "macs": macs,
        "dataset": "CIFAR-10",
        "no_figures": "the paper evaluates ImageNet only; the FC 512 head on configuration "
        f"{config}'s convolutions is ours (as in common CIFAR ports of VGG)",
        "notes": _CIFAR_NOTES,
    }


@register_model(**_cifar_card("A", 9_488_266, 153_031_680))
def vgg11_cifar(**kwargs) -> VGG:
    return _vgg("A", head="cifar", **kwargs)


@register_model(**_cifar_card("A", 9_493_770, 153_031_680))
def vgg11_bn_cifar(**kwargs) -> VGG:
    return _vgg("A", batch_norm=True, head="cifar", **kwargs)


@register_model(**_cifar_card("B", 9_672_778, 228_529_152))
def vgg13_cifar(**kwargs) -> VGG:
    return _vgg("B", head="cifar", **kwargs)


@register_model(**_cifar_card("B", 9_678_666, 228_529_152))
def vgg13_bn_cifar(**kwargs) -> VGG:
    return _vgg("B", batch_norm=True, head="cifar", **kwargs)


@register_model(**_cifar_card("D", 14_982_474, 313_463_808))
def vgg16_cifar(**kwargs) -> VGG:
    return _vgg("D", head="cifar", **kwargs)


@register_model(**_cifar_card("D", 14_990_922, 313_463_808))
def vgg16_bn_cifar(**kwargs) -> VGG:
    return _vgg("D", batch_norm=True, head="cifar", **kwargs)


@register_model(**_cifar_card("E", 20_292_170, 398_398_464))
def vgg19_cifar(**kwargs) -> VGG:
    return _vgg("E", head="cifar", **kwargs)


@register_model(**_cifar_card("E", 20_303_178, 398_398_464))
def vgg19_bn_cifar(**kwargs) -> VGG:
    return _vgg("E", batch_norm=True, head="cifar", **kwargs)
