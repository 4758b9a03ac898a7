"""What the residual families share: stochastic depth, the option A/B shortcuts, He
initialisation and the stage builder (ResNet, pre-activation ResNet, Wide ResNet, ResNeXt,
PyramidNet).

Stochastic depth: G. Huang, Y. Sun, Z. Liu, D. Sedra, K. Q. Weinberger. Deep Networks with
Stochastic Depth. ECCV 2016. Shortcuts: K. He, X. Zhang, S. Ren, J. Sun. Deep Residual Learning
for Image Recognition. CVPR 2016 (option A: zero-padding identity, option B: 1x1 projection).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnzoo.layers import ConvNormAct, DropPath
from cnnzoo.models._base import Classifier

__all__ = [
    "BlockFactory",
    "SDMode",
    "ShortcutType",
    "StochasticDepth",
    "StrideOn",
    "ZeroPadShortcut",
    "add_preact_head",
    "add_stages",
    "branch_skipped",
    "drop_probs",
    "init_weights",
    "make_shortcut",
    "per_block",
    "stochastic_depth",
]

ShortcutType = Literal["A", "B"]
StrideOn = Literal["1x1", "3x3"]
SDMode = Literal["batch", "row"]


def drop_probs(drop_path_rate: float, num_blocks: int) -> list[float]:
    """Huang et al.'s linear decay: block ``l`` (1-based) of ``L`` is dropped with ``rate * l / L``.

    The last block is dropped with probability ``drop_path_rate`` (= 1 - p_L).
    """
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}")
    return [drop_path_rate * (i + 1) / num_blocks for i in range(num_blocks)]


class StochasticDepth(DropPath):
    """Drops a residual branch: the paper's per-mini-batch rule or timm's per-sample one.

    ``mode="batch"`` (Huang et al.): the block asks :meth:`skips_branch` before running its
    branch; when it says yes the branch is not computed at all. Kept branches pass unscaled in
    training and are multiplied by the survival probability ``1 - drop_prob`` in eval.
    ``mode="row"``: :class:`~cnnzoo.layers.DropPath` (per sample, 1/p rescaling in training).
    """

    def __init__(self, drop_prob: float = 0.0, mode: SDMode = "batch") -> None:
        super().__init__(drop_prob)
        if mode not in ("batch", "row"):
            raise ValueError(f"stochastic depth mode must be 'batch' or 'row', got {mode!r}")
        self.mode = mode

    def skips_branch(self) -> bool:
        if self.mode != "batch" or not self.training or self.drop_prob == 0.0:
            return False
        # One draw per mini-batch on the CPU generator, whatever the model's device.
        return bool(torch.rand((), device="cpu") < self.drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "row":
            return super().forward(x)
        if self.training or self.drop_prob == 0.0:
            return x
        return x * (1.0 - self.drop_prob)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}, mode={self.mode!r}"


def stochastic_depth(drop_prob: float, mode: SDMode) -> nn.Module:
    return StochasticDepth(drop_prob, mode) if drop_prob > 0.0 else nn.Identity()


def branch_skipped(drop_path: nn.Module) -> bool:
    return isinstance(drop_path, StochasticDepth) and drop_path.skips_branch()


class ZeroPadShortcut(nn.Module):
    """Option A: an identity shortcut that subsamples and zero-pads the new channels.

    ``pool="subsample"`` keeps every ``stride``-th position (He et al.; written as a 1x1
    average pooling so the summary follows the receptive field); ``pool="avg"`` averages
    ``stride x stride`` windows (PyramidNet). No parameters.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        pool: Literal["subsample", "avg"] = "subsample",
    ) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f"a zero-padding shortcut cannot reduce channels ({in_channels} -> "
                f"{out_channels}); use shortcut='B' (1x1 projection)"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            kernel = 1 if self.pool == "subsample" else self.stride
            x = F.avg_pool2d(x, kernel, self.stride, ceil_mode=True)
        extra = self.out_channels - self.in_channels
        if extra:
            x = F.pad(x, (0, 0, 0, 0, 0, extra))
        return x

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}, pool={self.pool!r}"


def make_shortcut(
    in_channels: int,
    out_channels: int,
    stride: int,
    shortcut: ShortcutType,
    norm: bool = True,
) -> nn.Module:
    """Identity where the shape is kept, otherwise option A (zero-pad) or B (1x1 projection)."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    if shortcut == "A":
        return ZeroPadShortcut(in_channels, out_channels, stride)
    if shortcut == "B":
        # Pre-activation units project the already normalised input, so no BN there.
        return ConvNormAct(
            in_channels, out_channels, 1, stride=stride, norm=norm, act_layer=None, bias=False
        )
    raise ValueError(f"shortcut must be 'A' (zero-padding) or 'B' (projection), got {shortcut!r}")


def init_weights(model: nn.Module) -> None:
    # He et al. initialisation (fan-out, as in the authors' and torchvision's code); BN = identity.
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


BlockFactory = Callable[[int, int, int, float], nn.Module]
"""``make(in_channels, planes, stride, drop_prob)`` -> a block with an ``out_channels`` attribute."""


def add_stages(
    model: Classifier,
    make_block: BlockFactory,
    layers: Sequence[int],
    planes: Sequence[int],
    channels: int,
    reduction: int,
    drop_path_rate: float = 0.0,
) -> tuple[int, int]:
    """Add ``stage1`` ... ``stageN`` (``layers[i]`` blocks each, named ``block1`` ...) to ``model``
    and their entries to its ``feature_info``; return the final (channels, reduction).

    ``planes`` holds one width per block (a stage's width repeated, or PyramidNet's ramp). The
    first block of every stage but the first halves the resolution; stochastic-depth drop
    probabilities decay linearly over all blocks (:func:`drop_probs`).
    """
    if len(planes) != sum(layers):
        raise ValueError(f"{len(planes)} block widths for {sum(layers)} blocks ({tuple(layers)})")
    probs = drop_probs(drop_path_rate, sum(layers))
    index = 0
    for stage, count in enumerate(layers, start=1):
        blocks = nn.Sequential()
        for i in range(count):
            stride = 2 if stage > 1 and i == 0 else 1
            unit = make_block(channels, planes[index], stride, probs[index])
            blocks.add_module(f"block{i + 1}", unit)
            channels = unit.out_channels
            index += 1
        if stage > 1:
            reduction *= 2
        model.add_module(f"stage{stage}", blocks)
        model.feature_info.append(
            {"module": f"stage{stage}", "num_chs": channels, "reduction": reduction}
        )
    return channels, reduction


def per_block(layers: Sequence[int], widths: Sequence[int]) -> list[int]:
    """One width per block from one width per stage."""
    if len(layers) != len(widths):
        raise ValueError(f"layers {tuple(layers)} and widths {tuple(widths)} differ in length")
    return [width for count, width in zip(layers, widths, strict=True) for _ in range(count)]


def add_preact_head(model: Classifier, channels: int, reduction: int, num_classes: int) -> None:
    """The end of a pre-activation network: the BN -> ReLU its units leave to the end
    (``final_bn``, ``final_act``, a ``feature_info`` stage), global pooling and a linear head."""
    model.num_features = channels
    model.final_bn = nn.BatchNorm2d(channels)
    model.final_act = nn.ReLU()
    model.feature_info.append({"module": "final_act", "num_chs": channels, "reduction": reduction})
    model.global_pool = nn.AdaptiveAvgPool2d(1)
    model.flatten = nn.Flatten(1)
    model.classifier = nn.Linear(channels, num_classes)
