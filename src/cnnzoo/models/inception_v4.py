"""Inception-v4 and Inception-ResNet-v2.

C. Szegedy, S. Ioffe, V. Vanhoucke, A. A. Alemi. Inception-v4, Inception-ResNet and the Impact
of Residual Connections on Learning. AAAI 2017 (arXiv:1602.07261, 2016).

``inception_v4`` follows the paper's Figure 9 with the blocks of Figures 3-8: the stem (three
3x3 convolutions, then three "mixed" splits in which pooling and convolution, or two
convolution towers, run side by side), 4 x Inception-A (35x35, 384 channels), Reduction-A with
k, l, m, n = 192, 224, 256, 384, 7 x Inception-B (17x17, 1024), Reduction-B, 3 x Inception-C
(8x8, 1536), average pooling, dropout (keep 0.8) and the classifier. It matches the
authors' released TensorFlow model (TF-slim) and its ports (timm, Cadene's
pretrainedmodels), hence their parameter count.

``inception_resnet_v2`` is the network the authors *released* (TF-slim
``inception_resnet_v2``, ported by timm and Cadene), not the paper's figures taken literally,
which cannot be built as drawn: Reduction-A outputs 384 + 384 + 384 = 1152 channels while the
Inception-ResNet-B block of Figure 17 projects back to 1154, and Reduction-B outputs 2144 while
Figure 19 projects to 2048. The released network differs from the figures in three further
ways, all kept here: its stem is Inception v3's (3x3 convolutions and max pools down to
35x35x192) followed by one Inception-A style module ("mixed5b", 320 channels) instead of
Figure 3; it has 10 / 20 / 10 residual blocks instead of 5 / 10 / 5 (the last block has no
ReLU); it ends with a 1x1 convolution to 1536 channels before pooling. Its residuals are scaled
by 0.17 / 0.10 / 0.20 before the addition (the paper: "between 0.1 and 0.3", section 3.3).

Both: batch norm (eps 1e-3) after every bias-free convolution, except the 1x1 "up"
projections of the residual blocks, which have a bias and neither batch norm nor ReLU
(linear, as in Figures 16-19). Average pools exclude the padding (TensorFlow's SAME pooling).
No auxiliary classifier (the paper describes none for these networks).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from cnnzoo.models._base import PooledClassifier

# TF-slim's convolution unit, as in Inception v3 (same eps, 'same' padding unless given).
from cnnzoo.models.inception_v3 import conv_bn
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["InceptionResNetV2", "InceptionV4"]

SZEGEDY_2017 = Paper(
    authors="C. Szegedy, S. Ioffe, V. Vanhoucke, A. A. Alemi",
    title="Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
    year=2017,
    venue="AAAI",
    url="https://arxiv.org/abs/1602.07261",
)


def tower(*convs: nn.Module) -> nn.Sequential:
    """Layers applied one after the other, named ``conv1``, ``conv2``, ... (or ``pool``)."""
    chain = nn.Sequential()
    count = 0
    for layer in convs:
        if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            chain.add_module("pool", layer)
        else:
            count += 1
            chain.add_module(f"conv{count}", layer)
    return chain


def avg_pool_3x3() -> nn.AvgPool2d:
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


class Concat(nn.Module):
    """Runs its children (``branch0``, ``branch1``, ...) on the same input; concatenates them."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        for i, branch in enumerate(branches):
            self.add_module(f"branch{i}", branch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.children()], 1)


class SplitConv(Concat):
    """A 1x3 and a 3x1 convolution side by side (the expanded 8x8 outputs)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            conv_bn(in_channels, out_channels, (1, 3)), conv_bn(in_channels, out_channels, (3, 1))
        )


# -- Inception-v4 (Figures 3-8) ------------------------------------------------------------


def inception_v4_stem(in_chans: int) -> nn.Sequential:
    """Figure 3: 299x299x3 -> 35x35x384."""
    stem = nn.Sequential()
    stem.add_module("conv1", conv_bn(in_chans, 32, 3, stride=2, padding=0))
    stem.add_module("conv2", conv_bn(32, 32, 3, padding=0))
    stem.add_module("conv3", conv_bn(32, 64, 3))
    stem.add_module(
        "mixed3a", Concat(nn.MaxPool2d(3, stride=2), conv_bn(64, 96, 3, stride=2, padding=0))
    )
    stem.add_module(
        "mixed4a",
        Concat(
            tower(conv_bn(160, 64, 1), conv_bn(64, 96, 3, padding=0)),
            tower(
                conv_bn(160, 64, 1),
                conv_bn(64, 64, (1, 7)),
                conv_bn(64, 64, (7, 1)),
                conv_bn(64, 96, 3, padding=0),
            ),
        ),
    )
    stem.add_module(
        "mixed5a", Concat(conv_bn(192, 192, 3, stride=2, padding=0), nn.MaxPool2d(3, stride=2))
    )
    return stem


def inception_a(in_channels: int = 384) -> Concat:
    """Figure 4: 35x35 module, 4 x 96 channels out."""
    return Concat(
        conv_bn(in_channels, 96, 1),
        tower(conv_bn(in_channels, 64, 1), conv_bn(64, 96, 3)),
        tower(conv_bn(in_channels, 64, 1), conv_bn(64, 96, 3), conv_bn(96, 96, 3)),
        tower(avg_pool_3x3(), conv_bn(in_channels, 96, 1)),
    )


def reduction_a(in_channels: int, k: int, l: int, m: int, n: int) -> Concat:  # noqa: E741
    """Figure 7: 35 -> 17; output ``in_channels + n + m`` (the paper's k, l, m, n of Table 1)."""
    return Concat(
        nn.MaxPool2d(3, stride=2),
        conv_bn(in_channels, n, 3, stride=2, padding=0),
        tower(conv_bn(in_channels, k, 1), conv_bn(k, l, 3), conv_bn(l, m, 3, stride=2, padding=0)),
    )


def inception_b(in_channels: int = 1024) -> Concat:
    """Figure 5: 17x17 module with 1x7 / 7x1 factorized convolutions, 1024 channels out."""
    return Concat(
        conv_bn(in_channels, 384, 1),
        tower(conv_bn(in_channels, 192, 1), conv_bn(192, 224, (1, 7)), conv_bn(224, 256, (7, 1))),
        tower(
            conv_bn(in_channels, 192, 1),
            conv_bn(192, 192, (7, 1)),
            conv_bn(192, 224, (1, 7)),
            conv_bn(224, 224, (7, 1)),
            conv_bn(224, 256, (1, 7)),
        ),
        tower(avg_pool_3x3(), conv_bn(in_channels, 128, 1)),
    )


def reduction_b(in_channels: int = 1024) -> Concat:
    """Figure 8: 17 -> 8, 1536 channels out."""
    return Concat(
        nn.MaxPool2d(3, stride=2),
        tower(conv_bn(in_channels, 192, 1), conv_bn(192, 192, 3, stride=2, padding=0)),
        tower(
            conv_bn(in_channels, 256, 1),
            conv_bn(256, 256, (1, 7)),
            conv_bn(256, 320, (7, 1)),
            conv_bn(320, 320, 3, stride=2, padding=0),
        ),
    )


def inception_c(in_channels: int = 1536) -> Concat:
    """Figure 6: 8x8 module with split 1x3 / 3x1 outputs, 1536 channels out."""
    return Concat(
        conv_bn(in_channels, 256, 1),
        tower(conv_bn(in_channels, 384, 1), SplitConv(384, 256)),
        tower(
            conv_bn(in_channels, 384, 1),
            conv_bn(384, 448, (3, 1)),
            conv_bn(448, 512, (1, 3)),
            SplitConv(512, 256),
        ),
        tower(avg_pool_3x3(), conv_bn(in_channels, 256, 1)),
    )


def _repeat(make: type[nn.Module] | object, count: int) -> nn.Sequential:
    stage = nn.Sequential()
    for i in range(1, count + 1):
        stage.add_module(f"block{i}", make())  # type: ignore[operator]
    return stage


class InceptionV4(PooledClassifier):
    """Inception-v4 (Figure 9): stem, 4 x A, Reduction-A, 7 x B, Reduction-B, 3 x C."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2) -> None:
        super().__init__(num_classes, in_chans)
        self.stem = inception_v4_stem(in_chans)
        self.inception_a = _repeat(inception_a, 4)
        self.reduction_a = reduction_a(384, k=192, l=224, m=256, n=384)
        self.inception_b = _repeat(inception_b, 7)
        self.reduction_b = reduction_b(1024)
        self.inception_c = _repeat(inception_c, 3)
        self.init_head(1536, num_classes, drop_rate)
        self.feature_info = [
            {"module": "stem.conv3", "num_chs": 64, "reduction": 2},
            {"module": "stem.mixed4a", "num_chs": 192, "reduction": 4},
            {"module": "inception_a", "num_chs": 384, "reduction": 8},
            {"module": "inception_b", "num_chs": 1024, "reduction": 16},
            {"module": "inception_c", "num_chs": 1536, "reduction": 32},
        ]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inception_a(self.stem(x))
        x = self.inception_b(self.reduction_a(x))
        return self.inception_c(self.reduction_b(x))


# -- Inception-ResNet-v2 (the released network) --------------------------------------------


class InceptionResNetBlock(nn.Module):
    """``relu(x + scale * up(concat(branches(x))))``, Figures 16, 17 and 19.

    ``up`` is a linear 1x1 convolution (bias, no batch norm) back to the input width. The last
    block of the network has no ReLU (``activate=False``), as in the released model.
    """

    def __init__(
        self, branches: Concat, branch_channels: int, channels: int, scale: float, activate: bool
    ) -> None:
        super().__init__()
        self.branches = branches
        self.up = nn.Conv2d(branch_channels, channels, 1)
        self.scale = scale
        self.act = nn.ReLU() if activate else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.scale * self.up(self.branches(x)))

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


def block35(scale: float = 0.17, channels: int = 320) -> InceptionResNetBlock:
    """Inception-ResNet-A (35x35): 1x1 32 | 1x1 32-3x3 32 | 1x1 32-3x3 48-3x3 64."""
    branches = Concat(
        conv_bn(channels, 32, 1),
        tower(conv_bn(channels, 32, 1), conv_bn(32, 32, 3)),
        tower(conv_bn(channels, 32, 1), conv_bn(32, 48, 3), conv_bn(48, 64, 3)),
    )
    return InceptionResNetBlock(branches, 128, channels, scale, activate=True)


def block17(scale: float = 0.10, channels: int = 1088) -> InceptionResNetBlock:
    """Inception-ResNet-B (17x17): 1x1 192 | 1x1 128-1x7 160-7x1 192."""
    branches = Concat(
        conv_bn(channels, 192, 1),
        tower(conv_bn(channels, 128, 1), conv_bn(128, 160, (1, 7)), conv_bn(160, 192, (7, 1))),
    )
    return InceptionResNetBlock(branches, 384, channels, scale, activate=True)


def block8(
    scale: float = 0.20, channels: int = 2080, activate: bool = True
) -> InceptionResNetBlock:
    """Inception-ResNet-C (8x8): 1x1 192 | 1x1 192-1x3 224-3x1 256."""
    branches = Concat(
        conv_bn(channels, 192, 1),
        tower(conv_bn(channels, 192, 1), conv_bn(192, 224, (1, 3)), conv_bn(224, 256, (3, 1))),
    )
    return InceptionResNetBlock(branches, 448, channels, scale, activate=activate)


class InceptionResNetV2(PooledClassifier):
    """Inception-ResNet-v2 as released: stem -> mixed5b -> 10 x A -> Reduction-A -> 20 x B ->
    Reduction-B -> 10 x C -> 1x1 conv 1536."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2) -> None:
        super().__init__(num_classes, in_chans)
        self.stem = nn.Sequential()
        self.stem.add_module("conv1a", conv_bn(in_chans, 32, 3, stride=2, padding=0))
        self.stem.add_module("conv2a", conv_bn(32, 32, 3, padding=0))
        self.stem.add_module("conv2b", conv_bn(32, 64, 3))
        self.stem.add_module("pool3a", nn.MaxPool2d(3, stride=2))
        self.stem.add_module("conv3b", conv_bn(64, 80, 1))
        self.stem.add_module("conv4a", conv_bn(80, 192, 3, padding=0))
        self.stem.add_module("pool5a", nn.MaxPool2d(3, stride=2))
        self.mixed5b = Concat(
            conv_bn(192, 96, 1),
            tower(conv_bn(192, 48, 1), conv_bn(48, 64, 5)),
            tower(conv_bn(192, 64, 1), conv_bn(64, 96, 3), conv_bn(96, 96, 3)),
            tower(avg_pool_3x3(), conv_bn(192, 64, 1)),
        )
        self.inception_resnet_a = _repeat(block35, 10)
        self.reduction_a = reduction_a(320, k=256, l=256, m=384, n=384)
        self.inception_resnet_b = _repeat(block17, 20)
        self.reduction_b = Concat(
            tower(conv_bn(1088, 256, 1), conv_bn(256, 384, 3, stride=2, padding=0)),
            tower(conv_bn(1088, 256, 1), conv_bn(256, 288, 3, stride=2, padding=0)),
            tower(
                conv_bn(1088, 256, 1),
                conv_bn(256, 288, 3),
                conv_bn(288, 320, 3, stride=2, padding=0),
            ),
            nn.MaxPool2d(3, stride=2),
        )
        self.inception_resnet_c = _repeat(block8, 9)
        self.inception_resnet_c.add_module("block10", block8(scale=1.0, activate=False))
        self.conv7b = conv_bn(2080, 1536, 1)
        self.init_head(1536, num_classes, drop_rate)
        self.feature_info = [
            {"module": "stem.conv2b", "num_chs": 64, "reduction": 2},
            {"module": "stem.conv4a", "num_chs": 192, "reduction": 4},
            {"module": "inception_resnet_a", "num_chs": 320, "reduction": 8},
            {"module": "inception_resnet_b", "num_chs": 1088, "reduction": 16},
            {"module": "conv7b", "num_chs": 1536, "reduction": 32},
        ]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inception_resnet_a(self.mixed5b(self.stem(x)))
        x = self.inception_resnet_b(self.reduction_a(x))
        return self.conv7b(self.inception_resnet_c(self.reduction_b(x)))


@register_model(
    paper=SZEGEDY_2017,
    input_size=(3, 299, 299),
    params=42_679_816,
    macs=12_253_974_624,
    reported="The paper states neither parameters nor multiply-adds.",
    top1=80.0,
    notes="Figures 3-9 of the paper; same architecture as the released TF-slim model. Dropout "
    "keep probability 0.8 (drop_rate=0.2). Kernel shapes are (height, width); the order of the "
    "1x7/7x1 and 1x3/3x1 convolutions inside towers is the released model's (it does not change "
    "the counts).",
    figures=(
        Reported(
            "Szegedy et al. 2017, Table 2",
            top1_error=20.0,
            top5_error=5.0,
            note="single model, single crop, non-blacklisted ILSVRC 2012 validation subset",
        ),
        Reported(
            "timm model card (inception_v4.tf_in1k)",
            params=42_700_000,
            macs=12_300_000_000,
            note="a port of the authors' TF-slim release; timm's GMACs are multiply-accumulates",
        ),
    ),
)
def inception_v4(**kwargs) -> InceptionV4:
    return InceptionV4(**kwargs)


@register_model(
    paper=SZEGEDY_2017,
    input_size=(3, 299, 299),
    params=55_843_464,
    macs=13_155_794_016,
    reported="The paper states neither parameters nor multiply-adds (compute said to be similar to Inception-v4).",
    top1=80.1,
    notes="The released network (TF-slim), not the paper's figures, which do not fit together "
    "(1152 vs 1154 and 2144 vs 2048 channels): Inception-v3-style stem + mixed5b, 10/20/10 "
    "residual blocks scaled 0.17/0.10/0.20, final 1x1 conv to 1536.",
    figures=(
        Reported(
            "Szegedy et al. 2017, Table 2",
            top1_error=19.9,
            top5_error=4.9,
            note="single model, single crop, non-blacklisted ILSVRC 2012 validation subset",
        ),
        Reported(
            "timm (inception_resnet_v2.tf_in1k)",
            params=55_800_000,
            note="a port of the authors' TF-slim release",
        ),
    ),
)
def inception_resnet_v2(**kwargs) -> InceptionResNetV2:
    return InceptionResNetV2(**kwargs)
