"""Inception-v4 and Inception-ResNet-v2: reference counts, residual scaling, real training step."""

from __future__ import annotations

import pytest
import torch

from cnnzoo import create_model
from cnnzoo.analysis import summary
from cnnzoo.analysis.summary import InputSizeError
from cnnzoo.models.inception_v4 import block35


@pytest.mark.parametrize(
    ("name", "params", "macs"),
    [
        # timm / Cadene ports of the released TF-slim models: 42,679,816 and 55,843,464.
        ("inception_v4", 42_679_816, 12_253_974_624),
        ("inception_resnet_v2", 55_843_464, 13_155_794_016),
    ],
)
def test_counts_equal_the_reference_ports(name: str, params: int, macs: int) -> None:
    s = summary(name)
    assert (s.total_params, s.macs) == (params, macs)


def test_inception_v4_grids_and_widths_follow_figure_9() -> None:
    s = summary("inception_v4")
    shapes = {r.name: r.output_shape for r in s.rows}
    # Stem 35x35x384, Reduction-A to 17x17x1024, Reduction-B to 8x8x1536.
    assert shapes["stem.mixed5a.branch0.conv"] == (192, 35, 35)
    assert shapes["reduction_a.branch2.conv3.conv"] == (256, 17, 17)
    assert shapes["reduction_b.branch2.conv4.conv"] == (320, 8, 8)
    with torch.device("meta"):
        model = create_model("inception_v4")
    assert [len(model.inception_a), len(model.inception_b), len(model.inception_c)] == [4, 7, 3]


def test_inception_resnet_v2_structure_of_the_released_model() -> None:
    with torch.device("meta"):
        model = create_model("inception_resnet_v2")
    stages = (model.inception_resnet_a, model.inception_resnet_b, model.inception_resnet_c)
    assert [len(stage) for stage in stages] == [10, 20, 10]
    assert [stage.block1.scale for stage in stages] == [0.17, 0.10, 0.20]
    last = model.inception_resnet_c.block10
    assert last.scale == 1.0 and isinstance(last.act, torch.nn.Identity)
    assert model.inception_resnet_b.block1.up.out_channels == 1088


def test_residual_block_with_zero_branch_is_relu_of_identity() -> None:
    block = block35().eval()
    torch.nn.init.zeros_(block.up.weight)
    torch.nn.init.zeros_(block.up.bias)
    x = torch.randn(1, 320, 5, 5)
    assert torch.equal(block(x), torch.relu(x))


@pytest.mark.parametrize("name", ["inception_v4", "inception_resnet_v2"])
def test_minimum_input_is_75(name: str) -> None:
    summary(name, (3, 75, 75))
    with pytest.raises(InputSizeError, match=r"reduction_b"):
        summary(name, (3, 74, 74))


@pytest.mark.parametrize("name", ["inception_v4", "inception_resnet_v2"])
def test_real_forward_backward_at_the_minimum_input(name: str) -> None:
    model = create_model(name, num_classes=3).train()
    logits = model(torch.randn(2, 3, 75, 75))
    assert logits.shape == (2, 3)
    logits.logsumexp(1).sum().backward()
    first = next(model.stem.parameters())
    assert first.grad is not None and torch.isfinite(first.grad).all()
