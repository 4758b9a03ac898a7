"""PyramidNet: additive widening as in the authors' code, counts against the paper's."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn as nn

from cnnzoo import create_model, get_model_card
from cnnzoo.models.pyramidnet import PyramidBasicBlock, PyramidNet, pyramid_widths
from cnnzoo.models.resnet import ZeroPadShortcut


def _meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **kwargs)


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_widths_grow_by_alpha_over_n_per_unit() -> None:
    widths = pyramid_widths(48, 18)
    assert len(widths) == 54
    assert widths[0] == 17 and widths[-1] == 64  # 16 + 48 / 54, ..., 16 + 48
    assert all(0 <= b - a <= 1 for a, b in itertools.pairwise(widths))


# Paper / authors' README: params (M) and the output feature dimension.
README = {
    "pyramidnet110_a48": (1_772_706, 1.7, 64),
    "pyramidnet110_a84": (3_904_446, 3.8, 100),
    "pyramidnet110_a270": (28_485_477, 28.3, 286),
    "pyramidnet164_a270": (27_216_021, 27.0, 1144),
    "pyramidnet272_a200": (26_210_842, 26.0, 864),
}


@pytest.mark.parametrize("name", list(README))
def test_counts_follow_the_code_a_few_percent_above_the_paper(name: str) -> None:
    exact, printed, out_dim = README[name]
    model = _meta(name)
    count = _params(model)
    assert count == exact == get_model_card(name).params
    assert 0 <= count / 1e6 - printed < 0.05 * printed  # above the paper's figure, by < 5%
    assert model.num_features == out_dim == model.classifier.in_features


def test_alpha_48_is_the_1_77m_network() -> None:
    assert round(_params(_meta("pyramidnet110_a48")) / 1e6, 2) == 1.77


def test_unit_has_no_relu_first_and_a_zero_padded_avgpool_shortcut() -> None:
    block = PyramidBasicBlock(16, 20, stride=2).eval()
    assert isinstance(block.shortcut, ZeroPadShortcut)
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        branch = block.bn3(block.conv2(torch.relu(block.bn2(block.conv1(block.bn1(x))))))
        shortcut = nn.functional.avg_pool2d(x, 2)
        expected = branch + torch.cat([shortcut, shortcut.new_zeros(2, 4, 4, 4)], 1)
        torch.testing.assert_close(block(x), expected)
    relus = [m for m in block.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 1


def test_small_pyramidnet_real_forward_backward() -> None:
    model = PyramidNet(depth=20, alpha=24, num_classes=10).train()
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 10) and model.num_features == 40
    assert all(p.grad is not None for p in model.parameters())
    bottleneck = PyramidNet(depth=29, alpha=24, block="bottleneck").train()
    bottleneck(torch.randn(2, 3, 32, 32)).sum().backward()
    with pytest.raises(ValueError, match="6n\\+2"):
        PyramidNet(depth=111)
