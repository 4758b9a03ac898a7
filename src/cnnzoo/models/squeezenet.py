"""SqueezeNet 1.0 and 1.1.

F. N. Iandola, S. Han, M. W. Moskewicz, K. Ashraf, W. J. Dally, K. Keutzer. SqueezeNet:
AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size. arXiv:1602.07360, 2016.

A Fire module squeezes its input with 1x1 convolutions (``s1x1`` filters) and expands it again
with 1x1 and 3x3 filters side by side (``e1x1`` + ``e3x3``, concatenated). SqueezeNet 1.0 is the
paper's Table 1 (conv1 96@7x7/2, fire2-fire9, conv10 1x1 to the classes, global average pool,
max-pools after conv1, fire4 and fire8); SqueezeNet 1.1 is the revision published in the
authors' repository (conv1 64@3x3/2, max-pools moved earlier: about 2.4x fewer MACs at the same
accuracy). ``squeezenet1_0_bypass`` adds the paper's "simple bypass" (identity shortcuts around
fire3, fire5, fire7 and fire9, the modules whose input and output widths match).

Deviations: none in the layers. As in torchvision, the max-pools use ``ceil_mode=True`` (the
Caffe rounding of the original model) and the default input is 224x224 (the Caffe model was run
at 227x227); dropout 0.5 precedes conv10 as in the paper.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from cnnzoo.models._base import Classifier
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["Fire", "SqueezeNet"]

IANDOLA_2016 = Paper(
    authors="F. N. Iandola, S. Han, M. W. Moskewicz, K. Ashraf, W. J. Dally, K. Keutzer",
    title="SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size",
    year=2016,
    venue="arXiv:1602.07360",
    url="https://arxiv.org/abs/1602.07360",
)

# (squeeze, expand1x1, expand3x3) of fire2 ... fire9, and after which layers a max-pool sits.
FIRE_WIDTHS = [
    (16, 64, 64),
    (16, 64, 64),
    (32, 128, 128),
    (32, 128, 128),
    (48, 192, 192),
    (48, 192, 192),
    (64, 256, 256),
    (64, 256, 256),
]
POOL_AFTER = {"1_0": ("conv1", "fire4", "fire8"), "1_1": ("conv1", "fire3", "fire5")}


class Fire(nn.Module):
    """squeeze 1x1 -> ReLU -> [expand 1x1 -> ReLU, expand 3x3 -> ReLU] concatenated.

    With ``bypass=True`` the input is added to the output (needs ``in == e1x1 + e3x3``).
    """

    def __init__(
        self, in_channels: int, squeeze: int, expand1x1: int, expand3x3: int, bypass: bool = False
    ) -> None:
        super().__init__()
        out_channels = expand1x1 + expand3x3
        if bypass and in_channels != out_channels:
            raise ValueError(
                f"a simple bypass needs equal input and output widths, got {in_channels} -> "
                f"{out_channels}; the paper uses it only around fire3/5/7/9"
            )
        self.squeeze = nn.Conv2d(in_channels, squeeze, 1)
        self.squeeze_act = nn.ReLU()
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, 1)
        self.expand1x1_act = nn.ReLU()
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)
        self.expand3x3_act = nn.ReLU()
        self.bypass = bypass
        self.in_channels = in_channels
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze_act(self.squeeze(x))
        out = torch.cat(
            [self.expand1x1_act(self.expand1x1(s)), self.expand3x3_act(self.expand3x3(s))], 1
        )
        # The paper adds the bypass after the expand ReLUs (Figure 2 / its Caffe prototxt).
        return out + x if self.bypass else out


class SqueezeNet(Classifier):
    """SqueezeNet with the paper's layer names (``features.conv1``, ``features.fire2``, ...).

    ``version`` is ``"1_0"`` (paper) or ``"1_1"`` (authors' revision). The classifier is a 1x1
    convolution (``classifier.conv10``) followed by ReLU and global average pooling, so the
    network has no fully-connected layer.
    """

    head_path = "classifier.conv10"

    def __init__(
        self,
        version: str = "1_0",
        num_classes: int = 1000,
        in_chans: int = 3,
        bypass: bool = False,
        drop_rate: float = 0.5,
    ) -> None:
        super().__init__(num_classes, in_chans)
        if version not in POOL_AFTER:
            raise ValueError(f"unknown SqueezeNet version {version!r}; choose '1_0' or '1_1'")
        self.version = version
        stem_width, stem_kernel = (96, 7) if version == "1_0" else (64, 3)

        self.features = nn.Sequential()
        self.features.add_module("conv1", nn.Conv2d(in_chans, stem_width, stem_kernel, stride=2))
        self.features.add_module("act1", nn.ReLU())
        self.feature_info = [{"module": "features.act1", "num_chs": stem_width, "reduction": 2}]
        channels, reduction = stem_width, 2
        pools = POOL_AFTER[version]
        if "conv1" in pools:
            self.features.add_module("pool1", nn.MaxPool2d(3, stride=2, ceil_mode=True))
            reduction *= 2
        for index, (squeeze, e1, e3) in enumerate(FIRE_WIDTHS, start=2):
            name = f"fire{index}"
            # Simple bypass: around the odd-numbered Fire modules, whose widths match.
            use_bypass = bypass and index % 2 == 1
            self.features.add_module(name, Fire(channels, squeeze, e1, e3, bypass=use_bypass))
            channels = e1 + e3
            if name in pools:
                self.feature_info.append(
                    {"module": f"features.{name}", "num_chs": channels, "reduction": reduction}
                )
                self.features.add_module(f"pool{index}", nn.MaxPool2d(3, stride=2, ceil_mode=True))
                reduction *= 2
        self.feature_info.append(
            {
                "module": f"features.fire{len(FIRE_WIDTHS) + 1}",
                "num_chs": channels,
                "reduction": reduction,
            }
        )
        self.num_features = channels

        self.classifier = nn.Sequential()
        self.classifier.add_module("drop", nn.Dropout(drop_rate))
        self.classifier.add_module("conv10", nn.Conv2d(channels, num_classes, 1))
        self.classifier.add_module("act", nn.ReLU())
        self.classifier.add_module("pool", nn.AdaptiveAvgPool2d(1))
        self.flatten = nn.Flatten(1)
        self._init_weights()

    def new_head(self, old: nn.Module, num_classes: int) -> nn.Module:
        head = super().new_head(old, num_classes)
        nn.init.normal_(head.weight, mean=0.0, std=0.01)
        nn.init.zeros_(head.bias)
        return head

    def _init_weights(self) -> None:
        # The reference initialisation: Kaiming-uniform convs, a small normal final conv.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                if module is self.classifier.conv10:
                    nn.init.normal_(module.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.flatten(self.classifier(x))


@register_model(
    paper=IANDOLA_2016,
    input_size=(3, 224, 224),
    params=1_248_424,
    macs=818_924_576,
    top1=57.5,
    notes="The paper's architecture; max-pools after conv1, fire4 and fire8 (ceil mode).",
    figures=(
        Reported(
            "Iandola et al. 2016, Tables 1 and 2",
            params=1_248_424,
            top1=57.5,
            top5=80.3,
            note="before Deep Compression",
        ),
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=58.092,
            top5=80.42,
            params=1_248_424,
            macs=819_000_000,
        ),
    ),
    torchvision="squeezenet1_0",
)
def squeezenet1_0(**kwargs) -> SqueezeNet:
    return SqueezeNet(version="1_0", **kwargs)


@register_model(
    paper=IANDOLA_2016,
    input_size=(3, 224, 224),
    params=1_248_424,
    macs=818_924_576,
    top1=60.4,
    reported="The identity bypass adds no parameters.",
    notes="SqueezeNet 1.0 with the paper's simple bypass around fire3, fire5, fire7 and fire9.",
    figures=(
        Reported(
            "Iandola et al. 2016, Table 3",
            top1=60.4,
            top5=82.5,
            note="simple bypass (vanilla SqueezeNet 57.5%)",
        ),
    ),
)
def squeezenet1_0_bypass(**kwargs) -> SqueezeNet:
    return SqueezeNet(version="1_0", bypass=True, **kwargs)


@register_model(
    paper=IANDOLA_2016,
    input_size=(3, 224, 224),
    params=1_235_496,
    macs=349_151_936,
    top1=58.178,
    reported="Authors' repository (SqueezeNet v1.1): 2.4x less computation than 1.0, same accuracy.",
    notes="The authors' 1.1 revision (not in the paper): conv1 64@3x3/2, max-pools after conv1, "
    "fire3 and fire5.",
    figures=(
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=58.178,
            top5=80.624,
            params=1_235_496,
            macs=349_000_000,
        ),
    ),
    torchvision="squeezenet1_1",
)
def squeezenet1_1(**kwargs) -> SqueezeNet:
    return SqueezeNet(version="1_1", **kwargs)
