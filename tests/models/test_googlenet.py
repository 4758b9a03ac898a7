"""GoogLeNet: the paper's counts, torchvision's exact count, the auxiliary heads, and the
naive-vs-reduced Inception module cost of the lecture."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision

from cnnzoo import create_model
from cnnzoo.analysis import summary
from cnnzoo.analysis.formulas import conv_macs, inception_module_cost
from cnnzoo.analysis.summary import InputSizeError
from cnnzoo.models.googlenet import GoogLeNetOutputs, InceptionModule, loss_with_aux


def _meta(name: str, **kwargs) -> torch.nn.Module:
    with torch.device("meta"):
        return create_model(name, **kwargs)


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_paper_googlenet_counts_round_to_the_papers_figures() -> None:
    with_aux = summary("googlenet")
    without_aux = summary("googlenet", aux_logits=False)
    assert without_aux.total_params == 6_998_552
    assert with_aux.total_params == 13_378_280
    assert round(without_aux.total_params / 1e6, 1) == 7.0
    assert round(with_aux.total_params / 1e6, 1) == 13.4
    # Inference compute is the same with or without the heads: they do not run in eval().
    assert with_aux.macs == without_aux.macs == 1_582_671_872
    assert round(with_aux.macs / 1e9, 1) == 1.6


def test_auxiliary_heads_are_the_papers_avgpool_conv_fc_fc() -> None:
    model = _meta("googlenet")
    # conv 1x1 128 (+bias), FC 2048 -> 1024, FC 1024 -> 1000, on 512 (4a) and 528 (4d) channels.
    expected = {
        "aux1": 512 * 128 + 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000,
        "aux2": 528 * 128 + 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000,
    }
    for head, count in expected.items():
        assert _params(getattr(model, head)) == count
    assert model.aux1.pool.kernel_size == 5 and model.aux1.pool.stride == 3
    assert model.aux1.dropout.p == 0.7 and model.dropout.p == 0.4
    assert sum(expected.values()) == 13_378_280 - 6_998_552


def test_paper_variant_has_lrn_true_5x5_and_no_batch_norm() -> None:
    model = _meta("googlenet")
    kinds = {type(m) for m in model.modules()}
    assert torch.nn.LocalResponseNorm in kinds and torch.nn.BatchNorm2d not in kinds
    assert model.inception3a.branch3.conv.conv.kernel_size == (5, 5)
    tv_style = _meta("googlenet_tv")
    assert tv_style.inception3a.branch3.conv.conv.kernel_size == (3, 3)
    assert torch.nn.LocalResponseNorm not in {type(m) for m in tv_style.modules()}


@pytest.mark.parametrize("aux_logits", [True, False])
def test_googlenet_tv_matches_torchvision_exactly(aux_logits: bool) -> None:
    ours = _meta("googlenet_tv", aux_logits=aux_logits)
    with torch.device("meta"):
        reference = torchvision.models.googlenet(aux_logits=aux_logits, init_weights=False)
    expected = 13_004_888 if aux_logits else 6_624_904
    assert _params(ours) == _params(reference) == expected
    assert summary(ours, (3, 224, 224)).macs == summary(reference, (3, 224, 224)).macs


@pytest.mark.parametrize("name", ["googlenet", "googlenet_tv"])
def test_aux_outputs_only_in_train_mode(name: str) -> None:
    model = _meta(name)
    x = torch.empty(2, 3, 224, 224, device="meta")
    out = model.train()(x)
    assert isinstance(out, GoogLeNetOutputs)
    assert [t.shape for t in out] == [(2, 1000)] * 3
    logits = model.eval()(x)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 1000)
    # Without heads, train mode gives plain logits too.
    plain = _meta(name, aux_logits=False).train()(x)
    assert isinstance(plain, torch.Tensor) and plain.shape == (2, 1000)


def test_reset_classifier_replaces_the_aux_heads_too() -> None:
    model = _meta("googlenet")
    model.reset_classifier(10)
    out = model.train()(torch.empty(2, 3, 224, 224, device="meta"))
    assert [t.shape for t in out] == [(2, 10)] * 3


def test_paper_aux_head_names_the_layer_when_the_grid_is_not_14x14() -> None:
    # The paper's 5x5/3 pool gives a 4x4 map only on the 14x14 grid of a ~224 input.
    summary("googlenet", (3, 224, 224), train_mode=True, batch_size=2)
    with pytest.raises(InputSizeError, match=r"aux1\.fc1"):
        summary("googlenet", (3, 128, 128), train_mode=True, batch_size=2)
    summary("googlenet", (3, 128, 128))  # eval: the heads do not run


def test_loss_with_aux_weights_each_head() -> None:
    target = torch.tensor([1, 0])
    logits, aux1, aux2 = torch.randn(3, 2, 4).unbind(0)
    outputs = GoogLeNetOutputs(logits, aux1, aux2)
    expected = F.cross_entropy(logits, target) + 0.3 * (
        F.cross_entropy(aux1, target) + F.cross_entropy(aux2, target)
    )
    assert torch.allclose(loss_with_aux(outputs, target), expected)
    assert torch.allclose(loss_with_aux(logits, target), F.cross_entropy(logits, target))


# -- the lecture's naive vs reduced module: 28x28x256 input ------------------------------

LECTURE_INPUT = (256, 28, 28)


def _lecture_module(naive: bool) -> InceptionModule:
    # 1x1@128, 3x3@192, 5x5@96, 3x3 max pool; the reduced one adds 1x1 reductions to 64.
    return InceptionModule(256, 128, 64, 192, 64, 96, 64, naive=naive)


def test_naive_module_costs_854m_macs() -> None:
    module = _lecture_module(naive=True)
    measured = summary(module, LECTURE_INPUT)
    formula = inception_module_cost(28, 28, 256, [(1, 128), (3, 192), (5, 96)])
    assert measured.macs == formula.total == 854_196_224
    assert module.out_channels == 128 + 192 + 96 + 256  # the pool passes all 256 channels on


def test_reduced_module_costs_271m_macs() -> None:
    module = _lecture_module(naive=False)
    measured = summary(module, LECTURE_INPUT)
    formula = inception_module_cost(
        28, 28, 256, [(1, 128), (3, 192), (5, 96)], reductions=[None, 64, 64], pool_projection=64
    )
    assert measured.macs == formula.total == 271_351_808
    assert module.out_channels == 128 + 192 + 96 + 64
    # The lecture slide's "358M" counts the 3x3@192 term (64 -> 192 channels) twice.
    three_by_three = conv_macs(3, 64, 192, 28)
    assert three_by_three == formula.terms["3x3@192"] == 86_704_128
    assert round((formula.total + three_by_three) / 1e6) == 358


def test_naive_googlenet_builds_and_its_widths_grow() -> None:
    model = _meta("googlenet", inception_block="naive", aux_logits=False)
    # Each pool branch passes its whole input on: 3a gives 64+128+32+192 = 416 channels.
    assert model.inception3a.out_channels == 416
    s = summary(model, (3, 224, 224))
    assert s.total_params == 97_526_008
    assert s.macs == 12_568_061_056  # about 8x the reduced network


def test_real_forward_backward_small_input() -> None:
    model = create_model("googlenet_tv", num_classes=5).train()
    x = torch.randn(2, 3, 64, 64)
    out = model(x)
    assert isinstance(out, GoogLeNetOutputs) and out.logits.shape == (2, 5)
    loss_with_aux(out, torch.tensor([0, 3])).backward()
    assert model.aux1.fc2.weight.grad is not None and model.aux2.fc2.weight.grad is not None
    assert torch.isfinite(model.stem.conv1.conv.weight.grad).all()

    paper = create_model("googlenet", num_classes=5, aux_logits=False).train()
    logits = paper(x)
    logits.sum().backward()
    assert logits.shape == (2, 5)
    assert paper.stem.conv1.conv.weight.grad.abs().sum() > 0
