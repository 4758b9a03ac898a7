"""The model contract of DESIGN.md, checked for every registered model.

Models are checked on meta tensors (shapes only), so this stays fast for the whole zoo; the
deepest narrow CIFAR networks run on small real tensors instead, which is faster for them.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn as nn

from cnnzoo import create_model, get_model_card, list_models
from cnnzoo.analysis import summary

# The contract is the classifiers' (images -> logits); language, caption and GAN models have
# their own tests.
CLASSIFIERS = [n for n in list_models() if get_model_card(n).task == "classify"]
# The deepest networks take seconds per test even on meta tensors.
SLOW = {"resnet1202", "preact_resnet1001", "pyramidnet272_a200", "densenet_bc250_k24"}
ALL_MODELS = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in CLASSIFIERS]


# Measured (1 thread, build + 3 forwards of batch 2): resnet1202 meta 5.6 s vs real 1.6 s,
# preact_resnet1001 4.2 vs 1.0, resnet110 0.60 vs 0.12 -- meta kernels cost per op, these nets
# have thousands of cheap ops. Wide or ImageNet-sized nets are the other way round (wrn28_10
# 0.11 vs 0.92, resnext29_16x64d 0.13 vs 2.52), so they stay on meta.
REAL_TENSORS = {"resnet1202", "preact_resnet1001", "resnet110", "preact_resnet164"}


def test_real_tensor_models_are_classifiers_of_the_zoo() -> None:
    assert set(CLASSIFIERS) >= REAL_TENSORS


def _device(name: str) -> str:
    return "cpu" if name in REAL_TENSORS else "meta"


def _meta_model(name: str, **kwargs) -> nn.Module:
    """The model on meta tensors, or on small real ones for :data:`REAL_TENSORS`."""
    with torch.device(_device(name)):
        return create_model(name, **kwargs)


@functools.cache
def _shared_meta_model(name: str) -> nn.Module:
    """One default meta model per name for the tests that only read it (building the deep
    ones is what costs)."""
    return _meta_model(name).eval()


def _meta_input(card, in_chans: int | None = None) -> torch.Tensor:
    c, h, w = card.input_size
    return torch.zeros(2, in_chans or c, h, w, device=_device(card.name))


@pytest.mark.parametrize("name", ALL_MODELS)
def test_card_is_complete(name: str) -> None:
    card = get_model_card(name)
    assert card.paper.authors and card.paper.title and 1980 < card.paper.year < 2030
    assert len(card.input_size) == 3 and card.num_classes > 0
    assert card.params is not None and card.macs is not None, f"{name}: card lacks params/macs"
    # The published figures as structured fields, or why there are none (never just forgotten).
    assert bool(card.figures) != bool(card.no_figures), f"{name}: figures xor no_figures"


@pytest.mark.parametrize("name", ALL_MODELS)
def test_card_counts_match_implementation(name: str) -> None:
    card = get_model_card(name)
    s = summary(name)
    assert s.total_params == card.params
    assert s.macs == card.macs
    s.check()  # flop counter == closed-form formulas

    # Each stage's reduction is the cumulative stride (jump) the summary measures at the output
    # of that module: its own row, or the last row inside it.
    jump_after = {}
    for row in s.rows:
        if row.jump is not None:
            parts = row.name.split(" (call")[0].split(".")
            for depth in range(1, len(parts) + 1):
                jump_after[".".join(parts[:depth])] = row.jump
    # (A stage whose rows carry no jump -- NAS cells merge two earlier cells, which the
    # receptive-field tracker does not follow -- is skipped; the others are still checked.)
    measured = [i for i in _shared_meta_model(name).feature_info if i["module"] in jump_after]
    assert measured, "no feature_info stage has a measured stride"
    for info in measured:
        assert jump_after[info["module"]] == (info["reduction"],) * 2, info["module"]


@pytest.mark.parametrize("name", ALL_MODELS)
@torch.no_grad()  # shapes only; no graph for the real-tensor nets
def test_forward_shapes_and_heads(name: str) -> None:
    card = get_model_card(name)
    model = _meta_model(name).eval()
    assert model(_meta_input(card)).shape == (2, card.num_classes)

    features = model.forward_features(_meta_input(card))
    assert features.ndim == 4, "forward_features returns the last feature map (N, C, H, W)"

    assert isinstance(model.get_classifier(), nn.Module)
    model.reset_classifier(7)
    assert model(_meta_input(card)).shape == (2, 7)

    # A swapped head matches the model's dtype (and device: meta here).
    model.to(torch.bfloat16).reset_classifier(3)
    assert model.get_classifier().weight.dtype == torch.bfloat16
    assert model.get_classifier().weight.device.type == _device(name)

    other = _meta_model(name, num_classes=5, in_chans=1 if card.input_size[0] != 1 else 3).eval()
    assert other(_meta_input(card, other.in_chans)).shape == (2, 5)


@pytest.mark.parametrize("name", ALL_MODELS)
@torch.no_grad()  # shapes only; no graph for the real-tensor nets
def test_feature_info_names_real_stages(name: str) -> None:
    card = get_model_card(name)
    model = _meta_model(name).eval()  # not the shared one: this test adds hooks
    modules = dict(model.named_modules())
    assert model.feature_info, "feature_info lists the stages"
    outputs: dict[str, torch.Tensor] = {}
    for info in model.feature_info:
        assert info["module"] in modules, f"{info['module']} is not a module of {name}"
        modules[info["module"]].register_forward_hook(
            lambda _m, _i, out, key=info["module"]: outputs.__setitem__(key, out)
        )
    model(_meta_input(card))
    for info in model.feature_info:
        out = outputs[info["module"]]
        assert out.shape[1] == info["num_chs"], f"{info['module']}: channels"
        assert info["reduction"] >= 1


@pytest.mark.parametrize("name", ALL_MODELS)
def test_activations_are_separate_and_not_inplace(name: str) -> None:
    model = _shared_meta_model(name)
    seen: set[int] = set()
    for module_name, module in model.named_modules(remove_duplicate=False):
        if not any(True for _ in module.children()) and not isinstance(module, nn.Identity):
            assert id(module) not in seen, f"{module_name} is used in two places"
            seen.add(id(module))
        assert not getattr(module, "inplace", False), f"{module_name} is in-place"
