"""LeNet-5.

Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-Based Learning Applied to Document
Recognition. Proceedings of the IEEE 86(11), 1998.

C1 6@5x5 -> S2 2x2 subsampling -> C3 16@5x5 -> S4 -> C5 120@5x5 -> F6 84 -> output, with tanh,
on a 32x32 input (the paper pads 28x28 MNIST digits into a 32x32 field).

Deliberate deviations in ``lenet5``: S2/S4 are plain average pooling (the paper's subsampling
layers also have one trainable coefficient and bias per map), C3 sees all six S2 maps (the
paper's sparse table is the ``lenet5_sparse`` variant), the activation is plain tanh (the paper
uses the scaled 1.7159 tanh(2x/3)) and the output is a linear layer (the paper uses Euclidean
RBF units).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from cnnzoo.registry import Paper, register_model

__all__ = ["LeNet5"]

LECUN_1998 = Paper(
    authors="Y. LeCun, L. Bottou, Y. Bengio, P. Haffner",
    title="Gradient-Based Learning Applied to Document Recognition",
    year=1998,
    venue="Proceedings of the IEEE 86(11)",
    url="http://yann.lecun.com/exdb/publis/pdf/lecun-01a.pdf",
)


class LeNet5(nn.Module):
    """LeNet-5 with the paper's layer names (``features.c1`` ... ``classifier.output``)."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.features = nn.Sequential()
        self.features.add_module("c1", nn.Conv2d(in_chans, 6, 5))
        self.features.add_module("act1", nn.Tanh())
        self.features.add_module("s2", nn.AvgPool2d(2))
        self.features.add_module("c3", nn.Conv2d(6, 16, 5))
        self.features.add_module("act3", nn.Tanh())
        self.features.add_module("s4", nn.AvgPool2d(2))
        self.features.add_module("c5", nn.Conv2d(16, 120, 5))
        self.features.add_module("act5", nn.Tanh())
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Sequential()
        self.classifier.add_module("f6", nn.Linear(120, 84))
        self.classifier.add_module("act6", nn.Tanh())
        self.classifier.add_module("output", nn.Linear(84, num_classes))
        self.feature_info = [
            {"module": "features.act1", "num_chs": 6, "reduction": 1},
            {"module": "features.s2", "num_chs": 6, "reduction": 2},
            {"module": "features.s4", "num_chs": 16, "reduction": 4},
            {"module": "features.act5", "num_chs": 120, "reduction": 32},
        ]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.forward_features(x)))

    def get_classifier(self) -> nn.Module:
        return self.classifier.output

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        old = self.classifier.output
        self.classifier.output = nn.Linear(old.in_features, num_classes, device=old.weight.device)


@register_model(
    paper=LECUN_1998,
    input_size=(1, 32, 32),
    num_classes=10,
    params=61_706,
    macs=416_520,
    dataset="MNIST",
    reported="Paper: about 60,000 trainable parameters (with the sparse C3 table and RBF output).",
    notes="C3 fully connected to S2 (2,416 weights instead of the paper's 1,516); average pooling "
    "without trainable coefficients; linear output layer. Needs a 32x32 input: pad or resize MNIST.",
)
def lenet5(**kwargs) -> LeNet5:
    return LeNet5(**kwargs)
