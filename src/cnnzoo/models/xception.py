"""Xception.

F. Chollet. Xception: Deep Learning with Depthwise Separable Convolutions. CVPR 2017
(arXiv:1610.02357, 2016).

Figure 5 of the paper: an entry flow (two 3x3 convolutions, then three residual blocks of two
separable convolutions and a stride-2 max pool, with a strided 1x1 convolution on the
shortcut), a middle flow of eight residual blocks of three separable convolutions at 19x19x728,
and an exit flow (one more downsampling block, then separable convolutions to 1536 and 2048
channels), global average pooling and a logistic-regression layer. Every convolution is
followed by batch norm. A separable convolution is a depthwise 3x3 and a pointwise 1x1 with
*no* batch norm or ReLU between them (the paper's section 4.7 finds that better); blocks start
with a ReLU on the residual branch only, so the shortcut sees the un-rectified input, as in the
Keras reference implementation.

Deliberate choices: the first two convolutions are unpadded ('valid', 299 -> 149 -> 147) and the
max pools padded ('same', 147 -> 74 -> 37 -> 19 -> 10), as in Keras, whose parameter count
(22,855,952 trainable, the paper's Table 3 figure) this model has. Convolutions have no bias.
Dropout 0.5 before the classifier, as the paper's ImageNet setup (section 4.3); Keras's
``Xception`` has none (it does not change the counts).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from cnnzoo.layers import ConvNormAct, DepthwiseSeparableConv
from cnnzoo.models._base import PooledClassifier
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["Xception", "XceptionBlock"]

CHOLLET_2017 = Paper(
    authors="F. Chollet",
    title="Xception: Deep Learning with Depthwise Separable Convolutions",
    year=2017,
    venue="CVPR",
    url="https://arxiv.org/abs/1610.02357",
)


def separable_conv(in_channels: int, out_channels: int) -> DepthwiseSeparableConv:
    """Depthwise 3x3 -> pointwise 1x1, bias-free, nothing in between."""
    return DepthwiseSeparableConv(
        in_channels, out_channels, 3, norm=False, act_layer=None, bias=False
    )


class XceptionBlock(nn.Module):
    """``residual(x) + shortcut(x)``, the residual being [ReLU -> SeparableConv -> BN] x n.

    ``widths`` are the output channels of the separable convolutions. With ``downsample`` a
    3x3/2 max pool ends the residual branch and the shortcut is a strided 1x1 convolution + BN;
    otherwise the shortcut is the identity. ``first_relu=False`` drops the leading ReLU (the
    first block, which follows a convolution + ReLU already).
    """

    def __init__(
        self,
        in_channels: int,
        widths: tuple[int, ...],
        downsample: bool,
        first_relu: bool = True,
    ) -> None:
        super().__init__()
        self.residual = nn.Sequential()
        channels = in_channels
        for i, width in enumerate(widths, start=1):
            if i > 1 or first_relu:
                self.residual.add_module(f"act{i}", nn.ReLU())
            self.residual.add_module(f"sepconv{i}", separable_conv(channels, width))
            self.residual.add_module(f"bn{i}", nn.BatchNorm2d(width))
            channels = width
        if downsample:
            self.residual.add_module("pool", nn.MaxPool2d(3, stride=2, padding=1))
            self.shortcut: nn.Module = ConvNormAct(
                in_channels, channels, 1, stride=2, act_layer=None
            )
        else:
            if channels != in_channels:
                raise ValueError(
                    f"an identity shortcut needs equal widths, got {in_channels} -> {channels}"
                )
            self.shortcut = nn.Identity()
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class Xception(PooledClassifier):
    """Xception with the paper's three flows as ``entry_flow``, ``middle_flow``, ``exit_flow``."""

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        middle_blocks: int = 8,
        drop_rate: float = 0.5,
    ) -> None:
        super().__init__(num_classes, in_chans)
        self.stem = nn.Sequential()
        self.stem.add_module("conv1", ConvNormAct(in_chans, 32, 3, stride=2, padding=0))
        self.stem.add_module("conv2", ConvNormAct(32, 64, 3, padding=0))
        self.entry_flow = nn.Sequential()
        self.entry_flow.add_module("block1", XceptionBlock(64, (128, 128), True, first_relu=False))
        self.entry_flow.add_module("block2", XceptionBlock(128, (256, 256), True))
        self.entry_flow.add_module("block3", XceptionBlock(256, (728, 728), True))
        self.middle_flow = nn.Sequential()
        for i in range(1, middle_blocks + 1):
            self.middle_flow.add_module(f"block{i}", XceptionBlock(728, (728,) * 3, False))
        self.exit_flow = nn.Sequential()
        self.exit_flow.add_module("block1", XceptionBlock(728, (728, 1024), True))
        self.exit_flow.add_module("sepconv1", separable_conv(1024, 1536))
        self.exit_flow.add_module("bn1", nn.BatchNorm2d(1536))
        self.exit_flow.add_module("act1", nn.ReLU())
        self.exit_flow.add_module("sepconv2", separable_conv(1536, 2048))
        self.exit_flow.add_module("bn2", nn.BatchNorm2d(2048))
        self.exit_flow.add_module("act2", nn.ReLU())
        self.init_head(2048, num_classes, drop_rate)
        self.feature_info = [
            {"module": "stem.conv2", "num_chs": 64, "reduction": 2},
            {"module": "entry_flow.block1", "num_chs": 128, "reduction": 4},
            {"module": "entry_flow.block2", "num_chs": 256, "reduction": 8},
            {"module": "middle_flow", "num_chs": 728, "reduction": 16},
            {"module": "exit_flow", "num_chs": 2048, "reduction": 32},
        ]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.entry_flow(self.stem(x))
        return self.exit_flow(self.middle_flow(x))


@register_model(
    paper=CHOLLET_2017,
    input_size=(3, 299, 299),
    params=22_855_952,
    macs=8_357_403_496,
    reported="The paper does not state multiply-adds.",
    top1=79.0,
    notes="Figure 5 exactly, with Keras's 'valid' stem convolutions and 'same' max pools; "
    "bias-free convolutions; dropout 0.5 before the classifier as in the paper's ImageNet setup.",
    figures=(
        Reported(
            "Chollet 2017, Tables 1 and 3",
            params=22_855_952,
            top1=79.0,
            top5=94.5,
            note="single crop, ImageNet validation",
        ),
        Reported(
            "Keras Applications",
            params=22_910_480,
            note="total, of which 22,855,952 trainable; the rest are batch-norm moving statistics, buffers in PyTorch",
        ),
    ),
)
def xception(**kwargs) -> Xception:
    return Xception(**kwargs)
