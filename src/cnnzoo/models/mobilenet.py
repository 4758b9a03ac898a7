"""MobileNet v1 and v2.

A. G. Howard, M. Zhu, B. Chen, D. Kalenichenko, W. Wang, T. Weyand, M. Andreetto, H. Adam.
MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications.
arXiv:1704.04861, 2017.

M. Sandler, A. Howard, M. Zhu, A. Zhmoginov, L.-C. Chen. MobileNetV2: Inverted Residuals and
Linear Bottlenecks. CVPR 2018.

**v1** is the paper's Table 1: a standard 3x3/2 convolution to 32 channels, then 13
depthwise-separable layers (3x3 depthwise -> BN -> ReLU -> 1x1 pointwise -> BN -> ReLU, Figure
3), among them the five 512-channel ones at 14x14, global average pooling and one FC layer. The
width multiplier alpha thins every layer (``int(alpha * channels)``, as the reference TF-slim code
does); the resolution multiplier only changes the input size, so the 16 registered
``mobilenet_v1_<alpha>_<resolution>`` variants differ in their cards (input size, MACs) and the
four widths in their weights.

**v2** is the paper's Table 2 (bottleneck rows t, c, n, s) built like torchvision's
``mobilenet_v2`` (same parameter count): inverted residual blocks 1x1 expansion (t) -> ReLU6 ->
3x3 depthwise -> ReLU6 -> linear 1x1 projection, with an identity shortcut when the shape is
kept; a final 1x1 convolution to 1280 channels, global pooling, dropout 0.2 and an FC layer.
Widths are rounded to multiples of 8 (``make_divisible``), and the 1280 is scaled only for
multipliers above 1, as in the paper and the reference code.

Deviations: Table 1 of the v1 paper lists the 13th depthwise layer ("Conv dw / s2", 7x7x1024 in
and out) with stride 2, a misprint: its input and output are both 7x7, and the reference code uses
stride 1, as we do. v1 has no dropout (the paper mentions none).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from cnnzoo.layers import ConvNormAct, DepthwiseSeparableConv, make_divisible
from cnnzoo.models._base import Classifier
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["InvertedResidual", "MobileNetV1", "MobileNetV2"]

HOWARD_2017 = Paper(
    authors="A. G. Howard, M. Zhu, B. Chen, D. Kalenichenko, W. Wang, T. Weyand, M. Andreetto, "
    "H. Adam",
    title="MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications",
    year=2017,
    venue="arXiv:1704.04861",
    url="https://arxiv.org/abs/1704.04861",
)
SANDLER_2018 = Paper(
    authors="M. Sandler, A. Howard, M. Zhu, A. Zhmoginov, L.-C. Chen",
    title="MobileNetV2: Inverted Residuals and Linear Bottlenecks",
    year=2018,
    venue="CVPR",
    url="https://arxiv.org/abs/1801.04381",
)

# Paper Table 1 after the first convolution: (output channels, depthwise stride) per
# depthwise-separable layer.
V1_LAYERS = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),  # Table 1 prints "s2" here; the feature map stays 7x7 (see module docstring)
]
V1_STEM = 32


class MobileNetV1(Classifier):
    """MobileNet v1: ``stem``, ``blocks.block1`` ... ``blocks.block13`` (each ``depthwise`` +
    ``pointwise``), global average pool, ``classifier`` (FC)."""

    def __init__(self, width_mult: float = 1.0, num_classes: int = 1000, in_chans: int = 3) -> None:
        super().__init__(num_classes, in_chans)
        if width_mult <= 0:
            raise ValueError(f"width_mult must be positive, got {width_mult}")
        self.width_mult = width_mult

        def width(channels: int) -> int:
            # TF-slim's rule: truncate, but never below 8 channels.
            return max(int(channels * width_mult), 8)

        channels = width(V1_STEM)
        self.stem = ConvNormAct(in_chans, channels, 3, stride=2)
        self.feature_info = [{"module": "stem", "num_chs": channels, "reduction": 2}]
        self.blocks = nn.Sequential()
        reduction = 2
        for index, (out, stride) in enumerate(V1_LAYERS, start=1):
            out = width(out)
            reduction *= stride
            self.blocks.add_module(
                f"block{index}", DepthwiseSeparableConv(channels, out, 3, stride=stride)
            )
            channels = out
            last_at_this_size = index == len(V1_LAYERS) or V1_LAYERS[index][1] == 2
            if last_at_this_size:
                self.feature_info.append(
                    {"module": f"blocks.block{index}", "num_chs": out, "reduction": reduction}
                )
        self.num_features = channels
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.global_pool(x)))


class InvertedResidual(nn.Module):
    """MobileNet v2 bottleneck: ``expand`` 1x1 (absent when t = 1) -> ``depthwise`` 3x3 ->
    ``project`` linear 1x1, plus the input when stride is 1 and the width is kept."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        hidden = round(in_channels * expand_ratio)
        self.use_residual = stride == 1 and in_channels == out_channels
        # No module at all when t = 1 (not an Identity): the paper's first row has no expansion
        # layer, and the summary lists no empty row for it.
        self.use_expand = expand_ratio != 1
        if self.use_expand:
            self.expand = ConvNormAct(in_channels, hidden, 1, act_layer=nn.ReLU6)
        self.depthwise = ConvNormAct(
            hidden, hidden, 3, stride=stride, groups=hidden, act_layer=nn.ReLU6
        )
        # Linear bottleneck: no activation after the projection (paper Section 3.2).
        self.project = ConvNormAct(hidden, out_channels, 1, act_layer=None)
        self.in_channels = in_channels
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand(x) if self.use_expand else x

        out = self.project(self.depthwise(out))
        return x + out if self.use_residual else out


# Paper Table 2: expansion t, output channels c, repeats n, first stride s.
V2_SETTINGS = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


class MobileNetV2(Classifier):
    """MobileNet v2: ``stem``, ``stage1`` ... ``stage7`` (one per row of Table 2, blocks
    ``block1``...), ``head`` (1x1 to 1280), global average pool, ``drop``, ``classifier``."""

    def __init__(
        self,
        width_mult: float = 1.0,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.2,
        last_channels: int = 1280,
    ) -> None:
        super().__init__(num_classes, in_chans)
        self.width_mult = width_mult
        channels = make_divisible(32 * width_mult, 8)
        self.stem = ConvNormAct(in_chans, channels, 3, stride=2, act_layer=nn.ReLU6)
        self.feature_info = [{"module": "stem", "num_chs": channels, "reduction": 2}]
        reduction = 2
        for stage_index, (t, c, n, s) in enumerate(V2_SETTINGS, start=1):
            out = make_divisible(c * width_mult, 8)
            stage = nn.Sequential()
            for block_index in range(1, n + 1):
                stride = s if block_index == 1 else 1
                stage.add_module(f"block{block_index}", InvertedResidual(channels, out, stride, t))
                channels = out
            reduction *= s
            self.add_module(f"stage{stage_index}", stage)
            self.feature_info.append(
                {"module": f"stage{stage_index}", "num_chs": out, "reduction": reduction}
            )
        # The paper keeps 1280 for multipliers below 1 ("we apply width multiplier to all layers
        # except the very last convolutional layer"); above 1 it grows.
        last = make_divisible(last_channels * max(1.0, width_mult), 8)
        self.head = ConvNormAct(channels, last, 1, act_layer=nn.ReLU6)
        self.feature_info.append({"module": "head", "num_chs": last, "reduction": reduction})
        self.num_features = last
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.drop = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(last, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # The reference initialisation (as torchvision): He-normal fan-out convs, N(0, 0.01) FC.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for index in range(1, len(V2_SETTINGS) + 1):
            x = getattr(self, f"stage{index}")(x)
        return self.head(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.drop(self.flatten(self.global_pool(x))))


# -- MobileNet v1: 4 widths x 4 resolutions ----------------------------------------------------
# Each builder is registered with its own card; the table gives the measured counts and the
# paper's figures. Paper: Table 6 (width at 224), Table 7 (resolution at width 1.0), and the
# 0.50 MobileNet-160 of Tables 9/10; the other combinations appear only in Figures 4-5.

# Paper: where the figures are, top-1 %, million mult-adds, million parameters (FC included).
_V1_PAPER: dict[tuple[str, int], tuple[str, float, int, float]] = {
    ("1_0", 224): ("Tables 6 and 7", 70.6, 569, 4.2),
    ("1_0", 192): ("Table 7", 69.1, 418, 4.2),
    ("1_0", 160): ("Table 7", 67.2, 290, 4.2),
    ("1_0", 128): ("Table 7", 64.4, 186, 4.2),
    ("0_75", 224): ("Table 6", 68.4, 325, 2.6),
    ("0_5", 224): ("Table 6", 63.7, 149, 1.3),
    ("0_5", 160): ("Tables 9 and 10", 60.2, 76, 1.32),
    ("0_25", 224): ("Table 6", 50.6, 41, 0.5),
}
# TF-slim model zoo (research/slim/nets/mobilenet_v1.md): million MACs, million params, top-1 %,
# top-5 %.
_V1_TFSLIM: dict[tuple[str, int], tuple[int, float, float, float]] = {
    ("1_0", 224): (569, 4.24, 70.9, 89.9),
    ("1_0", 192): (418, 4.24, 70.0, 89.2),
    ("1_0", 160): (291, 4.24, 68.0, 87.7),
    ("1_0", 128): (186, 4.24, 65.2, 85.8),
    ("0_75", 224): (317, 2.59, 68.4, 88.2),
    ("0_75", 192): (233, 2.59, 67.2, 87.3),
    ("0_75", 160): (162, 2.59, 65.3, 86.0),
    ("0_75", 128): (104, 2.59, 62.1, 83.9),
    ("0_5", 224): (150, 1.34, 63.3, 84.9),
    ("0_5", 192): (110, 1.34, 61.7, 83.6),
    ("0_5", 160): (77, 1.34, 59.1, 81.9),
    ("0_5", 128): (49, 1.34, 56.3, 79.4),
    ("0_25", 224): (41, 0.47, 49.8, 74.2),
    ("0_25", 192): (34, 0.47, 47.7, 72.3),
    ("0_25", 160): (21, 0.47, 45.5, 70.3),
    ("0_25", 128): (14, 0.47, 41.5, 66.3),
}
# Exact counts of this implementation (summary at the card's input), checked by the tests.
_V1_MEASURED: dict[tuple[str, int], tuple[int, int]] = {
    ("1_0", 224): (4_231_976, 568_740_352),
    ("1_0", 192): (4_231_976, 418_121_728),
    ("1_0", 160): (4_231_976, 290_675_200),
    ("1_0", 128): (4_231_976, 186_400_768),
    ("0_75", 224): (2_585_560, 325_400_448),
    ("0_75", 192): (2_585_560, 239_273_472),
    ("0_75", 160): (2_585_560, 166_396_800),
    ("0_75", 128): (2_585_560, 106_770_432),
    ("0_5", 224): (1_331_592, 149_497_088),
    ("0_5", 192): (1_331_592, 109_970_432),
    ("0_5", 160): (1_331_592, 76_524_800),
    ("0_5", 128): (1_331_592, 49_160_192),
    ("0_25", 224): (470_072, 41_030_272),
    ("0_25", 192): (470_072, 30_212_608),
    ("0_25", 160): (470_072, 21_059_200),
    ("0_25", 128): (470_072, 13_570_048),
}
_ALPHAS = {"1_0": 1.0, "0_75": 0.75, "0_5": 0.5, "0_25": 0.25}


def _v1_card(alpha_name: str, resolution: int) -> dict[str, Any]:
    """The card of MobileNet v1 at width ``alpha_name`` and ``resolution`` (the tables above)."""
    key = (alpha_name, resolution)
    alpha = _ALPHAS[alpha_name]
    tf_macs, tf_params, tf_top1, tf_top5 = _V1_TFSLIM[key]
    figures = [
        Reported(
            "TF-slim checkpoint (research/slim/nets/mobilenet_v1.md)",
            top1=tf_top1,
            top5=tf_top5,
            params=round(tf_params * 1e6),
            macs=tf_macs * 1_000_000,
            note="the authors' released model, single crop",
        )
    ]
    if key in _V1_PAPER:
        tables, top1, macs, params = _V1_PAPER[key]
        paper = Reported(
            f"Howard et al. 2017, {tables}",
            top1=top1,
            params=round(params * 1e6),
            macs=macs * 1_000_000,
        )
        figures.insert(0, paper)
    params, macs = _V1_MEASURED[key]
    return {
        "paper": HOWARD_2017,
        "input_size": (3, resolution, resolution),
        "params": params,
        "macs": macs,
        # The paper's top-1 where it states one, else the authors' released TF-slim checkpoint.
        "top1": figures[0].top1,
        "reported": "The figures count the FC layer (1.02M parameters and 1M MACs at alpha 1)."
        + ("" if key in _V1_PAPER else " The paper shows this combination only in Figures 4-5."),
        "figures": tuple(figures),
        "notes": f"Width multiplier alpha = {alpha}, resolution multiplier rho = {resolution}/224. "
        "The 13th depthwise layer has stride 1 (Table 1 misprints s2). top1 is the paper's "
        "where stated, else TF-slim's.",
    }


@register_model(**_v1_card("1_0", 224))
def mobilenet_v1_1_0_224(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=1.0, **kwargs)


@register_model(**_v1_card("1_0", 192))
def mobilenet_v1_1_0_192(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=1.0, **kwargs)


@register_model(**_v1_card("1_0", 160))
def mobilenet_v1_1_0_160(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=1.0, **kwargs)


@register_model(**_v1_card("1_0", 128))
def mobilenet_v1_1_0_128(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=1.0, **kwargs)


@register_model(**_v1_card("0_75", 224))
def mobilenet_v1_0_75_224(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.75, **kwargs)


@register_model(**_v1_card("0_75", 192))
def mobilenet_v1_0_75_192(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.75, **kwargs)


@register_model(**_v1_card("0_75", 160))
def mobilenet_v1_0_75_160(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.75, **kwargs)


@register_model(**_v1_card("0_75", 128))
def mobilenet_v1_0_75_128(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.75, **kwargs)


@register_model(**_v1_card("0_5", 224))
def mobilenet_v1_0_5_224(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.5, **kwargs)


@register_model(**_v1_card("0_5", 192))
def mobilenet_v1_0_5_192(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.5, **kwargs)


@register_model(**_v1_card("0_5", 160))
def mobilenet_v1_0_5_160(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.5, **kwargs)


@register_model(**_v1_card("0_5", 128))
def mobilenet_v1_0_5_128(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.5, **kwargs)


@register_model(**_v1_card("0_25", 224))
def mobilenet_v1_0_25_224(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.25, **kwargs)


@register_model(**_v1_card("0_25", 192))
def mobilenet_v1_0_25_192(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.25, **kwargs)


@register_model(**_v1_card("0_25", 160))
def mobilenet_v1_0_25_160(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.25, **kwargs)


@register_model(**_v1_card("0_25", 128))
def mobilenet_v1_0_25_128(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.25, **kwargs)


# -- MobileNet v2 ------------------------------------------------------------------------------


@register_model(
    paper=SANDLER_2018,
    input_size=(3, 224, 224),
    params=3_504_872,
    macs=300_774_272,
    top1=72.0,
    notes="Width 1.0; torchvision's mobilenet_v2 layer for layer (dropout 0.2 before the FC). "
    "top1 is the paper's.",
    figures=(
        Reported("Sandler et al. 2018, Table 4", top1=72.0, params=3_400_000, macs=300_000_000),
        Reported(
            "TF-slim checkpoint (research/slim/nets/mobilenet/README.md)",
            top1=71.8,
            top5=91.0,
            params=3_470_000,
            macs=300_000_000,
            note="mobilenet_v2_1.0_224",
        ),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=71.878,
            top5=90.286,
            params=3_504_872,
            macs=301_000_000,
        ),
    ),
    torchvision="mobilenet_v2",
)
def mobilenet_v2(**kwargs) -> MobileNetV2:
    return MobileNetV2(width_mult=1.0, **kwargs)


@register_model(
    paper=SANDLER_2018,
    input_size=(3, 224, 224),
    params=6_108_776,
    macs=582_195_824,
    top1=74.7,
    notes="Width multiplier 1.4: every width x 1.4 rounded to a multiple of 8; the last 1x1 "
    "grows to 1792. Our count matches the authors' TF-slim model (582M MACs); the paper's 6.9M "
    "parameters is not reproduced by Table 2 at width 1.4 (we get 6.11M).",
    figures=(
        Reported(
            "Sandler et al. 2018, Table 4",
            top1=74.7,
            params=6_900_000,
            macs=585_000_000,
            note="MobileNetV2 (1.4)",
        ),
        Reported(
            "TF-slim checkpoint (research/slim/nets/mobilenet/README.md)",
            top1=75.0,
            top5=92.5,
            params=6_060_000,
            macs=582_000_000,
            note="mobilenet_v2_1.4_224",
        ),
    ),
)
def mobilenet_v2_1_4(**kwargs) -> MobileNetV2:
    return MobileNetV2(width_mult=1.4, **kwargs)
