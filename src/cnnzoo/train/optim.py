"""Optimizers and learning-rate schedules built from a :class:`Recipe`.

The schedule is one small object rather than a chain of torch schedulers: the learning rate
at any iteration is ``base_lr x warm-up factor x schedule factor x plateau scale``, so warm-up
composes with every schedule (including "divide by 10 when validation stalls", which torch's
``SequentialLR`` cannot chain), and its whole state is a few numbers saved with the run.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn

from cnnzoo.train.recipes import Recipe

__all__ = ["LRSchedule", "build_optimizer", "param_groups"]


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weights of conv/linear layers only, not on biases or norm parameters.

    This is what the ResNet-era recipes mean by "weight decay" in practice (decaying BN scales
    only hurts); the papers do not distinguish, and with one group the effect is small.
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        (decay if param.ndim > 1 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def _fused(groups: list[dict[str, Any]]) -> dict[str, bool]:
    """``fused=True`` where PyTorch has a fused CPU kernel for every parameter: one pass over
    each tensor instead of one per arithmetic op (Adam's update is ~3x faster)."""
    params = [p for group in groups for p in group["params"]]
    ok = params and all(p.device.type == "cpu" and p.dtype == torch.float32 for p in params)
    return {"fused": True} if ok else {}


def skips_blocks(model: nn.Module) -> bool:
    """Whether some parameters can miss their gradient in a step: stochastic depth that drops
    whole blocks (``drop_prob`` > 0). Fused SGD with momentum fails on such a step in torch 2.14
    ("expected Tensor as element N ... got NoneType") once some momentum buffers exist and others
    do not, so those models take the foreach path, which skips a parameter without a gradient."""
    return any(getattr(module, "drop_prob", 0.0) > 0.0 for module in model.modules())


def build_optimizer(
    model: nn.Module, recipe: Recipe, groups: list[dict[str, Any]] | None = None
) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov), Adam, AdamW or RMSprop as the recipe says.

    ``groups`` replaces :func:`param_groups` (e.g. fine-tuning: a frozen backbone left out, or
    a smaller rate for it): torch parameter groups, each optionally with ``lr_scale`` (its rate
    is ``recipe.lr x lr_scale`` throughout the schedule) and ``weight_decay`` (default: the
    recipe's).
    """
    if groups is None:
        groups = param_groups(model, recipe.weight_decay)
    else:
        groups = [{"weight_decay": recipe.weight_decay, **group} for group in groups]
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            groups,
            lr=recipe.lr,
            momentum=recipe.momentum,
            nesterov=recipe.nesterov and recipe.momentum > 0,
            **({} if skips_blocks(model) else _fused(groups)),
        )
    if recipe.optimizer == "adam":
        return torch.optim.Adam(
            groups,
            lr=recipe.lr,
            betas=(recipe.betas[0], recipe.betas[1]),
            eps=recipe.eps,
            **_fused(groups),
        )
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(
            groups,
            lr=recipe.lr,
            betas=(recipe.betas[0], recipe.betas[1]),
            eps=recipe.eps,
            **_fused(groups),
        )
    if recipe.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            groups, lr=recipe.lr, alpha=recipe.alpha, eps=recipe.eps, momentum=recipe.momentum
        )
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}")


class LRSchedule:
    """Sets the learning rate of every parameter group before each iteration.

    Call :meth:`step_iteration` before each optimizer step and :meth:`step_epoch` with the
    epoch's validation metric after each epoch.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int
    ) -> None:
        self.optimizer = optimizer
        self.recipe = recipe
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.total_steps = recipe.epochs * self.steps_per_epoch
        self.base_lrs = [recipe.lr * g.get("lr_scale", 1.0) for g in optimizer.param_groups]
        self.iteration = 0
        self.plateau_scale = 1.0
        self.plateau_best: float | None = None
        self.plateau_bad_epochs = 0
        self._apply()

    # -- the rate ------------------------------------------------------------------------------
    def _units(self, iteration: int) -> float:
        """``iteration`` measured in the recipe's schedule unit."""
        if self.recipe.schedule_unit == "iteration":
            return float(iteration)
        return iteration / self.steps_per_epoch

    def factor(self, iteration: int) -> float:
        """Multiplier of the base learning rate at ``iteration`` (plateau scale excluded)."""
        r = self.recipe
        units = self._units(iteration)
        warm = 1.0
        if r.warmup > 0 and units < r.warmup:
            warm = 0.01 + 0.99 * units / r.warmup
        if r.schedule in ("constant", "plateau"):
            return warm
        if r.schedule == "step":
            # The epoch (or iteration) index, counted as the schedule's unit, starts at 0.
            return warm * r.gamma ** math.floor(units / r.step_size)
        if r.schedule == "multistep":
            return warm * r.gamma ** sum(1 for m in r.milestones if units >= m)
        progress = min(1.0, iteration / max(1, self.total_steps))
        if r.schedule == "cosine":
            floor = r.min_lr / r.lr
            return warm * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))
        if r.schedule == "onecycle":
            # torch.optim.lr_scheduler.OneCycleLR's defaults, on the rate only: from lr/25 up to lr
            # over the first 30 %, then cosine down to lr/25/1e4.
            start, end, peak = 1 / 25, 1 / 25 / 1e4, 0.3
            if progress < peak:
                t = progress / peak
                return start + (1 - start) * 0.5 * (1 - math.cos(math.pi * t))
            t = (progress - peak) / (1 - peak)
            return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * t))
        raise ValueError(f"unknown schedule {r.schedule!r}")

    def current_lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def _apply(self) -> None:
        factor = self.factor(self.iteration) * self.plateau_scale
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = max(self.recipe.min_lr, base * factor)

    def step_iteration(self) -> None:
        """Advance one iteration (call after ``optimizer.step()``)."""
        self.iteration += 1
        self._apply()

    def step_epoch(self, metric: float) -> bool:
        """Feed the epoch's validation ``metric``; returns True when the plateau rule cut the rate.

        Like ``ReduceLROnPlateau`` (mode from the monitor, relative threshold 1e-4): after
        ``patience`` epochs without improvement the rate is multiplied by ``gamma``.
        """
        if self.recipe.schedule != "plateau":
            return False
        if improved(metric, self.plateau_best, self.recipe.monitor):
            self.plateau_best = metric
            self.plateau_bad_epochs = 0
            return False
        self.plateau_bad_epochs += 1
        if self.plateau_bad_epochs > self.recipe.patience:
            self.plateau_scale *= self.recipe.gamma
            self.plateau_bad_epochs = 0
            self._apply()
            return True
        return False

    # -- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "plateau_scale": self.plateau_scale,
            "plateau_best": self.plateau_best,
            "plateau_bad_epochs": self.plateau_bad_epochs,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.iteration = int(state["iteration"])
        self.plateau_scale = float(state["plateau_scale"])
        self.plateau_best = state["plateau_best"]
        self.plateau_bad_epochs = int(state["plateau_bad_epochs"])
        self._apply()


def improved(value: float, best: float | None, monitor: str, threshold: float = 1e-4) -> bool:
    """Whether ``value`` beats ``best`` for ``monitor`` (accuracy: higher, loss: lower)."""
    if best is None:
        return not math.isnan(value)
    if monitor.endswith("loss"):
        return value < best * (1 - threshold)
    return value > best * (1 + threshold)
