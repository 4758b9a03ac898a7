"""ZFNet.

M. D. Zeiler, R. Fergus. Visualizing and Understanding Convolutional Networks. ECCV 2014
(arXiv:1311.2901, 2013).

AlexNet as one dense tower, with the changes the paper's visualisations suggested: conv1 7x7
stride 2 (instead of 11x11 stride 4) and conv2 stride 2 (figure 3). Each of layers 1 and 2 is
conv -> ReLU -> max-pool 3/2 -> contrast normalisation across maps, in that order (figure 3).

Variants:

* ``zfnet``: the network of figure 3 (96, 256, 384, 384, 256 maps).
* ``zfnet_512``: the same with layers 3, 4, 5 at 512, 1024, 512 maps, the paper's best single
  model (Table 2) and the "ZFNet" of the course (AlexNet + 7x7/2 conv1 + 512/1024/512).

Input and padding, chosen to reproduce the map sizes of figure 3 on a 224x224 crop (the paper
states neither padding nor rounding): conv1 uses padding 1 (224 -> 110), max-pooling rounds up
as Caffe does (110 -> 55, 26 -> 13, 13 -> 6), conv2 has no padding (55 -> 26), conv3-5 use
padding 1 (13 -> 13). The normalisation is LRN with AlexNet's constants (the paper gives none).
The FC6 input size follows from ``image_size``; other inputs need ``image_size=``.
"""

from __future__ import annotations

from cnnzoo.models.alexnet import AlexNet, ConvSpec
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["zfnet_convs"]

ZEILER_FERGUS_2013 = Paper(
    authors="M. D. Zeiler, R. Fergus",
    title="Visualizing and Understanding Convolutional Networks",
    year=2013,
    venue="ECCV 2014 (arXiv:1311.2901)",
    url="https://arxiv.org/abs/1311.2901",
)


def zfnet_convs(widths: tuple[int, int, int] = (384, 384, 256)) -> tuple[ConvSpec, ...]:
    """The five convolutions of figure 3, with the widths of layers 3, 4, 5."""
    return (
        ConvSpec(96, 7, stride=2, padding=1, lrn=True, pool=True),
        ConvSpec(256, 5, stride=2, lrn=True, pool=True),
        ConvSpec(widths[0], 3, padding=1),
        ConvSpec(widths[1], 3, padding=1),
        ConvSpec(widths[2], 3, padding=1, pool=True),
    )


def _zfnet(widths: tuple[int, int, int], **kwargs) -> AlexNet:
    kwargs.setdefault("image_size", 224)
    return AlexNet(
        zfnet_convs(widths), norm_before_pool=False, ceil_mode=True, paper_init=False, **kwargs
    )


@register_model(
    paper=ZEILER_FERGUS_2013,
    input_size=(3, 224, 224),
    params=62_357_608,
    macs=1_168_032_896,
    top1=61.6,
    reported="The paper states neither the parameter count nor the MACs.",
    notes="Figure 3 network. 224x224 input; conv1 7x7/2 pad 1, conv2 5x5/2 no pad, ceil-mode "
    "max-pools, LRN (AlexNet constants) after each of the first two pools. PyTorch default init.",
    figures=(
        Reported(
            "Zeiler & Fergus 2013, Table 2",
            top1_error=38.4,
            top5_error=16.5,
            note="1 convnet, the figure 3 model, ILSVRC-2012 validation",
        ),
    ),
)
def zfnet(**kwargs) -> AlexNet:
    return _zfnet((384, 384, 256), **kwargs)


@register_model(
    paper=ZEILER_FERGUS_2013,
    input_size=(3, 224, 224),
    params=107_627_624,
    macs=2_476_704_896,
    top1=62.5,
    reported="The paper states neither the parameter count nor the MACs.",
    notes="The course's ZFNet: figure 3 geometry with conv3/4/5 at 512/1024/512 maps (FC6 then "
    "sees 6x6x512 = 18,432 inputs).",
    figures=(
        Reported(
            "Zeiler & Fergus 2013, Table 2",
            top1_error=37.5,
            top5_error=16.0,
            note="1 convnet with layers 3, 4, 5 at 512, 1024, 512 maps, ILSVRC-2012 validation",
        ),
    ),
)
def zfnet_512(**kwargs) -> AlexNet:
    return _zfnet((512, 1024, 512), **kwargs)
