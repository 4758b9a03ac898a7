"""SpeedNet: the small conv-BN network of the time-to-accuracy records (``cnnzoo speedrun``).

K. Jordan. 94% on CIFAR-10 in 3.29 Seconds on a Single GPU. arXiv:2404.00498, 2024 (airbench):
a whitening first convolution whose filters are the data's patch covariance eigenvectors, then
three blocks of ``conv -> max-pool 2 -> BN -> act -> conv -> BN -> act``, global max pooling and
a bias-free linear head whose logits are scaled down.

Deviations, for 1x28x28 images on a 2-core CPU: the whitening convolution is 3x3 with padding
(airbench: 2x2 without) and is followed by batch norm; ReLU instead of GELU (the engine's fused
batch-norm + ReLU kernels cover ReLU); the widths are a quarter of airbench's; the third block
pools 7x7 to 3x3. The whitening itself is data-dependent and set by the speedrun trainer
(:func:`cnnzoo.train.speedrun.whiten_init`), not by the builder.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from cnnzoo.models._base import Classifier
from cnnzoo.registry import Paper, register_model

__all__ = ["SpeedNet"]

AIRBENCH = Paper(
    authors="K. Jordan",
    title="94% on CIFAR-10 in 3.29 Seconds on a Single GPU",
    year=2024,
    venue="arXiv:2404.00498",
    url="https://arxiv.org/abs/2404.00498",
)


def _norm(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


class _Block(nn.Sequential):
    """``conv -> max-pool 2 -> BN -> ReLU -> conv -> BN -> ReLU`` (airbench's ConvGroup)."""

    def __init__(self, cin: int, cout: int, batch_norm: bool) -> None:
        super().__init__()
        self.add_module("conv1", nn.Conv2d(cin, cout, 3, padding=1, bias=not batch_norm))
        self.add_module("pool", nn.MaxPool2d(2))
        self.add_module("bn1", _norm(cout, batch_norm))
        self.add_module("act1", nn.ReLU())
        self.add_module("conv2", nn.Conv2d(cout, cout, 3, padding=1, bias=not batch_norm))
        self.add_module("bn2", _norm(cout, batch_norm))
        self.add_module("act2", nn.ReLU())


class SpeedNet(Classifier):
    """Whitening stem, three conv blocks (each halves the side), global max pool, linear head.

    ``widths`` = (stem, block1, block2, block3); ``logit_scale`` multiplies the logits
    (airbench: 1/9); ``batch_norm=False`` (for the ablation) gives the convolutions biases.
    """

    head_path = "classifier"

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        widths: tuple[int, int, int, int] = (16, 32, 64, 128),
        logit_scale: float = 1 / 9,
        batch_norm: bool = True,
    ) -> None:
        super().__init__(num_classes, in_chans)
        stem, w1, w2, w3 = (int(w) for w in widths)
        self.logit_scale = float(logit_scale)
        self.stem = nn.Sequential()
        self.stem.add_module("conv", nn.Conv2d(in_chans, stem, 3, padding=1, bias=not batch_norm))
        self.stem.add_module("bn", _norm(stem, batch_norm))
        self.stem.add_module("act", nn.ReLU())
        self.stage1 = _Block(stem, w1, batch_norm)
        self.stage2 = _Block(w1, w2, batch_norm)
        self.stage3 = _Block(w2, w3, batch_norm)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Linear(w3, num_classes, bias=False)
        self.feature_info = [
            {"module": "stem.act", "num_chs": stem, "reduction": 1},
            {"module": "stage1.act2", "num_chs": w1, "reduction": 2},
            {"module": "stage2.act2", "num_chs": w2, "reduction": 4},
            {"module": "stage3.act2", "num_chs": w3, "reduction": 8},
        ]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage3(self.stage2(self.stage1(self.stem(x))))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.pool(x))) * self.logit_scale


@register_model(
    paper=AIRBENCH,
    input_size=(1, 28, 28),
    num_classes=10,
    params=292_656,
    macs=15_891_968,
    dataset="Fashion-MNIST",
    no_figures="built for cnnzoo's CPU time-to-accuracy records (docs/training.md); no paper "
    "reports this size",
    notes="widths=(stem, block1, block2, block3); the speedrun trainer sets the stem's whitening "
    "filters from the data",
)
def speednet(num_classes: int = 10, in_chans: int = 1, **kwargs) -> SpeedNet:
    """The speedrun network (docs/training.md, time-to-accuracy records)."""
    return SpeedNet(num_classes, in_chans, **kwargs)
