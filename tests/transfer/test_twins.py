"""Every torchvision twin computes torchvision's function with torchvision's weights.

Random weights for all 32 twins cost almost nothing: torchvision's model is built on the meta
device and filled from one shared random buffer (each tensor a scaled slice, the large FC
matrices tiled from it and shared between the VGGs); our model takes those very tensors by the
mapping under test (``assign=True``, no copy). A wrong mapping (two tensors of one shape swapped,
a shifted order) changes the outputs, which are compared in eval and train mode on tiny inputs.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from transfer_helpers import TWINS, twin_pair

from cnnzoo import get_model_card

# Smallest comfortable input side per twin (eval); the rest run at 32x32.
_SIDE = {"alexnet_tv": 63, "inception_v3": 75, "squeezenet1_0": 48, "squeezenet1_1": 48}


def _outputs(model: nn.Module, x: torch.Tensor, train: bool) -> list[torch.Tensor]:
    model.train(train)
    torch.manual_seed(1)  # the same dropout masks for both models
    out = model(x)
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for t in out if t is not None]


def test_32_twins_are_declared() -> None:
    assert len(TWINS) == 32
    # Shapes equal to torchvision's but another function: no twin, and refused (test_pretrained).
    for name in ("resnet50", "resnet101", "resnet152", "squeezenet1_0_bypass", "vgg11_lrn"):
        assert get_model_card(name).torchvision is None


@pytest.mark.parametrize("name", sorted(TWINS))
def test_twin_outputs_equal_torchvisions(name: str) -> None:
    ours, theirs = twin_pair(name)
    side = _SIDE.get(name, 32)
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = _outputs(theirs, x[:1], train=False)[0]
        assert expected.abs().max() > 1e-3 and torch.isfinite(expected).all()
        mine = _outputs(ours, x[:1], train=False)[0]
        torch.testing.assert_close(mine, expected, rtol=1e-4, atol=1e-5)
        if name == "inception_v3":
            _check_inception_train(ours, theirs, x)
            return
        mine, ref = _outputs(ours, x, train=True), _outputs(theirs, x, train=True)
    if name == "googlenet_tv":
        ref = [ref[0], ref[2], ref[1]]  # torchvision returns (logits, aux2, aux1)
    assert len(mine) == len(ref)
    for a, b in zip(mine, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def _check_inception_train(ours: nn.Module, theirs: nn.Module, x: torch.Tensor) -> None:
    # The auxiliary head needs a 17x17 grid (a 299x299 input): compare it on its own input,
    # then the whole network in train mode (batch statistics, dropout) with the head skipped.
    grid = torch.randn(2, 768, 17, 17, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(ours.aux.train()(grid), theirs.AuxLogits.train()(grid))
    ours.aux_logits, aux_head, theirs.AuxLogits = False, theirs.AuxLogits, None
    theirs.aux_logits = False
    mine, ref = _outputs(ours, x, train=True), _outputs(theirs, x, train=True)
    theirs.AuxLogits = aux_head
    torch.testing.assert_close(mine[0], ref[0], rtol=1e-4, atol=1e-5)
