"""Network in Network (NiN).

M. Lin, Q. Chen, S. Yan. Network In Network. ICLR 2014 (arXiv:1312.4400, 2013).

An mlpconv block is a KxK convolution followed by two 1x1 convolutions (the "micro network", a
small MLP shared across positions), each followed by ReLU. The classifier has no FC layer: the
last mlpconv outputs one map per class and global average pooling turns each map into a logit.

Variants:

* ``nin_cifar``: the paper's CIFAR-10 network, three mlpconv blocks (section 4.2: "three stacked
  mlpconv layers", each of the first two followed by 3x3/2 max-pooling and dropout 0.5). The
  widths (192-160-96, 192-192-192, 192-192-classes; kernels 5, 5, 3) are those of the authors'
  released Caffe definition; the paper's text does not list them.
* ``nin_imagenet``: the authors' ImageNet network from the Caffe Model Zoo (the paper reports
  no ImageNet result): four mlpconv blocks 96-96-96 (11x11/4), 256-256-256 (5x5), 384-384-384
  (3x3), dropout, 1024-1024-classes (3x3), on a 224x224 input.

Deliberate choices: max-pooling rounds up as Caffe does (32 -> 16 -> 8 on CIFAR; 54 -> 27 -> 13
-> 6 on ImageNet); the authors' Caffe file uses average pooling for the second CIFAR pool, the
paper's text says max-pooling, we follow the text (no parameter or MAC difference). The class
maps pass through ReLU before the global average, as in the released models, so logits are
non-negative. PyTorch's default initialisation. Any input size works (global pooling), as long
as the maps do not vanish.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn

from cnnzoo.models._base import Classifier
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["MlpConv", "NiN"]

LIN_2013 = Paper(
    authors="M. Lin, Q. Chen, S. Yan",
    title="Network In Network",
    year=2013,
    venue="ICLR 2014 (arXiv:1312.4400)",
    url="https://arxiv.org/abs/1312.4400",
)


@dataclass(frozen=True)
class MlpConv:
    """One mlpconv block: a ``kernel`` convolution to ``widths[0]`` maps, then 1x1 convolutions
    to ``widths[1:]``; optionally a 3x3/2 max-pool and dropout after it. In the last block the
    final width is replaced by the number of classes."""

    widths: tuple[int, ...]
    kernel: int
    stride: int = 1
    padding: int = 0
    pool: bool = True
    dropout: bool = False


NIN_CIFAR = (
    MlpConv((192, 160, 96), 5, padding=2, dropout=True),
    MlpConv((192, 192, 192), 5, padding=2, dropout=True),
    MlpConv((192, 192, 0), 3, padding=1, pool=False),
)
NIN_IMAGENET = (
    MlpConv((96, 96, 96), 11, stride=4),
    MlpConv((256, 256, 256), 5, padding=2),
    MlpConv((384, 384, 384), 3, padding=1, dropout=True),
    MlpConv((1024, 1024, 0), 3, padding=1, pool=False),
)


class NiN(Classifier):
    """``features.mlpconv{i}`` (``conv``, ``act``, ``cccp1``, ``act1``, ``cccp2``, ``act2``),
    ``features.pool{i}``, ``features.drop{i}``; the last block's class layer is
    ``classifier.conv`` (1x1 to ``num_classes``) -> ``classifier.act`` -> global average pool.
    ``cccp`` ("cascaded cross channel parametric pooling") is the paper's name for the 1x1 layers.
    """

    head_path = "classifier.conv"

    def __init__(
        self,
        blocks: Sequence[MlpConv] = NIN_CIFAR,
        num_classes: int = 10,
        in_chans: int = 3,
        drop_rate: float = 0.5,
    ) -> None:
        super().__init__(num_classes, in_chans)
        self.features = nn.Sequential()
        chs, reduction = in_chans, 1
        for i, spec in enumerate(blocks, start=1):
            last = i == len(blocks)
            block = nn.Sequential()
            block.add_module(
                "conv", nn.Conv2d(chs, spec.widths[0], spec.kernel, spec.stride, spec.padding)
            )
            block.add_module("act", nn.ReLU())
            chs, reduction = spec.widths[0], reduction * spec.stride
            # The last block's final 1x1 layer is the classifier; it is built below.
            mlp_widths = spec.widths[1:-1] if last else spec.widths[1:]
            for j, width in enumerate(mlp_widths, start=1):
                block.add_module(f"cccp{j}", nn.Conv2d(chs, width, 1))
                block.add_module(f"act{j}", nn.ReLU())
                chs = width
            self.features.add_module(f"mlpconv{i}", block)
            self.feature_info.append(
                {"module": f"features.mlpconv{i}", "num_chs": chs, "reduction": reduction}
            )
            if spec.pool:
                self.features.add_module(f"pool{i}", nn.MaxPool2d(3, 2, ceil_mode=True))
                reduction *= 2
            if spec.dropout:
                self.features.add_module(f"drop{i}", nn.Dropout(drop_rate))
        self.num_features = chs
        self.classifier = nn.Sequential()
        self.classifier.add_module("conv", nn.Conv2d(chs, num_classes, 1))
        self.classifier.add_module("act", nn.ReLU())
        self.classifier.add_module("pool", nn.AdaptiveAvgPool2d(1))
        self.classifier.add_module("flatten", nn.Flatten(1))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def class_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The per-class confidence maps (N, classes, H, W) that global pooling averages."""
        return self.classifier.act(self.classifier.conv(self.forward_features(x)))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x)


@register_model(
    paper=LIN_2013,
    input_size=(3, 32, 32),
    num_classes=10,
    params=966_986,
    macs=222_486_528,
    dataset="CIFAR-10",
    top1=91.19,
    reported="The paper states neither the parameter count nor the MACs.",
    notes="Three mlpconv blocks, widths of the authors' Caffe definition; ceil-mode 3x3/2 "
    "max-pools (32 -> 16 -> 8), dropout 0.5 after the first two, ReLU class maps, global average "
    "pooling. No FC layer: summary's split shows 0% FC.",
    figures=(
        Reported("Lin et al. 2013, Table 2", "CIFAR-10", top1_error=10.41, note="NIN + dropout"),
        Reported(
            "Lin et al. 2013, Table 2",
            "CIFAR-10",
            top1_error=8.81,
            note="NIN + dropout + data augmentation",
        ),
    ),
)
def nin_cifar(**kwargs) -> NiN:
    return NiN(NIN_CIFAR, **kwargs)


@register_model(
    paper=LIN_2013,
    input_size=(3, 224, 224),
    params=7_595_176,
    macs=1_100_188_800,
    reported="Architecture of the authors' Caffe Model Zoo release.",
    notes="Four mlpconv blocks (96, 256, 384, 1024 maps; 11x11/4, 5x5, 3x3, 3x3), ceil-mode "
    "3x3/2 max-pools (54 -> 27 -> 13 -> 6), dropout 0.5 before the last block, global average "
    "pooling over the 6x6 class maps.",
    no_figures="the paper has no ImageNet experiment and the release states no count",
)
def nin_imagenet(**kwargs) -> NiN:
    return NiN(NIN_IMAGENET, **kwargs)
