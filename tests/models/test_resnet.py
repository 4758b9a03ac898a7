"""ResNet family: torchvision parity, the paper's figures, option A/B, plain twins, pre-activation
and stochastic depth."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn as nn
import torchvision.models as tvm
from torch.utils.flop_counter import FlopCounterMode

from cnnzoo import create_model, get_model_card, list_models
from cnnzoo.analysis import summary
from cnnzoo.models.preact_resnet import PreActBasicBlock, PreActBottleneck, PreActResNet
from cnnzoo.models.resnet import (
    BasicBlock,
    PlainBlock,
    StochasticDepth,
    ZeroPadShortcut,
    _cifar,
    drop_probs,
)


def _meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **kwargs)


@functools.cache
def _meta_default(name: str) -> nn.Module:
    """A shared meta model for read-only checks (deep ones take seconds to build)."""
    return _meta(name)


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _tv_meta(name: str) -> nn.Module:
    with torch.device("meta"):
        return getattr(tvm, name)()


def _macs(model: nn.Module, x: torch.Tensor) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    return counter.get_total_flops() // 2


def load_by_order(ours: nn.Module, theirs: nn.Module) -> None:
    """Copy ``theirs`` state into ``ours`` tensor by tensor (same module order, other names)."""
    mine, other = ours.state_dict(), theirs.state_dict()
    assert [tuple(v.shape) for v in mine.values()] == [tuple(v.shape) for v in other.values()]
    ours.load_state_dict(dict(zip(mine, other.values(), strict=True)))


# -- ImageNet ResNets -------------------------------------------------------------------------

TORCHVISION_COUNTS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}


@pytest.mark.parametrize("name", list(TORCHVISION_COUNTS))
def test_imagenet_resnets_have_torchvisions_parameters(name: str) -> None:
    expected = TORCHVISION_COUNTS[name]
    ours = _meta(name)
    theirs = _tv_meta(name)
    assert _params(ours) == _params(theirs) == expected
    # Same tensors in the same order: torchvision weights load one-to-one.
    assert [p.shape for p in ours.parameters()] == [p.shape for p in theirs.parameters()]
    if name in ("resnet50", "resnet101", "resnet152"):
        assert _params(_meta(f"{name}_v1_5")) == expected


def test_resnet50_v1_5_computes_exactly_what_torchvision_computes() -> None:
    ours = create_model("resnet50_v1_5").eval()
    theirs = tvm.resnet50().eval()
    load_by_order(ours, theirs)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = theirs(x)
        torch.testing.assert_close(ours(x), expected, rtol=1e-4, atol=1e-4)
        # The paper's placement, with the very same weights, computes something else.
        paper = create_model("resnet50").eval()
        load_by_order(paper, theirs)
        assert not torch.allclose(paper(x), expected, rtol=1e-3, atol=1e-3)


def test_resnet50_macs_paper_placement_vs_v1_5() -> None:
    paper, v1_5 = summary("resnet50"), summary("resnet50_v1_5")
    assert paper.total_params == v1_5.total_params == 25_557_032
    assert paper.macs == 3_857_973_248
    assert v1_5.macs == 4_089_184_256
    assert round(paper.macs / 1e9, 2) == 3.86  # paper Table 1: 3.8 x 10^9
    assert round(v1_5.macs / 1e9, 2) == 4.09  # torchvision: 4.09 GFLOPS (really MACs)
    # The whole difference: in v1.5 the first 1x1 of stages 2-4 runs before the stride, at 4x
    # the positions: 256*128*(56*56 - 28*28) = 512*256*(28*28 - 14*14) = ... = 77,070,336 each.
    assert v1_5.macs - paper.macs == 3 * 77_070_336
    stride_of = {n: m.stride for n, m in _meta("resnet50").named_modules() if hasattr(m, "stride")}
    assert stride_of["stage2.block1.conv1.conv"] == (2, 2)
    assert stride_of["stage2.block1.conv2.conv"] == (1, 1)
    stride_v15 = {
        n: m.stride for n, m in _meta("resnet50_v1_5").named_modules() if hasattr(m, "stride")
    }
    assert stride_v15["stage2.block1.conv1.conv"] == (1, 1)
    assert stride_v15["stage2.block1.conv2.conv"] == (2, 2)


def test_resnet18_real_forward_backward_small_input() -> None:
    model = create_model("resnet18", num_classes=5).train()
    x = torch.randn(2, 3, 32, 32)
    loss = model(x).logsumexp(1).mean()
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


# -- CIFAR ResNets ----------------------------------------------------------------------------

# He et al. 2015, Table 6: parameters in millions as printed.
CIFAR_TABLE6 = {
    "resnet20": (269_722, 0.27),
    "resnet32": (464_154, 0.46),
    "resnet44": (658_586, 0.66),
    "resnet56": (853_018, 0.85),
    "resnet110": (1_727_962, 1.7),
    "resnet1202": (19_421_274, 19.4),
}


@pytest.mark.parametrize("name", list(CIFAR_TABLE6))
def test_cifar_resnets_match_table6(name: str) -> None:
    exact, printed = CIFAR_TABLE6[name]
    model = _meta_default(name)
    count = _params(model)
    assert count == exact == get_model_card(name).params
    decimals = len(str(printed).split(".")[1])
    assert round(count / 1e6, decimals) == printed
    # Depth = weighted layers: 6n + 1 convolutions (option A adds none) + the FC layer.
    weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(weighted) == int(name.removeprefix("resnet"))


def test_resnet1202_builds_and_runs_on_meta() -> None:
    model = _meta_default("resnet1202").eval()
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 600
    assert model(torch.empty(2, 3, 32, 32, device="meta")).shape == (2, 10)


def test_option_a_zero_pads_and_option_b_projects() -> None:
    model = create_model("resnet20")
    shortcut = model.stage2.block1.shortcut
    assert isinstance(shortcut, ZeroPadShortcut)
    x = torch.randn(2, 16, 8, 8)
    y = shortcut(x)
    assert y.shape == (2, 32, 4, 4)
    assert torch.equal(y[:, :16], x[:, :, ::2, ::2])  # identity on the strided positions
    assert torch.equal(y[:, 16:], torch.zeros(2, 16, 4, 4))  # zeros for the new channels
    # Option B: 1x1 conv (16*32, 32*64) + BN (2*32, 2*64) in the two transitions.
    option_b = _meta("resnet20", shortcut="B")
    assert _params(option_b) - _params(model) == 512 + 64 + 2048 + 128 == 2752
    assert isinstance(option_b.stage3.block1.shortcut[0], nn.Conv2d)


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_plain_twins_have_the_same_layers_and_no_shortcut(depth: int) -> None:
    plain, residual = _meta(f"plain{depth}"), _meta(f"resnet{depth}")
    assert _params(plain) == _params(residual)
    assert summary(plain).macs == get_model_card(f"resnet{depth}").macs
    blocks = [m for m in plain.modules() if isinstance(m, PlainBlock)]
    assert len(blocks) == 3 * (depth - 2) // 6
    assert not any(isinstance(m, (BasicBlock, ZeroPadShortcut)) for m in plain.modules())
    assert not any("shortcut" in name for name, _ in plain.named_modules())


def test_plain_and_residual_blocks_differ_only_by_the_addition() -> None:
    plain, residual = create_model("plain20").eval(), create_model("resnet20").eval()
    residual.load_state_dict(plain.state_dict())  # same tensors, same names
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        h = plain.stage1.block1(plain.stem(x))
        b_plain, b_res = plain.stage1.block2, residual.stage1.block2
        branch = b_plain.conv2.bn(b_plain.conv2.conv(b_plain.conv1(h)))
        torch.testing.assert_close(b_res(h), torch.relu(branch + h))
        torch.testing.assert_close(b_plain(h), torch.relu(branch))


def test_resnet20_real_forward_backward() -> None:
    model = create_model("resnet20").train()
    x = torch.randn(2, 3, 32, 32)
    out = model(x)
    assert out.shape == (2, 10)
    nn.functional.cross_entropy(out, torch.tensor([1, 2])).backward()
    assert all(p.grad is not None for p in model.parameters())


# -- pre-activation ---------------------------------------------------------------------------


def test_preact_counts_match_he_2016() -> None:
    p164 = _meta("preact_resnet164")
    assert _params(p164) == 1_703_258 and round(_params(p164) / 1e6, 1) == 1.7
    p1001 = _meta("preact_resnet1001")
    bn = sum(
        p.numel() for m in p1001.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()
    )
    assert _params(p1001) == 10_327_706
    # The paper's 10.2M are the conv + FC weights; with BN it would print 10.3M.
    assert round((_params(p1001) - bn) / 1e6, 1) == 10.2
    assert sum(isinstance(m, PreActBottleneck) for m in p1001.modules()) == 333
    assert _params(_meta("preact_resnet110")) == _params(_meta("resnet110"))


def test_preact_unit_adds_without_activation_and_projects_the_preactivation() -> None:
    block = PreActBasicBlock(16, 32, stride=2).eval()
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        pre = torch.relu(block.bn1(x))
        branch = block.conv2(torch.relu(block.bn2(block.conv1(pre))))
        torch.testing.assert_close(block(x), branch + block.shortcut(pre))
        assert (block(x) < 0).any()  # nothing clips the sum
        same = PreActBasicBlock(16, 16).eval()
        pre = torch.relu(same.bn1(x))
        torch.testing.assert_close(same(x), same.conv2(torch.relu(same.bn2(same.conv1(pre)))) + x)


def test_preact_real_forward_backward() -> None:
    model = PreActResNet("bottleneck", (1, 1, 1), num_classes=3).train()
    out = model(torch.randn(2, 3, 16, 16))
    out.sum().backward()
    assert out.shape == (2, 3)
    assert all(p.grad is not None for p in model.parameters())


# -- stochastic depth -------------------------------------------------------------------------


def test_survival_probability_decays_linearly_to_p_l() -> None:
    probs = drop_probs(0.5, 54)
    assert probs[0] == pytest.approx(0.5 / 54) and probs[-1] == 0.5
    model = _meta("resnet110_sd")
    dropped = [m.drop_prob for m in model.modules() if isinstance(m, StochasticDepth)]
    assert dropped == pytest.approx(probs)
    assert _params(model) == 1_727_962  # stochastic depth adds no parameters


def _nonnegative_block_input() -> torch.Tensor:
    return torch.rand(4, 16, 8, 8)  # a block sees the ReLU output of the previous one


def test_a_dropped_block_is_the_identity_and_skips_its_branch() -> None:
    block = BasicBlock(16, 16, drop_prob=0.999).train()
    calls = []
    block.conv1.register_forward_hook(lambda *_: calls.append(1))
    x = _nonnegative_block_input()
    counter = FlopCounterMode(display=False)
    with counter:
        outputs = [block(x) for _ in range(20)]
    assert all(torch.equal(out, x) for out in outputs)
    assert calls == [] and counter.get_total_flops() == 0


def test_kept_branches_pass_unscaled_and_eval_scales_by_survival() -> None:
    block = BasicBlock(16, 16, drop_prob=0.25).eval()
    x = _nonnegative_block_input()
    with torch.no_grad():
        branch = block.conv2(block.conv1(x))
        torch.testing.assert_close(block(x), torch.relu(x + 0.75 * branch))
        assert torch.equal(block(x), block(x))  # deterministic in eval
        block.train()
        kept = [out for out in (block(x) for _ in range(30)) if not torch.equal(out, x)]
    assert kept  # 30 draws at p = 0.25: some are kept
    branch_train = block.conv2(block.conv1(x)).detach()
    torch.testing.assert_close(kept[0], torch.relu(x + branch_train))


def test_resnet110_sd_trains_on_fewer_ops_and_is_deterministic_in_eval() -> None:
    model = _meta("resnet110_sd")
    x = torch.empty(1, 3, 32, 32, device="meta")
    full = _macs(model.eval(), x)
    assert full == get_model_card("resnet110_sd").macs == get_model_card("resnet110").macs
    model.train()
    trained = [_macs(model, x) for _ in range(3)]
    # Expected: 13.75 of 54 blocks dropped per pass, about 25% of the MACs.
    assert all(m < full for m in trained)
    assert 0.6 < sum(trained) / (3 * full) < 0.9

    real = create_model("resnet110_sd").eval()
    inp = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(real(inp), real(inp))


def test_row_mode_is_per_sample_droppath() -> None:
    layer = StochasticDepth(0.5, mode="row").train()
    out = layer(torch.ones(1000, 1, 1, 1))
    assert set(out.unique().tolist()) <= {0.0, 2.0}  # dropped, or kept and scaled by 1/p
    assert 0.4 < (out == 0).float().mean() < 0.6
    assert torch.equal(layer.eval()(torch.ones(3, 2)), torch.ones(3, 2))
    model = _meta("resnet56", drop_path_rate=0.2, stochastic_depth_mode="row")
    assert {m.mode for m in model.modules() if isinstance(m, StochasticDepth)} == {"row"}


def test_plain_nets_refuse_stochastic_depth() -> None:
    with pytest.raises(ValueError, match="shortcut"):
        create_model("plain20", drop_path_rate=0.5)


def test_friendly_errors() -> None:
    with pytest.raises(ValueError, match="6n\\+2"):
        _cifar(21)
    with pytest.raises(ValueError, match=r"'A'.*'B'"):
        create_model("resnet20", shortcut="C")
    with pytest.raises(ValueError, match="stride_on"):
        create_model("resnet50", stride_on="7x7")


def test_family_lists_every_variant() -> None:
    names = set(list_models(family="resnet"))
    assert {"resnet50", "resnet50_v1_5", "resnet1202", "plain110", "resnet110_sd"} <= names
    assert {"preact_resnet110", "preact_resnet164", "preact_resnet1001"} <= names
