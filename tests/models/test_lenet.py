"""LeNet-5 variants: the sparse C3 table, the paper's 60,000 parameters, real training steps."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnzoo import create_model
from cnnzoo.analysis import summary
from cnnzoo.models.lenet import C3_TABLE, ScaledTanh, SparseConv2d, Subsampling


def test_c3_table_is_table_one_of_the_paper() -> None:
    fan_ins = [len(maps) for maps in C3_TABLE]
    assert fan_ins == [3] * 6 + [4] * 9 + [6]
    assert C3_TABLE[0] == (0, 1, 2) and C3_TABLE[4] == (4, 5, 0)
    assert C3_TABLE[6] == (0, 1, 2, 3) and C3_TABLE[11] == (5, 0, 1, 2)
    assert C3_TABLE[12:15] == ((0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5))
    # Every S2 map feeds exactly 10 of the 16 C3 maps.
    assert [sum(i in maps for maps in C3_TABLE) for i in range(6)] == [10] * 6


def test_sparse_c3_holds_only_connected_weights() -> None:
    c3 = SparseConv2d(6, C3_TABLE, 5)
    assert c3.connections == 60
    assert sum(p.numel() for p in c3.parameters()) == 60 * 25 + 16 == 1_516
    assert [tuple(getattr(c3, f"weight{r}").shape) for r in range(3)] == [
        (6, 3, 5, 5),
        (9, 4, 5, 5),
        (1, 6, 5, 5),
    ]
    dense = c3.dense_weight()
    assert int((dense.abs().sum(dim=(2, 3)) != 0).sum()) == 60


def test_sparse_c3_equals_a_dense_conv_with_the_table_zeros() -> None:
    c3 = SparseConv2d(6, C3_TABLE, 5)
    x = torch.randn(2, 6, 14, 14)
    expected = F.conv2d(x, c3.dense_weight(), c3.bias)
    torch.testing.assert_close(c3(x), expected, rtol=1e-5, atol=1e-5)


def test_sparse_conv_rejects_bad_tables() -> None:
    with pytest.raises(ValueError, match=r"distinct input maps in 0\.\.5"):
        SparseConv2d(6, [(0, 6)], 5)
    with pytest.raises(ValueError, match="distinct"):
        SparseConv2d(6, [(1, 1)], 5)
    with pytest.raises(ValueError, match="expects 6 input maps, got 3"):
        SparseConv2d(6, C3_TABLE, 5)(torch.zeros(1, 3, 14, 14))


def test_subsampling_and_scaled_tanh_follow_the_paper() -> None:
    s2 = Subsampling(2)
    with torch.no_grad():
        s2.weight.copy_(torch.tensor([0.5, 2.0]))
        s2.bias.copy_(torch.tensor([1.0, -1.0]))
    x = torch.arange(32.0).view(1, 2, 4, 4)
    out = s2(x)
    assert out.shape == (1, 2, 2, 2)
    # Top-left block of map 0: 0 + 1 + 4 + 5 = 10 -> 0.5 * 10 + 1 = 6.
    assert out[0, 0, 0, 0].item() == pytest.approx(6.0)
    # Map 1, bottom-right block: 26 + 27 + 30 + 31 = 114 -> 2 * 114 - 1 = 227.
    assert out[0, 1, 1, 1].item() == pytest.approx(227.0)
    assert sum(p.numel() for p in Subsampling(6).parameters()) == 12
    act = ScaledTanh()
    assert act(torch.tensor(1.0)).item() == pytest.approx(1.0, abs=1e-4)
    assert act(torch.tensor(-1.0)).item() == pytest.approx(-1.0, abs=1e-4)


def test_totals_near_60k() -> None:
    full, sparse, paper = summary("lenet5"), summary("lenet5_sparse"), summary("lenet5_paper")
    assert full.total_params == 61_706
    assert sparse.total_params == 60_806 == 61_706 - (2_416 - 1_516)
    rows = {r.name: r for r in paper.rows}
    assert rows["features.c3"].params == 1_516 and rows["features.c3"].kind == "conv"
    per_layer = {n: rows[f"features.{n}"].params for n in ("c1", "s2", "c3", "s4", "c5")}
    per_layer["f6"] = rows["classifier.f6"].params
    # Section II.B of the paper, layer by layer.
    assert per_layer == {"c1": 156, "s2": 12, "c3": 1_516, "s4": 32, "c5": 48_120, "f6": 10_164}
    assert sum(per_layer.values()) == 60_000
    assert paper.total_params == 60_000 + 850  # linear output instead of the fixed RBF units
    # The sparse layer counts as convolution in the conv/FC split.
    assert sparse.split()["conv"]["params"] == 156 + 1_516 + 48_120
    assert sparse.macs == 416_520 - 100 * (2_400 - 1_500)


def test_modern_variant_uses_relu_and_max_pool() -> None:
    model = create_model("lenet5_modern")
    assert isinstance(model.features.act1, nn.ReLU)
    assert isinstance(model.features.s2, nn.MaxPool2d)
    assert sum(p.numel() for p in model.parameters()) == 61_706


@pytest.mark.parametrize("name", ["lenet5_sparse", "lenet5_paper", "lenet5_modern"])
def test_real_forward_and_backward(name: str) -> None:
    model = create_model(name).train()
    x, y = torch.randn(2, 1, 32, 32), torch.tensor([3, 7])
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    # Gradients reach every run of the sparse table.
    if name != "lenet5_modern":
        assert all(getattr(model.features.c3, f"weight{r}").grad.abs().sum() > 0 for r in range(3))


def test_bad_options_are_explained() -> None:
    with pytest.raises(ValueError, match="act must be one of tanh, scaled_tanh, relu"):
        create_model("lenet5", act="gelu")
    with pytest.raises(ValueError, match="pool must be"):
        create_model("lenet5", pool="lp")
