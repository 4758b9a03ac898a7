"""Wide ResNet: the paper's CIFAR counts, dropout, and torchvision's WRN-50-2 / WRN-101-2."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision.models as tvm

from cnnzoo import create_model, get_model_card
from cnnzoo.models.preact_resnet import PreActBasicBlock
from cnnzoo.models.wide_resnet import wrn


def _meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **kwargs)


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# Zagoruyko & Komodakis 2016, Table 4 (millions as printed), and our exact counts.
PAPER_COUNTS = {
    "wrn16_8": (10_961_370, 11.0),
    "wrn28_10": (36_479_194, 36.5),
    "wrn40_4": (8_949_210, 8.9),
}


@pytest.mark.parametrize("name", list(PAPER_COUNTS))
def test_cifar_wrn_counts_match_the_paper(name: str) -> None:
    exact, printed = PAPER_COUNTS[name]
    count = _params(_meta(name))
    assert count == exact == get_model_card(name).params
    assert round(count / 1e6, 1) == printed


def test_wrn_28_10_layout() -> None:
    model = _meta("wrn28_10")
    blocks = [m for m in model.modules() if isinstance(m, PreActBasicBlock)]
    assert len(blocks) == 12  # (28 - 4) / 6 = 4 per stage
    assert [info["num_chs"] for info in model.feature_info] == [16, 160, 320, 640, 640]
    # 1x1 projections only where the width changes: 16->160, 160->320, 320->640.
    projections = [b.shortcut for b in blocks if not isinstance(b.shortcut, nn.Identity)]
    assert [p.conv.weight.shape[:2] for p in projections] == [(160, 16), (320, 160), (640, 320)]
    assert all(p.conv.bias is None for p in projections)
    with pytest.raises(ValueError, match="6n\\+4"):
        wrn(27, 10)


def test_dropout_sits_between_the_convolutions_and_only_trains() -> None:
    model = create_model("wrn16_4", drop_rate=0.3)
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 6 and all(d.p == 0.3 for d in dropouts)
    assert _params(model) == get_model_card("wrn16_4").params  # dropout adds nothing
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        model.eval()
        assert torch.equal(model(x), model(x))
        model.train()
        assert not torch.equal(model(x), model(x))


def test_wrn16_4_real_forward_backward() -> None:
    model = create_model("wrn16_4", num_classes=100).train()
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 100)
    nn.functional.cross_entropy(out, torch.tensor([3, 99])).backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "expected"), [("wide_resnet50_2", 68_883_240), ("wide_resnet101_2", 126_886_696)]
)
def test_imagenet_wrn_equals_torchvision(name: str, expected: int) -> None:
    ours = _meta(name)
    with torch.device("meta"):
        theirs = getattr(tvm, name)()
    assert _params(ours) == _params(theirs) == expected
    assert [p.shape for p in ours.parameters()] == [p.shape for p in theirs.parameters()]
    assert ours.stage1.block1.conv2.conv.out_channels == 128  # 2 x ResNet-50's 64
