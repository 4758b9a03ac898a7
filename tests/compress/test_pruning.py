"""Magnitude pruning: exact counts, schedules, permanence, sensitivity."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from cnnzoo.compress.pruning import (
    check_sparsity,
    layer_sparsity,
    magnitude_prune,
    make_permanent,
    sensitivity,
    sparsity_schedule,
)


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, "0.5"])
def test_sparsity_outside_unit_interval_is_refused(bad) -> None:
    with pytest.raises(ValueError, match=r"fraction in \[0, 1\)"):
        check_sparsity(bad)


def test_layerwise_prunes_the_smallest_weights_of_each_layer() -> None:
    model = _mlp()
    before = model[0].weight.detach().abs().clone()
    result = magnitude_prune(model, 0.75)
    assert result == {"0": 0.75, "2": 0.75}
    assert [(r.weights, r.nonzero) for r in layer_sparsity(model)] == [(200, 50), (100, 25)]
    kept = model[0].weight.detach() != 0
    assert before[kept].min() >= before[~kept].max()  # the largest magnitudes survive


def test_global_scope_uses_one_threshold_and_per_layer_patterns() -> None:
    model = _mlp()
    with torch.no_grad():
        model[2].weight.abs_().add_(10)  # layer 2 dominates: global pruning spares it
    magnitude_prune(model, 0.5, scope="global")
    assert [r.nonzero for r in layer_sparsity(model)] == [50, 100]
    model = _mlp()
    magnitude_prune(model, {"*": 0.5, "2": 0.9})
    assert [r.nonzero for r in layer_sparsity(model)] == [100, 10]
    with pytest.raises(KeyError, match="matches none"):
        magnitude_prune(model, {"fc9": 0.5})


def test_iterative_steps_keep_zeros_and_permanent_state_is_plain() -> None:
    model = _mlp()
    magnitude_prune(model, 0.5)
    zeros = model[0].weight.detach() == 0
    with torch.no_grad():  # an optimizer step cannot revive a pruned weight
        model[0].weight_orig.add_(1.0)
    assert bool((model[0].weight.detach()[zeros] == 0).all())
    magnitude_prune(model, 0.8)
    assert bool((model[0].weight.detach()[zeros] == 0).all())
    assert layer_sparsity(model)[0].nonzero == 40
    make_permanent(model)
    assert set(model.state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert layer_sparsity(model)[0].nonzero == 40


def test_cubic_and_linear_schedules() -> None:
    assert sparsity_schedule(0.9, 3, "linear") == pytest.approx([0.3, 0.6, 0.9])
    assert sparsity_schedule(0.9, 3) == pytest.approx(
        [0.9 * (1 - (2 / 3) ** 3), 0.9 * (1 - (1 / 3) ** 3), 0.9]
    )
    with pytest.raises(ValueError):
        sparsity_schedule(0.9, 0)


def test_sensitivity_restores_the_weights() -> None:
    model = _mlp()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    curves = sensitivity(model, lambda m: float((m[0].weight == 0).sum()), sparsities=(0.0, 0.5))
    assert curves["0"] == [(0.0, 0.0), (0.5, 100.0)]
    assert curves["2"] == [(0.0, 0.0), (0.5, 0.0)]
    assert all(torch.equal(original[k], v) for k, v in model.state_dict().items())
