"""Wide Residual Networks.

S. Zagoruyko, N. Komodakis. Wide Residual Networks. BMVC 2016 (arXiv:1605.07146).

WRN-d-k on CIFAR: a 3x3 conv stem with 16 filters, three stages of ``n = (d - 4) / 6``
pre-activation basic units ("B(3,3)") with ``16k``, ``32k`` and ``64k`` filters, final
BN-ReLU, global average pooling, linear classifier. Where the shape changes a 1x1 convolution
projects the pre-activated input (as in the authors' code). ``drop_rate`` puts dropout between
the two convolutions of every unit; the paper's best CIFAR results use 0.3.

ImageNet: WRN-50-2-bottleneck is ResNet-50 with the inner 3x3 (and 1x1-reduce) width doubled
(``base_width=128``), stride on the 3x3 (fb.resnet.torch, which the authors used, and
torchvision); ``wide_resnet50_2`` / ``wide_resnet101_2`` are exactly torchvision's.

Deliberate deviations: adaptive global average pooling (the authors use a fixed 8x8 window,
identical at 32x32).
"""

from __future__ import annotations

from cnnzoo.models.preact_resnet import PreActResNet
from cnnzoo.models.resnet import ResNet
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["wrn"]

ZAGORUYKO_2016 = Paper(
    authors="S. Zagoruyko, N. Komodakis",
    title="Wide Residual Networks",
    year=2016,
    venue="BMVC 2016 (arXiv:1605.07146)",
    url="https://arxiv.org/abs/1605.07146",
)


def wrn(depth: int, widen_factor: int, **kwargs) -> PreActResNet:
    """WRN-``depth``-``widen_factor`` for 32x32 inputs (depth = 6n + 4)."""
    if (depth - 4) % 6:
        raise ValueError(f"WRN depth must be 6n+4 (16, 22, 28, 40, ...), got {depth}")
    n = (depth - 4) // 6
    k = widen_factor
    kwargs.setdefault("num_classes", 10)
    return PreActResNet(
        "basic", (n, n, n), widths=(16 * k, 32 * k, 64 * k), stem_width=16, shortcut="B", **kwargs
    )


_CIFAR_NOTES = (
    "Pre-activation basic units, {n} per stage, widths {w}; 1x1 projection shortcuts where the "
    "shape changes. Dropout between the convolutions: create_model('{name}', drop_rate=0.3)."
)


@register_model(
    paper=ZAGORUYKO_2016,
    input_size=(3, 32, 32),
    num_classes=10,
    params=2_748_890,
    macs=392_612_352,
    dataset="CIFAR-10",
    notes=_CIFAR_NOTES.format(n=2, w="64/128/256", name="wrn16_4"),
    no_figures="neither the paper's Table 4 nor the authors' README lists WRN-16-4",
)
def wrn16_4(**kwargs) -> PreActResNet:
    return wrn(16, 4, **kwargs)


@register_model(
    paper=ZAGORUYKO_2016,
    input_size=(3, 32, 32),
    num_classes=10,
    params=10_961_370,
    macs=1_548_145_664,
    dataset="CIFAR-10",
    notes=_CIFAR_NOTES.format(n=2, w="128/256/512", name="wrn16_8"),
    figures=(Reported("Zagoruyko & Komodakis 2016, Table 4", "CIFAR-10", params=11_000_000),),
)
def wrn16_8(**kwargs) -> PreActResNet:
    return wrn(16, 8, **kwargs)


@register_model(
    paper=ZAGORUYKO_2016,
    input_size=(3, 32, 32),
    num_classes=10,
    params=8_949_210,
    macs=1_298_582_016,
    dataset="CIFAR-10",
    notes=_CIFAR_NOTES.format(n=6, w="64/128/256", name="wrn40_4"),
    figures=(Reported("Zagoruyko & Komodakis 2016, Table 4", "CIFAR-10", params=8_900_000),),
)
def wrn40_4(**kwargs) -> PreActResNet:
    return wrn(40, 4, **kwargs)


@register_model(
    paper=ZAGORUYKO_2016,
    input_size=(3, 32, 32),
    num_classes=10,
    params=36_479_194,
    macs=5_243_328_768,
    top1=96.00,
    dataset="CIFAR-10",
    notes=_CIFAR_NOTES.format(n=4, w="160/320/640", name="wrn28_10"),
    figures=(
        Reported("Zagoruyko & Komodakis 2016, Table 4", "CIFAR-10", params=36_500_000),
        Reported(
            "authors' release (szagoruyko/wide-residual-networks)",
            "CIFAR-10",
            top1_error=4.0,
            note="meanstd preprocessing, median of 5 runs",
        ),
        Reported(
            "authors' release (szagoruyko/wide-residual-networks)",
            "CIFAR-100",
            top1_error=19.25,
            note="meanstd preprocessing, median of 5 runs",
        ),
        Reported(
            "authors' release (szagoruyko/wide-residual-networks)",
            "CIFAR-10",
            top1_error=3.89,
            note="with dropout 0.3, meanstd preprocessing, median of 5 runs",
        ),
        Reported(
            "authors' release (szagoruyko/wide-residual-networks)",
            "CIFAR-100",
            top1_error=18.85,
            note="with dropout 0.3, meanstd preprocessing, median of 5 runs",
        ),
    ),
)
def wrn28_10(**kwargs) -> PreActResNet:
    return wrn(28, 10, **kwargs)


@register_model(
    paper=ZAGORUYKO_2016,
    input_size=(3, 224, 224),
    params=68_883_240,
    macs=11_398_021_120,
    top1=78.468,
    notes="ResNet-50 with bottleneck width doubled (base_width=128): 3x3 convolutions with 128/256/"
    "512/1024 filters; stride on the 3x3 as in the authors' (fb.resnet.torch) code and torchvision.",
    figures=(
        Reported(
            "authors' release (szagoruyko/wide-residual-networks)",
            top1_error=21.9,
            top5_error=5.79,
            note="WRN-50-2-bottleneck, single crop",
        ),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=78.468,
            top5=94.086,
            params=68_883_240,
            macs=11_398_000_000,
        ),
    ),
    torchvision="wide_resnet50_2",
)
def wide_resnet50_2(**kwargs) -> ResNet:
    kwargs.setdefault("stride_on", "3x3")
    return ResNet("bottleneck", (3, 4, 6, 3), base_width=128, **kwargs)


@register_model(
    paper=ZAGORUYKO_2016,
    input_size=(3, 224, 224),
    params=126_886_696,
    macs=22_753_050_624,
    top1=78.848,
    reported="Not in the paper.",
    notes="ResNet-101 with bottleneck width doubled (base_width=128), stride on the 3x3.",
    figures=(
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=78.848,
            top5=94.284,
            params=126_886_696,
            macs=22_753_000_000,
        ),
    ),
    torchvision="wide_resnet101_2",
)
def wide_resnet101_2(**kwargs) -> ResNet:
    kwargs.setdefault("stride_on", "3x3")
    return ResNet("bottleneck", (3, 4, 23, 3), base_width=128, **kwargs)
