"""Gradient flow: the gradient norm of every layer's weights, at initialisation and after training.

The lectures' vanishing-gradient picture: in a deep plain network the gradients reaching the
first layers are much smaller than those at the top, and residual connections keep them level
(He, Zhang, Ren, Sun. Deep Residual Learning for Image Recognition. CVPR 2016, Sec. 4.2 compares
plain-20/56 with ResNet-20/56). The norms are measured on one fixed probe batch in training mode
(batch norm with batch statistics), before the first step and after ``steps`` SGD steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from matplotlib.figure import Figure

from cnnzoo.data import TensorSplit, iterate_batches, normalize
from cnnzoo.train import compute_loss

__all__ = ["GradientFlow", "gradient_flow", "gradient_norms", "plot_gradient_flow", "weight_layers"]


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


def gradient_norms(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """``||dL/dW||`` of each of :func:`weight_layers`, training mode, on one batch."""
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
    result = GradientFlow(weight_layers(model), {0: gradient_norms(model, probe, probe_labels)})
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    done = 0
    while done < steps:
        for images, labels in iterate_batches(
            split, batch_size, shuffle=True, generator=generator, drop_last=True
        ):
            model.train()
            loss, _ = compute_loss(model(normalize(images, mean, std)), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            result.losses.append(loss.item())
            done += 1
            if done == steps:
                break
    result.norms[steps] = gradient_norms(model, probe, probe_labels)
    return result


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
