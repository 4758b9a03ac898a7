"""The two MNIST networks that pruning and Deep Compression were measured on.

S. Han, J. Pool, J. Tran, W. J. Dally. Learning both Weights and Connections for Efficient
Neural Networks. NeurIPS 2015; S. Han, H. Mao, W. J. Dally. Deep Compression: Compressing Deep
Neural Networks with Pruning, Trained Quantization and Huffman Coding. ICLR 2016 (Tables 1-3).

* ``lenet_300_100``: the fully connected 784-300-100-10 network of LeCun et al. 1998 (their
  "2-layer NN, 300+100 hidden units"), with ReLU as in Caffe's ``lenet_train_test`` variant the
  papers used; 266,610 parameters.
* ``lenet5_caffe``: Caffe's LeNet-5 (``examples/mnist/lenet_train_test.prototxt``): conv 20@5x5
  -> 2x2 max-pool -> conv 50@5x5 -> 2x2 max-pool -> fc 500 -> ReLU -> fc 10 on a 28x28 input;
  431,080 parameters. As in Caffe there is no non-linearity after the convolutions (only the
  max-pools); names follow the prototxt (``conv1``, ``pool1``, ``conv2``, ``pool2``, ``ip1``,
  ``ip2``).

``forward_features`` of the MLP returns its 100 hidden units as a ``100x1x1`` map, so tools that
expect a feature map (the model contract) see the last representation before the classifier;
its ``feature_info`` lists only the input image (``features.image``), the one spatial stage an
MLP has.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from cnnzoo.models._base import Classifier
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["LeNet5Caffe", "LeNet300100"]

LECUN_1998 = Paper(
    authors="Y. LeCun, L. Bottou, Y. Bengio, P. Haffner",
    title="Gradient-Based Learning Applied to Document Recognition",
    year=1998,
    venue="Proceedings of the IEEE 86(11)",
    url="http://yann.lecun.com/exdb/publis/pdf/lecun-01a.pdf",
)
JIA_2014 = Paper(
    authors="Y. Jia, E. Shelhamer, J. Donahue, S. Karayev, J. Long, R. Girshick, S. Guadarrama, "
    "T. Darrell",
    title="Caffe: Convolutional Architecture for Fast Feature Embedding (examples/mnist LeNet)",
    year=2014,
    venue="ACM Multimedia",
    url="https://github.com/BVLC/caffe/blob/master/examples/mnist/lenet_train_test.prototxt",
)


class LeNet300100(Classifier):
    """784-300-100-10 perceptron with ReLU: ``features.fc1/act1/fc2/act2``, ``classifier``."""

    head_path = "classifier"

    def __init__(
        self, num_classes: int = 10, in_chans: int = 1, image_size: int = 28, hidden=(300, 100)
    ) -> None:
        super().__init__(num_classes, in_chans)
        first, second = hidden
        self.features = nn.Sequential()
        # An MLP has no feature maps: its only spatial stage is the image it flattens.
        self.features.add_module("image", nn.Identity())
        self.features.add_module("flatten", nn.Flatten(1))
        self.features.add_module("fc1", nn.Linear(in_chans * image_size * image_size, first))
        self.features.add_module("act1", nn.ReLU())
        self.features.add_module("fc2", nn.Linear(first, second))
        self.features.add_module("act2", nn.ReLU())
        self.classifier = nn.Linear(second, num_classes)
        self.feature_info = [{"module": "features.image", "num_chs": in_chans, "reduction": 1}]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[:, :, None, None]

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x.flatten(1))


class LeNet5Caffe(Classifier):
    """Caffe's LeNet: ``features.conv1/pool1/conv2/pool2``, ``classifier.ip1/relu1/ip2``."""

    head_path = "classifier.ip2"

    def __init__(self, num_classes: int = 10, in_chans: int = 1, image_size: int = 28) -> None:
        super().__init__(num_classes, in_chans)
        self.features = nn.Sequential()
        self.features.add_module("conv1", nn.Conv2d(in_chans, 20, 5))
        self.features.add_module("pool1", nn.MaxPool2d(2))
        self.features.add_module("conv2", nn.Conv2d(20, 50, 5))
        self.features.add_module("pool2", nn.MaxPool2d(2))
        side = ((image_size - 4) // 2 - 4) // 2
        if side < 1:
            raise ValueError(
                f"lenet5_caffe needs an input of at least 12x12 (two 5x5 convs and 2x2 pools), "
                f"got {image_size}x{image_size}"
            )
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Sequential()
        self.classifier.add_module("ip1", nn.Linear(50 * side * side, 500))
        self.classifier.add_module("relu1", nn.ReLU())
        self.classifier.add_module("ip2", nn.Linear(500, num_classes))
        self.feature_info = [
            {"module": "features.pool1", "num_chs": 20, "reduction": 2},
            {"module": "features.pool2", "num_chs": 50, "reduction": 4},
        ]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(x))


@register_model(
    paper=LECUN_1998,
    family="lenet",
    input_size=(1, 28, 28),
    num_classes=10,
    params=266_610,
    macs=266_200,
    dataset="MNIST",
    reported="Our count, which neither source gives: 784x300+300 + 300x100+100 + 100x10+10 = 266,610.",
    notes="ReLU hidden units (as in the Caffe model Han et al. compressed; LeCun et al. used "
    "sigmoid units). Input 28x28 flattened.",
    figures=(
        Reported(
            "LeCun et al. 1998, Fig. 9",
            "MNIST",
            top1_error=3.05,
            note="2-layer NN, 300+100 hidden units, no distortions",
        ),
        Reported(
            "Han, Mao & Dally 2016, Table 1",
            "MNIST",
            top1_error=1.64,
            note="reference model, 1,070 KB",
        ),
        Reported(
            "Han, Mao & Dally 2016, Table 1",
            "MNIST",
            top1_error=1.58,
            note="pruned, quantized and Huffman-coded: 27 KB, 40x smaller",
        ),
    ),
)
def lenet_300_100(**kwargs) -> LeNet300100:
    return LeNet300100(**kwargs)


@register_model(
    paper=JIA_2014,
    family="lenet",
    input_size=(1, 28, 28),
    num_classes=10,
    params=431_080,
    macs=2_293_000,
    dataset="MNIST",
    reported="Our count, which the source does not give: conv1 520 + conv2 25,050 + ip1 400,500 + ip2 5,010 = 431,080.",
    notes="Caffe's LeNet-5, not LeCun's: 20/50 filters, max-pooling, no activation after the "
    "convolutions, a 500-unit ReLU layer; 28x28 input without padding.",
    figures=(
        Reported(
            "Han, Mao & Dally 2016, Table 1",
            "MNIST",
            top1_error=0.8,
            note="LeNet-5 reference model, 1,720 KB",
        ),
        Reported(
            "Han, Mao & Dally 2016, Table 1",
            "MNIST",
            top1_error=0.74,
            note="pruned, quantized and Huffman-coded: 44 KB, 39x smaller",
        ),
    ),
)
def lenet5_caffe(**kwargs) -> LeNet5Caffe:
    return LeNet5Caffe(**kwargs)
