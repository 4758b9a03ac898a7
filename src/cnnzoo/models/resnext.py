"""ResNeXt: aggregated residual transformations.

S. Xie, R. Girshick, P. Dollar, Z. Tu, K. He. Aggregated Residual Transformations for Deep
Neural Networks. CVPR 2017 (arXiv:1611.05431).

A ResNeXt bottleneck splits its 3x3 convolution into ``cardinality`` groups of ``d`` channels
each ("32x4d": 32 groups of 4), form (c) of the paper's Figure 3, i.e. one grouped convolution.
Everything else is a ResNet (:class:`cnnzoo.models.resnet.ResNet`): ``groups=cardinality``,
``base_width=d``, inner width ``int(planes * d / 64) * cardinality``, stride on the grouped
3x3 as in the authors' code and torchvision.

CIFAR ResNeXt-29 (Section 5.3, authors' code): a 3x3 conv-BN-ReLU stem with 64 filters, three
stages of three bottlenecks with 256/512/1024 output channels and ``cardinality x 64``,
``x 128``, ``x 256`` inner channels (``base_width=64``: d doubles with each stage), projection
shortcuts, global average pooling.

Deliberate deviations: adaptive global average pooling (fixed 7x7 / 8x8 windows in the
authors' code, identical at the default inputs). The paper's CIFAR results use pre-activated
bottlenecks (authors' README); like the authors' released code we build the original ones.
"""

from __future__ import annotations

from cnnzoo.models.resnet import ResNet
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["resnext_cifar"]

XIE_2017 = Paper(
    authors="S. Xie, R. Girshick, P. Dollar, Z. Tu, K. He",
    title="Aggregated Residual Transformations for Deep Neural Networks",
    year=2017,
    venue="CVPR 2017 (arXiv:1611.05431)",
    url="https://arxiv.org/abs/1611.05431",
)


def resnext_imagenet(layers: tuple[int, ...], cardinality: int, width: int, **kwargs) -> ResNet:
    kwargs.setdefault("stride_on", "3x3")
    return ResNet("bottleneck", layers, groups=cardinality, base_width=width, **kwargs)


def resnext_cifar(depth: int, cardinality: int, width: int = 64, **kwargs) -> ResNet:
    """ResNeXt-``depth`` (9n + 2) for 32x32 inputs with ``cardinality`` groups of ``width``."""
    if (depth - 2) % 9:
        raise ValueError(f"CIFAR ResNeXt depth must be 9n+2 (29, 38, ...), got {depth}")
    n = (depth - 2) // 9
    kwargs.setdefault("num_classes", 10)
    kwargs.setdefault("stride_on", "3x3")
    return ResNet(
        "bottleneck",
        (n, n, n),
        widths=(64, 128, 256),
        stem="cifar",
        stem_width=64,
        groups=cardinality,
        base_width=width,
        **kwargs,
    )


@register_model(
    paper=XIE_2017,
    input_size=(3, 224, 224),
    params=25_028_904,
    macs=4_230_479_872,
    top1=77.618,
    notes="32 groups of 4 channels in every bottleneck's 3x3 (inner widths 128/256/512/1024).",
    figures=(
        Reported(
            "Xie et al. 2017, Tables 1 and 3",
            params=25_000_000,
            macs=4_200_000_000,
            top1_error=22.2,
            note="224x224 single crop; the paper's FLOPs are multiply-adds",
        ),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=77.618,
            top5=93.698,
            params=25_028_904,
            macs=4_230_000_000,
        ),
    ),
    torchvision="resnext50_32x4d",
)
def resnext50_32x4d(**kwargs) -> ResNet:
    return resnext_imagenet((3, 4, 6, 3), 32, 4, **kwargs)


@register_model(
    paper=XIE_2017,
    input_size=(3, 224, 224),
    params=44_177_704,
    macs=7_969_996_800,
    top1=78.8,
    reported="As in the paper. Not in torchvision.",
    notes="The paper's ResNeXt-101: 32 groups of 4 channels.",
    figures=(
        Reported(
            "authors' release (facebookresearch/ResNeXt)",
            macs=7_800_000_000,
            top1_error=21.2,
            note="'~7.8' GFLOPs (multiply-adds), 224x224 single crop",
        ),
    ),
)
def resnext101_32x4d(**kwargs) -> ResNet:
    return resnext_imagenet((3, 4, 23, 3), 32, 4, **kwargs)


@register_model(
    paper=XIE_2017,
    input_size=(3, 224, 224),
    params=88_791_336,
    macs=16_414_015_488,
    top1=79.312,
    reported="Not in the paper's tables.",
    notes="32 groups of 8 channels (twice the paper's 32x4d width).",
    figures=(
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=79.312,
            top5=94.526,
            params=88_791_336,
            macs=16_414_000_000,
        ),
    ),
    torchvision="resnext101_32x8d",
)
def resnext101_32x8d(**kwargs) -> ResNet:
    return resnext_imagenet((3, 4, 23, 3), 32, 8, **kwargs)


@register_model(
    paper=XIE_2017,
    input_size=(3, 224, 224),
    params=83_455_272,
    macs=15_460_270_080,
    top1=79.6,
    reported="torchvision's only weights for it come from a newer training recipe.",
    notes="64 groups of 4 channels.",
    figures=(
        Reported(
            "authors' release (facebookresearch/ResNeXt)",
            macs=15_600_000_000,
            top1_error=20.4,
            note="'~15.6' GFLOPs (multiply-adds), 224x224 single crop",
        ),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=83.246,
            top5=96.454,
            params=83_455_272,
            macs=15_460_000_000,
        ),
    ),
    torchvision="resnext101_64x4d",
)
def resnext101_64x4d(**kwargs) -> ResNet:
    return resnext_imagenet((3, 4, 23, 3), 64, 4, **kwargs)


@register_model(
    paper=XIE_2017,
    input_size=(3, 32, 32),
    num_classes=10,
    params=34_426_698,
    macs=5_387_266_048,
    top1=96.35,
    dataset="CIFAR-10",
    notes="Cardinality 8, 64 channels per group in stage 1 (inner widths 512/1024/2048).",
    figures=(
        Reported("Xie et al. 2017, Table 7", "CIFAR-10", params=34_400_000, top1_error=3.65),
        Reported("Xie et al. 2017, Table 7", "CIFAR-100", params=34_400_000, top1_error=17.77),
    ),
)
def resnext29_8x64d(**kwargs) -> ResNet:
    return resnext_cifar(29, 8, 64, **kwargs)


@register_model(
    paper=XIE_2017,
    input_size=(3, 32, 32),
    num_classes=10,
    params=68_155_210,
    macs=10_688_866_304,
    top1=96.42,
    dataset="CIFAR-10",
    notes="Cardinality 16, 64 channels per group in stage 1 (inner widths 1024/2048/4096). "
    "68,155,210 parameters (68.2M rounded; 68,054,730 without BN): the paper's 68.1M truncates.",
    figures=(
        Reported("Xie et al. 2017, Table 7", "CIFAR-10", params=68_100_000, top1_error=3.58),
        Reported("Xie et al. 2017, Table 7", "CIFAR-100", params=68_100_000, top1_error=17.31),
    ),
)
def resnext29_16x64d(**kwargs) -> ResNet:
    return resnext_cifar(29, 16, 64, **kwargs)
