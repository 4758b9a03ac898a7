"""SqueezeNet: torchvision parity, Fire modules, the simple bypass, a real training step."""

from __future__ import annotations

import pytest
import torch
import torchvision

from cnnzoo import create_model
from cnnzoo.analysis import summary
from cnnzoo.models.squeezenet import Fire


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "expected"), [("squeezenet1_0", 1_248_424), ("squeezenet1_1", 1_235_496)]
)
def test_parameter_count_equals_torchvision(name: str, expected: int) -> None:
    with torch.device("meta"):
        ours = create_model(name)
        reference = getattr(torchvision.models, name)()
    assert _params(ours) == _params(reference) == expected


def test_fire_module_parameters_and_width() -> None:
    fire = Fire(96, 16, 64, 64)  # fire2 of SqueezeNet 1.0 (paper Table 1)
    # squeeze 96*16 + 16, expand1x1 16*64 + 64, expand3x3 9*16*64 + 64
    assert _params(fire) == 1_552 + 1_088 + 9_280
    out = fire(torch.randn(1, 96, 13, 13))
    assert out.shape == (1, 128, 13, 13)


def test_simple_bypass_adds_the_input_and_no_parameters() -> None:
    plain = Fire(128, 16, 64, 64)
    bypass = Fire(128, 16, 64, 64, bypass=True)
    bypass.load_state_dict(plain.state_dict())
    x = torch.randn(2, 128, 7, 7)
    torch.testing.assert_close(bypass(x), plain(x) + x)
    with pytest.raises(ValueError, match="equal input and output widths"):
        Fire(96, 16, 64, 64, bypass=True)

    model = create_model("squeezenet1_0_bypass")
    with_bypass = [n for n, m in model.named_modules() if isinstance(m, Fire) and m.bypass]
    assert with_bypass == ["features.fire3", "features.fire5", "features.fire7", "features.fire9"]
    assert _params(model) == 1_248_424


def test_version_1_1_is_about_2_4x_cheaper() -> None:
    ratio = summary("squeezenet1_0").macs / summary("squeezenet1_1").macs
    assert 2.3 < ratio < 2.4  # the authors' "2.4x less computation"


def test_final_feature_map_is_13x13_at_224() -> None:
    with torch.device("meta"):
        model = create_model("squeezenet1_0")
    features = model.forward_features(torch.empty(1, 3, 224, 224, device="meta"))
    assert features.shape == (1, 512, 13, 13)


def test_real_forward_and_backward_small_input() -> None:
    model = create_model("squeezenet1_0_bypass", num_classes=5).train()
    x = torch.randn(2, 3, 64, 64)
    logits = model(x)
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert model.features.conv1.weight.grad is not None
    assert model.features.conv1.weight.grad.abs().sum() > 0
