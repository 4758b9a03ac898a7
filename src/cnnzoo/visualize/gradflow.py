"""Gradient flow: the gradient norm of every layer's weights, at initialisation and after training.

The lectures' vanishing-gradient picture: in a deep plain network the gradients reaching the
first layers are much smaller than those at the top, and residual connections keep them level
(He, Zhang, Ren, Sun. Deep Residual Learning for Image Recognition. CVPR 2016, Sec. 4.2 compares
plain-20/56 with ResNet-20/56). The norms are measured on one fixed probe batch in training mode
(batch norm with batch statistics), before the first step and after ``steps`` SGD steps.
"""

from __future__ import annotations

import contextlib
import itertools
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from matplotlib.figure import Figure
from torch.func import functional_call

from cnnzoo.data import TensorSplit, iterate_batches, normalize
from cnnzoo.train import compute_loss
from cnnzoo.visualize.source import VisualizeWarning

__all__ = [
    "AuxHeadWarning",
    "GradientFlow",
    "aux_heads_fitting",
    "gradient_flow",
    "gradient_norms",
    "plot_gradient_flow",
    "weight_layers",
]


class AuxHeadWarning(VisualizeWarning):
    """The auxiliary classifiers cannot run at this input size; the main loss is used alone."""


@dataclass
class GradientFlow:
    """Per-layer weight-gradient L2 norms (input first) at each recorded step."""

    layers: list[str]
    norms: dict[int, list[float]]
    losses: list[float] = field(default_factory=list)
    """Training loss of every step."""


def weight_layers(model: nn.Module) -> list[str]:
    """Convolutions and linear layers, in module (input-to-output) order."""
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, (nn.Conv2d, nn.Linear)) and module.weight.requires_grad
    ]


def _fits_in_training(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether a training-mode forward pass accepts ``x``'s shape: run on meta tensors (shapes
    only: no compute, and the real batch-norm statistics stay untouched)."""
    named = itertools.chain(model.named_parameters(), model.named_buffers())
    tensors = {name: torch.empty_like(t, device="meta") for name, t in named}
    was_training = model.training
    model.train()
    try:
        functional_call(model, tensors, (x.to("meta"),))
    except RuntimeError:
        return False
    finally:
        model.train(was_training)
    return True


@contextlib.contextmanager
def aux_heads_fitting(model: nn.Module, x: torch.Tensor) -> Iterator[bool]:
    """Keep GoogLeNet's / Inception v3's auxiliary heads on for training-mode passes if they fit
    ``x``'s size, else switch them off for the block (with an :class:`AuxHeadWarning`); yields
    whether they are on. The paper's heads pool 5x5/3 and need inputs of about 224 / 299."""
    if not getattr(model, "aux_logits", False) or _fits_in_training(model, x):
        yield bool(getattr(model, "aux_logits", False))
        return
    warnings.warn(
        f"{type(model).__name__}'s auxiliary heads need a larger input than "
        f"{'x'.join(map(str, x.shape[1:]))}; the gradients come from the main loss alone "
        "(aux layers 0)",
        AuxHeadWarning,
        stacklevel=4,  # past contextlib and gradient_norms / gradient_flow: the caller
    )
    model.aux_logits = False  # type: ignore[assignment]
    try:
        yield False
    finally:
        model.aux_logits = True  # type: ignore[assignment]


def gradient_norms(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """``||dL/dW||`` of each of :func:`weight_layers`, training mode, on one batch (the loss
    adds the auxiliary heads' where they fit the input, see :func:`aux_heads_fitting`)."""
    with aux_heads_fitting(model, x):
        return _gradient_norms(model, x, labels)


def _gradient_norms(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> list[float]:
    model.train()
    model.zero_grad(set_to_none=True)
    loss, _ = compute_loss(model(x), labels)
    loss.backward()
    modules = dict(model.named_modules())
    norms = []
    for name in weight_layers(model):
        grad = modules[name].weight.grad
        norms.append(float(grad.norm()) if grad is not None else 0.0)
    model.zero_grad(set_to_none=True)
    return norms


def gradient_flow(
    model: nn.Module,
    split: TensorSplit,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 0.05,
    momentum: float = 0.9,
    seed: int = 0,
) -> GradientFlow:
    """Norms at step 0 and after ``steps`` steps of SGD (``lr``, ``momentum``) on ``split``.

    ``model`` is trained in place (pass a copy to keep it)."""
    generator = torch.Generator().manual_seed(seed)
    probe_images, probe_labels = next(
        iterate_batches(split, batch_size, shuffle=True, generator=generator)
    )
    probe = normalize(probe_images, mean, std)
    with aux_heads_fitting(model, probe):
        result = GradientFlow(
            weight_layers(model), {0: _gradient_norms(model, probe, probe_labels)}
        )
        result.losses = _sgd(model, split, mean, std, steps, batch_size, lr, momentum, generator)
        result.norms[steps] = _gradient_norms(model, probe, probe_labels)
    return result


def _sgd(
    model: nn.Module,
    split: TensorSplit,
    mean: Sequence[float],
    std: Sequence[float],
    steps: int,
    batch_size: int,
    lr: float,
    momentum: float,
    generator: torch.Generator,
) -> list[float]:
    """``steps`` SGD steps in training mode; the loss of each."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    losses: list[float] = []
    while len(losses) < steps:
        for images, labels in iterate_batches(
            split, batch_size, shuffle=True, generator=generator, drop_last=True
        ):
            model.train()
            loss, _ = compute_loss(model(normalize(images, mean, std)), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if len(losses) == steps:
                break
    return losses


def plot_gradient_flow(flows: Mapping[str, GradientFlow], title: str = "") -> Figure:
    """Norm against layer depth, one colour per model, solid at initialisation and dashed after
    training, logarithmic; with the training losses beside it."""
    fig = Figure(figsize=(11, 4.2))
    ax, ax_loss = fig.subplots(1, 2, width_ratios=[2.2, 1])
    for colour, (label, flow) in enumerate(flows.items()):
        for step, norms in sorted(flow.norms.items()):
            style = "-" if step == 0 else "--"
            when = "initialisation" if step == 0 else f"after {step} steps"
            ax.plot(
                range(1, len(norms) + 1),
                norms,
                style,
                marker="o",
                markersize=3,
                color=f"C{colour}",
                label=f"{label}, {when}",
            )
        if flow.losses:
            ax_loss.plot(
                range(1, len(flow.losses) + 1), flow.losses, color=f"C{colour}", label=label
            )
    ax.set_yscale("log")
    ax.set_xlabel("layer (input -> output; convolutions and linear layers)")
    ax.set_ylabel("||dL/dW|| on a fixed batch")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("training loss")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
