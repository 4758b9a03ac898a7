"""Xception: the paper's 22,855,952 parameters, separable convolutions, a real training step."""

from __future__ import annotations

import torch

from cnnzoo import create_model
from cnnzoo.analysis import summary
from cnnzoo.analysis.formulas import separable_conv_params


def test_parameter_count_is_the_papers() -> None:
    s = summary("xception")
    assert s.total_params == 22_855_952  # Table 3; Keras: trainable parameters
    assert s.macs == 8_357_403_496
    shapes = {r.name: r.output_shape for r in s.rows}
    assert shapes["stem.conv2.conv"] == (64, 147, 147)
    assert shapes["middle_flow.block8.residual.bn3"] == (728, 19, 19)
    assert shapes["exit_flow.act2"] == (2048, 10, 10)


def test_separable_convolution_has_nothing_between_depthwise_and_pointwise() -> None:
    with torch.device("meta"):
        model = create_model("xception")
    sep = model.middle_flow.block1.residual.sepconv1
    assert [type(m).__name__ for m in sep.modules() if not list(m.children())] == [
        "Conv2d",
        "Conv2d",
    ]
    assert sum(p.numel() for p in sep.parameters()) == separable_conv_params(3, 728, 728)
    assert len(model.middle_flow) == 8
    # The shortcut sees the un-rectified input: the block's residual branch starts with a ReLU.
    assert isinstance(model.middle_flow.block1.residual.act1, torch.nn.ReLU)
    assert isinstance(model.middle_flow.block1.shortcut, torch.nn.Identity)
    assert not hasattr(model.entry_flow.block1.residual, "act1")


def test_real_forward_backward_small_input() -> None:
    model = create_model("xception", num_classes=3).train()
    logits = model(torch.randn(2, 3, 64, 64))
    assert logits.shape == (2, 3)
    logits.logsumexp(1).sum().backward()
    assert torch.isfinite(model.stem.conv1.conv.weight.grad).all()
    assert model.exit_flow.block1.shortcut.conv.weight.grad.abs().sum() > 0
