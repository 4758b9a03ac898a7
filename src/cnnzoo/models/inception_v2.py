"""BN-Inception, the "Inception v2" of batch normalization.

S. Ioffe, C. Szegedy. Batch Normalization: Accelerating Deep Network Training by Reducing
Internal Covariate Shift. ICML 2015 (arXiv:1502.03167).

What "Inception v2" means: two different networks carry the name. This file is the one of the
batch-norm paper (its Figure 5, usually called BN-Inception, and "Inception v2" in Google's
TF-slim model zoo). The Rethinking paper (Szegedy et al. 2016) also calls an intermediate
model "Inception-v2": that one is Inception v3 without its last refinements (see
``cnnzoo.models.inception_v3``) and is not registered separately.

Differences from GoogLeNet (the paper's section 4.2.1 and Figure 5): batch norm after every
convolution, no LRN, each 5x5 replaced by two stacked 3x3s (the "double 3x3" branch), average
pooling in most pool branches, 3a..3c / 4a..4e / 5a..5b modules where 3c and 4e reduce the grid
(stride-2 convolutions beside a max pool that passes its input through) instead of separate
max-pool layers, and a 28x28 stage with three modules.

Deliberate choices:

* The first layer is a plain 7x7/2 convolution as in Figure 5. TF-slim's ``inception_v2``
  defaults to a depthwise-separable 7x7 (depth multiplier 8) there; Caffe ports of the model
  (e.g. Cadene's ``bninception``) keep a plain 7x7, as here.
* Convolutions have no bias (batch norm follows); the Caffe ports carry a bias as well.
* No auxiliary classifiers: Figure 5 has none.
* Max pools round up (``ceil_mode=True``), as in the Caffe ports: 224 -> 112 -> 56 -> 28 -> 14 -> 7.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from cnnzoo.layers import ConvNormAct
from cnnzoo.models._base import PooledClassifier
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["BNInception", "BNInceptionModule"]

IOFFE_2015 = Paper(
    authors="S. Ioffe, C. Szegedy",
    title="Batch Normalization: Accelerating Deep Network Training by Reducing Internal "
    "Covariate Shift",
    year=2015,
    venue="ICML",
    url="https://arxiv.org/abs/1502.03167",
)

# Figure 5: #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool, pool proj.
# A 0 in #1x1 means no such branch; pool proj 0 means the pool passes its input through, and
# those modules (3c, 4e) use stride 2.
BN_INCEPTION_WIDTHS: dict[str, tuple[int, int, int, int, int, str, int]] = {
    "3a": (64, 64, 64, 64, 96, "avg", 32),
    "3b": (64, 64, 96, 64, 96, "avg", 64),
    "3c": (0, 128, 160, 64, 96, "max", 0),
    "4a": (224, 64, 96, 96, 128, "avg", 128),
    "4b": (192, 96, 128, 96, 128, "avg", 128),
    "4c": (160, 128, 160, 128, 160, "avg", 128),
    "4d": (96, 128, 192, 160, 192, "avg", 128),
    "4e": (0, 128, 192, 192, 256, "max", 0),
    "5a": (352, 192, 320, 160, 224, "avg", 128),
    "5b": (352, 192, 320, 192, 224, "max", 128),
}


class BNInceptionModule(nn.Module):
    """1x1 | 1x1-3x3 | 1x1-3x3-3x3 | pool(-1x1 projection), concatenated.

    Grid-reduction modules (``ch1x1=0``, ``pool_proj=0``) drop the 1x1 branch, give the last
    convolution of each branch stride 2 and pass the max-pooled input through unchanged.
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3_reduce: int,
        ch3x3: int,
        dbl_reduce: int,
        dbl: int,
        pool: str,
        pool_proj: int,
    ) -> None:
        super().__init__()
        reduces_grid = pool_proj == 0
        stride = 2 if reduces_grid else 1
        self.branch1x1 = ConvNormAct(in_channels, ch1x1, 1) if ch1x1 else None
        self.branch3x3 = nn.Sequential()
        self.branch3x3.add_module("reduce", ConvNormAct(in_channels, ch3x3_reduce, 1))
        self.branch3x3.add_module("conv", ConvNormAct(ch3x3_reduce, ch3x3, 3, stride=stride))
        self.branch3x3dbl = nn.Sequential()
        self.branch3x3dbl.add_module("reduce", ConvNormAct(in_channels, dbl_reduce, 1))
        self.branch3x3dbl.add_module("conv1", ConvNormAct(dbl_reduce, dbl, 3))
        self.branch3x3dbl.add_module("conv2", ConvNormAct(dbl, dbl, 3, stride=stride))
        self.branch_pool = nn.Sequential()
        if pool == "avg":
            self.branch_pool.add_module("pool", nn.AvgPool2d(3, stride=1, padding=1))
        else:
            # Padded like the stride-2 convolutions beside it, so the branches stay aligned.
            self.branch_pool.add_module("pool", nn.MaxPool2d(3, stride=stride, padding=1))
        if pool_proj:
            self.branch_pool.add_module("proj", ConvNormAct(in_channels, pool_proj, 1))
        self.in_channels = in_channels
        self.out_channels = ch1x1 + ch3x3 + dbl + (pool_proj or in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch3x3(x), self.branch3x3dbl(x), self.branch_pool(x)]
        if self.branch1x1 is not None:
            branches.insert(0, self.branch1x1(x))
        return torch.cat(branches, 1)


class BNInception(PooledClassifier):
    """BN-Inception with the paper's module names (``inception4c.branch3x3dbl.conv2``)."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0) -> None:
        super().__init__(num_classes, in_chans)
        self.stem = nn.Sequential()
        self.stem.add_module("conv1", ConvNormAct(in_chans, 64, 7, stride=2))
        self.stem.add_module("pool1", nn.MaxPool2d(3, stride=2, ceil_mode=True))
        self.stem.add_module("conv2", ConvNormAct(64, 64, 1))
        self.stem.add_module("conv3", ConvNormAct(64, 192, 3))
        self.stem.add_module("pool2", nn.MaxPool2d(3, stride=2, ceil_mode=True))
        channels = 192
        out_channels: dict[str, int] = {}
        for key, widths in BN_INCEPTION_WIDTHS.items():
            module = BNInceptionModule(channels, *widths)
            self.add_module(f"inception{key}", module)
            channels = out_channels[key] = module.out_channels
        self.init_head(channels, num_classes, drop_rate)
        self.feature_info = [
            {"module": "stem.conv1", "num_chs": 64, "reduction": 2},
            {"module": "stem.conv3", "num_chs": 192, "reduction": 4},
            {"module": "inception3b", "num_chs": out_channels["3b"], "reduction": 8},
            {"module": "inception4d", "num_chs": out_channels["4d"], "reduction": 16},
            {"module": "inception5b", "num_chs": channels, "reduction": 32},
        ]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for key in BN_INCEPTION_WIDTHS:
            x = getattr(self, f"inception{key}")(x)
        return x


@register_model(
    paper=IOFFE_2015,
    input_size=(3, 224, 224),
    params=11_285_224,
    macs=2_032_600_064,
    reported="Its Figure 5 table, which we follow, sums to 11.3M parameters; the paper does not itemise the difference. Multiply-adds are not stated.",
    top1=74.8,
    notes="'Inception v2' = BN-Inception of Ioffe & Szegedy (Figure 5), not the 'Inception-v2' "
    "of the Rethinking paper. Plain 7x7 first convolution (TF-slim uses a separable one), "
    "bias-free convolutions, no auxiliary heads, no dropout by default.",
    figures=(
        Reported(
            "Ioffe & Szegedy 2015, section 4.2",
            params=13_600_000,
            note="'The network contains 13.6M parameters'",
        ),
        Reported(
            "Ioffe & Szegedy 2015, Figure 3",
            top1=74.8,
            note="BN-x30, a single network, maximum validation accuracy (Inception baseline 72.2%)",
        ),
    ),
)
def bn_inception(**kwargs) -> BNInception:
    return BNInception(**kwargs)
