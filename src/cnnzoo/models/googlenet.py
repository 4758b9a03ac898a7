"""GoogLeNet (Inception v1).

C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan, V. Vanhoucke,
A. Rabinovich. Going Deeper with Convolutions. CVPR 2015 (arXiv:1409.4842, 2014).

``googlenet`` follows the paper's Table 1 and Figure 3: conv 7x7/2 64 -> max pool 3x3/2 -> LRN ->
conv 1x1 64 -> conv 3x3 192 -> LRN -> max pool 3x3/2 -> inception 3a, 3b -> max pool ->
4a..4e -> max pool -> 5a, 5b -> global average pool -> dropout 0.4 -> linear. Every convolution
has a bias and a ReLU, there is no batch norm, and the third branch of each module is a true 5x5.
The two auxiliary classifiers (average pool 5x5/3 -> 1x1 conv 128 -> FC 1024 -> dropout 0.7 ->
FC) sit on inception 4a and 4d; their losses are added with weight 0.3 during training
(:func:`loss_with_aux`) and they are not evaluated at inference.

Deliberate choices:

* Max pools round up (``ceil_mode=True``), as in the authors' Caffe model, so 112 -> 56 -> 28 ->
  14 -> 7 as in Table 1. The final 7x7 average pool is a global average pool (identical at 224,
  and it lets other input sizes through).
* In train mode ``forward`` returns :class:`GoogLeNetOutputs` ``(logits, aux1, aux2)``; in eval
  mode the logits alone. The auxiliary heads' average pool is the paper's 5x5/3 window, whose FC
  expects the 4x4 map it gives on the 14x14 grid of a 224x224 input, so *training* with the
  paper's heads needs inputs of about 224 (205 to 236); pass ``aux_logits=False`` otherwise.
* ``inception_block="naive"`` builds Figure 2(a): no 1x1 reductions and no pool projection, so
  the pooling branch passes all its input channels on and the widths grow from module to module.
* ``googlenet_tv`` is torchvision's variant: batch norm after every convolution (without bias),
  a 3x3 in the branch where the paper has a 5x5, a 2x2 last max pool, dropout 0.2 and adaptive
  4x4 pooling in the auxiliary heads. Its parameter count equals torchvision's exactly.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from cnnzoo.layers import ConvNormAct
from cnnzoo.models._aux import GoogLeNetOutputs, loss_with_aux
from cnnzoo.models._base import PooledClassifier
from cnnzoo.registry import Paper, Reported, register_model

__all__ = [
    "GoogLeNet",
    "GoogLeNetOutputs",
    "InceptionAux",
    "InceptionModule",
    "loss_with_aux",
]

SZEGEDY_2015 = Paper(
    authors="C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan, "
    "V. Vanhoucke, A. Rabinovich",
    title="Going Deeper with Convolutions",
    year=2015,
    venue="CVPR",
    url="https://arxiv.org/abs/1409.4842",
)

# Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
INCEPTION_WIDTHS: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


class InceptionModule(nn.Module):
    """Four parallel branches concatenated along channels (Figure 2).

    ``naive=True`` is Figure 2(a): 1x1, 3x3 and ``large_kernel`` convolutions and a 3x3 max pool,
    all fed by the module input (the reductions and the pool projection are ignored).
    ``naive=False`` is Figure 2(b): 1x1 reductions before the 3x3 and 5x5 and a 1x1 projection
    after the pool.
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3_reduce: int,
        ch3x3: int,
        ch5x5_reduce: int,
        ch5x5: int,
        pool_proj: int,
        naive: bool = False,
        norm: bool = False,
        large_kernel: int = 5,
        bn_eps: float = 1e-3,
    ) -> None:
        super().__init__()

        def conv(cin: int, cout: int, k: int) -> ConvNormAct:
            return ConvNormAct(cin, cout, k, norm=norm, bn_eps=bn_eps)

        self.branch1 = conv(in_channels, ch1x1, 1)
        pool = nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True)
        if naive:
            self.branch2 = nn.Sequential()
            self.branch2.add_module("conv", conv(in_channels, ch3x3, 3))
            self.branch3 = nn.Sequential()
            self.branch3.add_module("conv", conv(in_channels, ch5x5, large_kernel))
            self.branch4 = nn.Sequential()
            self.branch4.add_module("pool", pool)
            pool_out = in_channels
        else:
            self.branch2 = nn.Sequential()
            self.branch2.add_module("reduce", conv(in_channels, ch3x3_reduce, 1))
            self.branch2.add_module("conv", conv(ch3x3_reduce, ch3x3, 3))
            self.branch3 = nn.Sequential()
            self.branch3.add_module("reduce", conv(in_channels, ch5x5_reduce, 1))
            self.branch3.add_module("conv", conv(ch5x5_reduce, ch5x5, large_kernel))
            self.branch4 = nn.Sequential()
            self.branch4.add_module("pool", pool)
            self.branch4.add_module("proj", conv(in_channels, pool_proj, 1))
            pool_out = pool_proj
        self.in_channels = in_channels
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], dim=1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: avg pool -> 1x1 conv 128 -> FC 1024 -> dropout -> FC classes.

    ``adaptive_pool=False`` is the paper's 5x5 window with stride 3 (4x4 output on a 14x14 map);
    ``True`` is torchvision's adaptive 4x4 pool, which accepts any map size.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        drop_rate: float = 0.7,
        norm: bool = False,
        adaptive_pool: bool = False,
    ) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4) if adaptive_pool else nn.AvgPool2d(5, stride=3)
        self.conv = ConvNormAct(in_channels, 128, 1, norm=norm, bn_eps=1e-3)
        self.flatten = nn.Flatten(1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.act = nn.ReLU()
        self.dropout = nn.Dropout(drop_rate)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(self.conv(self.pool(x)))
        return self.fc2(self.dropout(self.act(self.fc1(x))))


class GoogLeNet(PooledClassifier):
    """GoogLeNet with module names after the paper (``inception4d.branch3.conv``, ``aux1``).

    ``forward`` returns logits in eval mode and :class:`GoogLeNetOutputs` ``(logits, aux1,
    aux2)`` in train mode when ``aux_logits`` is set.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = True,
        inception_block: str = "reduced",
        norm: str = "lrn",
        large_kernel: int = 5,
        last_pool_kernel: int = 3,
        drop_rate: float = 0.4,
        aux_drop_rate: float = 0.7,
        aux_adaptive_pool: bool = False,
    ) -> None:
        super().__init__(num_classes, in_chans)
        if inception_block not in ("reduced", "naive"):
            raise ValueError(
                f"inception_block must be 'reduced' (Figure 2b) or 'naive' (Figure 2a), "
                f"got {inception_block!r}"
            )
        if norm not in ("lrn", "bn"):
            raise ValueError(f"norm must be 'lrn' (paper) or 'bn' (torchvision), got {norm!r}")
        self.aux_logits = aux_logits
        use_bn = norm == "bn"

        def conv(cin: int, cout: int, k: int, stride: int = 1) -> ConvNormAct:
            return ConvNormAct(cin, cout, k, stride=stride, norm=use_bn, bn_eps=1e-3)

        def lrn() -> nn.Module:
            # Caffe's settings for GoogLeNet (local_size 5, alpha 1e-4, beta 0.75); torch, like
            # Caffe, divides alpha by the window size.
            return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)

        self.stem = nn.Sequential()
        self.stem.add_module("conv1", conv(in_chans, 64, 7, stride=2))
        self.stem.add_module("pool1", nn.MaxPool2d(3, stride=2, ceil_mode=True))
        if not use_bn:
            self.stem.add_module("lrn1", lrn())
        self.stem.add_module("conv2", conv(64, 64, 1))
        self.stem.add_module("conv3", conv(64, 192, 3))
        if not use_bn:
            self.stem.add_module("lrn2", lrn())
        self.stem.add_module("pool2", nn.MaxPool2d(3, stride=2, ceil_mode=True))

        channels = 192
        modules: dict[str, InceptionModule] = {}
        for key, widths in INCEPTION_WIDTHS.items():
            modules[key] = InceptionModule(
                channels,
                *widths,
                naive=inception_block == "naive",
                norm=use_bn,
                large_kernel=large_kernel,
            )
            channels = modules[key].out_channels
        self.inception3a, self.inception3b = modules["3a"], modules["3b"]
        self.pool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a, self.inception4b = modules["4a"], modules["4b"]
        self.inception4c, self.inception4d = modules["4c"], modules["4d"]
        self.inception4e = modules["4e"]
        self.pool4 = nn.MaxPool2d(last_pool_kernel, stride=2, ceil_mode=True)
        self.inception5a, self.inception5b = modules["5a"], modules["5b"]

        if aux_logits:
            self.aux1 = InceptionAux(
                modules["4a"].out_channels, num_classes, aux_drop_rate, use_bn, aux_adaptive_pool
            )
            self.aux2 = InceptionAux(
                modules["4d"].out_channels, num_classes, aux_drop_rate, use_bn, aux_adaptive_pool
            )
            self.aux_head_paths = ("aux1.fc2", "aux2.fc2")

        self.init_head(channels, num_classes, drop_rate)
        self.feature_info = [
            {"module": "stem.conv1", "num_chs": 64, "reduction": 2},
            {"module": "stem.conv3", "num_chs": 192, "reduction": 4},
            {"module": "inception3b", "num_chs": modules["3b"].out_channels, "reduction": 8},
            {"module": "inception4e", "num_chs": modules["4e"].out_channels, "reduction": 16},
            {"module": "inception5b", "num_chs": channels, "reduction": 32},
        ]

    def _features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        heads = self.aux_logits and self.training
        aux: list[torch.Tensor] = []
        x = self.stem(x)
        x = self.pool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        if heads:
            aux.append(self.aux1(x))
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        if heads:
            aux.append(self.aux2(x))
        x = self.pool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        return x, aux

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        features, aux = self._features(x)
        logits = self.forward_head(features)
        if aux:
            return GoogLeNetOutputs(logits, aux[0], aux[1])
        return logits


_GOOGLENET_REPORTED = (
    "Paper Table 1: the params column sums to about 6.8M and the ops column to about 1.5G "
    "multiply-adds (no auxiliary heads); section 1: a budget of 1.5 billion multiply-adds at "
    "inference and 12x fewer parameters than AlexNet. Table 3: 10.07% top-5 error for one model "
    "and one crop (6.67% for the 7-model, 144-crop ensemble); top-1 not stated."
)


@register_model(
    paper=SZEGEDY_2015,
    input_size=(3, 224, 224),
    params=13_378_280,
    macs=1_582_671_872,
    reported="Table 1 states per-layer figures only: its params column sums to about 6.8M and its ops column to about 1.5G multiply-adds (no auxiliary heads); section 1 also says 12x fewer parameters than AlexNet. Top-1 is not stated.",
    top1=None,
    notes="Paper architecture: LRN, no batch norm, true 5x5 branches, dropout 0.4. The count "
    "includes both auxiliary heads (aux_logits=True, needed to train as the paper did); "
    "without them (aux_logits=False) 6,998,552 params. MACs are for inference (eval mode, "
    "heads not run). The heads hold 6,379,728 params (mostly their 2048x1024 FC layers). "
    "Table 1's conv1 row (2.7K params, 34M ops) does not match a 7x7 RGB "
    "convolution to 64 maps (9,472 params, 118M MACs), which explains most of 1.58 vs 1.5 GMACs.",
    figures=(
        Reported(
            "Szegedy et al. 2015, section 1",
            macs=1_500_000_000,
            note="'a computational budget of 1.5 billion multiply-adds at inference time'",
        ),
        Reported("Szegedy et al. 2015, Table 3", top5_error=10.07, note="1 model, 1 crop"),
    ),
)
def googlenet(**kwargs) -> GoogLeNet:
    return GoogLeNet(**kwargs)


@register_model(
    paper=SZEGEDY_2015,
    input_size=(3, 224, 224),
    params=13_004_888,
    macs=1_498_376_192,
    reported="torchvision counts 13,004,888 parameters with aux_logits=True; its weights ship without the heads.",
    top1=69.778,
    notes="torchvision's variant, not the paper's: batch norm (eps 1e-3) after every bias-free "
    "convolution, no LRN, a 3x3 where the paper has a 5x5, last max pool 2x2, dropout 0.2, "
    "adaptive 4x4 pool in the auxiliary heads. Pass aux_logits=False for the 6,624,904-parameter "
    "inference model.",
    figures=(
        Reported(
            "torchvision (IMAGENET1K_V1 weights)",
            top1=69.778,
            top5=89.53,
            params=6_624_904,
            macs=1_498_000_000,
        ),
    ),
    torchvision="googlenet",
)
def googlenet_tv(**kwargs) -> GoogLeNet:
    kwargs = {
        "norm": "bn",
        "large_kernel": 3,
        "last_pool_kernel": 2,
        "drop_rate": 0.2,
        "aux_adaptive_pool": True,
        **kwargs,
    }
    return GoogLeNet(**kwargs)
