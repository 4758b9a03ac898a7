"""ShuffleNet v1 and v2.

X. Zhang, X. Zhou, M. Lin, J. Sun. ShuffleNet: An Extremely Efficient Convolutional Neural
Network for Mobile Devices. CVPR 2018 (arXiv:1707.01083, 2017).

N. Ma, X. Zhang, H.-T. Zheng, J. Sun. ShuffleNet V2: Practical Guidelines for Efficient CNN
Architecture Design. ECCV 2018.

**v1** (paper Table 1): conv1 24@3x3/2, max-pool 3x3/2, three stages of ShuffleNet units (4, 8, 4
units; the first of each has stride 2), global average pool, FC. A unit is: 1x1 *group*
convolution (g groups) -> BN -> ReLU -> channel shuffle -> 3x3 depthwise (stride s) -> BN -> 1x1
group convolution -> BN, then added to the input (stride 1) or concatenated with a 3x3/2
average-pooled input (stride 2), then ReLU. The bottleneck width is 1/4 of the unit's output, and,
as the paper says, the first 1x1 of stage 2 is *not* grouped (its input has only 24 channels).
Stage widths per g are Table 1's; "ShuffleNet s x" multiplies every width by s.

**v2** (paper Table 5): the same macro-structure with a 1x1 conv5 before pooling; a unit splits
the channels in two halves, passes one through 1x1 -> 3x3 depthwise -> 1x1 (all convolutions
ungrouped), concatenates, and shuffles with 2 groups; the stride-2 unit feeds both halves the
whole input. Built exactly like torchvision's ``shufflenet_v2_x*`` (same parameter counts).

Deviations (v1): for the scaled variants the stage widths are rounded to a multiple of 4g so
that the groups divide the bottlenecks (Table 1's 1x widths need no rounding; 0.5x g=4 does). The
paper does not give the stem width of scaled models: we take the authors' released code's (12 at
0.5x, 24 at 1.5x, 48 at 2x, rounded up to a multiple of g) and 12 at 0.25x, which reproduce the
paper's 13/38/292/524 MFLOPs. The
channel shuffle sits after the first group convolution as in the paper's Figure 2 (the released
code shuffles after the depthwise convolution, an equivalent placement up to a permutation of
the depthwise filters).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from cnnzoo.layers import ConvNormAct, channel_shuffle
from cnnzoo.models._base import Classifier
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["ShuffleNetV1", "ShuffleNetV2", "ShuffleUnitV1", "ShuffleUnitV2"]

ZHANG_2018 = Paper(
    authors="X. Zhang, X. Zhou, M. Lin, J. Sun",
    title="ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices",
    year=2018,
    venue="CVPR",
    url="https://arxiv.org/abs/1707.01083",
)
MA_2018 = Paper(
    authors="N. Ma, X. Zhang, H.-T. Zheng, J. Sun",
    title="ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design",
    year=2018,
    venue="ECCV",
    url="https://arxiv.org/abs/1807.11164",
)

# Paper Table 1: output channels of stages 2-4 of ShuffleNet 1x, per number of groups g.
V1_STAGE_WIDTHS = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
STAGE_DEPTHS = (4, 8, 4)
# conv1 width per scale. The paper gives only 24 (1x); 0.5x/1.5x/2x follow the authors'
# released code, and 12 for 0.25x reproduces the paper's 13 MFLOPs (6 would give 11).
V1_STEM_WIDTHS = {0.25: 12, 0.5: 12, 1.0: 24, 1.5: 24, 2.0: 48}


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, int(value / multiple + 0.5) * multiple)


def v1_widths(groups: int, scale: float) -> tuple[int, tuple[int, int, int]]:
    """Stem and stage widths of ShuffleNet ``scale`` x with ``groups`` groups (Table 1 x s)."""
    if groups not in V1_STAGE_WIDTHS:
        raise ValueError(f"ShuffleNet v1 has g in {sorted(V1_STAGE_WIDTHS)}, got {groups}")
    base_stem = V1_STEM_WIDTHS.get(scale, 24 * scale)
    # Rounded up: the stride-2 unit of stage 2 adds (width - stem) channels in g groups.
    stem = -(-int(base_stem) // groups) * groups
    stages = tuple(_round_to(w * scale, 4 * groups) for w in V1_STAGE_WIDTHS[groups])
    return stem, stages  # type: ignore[return-value]


class ShuffleUnitV1(nn.Module):
    """One ShuffleNet unit (paper Figure 2b for stride 1, 2c for stride 2)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        groups: int,
        group_first_conv: bool = True,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if stride == 1 and in_channels != out_channels:
            raise ValueError("a stride-1 ShuffleNet unit adds its input: in and out must match")
        self.stride = stride
        self.groups = groups
        # The stride-2 unit concatenates the pooled input, so its branch makes the difference.
        branch_out = out_channels - in_channels if stride == 2 else out_channels
        mid = out_channels // 4
        first_groups = groups if group_first_conv else 1
        self.conv1 = ConvNormAct(in_channels, mid, 1, groups=first_groups)
        self.conv2 = ConvNormAct(mid, mid, 3, stride=stride, groups=mid, act_layer=None)
        self.conv3 = ConvNormAct(mid, branch_out, 1, groups=groups, act_layer=None)
        self.shortcut = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else nn.Identity()
        self.act = nn.ReLU()
        self.in_channels = in_channels
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        if self.groups > 1:
            out = channel_shuffle(out, self.groups)
        out = self.conv3(self.conv2(out))
        shortcut = self.shortcut(x)
        out = torch.cat([shortcut, out], 1) if self.stride == 2 else shortcut + out
        return self.act(out)


class ShuffleNetV1(Classifier):
    """ShuffleNet v1: ``stem``, ``pool``, ``stage2`` ... ``stage4`` (units ``unit1``...),
    global average pool, ``classifier`` (FC). Stage names follow the paper's Table 1."""

    def __init__(
        self,
        groups: int = 3,
        scale: float = 1.0,
        num_classes: int = 1000,
        in_chans: int = 3,
    ) -> None:
        super().__init__(num_classes, in_chans)
        self.groups = groups
        self.scale = scale
        stem, widths = v1_widths(groups, scale)
        self.stem = ConvNormAct(in_chans, stem, 3, stride=2)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.feature_info = [{"module": "stem", "num_chs": stem, "reduction": 2}]
        channels, reduction = stem, 4
        for stage_index, (width, depth) in enumerate(zip(widths, STAGE_DEPTHS, strict=True), 2):
            stage = nn.Sequential()
            reduction *= 2
            for unit_index in range(1, depth + 1):
                stride = 2 if unit_index == 1 else 1
                stage.add_module(
                    f"unit{unit_index}",
                    ShuffleUnitV1(
                        channels,
                        width,
                        stride,
                        groups,
                        # Paper: "we do not apply group convolution on the first pointwise layer
                        # [of Stage 2] because the number of input channels is relatively small".
                        group_first_conv=not (stage_index == 2 and unit_index == 1),
                    ),
                )
                channels = width
            self.add_module(f"stage{stage_index}", stage)
            self.feature_info.append(
                {"module": f"stage{stage_index}", "num_chs": width, "reduction": reduction}
            )
        self.num_features = channels
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.stem(x))
        return self.stage4(self.stage3(self.stage2(x)))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.global_pool(x)))


class ShuffleUnitV2(nn.Module):
    """ShuffleNet v2 unit (paper Figure 3c for stride 1, 3d for stride 2).

    Stride 1: split channels in halves; ``branch_main`` transforms the second half.
    Stride 2: ``branch_proj`` (3x3 depthwise/2 -> 1x1) and ``branch_main`` both see the input.
    Either way the two halves are concatenated and shuffled with 2 groups.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if out_channels % 2:
            raise ValueError(f"ShuffleNet v2 units need an even width, got {out_channels}")
        half = out_channels // 2
        if stride == 1 and in_channels != out_channels:
            raise ValueError("a stride-1 ShuffleNet v2 unit keeps its width: in and out must match")
        self.stride = stride
        if stride == 2:
            self.branch_proj = nn.Sequential()
            self.branch_proj.add_module(
                "dwconv",
                ConvNormAct(
                    in_channels, in_channels, 3, stride=2, groups=in_channels, act_layer=None
                ),
            )
            self.branch_proj.add_module("conv", ConvNormAct(in_channels, half, 1))
        main_in = in_channels if stride == 2 else half
        self.branch_main = nn.Sequential()
        self.branch_main.add_module("conv1", ConvNormAct(main_in, half, 1))
        self.branch_main.add_module(
            "dwconv", ConvNormAct(half, half, 3, stride=stride, groups=half, act_layer=None)
        )
        self.branch_main.add_module("conv2", ConvNormAct(half, half, 1))
        self.in_channels = in_channels
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            kept, transformed = x.chunk(2, dim=1)
            out = torch.cat([kept, self.branch_main(transformed)], 1)
        else:
            out = torch.cat([self.branch_proj(x), self.branch_main(x)], 1)
        return channel_shuffle(out, 2)


# Paper Table 5: output channels of stages 2-4 and conv5, per scale.
V2_WIDTHS = {
    0.5: (48, 96, 192, 1024),
    1.0: (116, 232, 464, 1024),
    1.5: (176, 352, 704, 1024),
    2.0: (244, 488, 976, 2048),
}


class ShuffleNetV2(Classifier):
    """ShuffleNet v2: ``stem``, ``pool``, ``stage2`` ... ``stage4``, ``conv5``, global average
    pool, ``classifier`` (FC)."""

    def __init__(self, scale: float = 1.0, num_classes: int = 1000, in_chans: int = 3) -> None:
        super().__init__(num_classes, in_chans)
        if scale not in V2_WIDTHS:
            raise ValueError(f"ShuffleNet v2 scales are {sorted(V2_WIDTHS)}, got {scale}")
        self.scale = scale
        *widths, last = V2_WIDTHS[scale]
        stem = 24
        self.stem = ConvNormAct(in_chans, stem, 3, stride=2)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.feature_info = [{"module": "stem", "num_chs": stem, "reduction": 2}]
        channels, reduction = stem, 4
        for stage_index, (width, depth) in enumerate(zip(widths, STAGE_DEPTHS, strict=True), 2):
            stage = nn.Sequential()
            reduction *= 2
            for unit_index in range(1, depth + 1):
                stride = 2 if unit_index == 1 else 1
                stage.add_module(f"unit{unit_index}", ShuffleUnitV2(channels, width, stride))
                channels = width
            self.add_module(f"stage{stage_index}", stage)
            self.feature_info.append(
                {"module": f"stage{stage_index}", "num_chs": width, "reduction": reduction}
            )
        self.conv5 = ConvNormAct(channels, last, 1)
        self.feature_info.append({"module": "conv5", "num_chs": last, "reduction": reduction})
        self.num_features = last
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Linear(last, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.stem(x))
        return self.conv5(self.stage4(self.stage3(self.stage2(x))))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.global_pool(x)))


# -- ShuffleNet v1 ---------------------------------------------------------------------------
# Paper Table 1 "Complexity" row (MFLOPs, counted as multiply-adds) for 1x, per g; Table 2 top-1
# errors per scale and g.

_V1_1X_NOTES = (
    "ShuffleNet 1x with g={g}: stage widths {widths} (paper Table 1); first 1x1 of stage 2 "
    "ungrouped."
)


@register_model(
    paper=ZHANG_2018,
    input_size=(3, 224, 224),
    params=1_531_936,
    macs=143_078_976,
    top1=66.4,
    notes=_V1_1X_NOTES.format(g=1, widths="144/288/576"),
    figures=(
        Reported(
            "Zhang et al. 2018, Tables 1 and 2",
            macs=143_000_000,
            top1_error=33.6,
            note="the paper's FLOPs are multiply-adds; parameters not stated",
        ),
    ),
)
def shufflenet_v1_g1_1_0x(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=1, scale=1.0, **kwargs)


@register_model(
    paper=ZHANG_2018,
    input_size=(3, 224, 224),
    params=1_733_848,
    macs=140_836_512,
    top1=67.3,
    notes=_V1_1X_NOTES.format(g=2, widths="200/400/800"),
    figures=(
        Reported(
            "Zhang et al. 2018, Tables 1 and 2",
            macs=140_000_000,
            top1_error=32.7,
            note="the paper's FLOPs are multiply-adds; parameters not stated",
        ),
    ),
)
def shufflenet_v1_g2_1_0x(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=2, scale=1.0, **kwargs)


@register_model(
    paper=ZHANG_2018,
    input_size=(3, 224, 224),
    params=1_865_728,
    macs=137_460_672,
    top1=67.4,
    reported="The text calls this model a 140 MFLOPs network.",
    notes=_V1_1X_NOTES.format(g=3, widths="240/480/960"),
    figures=(
        Reported(
            "Zhang et al. 2018, Tables 1 and 2",
            macs=137_000_000,
            top1_error=32.6,
            note="the paper's FLOPs are multiply-adds; parameters not stated",
        ),
    ),
)
def shufflenet_v1_g3_1_0x(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=3, scale=1.0, **kwargs)


@register_model(
    paper=ZHANG_2018,
    input_size=(3, 224, 224),
    params=1_968_344,
    macs=134_339_776,
    top1=67.2,
    notes=_V1_1X_NOTES.format(g=4, widths="272/544/1088"),
    figures=(
        Reported(
            "Zhang et al. 2018, Tables 1 and 2",
            macs=133_000_000,
            top1_error=32.8,
            note="the paper's FLOPs are multiply-adds; parameters not stated",
        ),
    ),
)
def shufflenet_v1_g4_1_0x(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=4, scale=1.0, **kwargs)


@register_model(
    paper=ZHANG_2018,
    input_size=(3, 224, 224),
    params=2_434_768,
    macs=138_365_952,
    top1=67.6,
    notes=_V1_1X_NOTES.format(g=8, widths="384/768/1536"),
    figures=(
        Reported(
            "Zhang et al. 2018, Tables 1 and 2",
            macs=137_000_000,
            top1_error=32.4,
            note="the paper's FLOPs are multiply-adds; parameters not stated",
        ),
    ),
)
def shufflenet_v1_g8_1_0x(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=8, scale=1.0, **kwargs)


@register_model(
    paper=ZHANG_2018,
    input_size=(3, 224, 224),
    params=306_124,
    macs=13_300_656,
    top1=45.0,
    notes="ShuffleNet 0.25x, g=3: stem 12, stages 60/120/240.",
    figures=(
        Reported(
            "Zhang et al. 2018, Table 2",
            macs=13_000_000,
            top1_error=55.0,
            note="the paper's FLOPs are multiply-adds; parameters not stated",
        ),
    ),
)
def shufflenet_v1_g3_0_25x(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=3, scale=0.25, **kwargs)


@register_model(
    paper=ZHANG_2018,
    input_size=(3, 224, 224),
    params=718_324,
    macs=37_589_856,
    top1=56.8,
    notes="ShuffleNet 0.5x, g=3: stem 12, stages 120/240/480 (as the authors' code).",
    figures=(
        Reported(
            "Zhang et al. 2018, Table 2",
            macs=38_000_000,
            top1_error=43.2,
            note="the paper's FLOPs are multiply-adds; parameters not stated",
        ),
    ),
)
def shufflenet_v1_g3_0_5x(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=3, scale=0.5, **kwargs)


@register_model(
    paper=ZHANG_2018,
    input_size=(3, 224, 224),
    params=3_442_168,
    macs=292_443_552,
    top1=71.5,
    notes="ShuffleNet 1.5x, g=3: stem 24 (as the authors' code), stages 360/720/1440.",
    figures=(
        Reported(
            "Zhang et al. 2018, Table 5",
            macs=292_000_000,
            top1_error=28.5,
            note="the paper's FLOPs are multiply-adds; parameters not stated",
        ),
    ),
)
def shufflenet_v1_g3_1_5x(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=3, scale=1.5, **kwargs)


@register_model(
    paper=ZHANG_2018,
    input_size=(3, 224, 224),
    params=5_450_776,
    macs=524_045_184,
    top1=73.7,
    notes="ShuffleNet 2x, g=3: stem 48, stages 480/960/1920 (as the authors' code).",
    figures=(
        Reported(
            "Zhang et al. 2018, Table 5",
            macs=524_000_000,
            top1_error=26.3,
            note="the paper's FLOPs are multiply-adds; parameters not stated",
        ),
    ),
)
def shufflenet_v1_g3_2_0x(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=3, scale=2.0, **kwargs)


@register_model(
    paper=ZHANG_2018,
    input_size=(3, 224, 224),
    params=778_592,
    macs=37_943_936,
    top1=58.4,
    reported="The best 0.5x model of Table 2.",
    notes="ShuffleNet 0.5x, g=4: stem 12, stages 144/272/544 (Table 1 x 0.5, rounded to "
    "multiples of 4g = 16 so the bottlenecks split into 4 groups).",
    figures=(
        Reported(
            "Zhang et al. 2018, Table 2",
            macs=38_000_000,
            top1_error=41.6,
            note="the paper's FLOPs are multiply-adds; parameters not stated",
        ),
    ),
)
def shufflenet_v1_g4_0_5x(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(groups=4, scale=0.5, **kwargs)


# -- ShuffleNet v2 ---------------------------------------------------------------------------


@register_model(
    paper=MA_2018,
    input_size=(3, 224, 224),
    params=1_366_792,
    macs=40_476_448,
    top1=60.3,
    notes="torchvision's shufflenet_v2_x0_5 layer for layer; top1 is the paper's (100 - error).",
    figures=(
        Reported(
            "Ma et al. 2018, Tables 5 and 8",
            params=1_400_000,
            macs=41_000_000,
            top1_error=39.7,
            note="the paper's FLOPs are multiply-adds",
        ),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=60.552,
            top5=81.746,
            params=1_366_792,
            macs=40_000_000,
        ),
    ),
    torchvision="shufflenet_v2_x0_5",
)
def shufflenet_v2_x0_5(**kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(scale=0.5, **kwargs)


@register_model(
    paper=MA_2018,
    input_size=(3, 224, 224),
    params=2_278_604,
    macs=144_907_992,
    top1=69.4,
    notes="torchvision's shufflenet_v2_x1_0 layer for layer; top1 is the paper's (100 - error).",
    figures=(
        Reported(
            "Ma et al. 2018, Tables 5 and 8",
            params=2_300_000,
            macs=146_000_000,
            top1_error=30.6,
            note="the paper's FLOPs are multiply-adds",
        ),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=69.362,
            top5=88.316,
            params=2_278_604,
            macs=145_000_000,
        ),
    ),
    torchvision="shufflenet_v2_x1_0",
)
def shufflenet_v2_x1_0(**kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(scale=1.0, **kwargs)


@register_model(
    paper=MA_2018,
    input_size=(3, 224, 224),
    params=3_503_624,
    macs=295_759_392,
    top1=72.6,
    notes="torchvision's shufflenet_v2_x1_5 layer for layer; top1 is the paper's (100 - error).",
    figures=(
        Reported(
            "Ma et al. 2018, Tables 5 and 8",
            params=3_500_000,
            macs=299_000_000,
            top1_error=27.4,
            note="the paper's FLOPs are multiply-adds",
        ),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=72.996,
            top5=91.086,
            params=3_503_624,
            macs=296_000_000,
        ),
    ),
    torchvision="shufflenet_v2_x1_5",
)
def shufflenet_v2_x1_5(**kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(scale=1.5, **kwargs)


@register_model(
    paper=MA_2018,
    input_size=(3, 224, 224),
    params=7_393_996,
    macs=583_253_464,
    top1=74.9,
    notes="torchvision's shufflenet_v2_x2_0 layer for layer; top1 is the paper's (100 - error).",
    figures=(
        Reported(
            "Ma et al. 2018, Tables 5 and 8",
            params=7_400_000,
            macs=591_000_000,
            top1_error=25.1,
            note="the paper's FLOPs are multiply-adds",
        ),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=76.23,
            top5=93.006,
            params=7_393_996,
            macs=583_000_000,
        ),
    ),
    torchvision="shufflenet_v2_x2_0",
)
def shufflenet_v2_x2_0(**kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(scale=2.0, **kwargs)
