"""Inception v3.

C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna. Rethinking the Inception Architecture
for Computer Vision. CVPR 2016 (arXiv:1512.00567, 2015).

The 299x299 network of the paper's Table 1 with the improvements that make "Inception-v3"
(Table 3): batch norm everywhere, the 7x7 stem factorized into 3x3 convolutions, n x n
convolutions factorized into 1 x n + n x 1 on the 17x17 grid (Figure 6), the expanded 8x8
modules with parallel 1x3 / 3x1 outputs (Figure 7), grid reductions that pool and convolve in
parallel (Figure 10), and one auxiliary classifier on the 17x17 grid with batch norm in it
("BN-auxiliary").

Naming: "Inception-v2" in the Rethinking paper is this network without the last refinements
(Table 3); it is *not* the BN-Inception of Ioffe & Szegedy (2015), which this zoo registers as
``bn_inception`` (see ``cnnzoo.models.inception_v2``).

Deliberate choices, all those of the released TensorFlow model that torchvision ports (so the
parameter count equals torchvision's exactly):

* The first module type (35x35, ``mixed5b``..``mixed5d``) keeps one 5x5 branch next to the
  double-3x3 branch; the paper's Figure 5 shows only factorized 3x3s.
* Batch norm eps is 1e-3; convolutions have no bias.
* ``forward`` returns :class:`InceptionOutputs` ``(logits, aux)`` in train mode when
  ``aux_logits`` is set, logits alone in eval mode. torchvision's ``transform_input`` (an
  input renormalisation for Google's checkpoint) is not offered: there are no pretrained weights.
* Smallest input: 75x75 (eval). The auxiliary head's 5x5/3 pool followed by a 5x5 convolution
  needs a 17x17 grid, i.e. about 299x299 (283 and up), to *train* with it; pass
  ``aux_logits=False`` to train at smaller sizes.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from cnnzoo.layers import ConvNormAct
from cnnzoo.models._aux import InceptionOutputs, loss_with_aux
from cnnzoo.models._base import PooledClassifier
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["InceptionOutputs", "InceptionV3", "loss_with_aux"]

SZEGEDY_2016 = Paper(
    authors="C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna",
    title="Rethinking the Inception Architecture for Computer Vision",
    year=2016,
    venue="CVPR",
    url="https://arxiv.org/abs/1512.00567",
)


def conv_bn(
    in_channels: int,
    out_channels: int,
    kernel_size: int | tuple[int, int],
    stride: int = 1,
    padding: int | tuple[int, int] | None = None,
) -> ConvNormAct:
    """Bias-free convolution -> BN (eps 1e-3) -> ReLU; 'same' padding unless given."""
    return ConvNormAct(in_channels, out_channels, kernel_size, stride, padding, bn_eps=1e-3)


def _chain(*convs: ConvNormAct) -> nn.Sequential:
    chain = nn.Sequential()
    for i, conv in enumerate(convs, start=1):
        chain.add_module(f"conv{i}", conv)
    return chain


def _pool_branch(in_channels: int, out_channels: int) -> nn.Sequential:
    branch = nn.Sequential()
    branch.add_module("pool", nn.AvgPool2d(3, stride=1, padding=1))
    branch.add_module("proj", conv_bn(in_channels, out_channels, 1))
    return branch


class InceptionA(nn.Module):
    """35x35 module (``mixed5b``..``mixed5d``): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg pool-1x1."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = conv_bn(in_channels, 64, 1)
        self.branch5x5 = _chain(conv_bn(in_channels, 48, 1), conv_bn(48, 64, 5))
        self.branch3x3dbl = _chain(
            conv_bn(in_channels, 64, 1), conv_bn(64, 96, 3), conv_bn(96, 96, 3)
        )
        self.branch_pool = _pool_branch(in_channels, pool_features)
        self.out_channels = 64 + 64 + 96 + pool_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [self.branch1x1(x), self.branch5x5(x), self.branch3x3dbl(x), self.branch_pool(x)], 1
        )


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17 (``mixed6a``, Figure 10): stride-2 convolutions beside a max pool."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = conv_bn(in_channels, 384, 3, stride=2, padding=0)
        self.branch3x3dbl = _chain(
            conv_bn(in_channels, 64, 1),
            conv_bn(64, 96, 3),
            conv_bn(96, 96, 3, stride=2, padding=0),
        )
        self.branch_pool = nn.MaxPool2d(3, stride=2)
        self.out_channels = 384 + 96 + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch3x3(x), self.branch3x3dbl(x), self.branch_pool(x)], 1)


class InceptionC(nn.Module):
    """17x17 module (``mixed6b``..``mixed6e``, Figure 6): 7x7 factorized into 1x7 and 7x1."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = conv_bn(in_channels, 192, 1)
        self.branch7x7 = _chain(
            conv_bn(in_channels, c7, 1), conv_bn(c7, c7, (1, 7)), conv_bn(c7, 192, (7, 1))
        )
        self.branch7x7dbl = _chain(
            conv_bn(in_channels, c7, 1),
            conv_bn(c7, c7, (7, 1)),
            conv_bn(c7, c7, (1, 7)),
            conv_bn(c7, c7, (7, 1)),
            conv_bn(c7, 192, (1, 7)),
        )
        self.branch_pool = _pool_branch(in_channels, 192)
        self.out_channels = 4 * 192

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [self.branch1x1(x), self.branch7x7(x), self.branch7x7dbl(x), self.branch_pool(x)], 1
        )


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8 (``mixed7a``)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = _chain(
            conv_bn(in_channels, 192, 1), conv_bn(192, 320, 3, stride=2, padding=0)
        )
        self.branch7x7x3 = _chain(
            conv_bn(in_channels, 192, 1),
            conv_bn(192, 192, (1, 7)),
            conv_bn(192, 192, (7, 1)),
            conv_bn(192, 192, 3, stride=2, padding=0),
        )
        self.branch_pool = nn.MaxPool2d(3, stride=2)
        self.out_channels = 320 + 192 + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch3x3(x), self.branch7x7x3(x), self.branch_pool(x)], 1)


class SplitConv(nn.Module):
    """A 1x3 and a 3x1 convolution side by side on the same input, concatenated (Figure 7)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1x3 = conv_bn(in_channels, out_channels, (1, 3))
        self.conv3x1 = conv_bn(in_channels, out_channels, (3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv1x3(x), self.conv3x1(x)], 1)


class InceptionE(nn.Module):
    """8x8 module with expanded outputs (``mixed7b``, ``mixed7c``, Figure 7)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = conv_bn(in_channels, 320, 1)
        self.branch3x3 = nn.Sequential()
        self.branch3x3.add_module("conv1", conv_bn(in_channels, 384, 1))
        self.branch3x3.add_module("split", SplitConv(384, 384))
        self.branch3x3dbl = nn.Sequential()
        self.branch3x3dbl.add_module("conv1", conv_bn(in_channels, 448, 1))
        self.branch3x3dbl.add_module("conv2", conv_bn(448, 384, 3))
        self.branch3x3dbl.add_module("split", SplitConv(384, 384))
        self.branch_pool = _pool_branch(in_channels, 192)
        self.out_channels = 320 + 768 + 768 + 192

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [self.branch1x1(x), self.branch3x3(x), self.branch3x3dbl(x), self.branch_pool(x)], 1
        )


class InceptionV3Aux(nn.Module):
    """Auxiliary head on the 17x17 grid: avg pool 5x5/3 -> 1x1 128 -> 5x5 768 -> FC."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(5, stride=3)
        self.conv1 = conv_bn(in_channels, 128, 1)
        self.conv2 = conv_bn(128, 768, 5, padding=0)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.conv1(self.pool(x)))
        return self.fc(self.flatten(self.global_pool(x)))


class InceptionV3(PooledClassifier):
    """Inception v3 with TensorFlow's block names in snake case (``mixed6e``, ``stem.conv4a``)."""

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = True,
        drop_rate: float = 0.5,
    ) -> None:
        super().__init__(num_classes, in_chans)
        self.aux_logits = aux_logits
        self.stem = nn.Sequential()
        self.stem.add_module("conv1a", conv_bn(in_chans, 32, 3, stride=2, padding=0))
        self.stem.add_module("conv2a", conv_bn(32, 32, 3, padding=0))
        self.stem.add_module("conv2b", conv_bn(32, 64, 3))
        self.stem.add_module("pool1", nn.MaxPool2d(3, stride=2))
        self.stem.add_module("conv3b", conv_bn(64, 80, 1))
        self.stem.add_module("conv4a", conv_bn(80, 192, 3, padding=0))
        self.stem.add_module("pool2", nn.MaxPool2d(3, stride=2))
        self.mixed5b = InceptionA(192, pool_features=32)
        self.mixed5c = InceptionA(256, pool_features=64)
        self.mixed5d = InceptionA(288, pool_features=64)
        self.mixed6a = InceptionB(288)
        self.mixed6b = InceptionC(768, channels_7x7=128)
        self.mixed6c = InceptionC(768, channels_7x7=160)
        self.mixed6d = InceptionC(768, channels_7x7=160)
        self.mixed6e = InceptionC(768, channels_7x7=192)
        if aux_logits:
            self.aux = InceptionV3Aux(768, num_classes)
            self.aux_head_paths = ("aux.fc",)

        self.mixed7a = InceptionD(768)
        self.mixed7b = InceptionE(1280)
        self.mixed7c = InceptionE(2048)
        self.init_head(2048, num_classes, drop_rate)
        self.feature_info = [
            {"module": "stem.conv2b", "num_chs": 64, "reduction": 2},
            {"module": "stem.conv4a", "num_chs": 192, "reduction": 4},
            {"module": "mixed5d", "num_chs": 288, "reduction": 8},
            {"module": "mixed6e", "num_chs": 768, "reduction": 16},
            {"module": "mixed7c", "num_chs": 2048, "reduction": 32},
        ]

    def _features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.stem(x)
        x = self.mixed5d(self.mixed5c(self.mixed5b(x)))
        x = self.mixed6a(x)
        x = self.mixed6e(self.mixed6d(self.mixed6c(self.mixed6b(x))))
        aux = self.aux(x) if self.aux_logits and self.training else None
        x = self.mixed7c(self.mixed7b(self.mixed7a(x)))
        return x, aux

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor | InceptionOutputs:
        features, aux = self._features(x)
        logits = self.forward_head(features)
        return InceptionOutputs(logits, aux) if aux is not None else logits


@register_model(
    paper=SZEGEDY_2016,
    input_size=(3, 299, 299),
    params=27_161_264,
    macs=5_713_216_096,
    reported="torchvision counts 27,161,264 parameters with the auxiliary head.",
    top1=77.294,
    notes="Counts include the auxiliary head (aux_logits=True); without it 23,834,568 params, "
    "the 'less than 25 million' of the paper. MACs are for inference (eval mode). The 35x35 "
    "modules keep a 5x5 branch as in the released TensorFlow model and torchvision.",
    figures=(
        Reported(
            "Szegedy et al. 2016, abstract and Tables 3-4",
            params=25_000_000,
            macs=5_000_000_000,
            top1_error=21.2,
            top5_error=5.6,
            note="'less than 25 million parameters'; single crop at 299x299",
        ),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=77.294,
            top5=93.45,
            params=27_161_264,
            macs=5_713_000_000,
        ),
    ),
    torchvision="inception_v3",
)
def inception_v3(**kwargs) -> InceptionV3:
    return InceptionV3(**kwargs)
