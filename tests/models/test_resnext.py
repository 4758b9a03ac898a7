"""ResNeXt: torchvision parity, grouped convolutions and the paper's CIFAR ResNeXt-29 counts."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision.models as tvm

from cnnzoo import create_model, get_model_card
from cnnzoo.analysis import summary
from cnnzoo.models.resnext import resnext_cifar


def _meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **kwargs)


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("resnext50_32x4d", 25_028_904),
        ("resnext101_32x8d", 88_791_336),
        ("resnext101_64x4d", 83_455_272),
    ],
)
def test_imagenet_resnext_equals_torchvision(name: str, expected: int) -> None:
    ours = _meta(name)
    with torch.device("meta"):
        theirs = getattr(tvm, name)()
    assert _params(ours) == _params(theirs) == expected
    assert [p.shape for p in ours.parameters()] == [p.shape for p in theirs.parameters()]


def test_resnext50_computes_what_torchvision_computes() -> None:
    ours, theirs = create_model("resnext50_32x4d").eval(), tvm.resnext50_32x4d().eval()
    mine, other = ours.state_dict(), theirs.state_dict()
    ours.load_state_dict(dict(zip(mine, other.values(), strict=True)))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-4)


def test_cardinality_is_a_grouped_convolution() -> None:
    model = _meta("resnext50_32x4d")
    conv = model.stage1.block1.conv2.conv
    assert conv.groups == 32 and conv.in_channels == conv.out_channels == 128  # 32 x 4d
    assert conv.weight.shape == (128, 4, 3, 3)
    assert model.stage4.block1.conv2.conv.out_channels == 1024
    # Paper Table 1: 25.0M params and 4.2 GFLOPs (mult-adds) vs ResNet-50's 25.5M and 4.1G.
    s = summary("resnext50_32x4d")
    assert round(s.total_params / 1e6, 1) == 25.0
    assert round(s.macs / 1e9, 1) == 4.2


# Xie et al. 2017, Table 7 (millions as printed).
@pytest.mark.parametrize(
    ("name", "exact", "printed"),
    [("resnext29_8x64d", 34_426_698, 34.4), ("resnext29_16x64d", 68_155_210, 68.1)],
)
def test_cifar_resnext29_matches_table7(name: str, exact: int, printed: float) -> None:
    model = _meta(name)
    assert _params(model) == exact == get_model_card(name).params
    # 34.43M rounds to 34.4; 68.155M prints as 68.1 in the paper (truncated), 68.2 rounded.
    assert abs(exact / 1e6 - printed) < 0.06
    assert [info["num_chs"] for info in model.feature_info] == [64, 256, 512, 1024]


def test_small_resnext_real_forward_backward() -> None:
    model = resnext_cifar(11, cardinality=4, width=4, num_classes=10).train()
    assert model.stage2.block1.conv2.conv.groups == 4
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 10)
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="9n\\+2"):
        resnext_cifar(30, 8)
