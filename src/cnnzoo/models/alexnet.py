"""AlexNet.

A. Krizhevsky, I. Sutskever, G. E. Hinton. ImageNet Classification with Deep Convolutional
Neural Networks. NeurIPS (NIPS) 25, 2012.

conv1 96@11x11/4 -> LRN -> max-pool 3/2 -> conv2 256@5x5 pad 2 -> LRN -> max-pool 3/2 ->
conv3 384@3x3 -> conv4 384@3x3 -> conv5 256@3x3 -> max-pool 3/2 -> FC 4096 -> FC 4096 -> FC 1000,
ReLU after every layer but the last, dropout 0.5 on the outputs of the two hidden FC layers.

Variants:

* ``alexnet``: one tower, every convolution sees all maps of the layer below (62,378,344
  parameters, the figure of the Keras table in the course).
* ``alexnet_2tower``: the paper's two-GPU network. conv2, conv4 and conv5 only see the maps of
  their own tower (grouped convolutions, ``groups=2``); conv3 and the FC layers cross towers;
  each tower normalises its own 48 (then 128) maps. 60,965,224 parameters, the paper's "60
  million".
* ``alexnet_tv``: torchvision's variant (64/192/384/256/256 maps, no LRN, adaptive 6x6 average
  pooling, dropout before FC6 and FC7), as a cross-check: same count as
  ``torchvision.models.alexnet``.

Deliberate choices: the input is 227x227 (the paper writes 224, but (224 - 11) / 4 + 1 is not an
integer and only 227 gives the 55x55 maps of its figure 2). LRN comes before max-pooling, as
section 3.5 of the paper says (CaffeNet swaps the two; parameters and MACs are the same). The
paper's initialisation (weights N(0, 0.01); biases 1 in conv2, conv4, conv5 and the hidden FC
layers, 0 elsewhere) is used by default (``paper_init=False`` keeps PyTorch's). The FC6 input
size follows from ``image_size``; other inputs need ``image_size=`` (or ``alexnet_tv``, whose
adaptive pooling accepts any input from 63x63 up).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn

from cnnzoo.layers import LRN, conv_output_size
from cnnzoo.models._base import Classifier
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["AlexNet", "ConvSpec"]

KRIZHEVSKY_2012 = Paper(
    authors="A. Krizhevsky, I. Sutskever, G. E. Hinton",
    title="ImageNet Classification with Deep Convolutional Neural Networks",
    year=2012,
    venue="NeurIPS (NIPS) 25",
    url="https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks",
)


@dataclass(frozen=True)
class ConvSpec:
    """One convolution of an AlexNet-style stack and what follows it."""

    out_chs: int
    kernel: int
    stride: int = 1
    padding: int = 0
    groups: int = 1
    lrn: bool = False
    pool: bool = False
    bias_init: float = 0.0
    """Bias value of the paper's initialisation (AlexNet sets 1 on conv2, conv4, conv5)."""


ALEXNET_CONVS = (
    ConvSpec(96, 11, stride=4, lrn=True, pool=True),
    ConvSpec(256, 5, padding=2, lrn=True, pool=True, bias_init=1.0),
    ConvSpec(384, 3, padding=1),
    ConvSpec(384, 3, padding=1, bias_init=1.0),
    ConvSpec(256, 3, padding=1, pool=True, bias_init=1.0),
)
# The paper's towers: conv2, conv4, conv5 connect only to the kernel maps on the same GPU.
ALEXNET_2TOWER_CONVS = (
    ALEXNET_CONVS[0],
    ConvSpec(256, 5, padding=2, groups=2, lrn=True, pool=True, bias_init=1.0),
    ALEXNET_CONVS[2],
    ConvSpec(384, 3, padding=1, groups=2, bias_init=1.0),
    ConvSpec(256, 3, padding=1, groups=2, pool=True, bias_init=1.0),
)
TORCHVISION_CONVS = (
    ConvSpec(64, 11, stride=4, padding=2, pool=True),
    ConvSpec(192, 5, padding=2, pool=True),
    ConvSpec(384, 3, padding=1),
    ConvSpec(256, 3, padding=1),
    ConvSpec(256, 3, padding=1, pool=True),
)


class AlexNet(Classifier):
    """A stack of convolutions (``features.conv1`` ... ``features.pool5``) and three FC layers
    (``classifier.fc6``, ``fc7``, ``fc8``), with the paper's layer numbers in the names.

    Also the base of ZFNet. ``lrn_groups`` splits LRN into towers; ``norm_before_pool`` puts
    LRN before max-pooling (AlexNet) or after it (ZFNet); ``ceil_mode`` rounds pooled sizes up as
    Caffe does; ``adaptive_pool`` adds torchvision's ``AdaptiveAvgPool2d`` before the classifier
    (then any input that survives the convolutions works); ``dropout_before_fc`` is torchvision's
    order (dropout on the inputs of FC6/FC7 instead of on the outputs of FC6/FC7).
    """

    def __init__(
        self,
        convs: Sequence[ConvSpec] = ALEXNET_CONVS,
        num_classes: int = 1000,
        in_chans: int = 3,
        image_size: int = 227,
        fc_width: int = 4096,
        drop_rate: float = 0.5,
        lrn_groups: int = 1,
        norm_before_pool: bool = True,
        ceil_mode: bool = False,
        adaptive_pool: int | None = None,
        dropout_before_fc: bool = False,
        paper_init: bool = True,
    ) -> None:
        super().__init__(num_classes, in_chans)
        self.features = nn.Sequential()
        chs, size, reduction = in_chans, image_size, 1
        for i, spec in enumerate(convs, start=1):
            conv = nn.Conv2d(
                chs, spec.out_chs, spec.kernel, spec.stride, spec.padding, groups=spec.groups
            )
            self.features.add_module(f"conv{i}", conv)
            self.features.add_module(f"act{i}", nn.ReLU())
            chs, reduction = spec.out_chs, reduction * spec.stride
            size = _out_size(size, spec.kernel, spec.stride, spec.padding, ceil=False)
            self.feature_info.append(
                {"module": f"features.act{i}", "num_chs": chs, "reduction": reduction}
            )
            if spec.lrn and norm_before_pool:
                self.features.add_module(f"lrn{i}", LRN(groups=lrn_groups))
            if spec.pool:
                self.features.add_module(f"pool{i}", nn.MaxPool2d(3, 2, ceil_mode=ceil_mode))
                size, reduction = _out_size(size, 3, 2, 0, ceil=ceil_mode), reduction * 2
            if spec.lrn and not norm_before_pool:
                self.features.add_module(f"lrn{i}", LRN(groups=lrn_groups))
        self.num_features = chs
        self.pool: nn.Module = nn.Identity()
        if adaptive_pool is not None:
            self.pool = nn.AdaptiveAvgPool2d(adaptive_pool)
            size = adaptive_pool
        self.flatten = nn.Flatten(1)
        first, second, last = len(convs) + 1, len(convs) + 2, len(convs) + 3
        self.classifier = nn.Sequential()
        widths = [(chs * size * size, fc_width, first), (fc_width, fc_width, second)]
        for in_features, out_features, n in widths:
            if dropout_before_fc:
                self.classifier.add_module(f"drop{n}", nn.Dropout(drop_rate))
            self.classifier.add_module(f"fc{n}", nn.Linear(in_features, out_features))
            self.classifier.add_module(f"act{n}", nn.ReLU())
            if not dropout_before_fc:
                self.classifier.add_module(f"drop{n}", nn.Dropout(drop_rate))
        self.classifier.add_module(f"fc{last}", nn.Linear(fc_width, num_classes))
        self.head_path = f"classifier.fc{last}"

        if paper_init:
            self._paper_init(convs)

    def _paper_init(self, convs: Sequence[ConvSpec]) -> None:
        # Section 5: weights N(0, 0.01); biases 1 where the paper says (ReLUs start positive).
        for i, spec in enumerate(convs, start=1):
            conv = self.features.get_submodule(f"conv{i}")
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.constant_(conv.bias, spec.bias_init)
        for module in self.classifier.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.constant_(module.bias, 1.0)
        nn.init.constant_(self.get_classifier().bias, 0.0)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.pool(x)))


def _out_size(size: int, kernel: int, stride: int, padding: int, ceil: bool) -> int:
    out = conv_output_size(size, kernel, stride, padding, strict=False)
    if ceil and (size + 2 * padding - kernel) % stride:
        out += 1
    return out


# Table 2's single CNN and section 1's parameter count, both of the two-tower network.
KRIZHEVSKY_FIGURE = Reported(
    "Krizhevsky et al. 2012, section 1 and Table 2",
    params=60_000_000,
    top1_error=40.7,
    top5_error=18.2,
    note="'60 million parameters' of the two-tower net; 1 CNN, ILSVRC-2012 validation",
)


@register_model(
    paper=KRIZHEVSKY_2012,
    input_size=(3, 227, 227),
    params=62_378_344,
    macs=1_135_256_096,
    top1=59.3,
    reported="The paper does not state MACs.",
    notes="Single tower: conv2/4/5 see all maps (the course's table). Input 227x227; LRN k=2, "
    "n=5, alpha=1e-4, beta=0.75 before max-pool; dropout 0.5 after FC6/FC7; paper init.",
    figures=(
        KRIZHEVSKY_FIGURE,
        Reported("course Keras table", params=62_378_344, note="this single-tower variant"),
    ),
)
def alexnet(**kwargs) -> AlexNet:
    return AlexNet(ALEXNET_CONVS, **kwargs)


@register_model(
    paper=KRIZHEVSKY_2012,
    input_size=(3, 227, 227),
    params=60_965_224,
    macs=724_406_816,
    top1=59.3,
    reported="The paper does not state MACs.",
    notes="The paper's two-GPU network as grouped convolutions: conv2, conv4, conv5 have "
    "groups=2 (each tower sees only its own maps), conv3 and FC6-8 cross towers, LRN per "
    "tower. conv1 is one dense 96-map layer (each tower's 48 kernels see the whole image).",
    figures=(
        KRIZHEVSKY_FIGURE,
        Reported("Caffe bvlc_alexnet", params=60_965_224, note="the same two towers"),
    ),
)
def alexnet_2tower(**kwargs) -> AlexNet:
    return AlexNet(ALEXNET_2TOWER_CONVS, lrn_groups=2, **kwargs)


@register_model(
    paper=KRIZHEVSKY_2012,
    input_size=(3, 224, 224),
    params=61_100_840,
    macs=714_188_480,
    top1=56.522,
    notes="torchvision's AlexNet (from 'One weird trick', Krizhevsky 2014): 64/192/384/256/256 "
    "maps, conv1 padding 2, no LRN, AdaptiveAvgPool2d(6) so any input >= 63x63 works, "
    "dropout before FC6/FC7, PyTorch default init. Parameter count equals torchvision's.",
    figures=(
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=56.522,
            top5=79.066,
            params=61_100_840,
            macs=714_000_000,
        ),
    ),
    torchvision="alexnet",
)
def alexnet_tv(**kwargs) -> AlexNet:
    kwargs.setdefault("image_size", 224)
    return AlexNet(
        TORCHVISION_CONVS, adaptive_pool=6, dropout_before_fc=True, paper_init=False, **kwargs
    )
