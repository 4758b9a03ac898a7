"""Inception v3: torchvision's exact counts, the auxiliary head, the 75x75 minimum input."""

from __future__ import annotations

import pytest
import torch
import torchvision

from cnnzoo import create_model, get_model_card
from cnnzoo.analysis import summary
from cnnzoo.analysis.summary import InputSizeError
from cnnzoo.models.inception_v3 import InceptionOutputs, loss_with_aux


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("aux_logits", "expected"), [(True, 27_161_264), (False, 23_834_568)])
def test_matches_torchvision_exactly(aux_logits: bool, expected: int) -> None:
    with torch.device("meta"):
        ours = create_model("inception_v3", aux_logits=aux_logits)
        reference = torchvision.models.inception_v3(aux_logits=aux_logits, init_weights=False)
    assert _params(ours) == _params(reference) == expected


def test_macs_match_torchvision_and_the_papers_5_billion() -> None:
    with torch.device("meta"):
        reference = torchvision.models.inception_v3(aux_logits=False, init_weights=False)
    ours = summary("inception_v3")
    assert ours.macs == summary(reference, (3, 299, 299)).macs == 5_713_216_096
    # The abstract's "5 billion multiply-adds" is rounded down: the released model has 5.71G
    # (its 35x35 modules keep a 5x5 branch that Figure 5 factorizes).
    assert 5.0 < ours.macs / 1e9 < 5.8
    assert summary("inception_v3", aux_logits=False).total_params < 25_000_000


def test_aux_output_only_in_train_mode() -> None:
    with torch.device("meta"):
        model = create_model("inception_v3")
    x = torch.empty(2, 3, 299, 299, device="meta")
    out = model.train()(x)
    assert isinstance(out, InceptionOutputs)
    assert out.logits.shape == out.aux.shape == (2, 1000)
    assert model.eval()(x).shape == (2, 1000)


def test_factorized_convolutions_are_where_the_paper_puts_them() -> None:
    with torch.device("meta"):
        model = create_model("inception_v3")
    kernels = [c.kernel_size for c in model.mixed6b.branch7x7dbl.modules() if hasattr(c, "groups")]
    assert kernels == [(1, 1), (7, 1), (1, 7), (7, 1), (1, 7)]
    split = model.mixed7b.branch3x3.split
    assert (split.conv1x3.conv.kernel_size, split.conv3x1.conv.kernel_size) == ((1, 3), (3, 1))
    assert model.mixed7b.out_channels == 2048


def test_minimum_input_is_75_and_too_small_names_the_layer() -> None:
    assert summary("inception_v3", (3, 75, 75)).rows[-1].output_shape == (1000,)
    with pytest.raises(InputSizeError, match=r"mixed7a\.branch3x3\.conv2\.conv.*0x0") as err:
        summary("inception_v3", (3, 74, 74))
    assert "3x299x299" in str(err.value)  # points at the default input
    assert get_model_card("inception_v3").input_size == (3, 299, 299)


def test_real_forward_backward_at_the_minimum_input() -> None:
    model = create_model("inception_v3", num_classes=4, aux_logits=False).train()
    logits = model(torch.randn(2, 3, 75, 75))
    assert logits.shape == (2, 4)
    loss_with_aux(logits, torch.tensor([0, 3])).backward()
    assert torch.isfinite(model.stem.conv1a.conv.weight.grad).all()
    assert model.mixed7c.branch_pool.proj.conv.weight.grad.abs().sum() > 0
