"""AlexNet (one tower, two towers, torchvision's) and the paper's LRN."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from cnnzoo import create_model
from cnnzoo.analysis import summary
from cnnzoo.layers import LRN
from cnnzoo.models.alexnet import ALEXNET_CONVS, AlexNet


def _paper_lrn(
    a: torch.Tensor, n: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75
):
    """Section 3.3 of the paper, written out: sum over max(0, i-n/2) .. min(N-1, i+n/2)."""
    channels = a.shape[1]
    out = torch.empty_like(a)
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        out[:, i] = a[:, i] / (k + alpha * (a[:, lo : hi + 1] ** 2).sum(dim=1)) ** beta
    return out


def test_lrn_matches_the_paper_formula() -> None:
    # Large activations so that the alpha term matters (alpha * sum ~ 1 next to k = 2).
    a = torch.randn(2, 12, 3, 3, dtype=torch.float64) * 60
    torch.testing.assert_close(LRN()(a), _paper_lrn(a))
    # Passing the paper's alpha straight to torch would divide it by n: a different layer.
    naive = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)(a)
    assert not torch.allclose(naive, _paper_lrn(a))


def test_lrn_towers_normalise_separately() -> None:
    a = torch.randn(1, 8, 2, 2, dtype=torch.float64) * 60
    split = LRN(groups=2)(a)
    torch.testing.assert_close(split[:, :4], _paper_lrn(a[:, :4]))
    torch.testing.assert_close(split[:, 4:], _paper_lrn(a[:, 4:]))
    assert not torch.allclose(split, LRN()(a))


def test_single_tower_count_and_conv_fc_split() -> None:
    s = summary("alexnet")
    assert s.total_params == 62_378_344
    shapes = {r.name: r.output_shape for r in s.rows}
    assert shapes["features.conv1"] == (96, 55, 55)
    assert shapes["features.pool1"] == (96, 27, 27)
    assert shapes["features.pool2"] == (256, 13, 13)
    assert shapes["features.pool5"] == (256, 6, 6)
    split = s.split()
    # The lectures' point: conv layers hold ~6% of the parameters and do almost all the work.
    assert split["conv"]["params"] == 3_747_200
    assert round(split["conv"]["params_pct"], 1) == 6.0
    assert split["conv"]["macs"] == 1_076_634_144 and split["conv"]["macs_pct"] > 94


def test_two_towers_are_grouped_convolutions() -> None:
    with torch.device("meta"):
        model = create_model("alexnet_2tower")
    groups = [model.features.get_submodule(f"conv{i}").groups for i in range(1, 6)]
    assert groups == [1, 2, 1, 2, 2]
    assert model.features.lrn1.groups == 2
    params = sum(p.numel() for p in model.parameters())
    # Halving the fan-in of conv2, conv4, conv5 removes half of their weights.
    assert params == 62_378_344 - (5 * 5 * 48 * 256 + 3 * 3 * 192 * 384 + 3 * 3 * 192 * 256)
    assert params == 60_965_224


def test_torchvision_variant_matches_torchvision() -> None:
    with torch.device("meta"):
        ours = create_model("alexnet_tv")
        theirs = torchvision.models.alexnet()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    assert sum(p.numel() for p in ours.parameters()) == 61_100_840
    assert summary("alexnet_tv", (3, 127, 127)).total_params == 61_100_840  # adaptive pooling


@torch.no_grad()
def test_paper_initialisation() -> None:
    model = AlexNet(ALEXNET_CONVS, image_size=67, fc_width=64)
    biases = [model.features.get_submodule(f"conv{i}").bias for i in range(1, 6)]
    assert [float(b.mean()) for b in biases] == [0.0, 1.0, 0.0, 1.0, 1.0]
    assert float(model.classifier.fc6.bias.mean()) == 1.0
    assert float(model.classifier.fc8.bias.abs().sum()) == 0.0
    assert abs(float(model.features.conv3.weight.std()) - 0.01) < 1e-3


def test_real_forward_and_backward_small() -> None:
    # 67x67 is the smallest input that keeps a 1x1 map after pool5; a narrow head keeps it cheap.
    model = AlexNet(ALEXNET_CONVS, num_classes=5, image_size=67, fc_width=64, lrn_groups=2).train()
    out = model(torch.randn(2, 3, 67, 67))
    assert out.shape == (2, 5)
    F.cross_entropy(out, torch.tensor([0, 4])).backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.features.conv1.weight.grad.abs().sum() > 0
