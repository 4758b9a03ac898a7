"""Small baseline networks from the course notebooks.

The Fashion-MNIST baseline CNN (Keras): Conv2D 32@3x3 -> ReLU -> MaxPool 2 -> Dropout 0.2 ->
Flatten -> Dense 128 ReLU -> Dense 10, on a 28x28x1 input; 693,962 parameters. The course's
notebook is itself built on the Keras MNIST examples; its architecture has no paper of its own, so
the card cites Fashion-MNIST's.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from cnnzoo.models._base import Classifier
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["FashionCNN"]

FASHION_MNIST = Paper(
    authors="H. Xiao, K. Rasul, R. Vollgraf",
    title="Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning Algorithms",
    year=2017,
    venue="arXiv:1708.07747",
    url="https://arxiv.org/abs/1708.07747",
)


class FashionCNN(Classifier):
    """The course's one-convolution baseline. The head's width depends on the input size."""

    head_path = "classifier.fc2"

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        image_size: int = 28,
        width: int = 32,
        hidden: int = 128,
        drop_rate: float = 0.2,
    ) -> None:
        super().__init__(num_classes, in_chans)
        self.features = nn.Sequential()
        self.features.add_module("conv1", nn.Conv2d(in_chans, width, 3))
        self.features.add_module("act1", nn.ReLU())
        self.features.add_module("pool1", nn.MaxPool2d(2))
        self.features.add_module("drop1", nn.Dropout(drop_rate))
        side = (image_size - 2) // 2
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Sequential()
        self.classifier.add_module("fc1", nn.Linear(width * side * side, hidden))
        self.classifier.add_module("act", nn.ReLU())
        self.classifier.add_module("fc2", nn.Linear(hidden, num_classes))
        self.feature_info = [
            {"module": "features.act1", "num_chs": width, "reduction": 1},
            {"module": "features.pool1", "num_chs": width, "reduction": 2},
        ]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(x))


@register_model(
    paper=FASHION_MNIST,
    input_size=(1, 28, 28),
    num_classes=10,
    params=693_962,
    macs=888_192,
    dataset="Fashion-MNIST",
    top1=91.0,
    figures=(
        Reported(
            "course Keras notebook",
            "Fashion-MNIST",
            top1=91.0,
            params=693_962,
            note="'about 91%' test accuracy; layers 320 + 692,352 + 1,290",
        ),
    ),
)
def fashion_cnn(**kwargs) -> FashionCNN:
    return FashionCNN(**kwargs)
