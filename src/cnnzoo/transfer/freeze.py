"""Freezing by stage, frozen batch norm, and discriminative learning rates for fine-tuning.

The lectures' rule of thumb (after Yosinski et al., "How transferable are features in deep
neural networks?", NeurIPS 2014): with a small new data set freeze most layers and train the new
head; with more data tune more layers; with a lot, tune everything. A policy says where to cut:

``head``          train only the final classifier layer (``get_classifier()``): a linear probe
``all-but-head``  freeze every stage of ``feature_info``; the layers after the last stage train
                  (VGG's and AlexNet's FC layers, a course CNN's hidden dense layer)
``stages:K``      freeze the first K stages (everything registered up to stage K's module)
``none``          train everything

Frozen parameters get ``requires_grad=False`` (and stay out of the optimizer), and frozen batch
norm stays in eval mode for the whole run: a forward pre-hook puts it back into eval whenever a
training loop calls ``model.train()``, so its running statistics never move. (Keras users met
the opposite: layers set non-trainable whose BN still updated its statistics and ruined the
pretrained features.)
"""

from __future__ import annotations

from typing import Any

import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = [
    "finetune_param_groups",
    "freeze",
    "head_parameter_names",
    "parse_policy",
    "stage_names",
    "unfreeze",
]

POLICIES = ("head", "all-but-head", "stages:K", "none")
_HOOK = "_cnnzoo_frozen_bn"


def stage_names(model: nn.Module) -> list[str]:
    """The module names of the model's stages, in order (from ``feature_info``)."""
    info = getattr(model, "feature_info", None)
    if not info:
        raise ValueError(
            f"{type(model).__name__} has no feature_info: freezing by stage needs the model "
            "contract's list of stages (use policy 'head' or 'none')"
        )
    return [str(stage["module"]) for stage in info]


def parse_policy(policy: str, num_stages: int) -> tuple[str, int]:
    """``(kind, stages to freeze)`` of a policy string; ValueError with the choices if invalid."""
    text = policy.strip().lower()
    if text == "all":
        raise ValueError(
            "policy 'all' freezes every parameter: nothing left to train; use 'head' (train the "
            "classifier) or 'all-but-head'"
        )
    if text in ("head", "none"):
        return text, 0
    if text == "all-but-head":
        return "stages", num_stages
    if text.startswith("stages:"):
        try:
            k = int(text.split(":", 1)[1])
        except ValueError:
            k = -1
        if k < 0:
            raise ValueError(f"policy {policy!r}: K in stages:K must be a whole number >= 0")
        if k > num_stages:
            raise ValueError(
                f"policy {policy!r}: the model has only {num_stages} stages (feature_info); use "
                f"stages:0 .. stages:{num_stages}"
            )
        return "stages", k
    raise ValueError(f"unknown freeze policy {policy!r}; expected one of {', '.join(POLICIES)}")


def head_parameter_names(model: nn.Module) -> list[str]:
    """Names of the final classifier's parameters (``get_classifier()``)."""
    head = model.get_classifier()
    ids = {id(p) for p in head.parameters()}
    return [name for name, p in model.named_parameters() if id(p) in ids]


def _frozen_by_stages(model: nn.Module, k: int) -> set[str]:
    """Parameters registered up to the end of stage ``k``'s module (in ``named_modules`` order)."""
    if k == 0:
        return set()
    last = stage_names(model)[k - 1]
    names = [name for name, _ in model.named_modules()]
    if last not in names:
        raise ValueError(f"feature_info names {last!r}, which is not a module of the model")
    # The stage's subtree ends at the last module whose name is the stage or below it.
    end = max(i for i, n in enumerate(names) if n == last or n.startswith(last + "."))
    frozen: set[str] = set()
    for name, module in list(model.named_modules())[: end + 1]:
        prefix = f"{name}." if name else ""
        frozen.update(prefix + p for p, _ in module.named_parameters(recurse=False))
    return frozen


def freeze(model: nn.Module, policy: str) -> list[str]:
    """Apply ``policy`` to ``model``; return the names of the parameters left trainable.

    Works with any ``nn.Module`` that keeps the model contract (``get_classifier()``, and
    ``feature_info`` for stage policies). Frozen BN layers stay in eval mode from now on.
    """
    unfreeze(model)
    kind, k = parse_policy(policy, len(getattr(model, "feature_info", None) or []))
    head = set(head_parameter_names(model))
    if kind == "head":
        frozen = {n for n, _ in model.named_parameters()} - head
    elif kind == "stages":
        frozen = _frozen_by_stages(model, k) - head
    else:
        frozen = set()
    trainable = [n for n, _ in model.named_parameters() if n not in frozen]
    if not trainable:
        raise ValueError(
            f"policy {policy!r} freezes every parameter of {type(model).__name__}: nothing left "
            "to train; choose fewer stages or 'head'"
        )
    for name, param in model.named_parameters():
        param.requires_grad_(name not in frozen)
    for module in model.modules():
        if isinstance(module, _BatchNorm) and _all_frozen(module):
            _stay_in_eval(module)
    return trainable


def _all_frozen(module: nn.Module) -> bool:
    params = list(module.parameters())
    return bool(params) and not any(p.requires_grad for p in params)


def _stay_in_eval(module: nn.Module) -> None:
    # model.train() flips every submodule to training mode each epoch. A forward pre-hook could
    # flip frozen BN back, but the engine's fused kernels call batch norm functionally and never
    # run its hooks; shadowing the module's own train() keeps it in eval for every caller.
    def train(mode: bool = True) -> nn.Module:
        return nn.Module.train(module, False)

    module.train = train  # type: ignore[method-assign]
    setattr(module, _HOOK, True)
    module.eval()


def unfreeze(model: nn.Module) -> None:
    """Make every parameter trainable again and release frozen batch norm."""
    for param in model.parameters():
        param.requires_grad_(True)
    for module in model.modules():
        if getattr(module, _HOOK, False):
            del module.train  # the class's train() again
            delattr(module, _HOOK)
            module.train(model.training)


def finetune_param_groups(
    model: nn.Module,
    weight_decay: float,
    *,
    head_lr_mult: float = 1.0,
    include: set[str] | None = None,
) -> list[dict[str, Any]]:
    """Optimizer groups: backbone and head (head rate x ``head_lr_mult``), decay on weights only.

    ``include`` names the parameters to optimise (default: those with ``requires_grad``); the
    others stay out of the optimizer. A group's ``lr_scale`` scales the recipe's rate.
    """
    head = set(head_parameter_names(model))
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        wanted = param.requires_grad if include is None else name in include
        if wanted:
            groups.setdefault((name in head, param.ndim > 1), []).append(param)
    result = []
    for is_head in (False, True):
        for decays in (True, False):
            params = groups.get((is_head, decays))
            if params:
                result.append(
                    {
                        "params": params,
                        "weight_decay": weight_decay if decays else 0.0,
                        "lr_scale": head_lr_mult if is_head else 1.0,
                    }
                )
    return result
