"""DenseNet: torchvision parity, the paper's CIFAR parameter counts, dense connectivity."""

from __future__ import annotations

import pytest
import torch
import torchvision

from cnnzoo import create_model
from cnnzoo.models.densenet import DenseBlock, cifar_densenet


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("densenet121", 7_978_856),
        ("densenet161", 28_681_000),
        ("densenet169", 14_149_480),
        ("densenet201", 20_013_928),
    ],
)
def test_parameter_count_equals_torchvision(name: str, expected: int) -> None:
    with torch.device("meta"):
        ours = create_model(name)
        reference = getattr(torchvision.models, name)()
    assert _params(ours) == _params(reference) == expected


# Paper Table 2, parameters in millions (CIFAR-10 head).
PAPER_CIFAR = {
    "densenet40_k12": 1.0,
    "densenet100_k12": 7.0,
    "densenet100_k24": 27.2,
    "densenet_bc100_k12": 0.8,
    "densenet_bc250_k24": 15.3,
    "densenet_bc190_k40": 25.6,
}


@pytest.mark.parametrize(("name", "millions"), PAPER_CIFAR.items())
def test_cifar_parameter_counts_match_paper(name: str, millions: float) -> None:
    with torch.device("meta"):
        model = create_model(name)
    assert round(_params(model) / 1e6, 1) == millions


def test_transitions_compress_by_half_and_blocks_grow_by_k() -> None:
    with torch.device("meta"):
        model = create_model("densenet121")
    assert model.block1.out_channels == 64 + 6 * 32 == 256
    assert model.transition1.conv.out_channels == 128
    assert model.block4.out_channels == 512 + 16 * 32 == 1024
    plain = cifar_densenet(40, 12, bc=False)
    assert plain.transition1.conv.in_channels == plain.transition1.conv.out_channels == 160


def test_every_layer_sees_all_earlier_maps() -> None:
    block = DenseBlock(4, in_channels=8, growth_rate=5, bn_size=4).eval()
    widths = [layer.norm1.num_features for layer in block.children()]
    assert widths == [8, 13, 18, 23]
    x = torch.randn(2, 8, 6, 6)
    out = block(x)
    assert out.shape == (2, 8 + 4 * 5, 6, 6)
    torch.testing.assert_close(out[:, :8], x)  # the input passes through unchanged


def test_cifar_depth_must_fit_the_block_layout() -> None:
    with pytest.raises(ValueError, match="L = 6n \\+ 4"):
        cifar_densenet(101, 12, bc=True)
    with pytest.raises(ValueError, match="L = 3n \\+ 4"):
        cifar_densenet(41, 12, bc=False)


def test_real_forward_and_backward_small_input() -> None:
    for model in (create_model("densenet_bc100_k12"), cifar_densenet(16, 6, bc=False)):
        model.train()
        logits = model(torch.randn(2, 3, 32, 32))
        assert logits.shape == (2, 10)
        logits.sum().backward()
        grad = model.stem.conv.weight.grad
        assert grad is not None and grad.abs().sum() > 0
    imagenet = create_model("densenet121", num_classes=3).train()
    imagenet(torch.randn(2, 3, 64, 64)).sum().backward()
    assert imagenet.stem.conv.weight.grad.abs().sum() > 0
