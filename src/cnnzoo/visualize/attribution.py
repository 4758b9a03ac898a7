"""Which pixels a prediction depends on: gradients, deconvnet, guided backprop, Grad-CAM.

* Saliency: Simonyan, Vedaldi, Zisserman. Deep Inside Convolutional Networks: Visualising Image
  Classification Models and Saliency Maps. 2014 (|d logit / d pixel|, max over channels).
* Deconvnet: Zeiler, Fergus. Visualizing and Understanding Convolutional Networks. 2013/2014
  (ReLUs rectify the backward signal instead of masking it with the forward pass).
* Guided backpropagation: Springenberg, Dosovitskiy, Brox, Riedmiller. Striving for Simplicity:
  The All Convolutional Net. 2015 (both masks).
* Integrated gradients: Sundararajan, Taly, Yan. Axiomatic Attribution for Deep Networks. 2017
  (path integral of gradients from a black image).
* Grad-CAM: Selvaraju et al. Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
  Localization. 2017.

All come from captum 0.9, whose GuidedBackprop, Deconvolution and LayerGradCam matched
hand-written references exactly (also with in-place and reused ReLUs). captum modifies the
backward pass of ``nn.ReLU`` modules only; the subclasses below also treat ``nn.ReLU6``
(MobileNet v2) as a rectifier. Networks without ReLUs (LeNet-5's tanh) get plain gradients from
guided backprop and deconvnet.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
from captum._utils.common import _register_backward_hook
from captum.attr import (
    Deconvolution,
    GuidedBackprop,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    Saliency,
)
from matplotlib.figure import Figure

from cnnzoo.visualize.plots import show, to_display, unit_scale
from cnnzoo.visualize.source import (
    LayerModel,
    VisualizeWarning,
    as_channels_last,
    evaluating,
    find_layer,
    inspecting,
    layer_output,
)

__all__ = [
    "ATTRIBUTION_METHODS",
    "IG_STEPS",
    "CompletenessWarning",
    "GradCamWarning",
    "attribute",
    "check_completeness",
    "completeness_error",
    "gradcam",
    "plot_attribution",
    "plot_gradcam",
    "project_units",
    "spatial_layers",
]


class GradCamWarning(VisualizeWarning):
    """The chosen Grad-CAM layer has a 1x1 map, so the heat map cannot localise anything."""


class _RectifierHooks:
    """Register captum's ReLU backward override on ``nn.ReLU6`` too."""

    def _register_hooks(self, module: nn.Module) -> None:
        if isinstance(module, (nn.ReLU, nn.ReLU6)):
            hooks = _register_backward_hook(module, self._backward_hook, self)  # type: ignore[attr-defined]
            self.backward_hooks.extend(hooks)  # type: ignore[attr-defined]


class _Quiet:
    """captum warns on every call that it sets (and removes) ReLU hooks: that is the method."""

    def attribute(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
            return super().attribute(*args, **kwargs)  # type: ignore[misc]


class _GuidedBackprop(_Quiet, _RectifierHooks, GuidedBackprop):
    pass


class _Deconvolution(_Quiet, _RectifierHooks, Deconvolution):
    pass


ATTRIBUTION_METHODS = ("saliency", "deconvnet", "guided-backprop", "integrated-gradients")


# Integration steps of integrated gradients by default, chosen for the 2 s target (ResNet-50,
# 3x224x224, one image, 2 cores). Measured with benchmarks/visualize_speed.py --threads 1 on
# 2 Dec 2026 (CPU time: the shared 2-core machine was at a load of 9, so no idle wall time):
# 12 steps 3.4 CPU s, 16 steps 4.4 (0.28 s a step, 4 points per pass). Two idle cores roughly
# halve that, about 1.7 s for 12 steps (an estimate; an earlier, quieter session measured 2.66 s
# of wall time at 2 threads for 16 steps one point per pass). Completeness error of the trained
# course CNN over 100 Fashion-MNIST test images (benchmarks/ig_completeness.py): 12 steps median
# 1.3%, worst 10.7%; 16 steps 0.9%, 6.7%; 32 steps 0.4%, 2.5%. check_completeness warns above
# 5% and names more steps.
IG_STEPS = 12
COMPLETENESS_TOLERANCE = 0.05


class CompletenessWarning(VisualizeWarning):
    """Integrated gradients do not sum to the logit's change: more steps are needed."""


def predicted(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The predicted class of each image (no_grad, not inference mode: captum indexes with it
    inside an autograd graph)."""
    with evaluating(model), torch.no_grad():
        return model(x).argmax(dim=1)


def _targets(model: nn.Module, x: torch.Tensor, target: Any) -> torch.Tensor:
    if target is None:
        return predicted(model, x)
    if isinstance(target, int):
        return torch.full((x.shape[0],), target, dtype=torch.long)
    return torch.as_tensor(target)


def attribute(
    model: nn.Module,
    x: torch.Tensor,
    method: str,
    target: int | Sequence[int] | torch.Tensor | None = None,
    *,
    steps: int = IG_STEPS,
    baseline: torch.Tensor | float = 0.0,
    internal_batch_size: int = 4,
) -> torch.Tensor:
    """Input attribution ``(N, C, H, W)`` of class ``target`` (default: the prediction).

    ``method``: one of :data:`ATTRIBUTION_METHODS`. Integrated gradients integrates ``steps``
    Gauss-Legendre points from ``baseline`` (pass the normalised black image for "from black"),
    ``internal_batch_size`` points per image per pass (ResNet-50 at 224, 8 steps, 1 thread:
    2.43 CPU s one point per pass, 2.13 two, 1.97 four, 2.00 eight). Check the sum with
    :func:`completeness_error`. The model runs as :func:`inspecting` leaves it (eval mode, no
    weight gradients, channels-last) and comes back as it was.
    """
    if method not in ATTRIBUTION_METHODS:
        raise ValueError(
            f"unknown attribution method {method!r}; choose one of {', '.join(ATTRIBUTION_METHODS)}"
        )
    with inspecting(model):
        target = _targets(model, x, target)
        x = as_channels_last(x.detach().clone()).requires_grad_(True)
        if method == "saliency":
            result = Saliency(model).attribute(x, target=target, abs=True)
        elif method == "deconvnet":
            result = _Deconvolution(model).attribute(x, target=target)
        elif method == "guided-backprop":
            result = _GuidedBackprop(model).attribute(x, target=target)
        else:
            result = IntegratedGradients(model).attribute(
                x,
                baselines=baseline,
                target=target,
                n_steps=steps,
                internal_batch_size=internal_batch_size * x.shape[0],
            )
    return result.detach().contiguous()


def completeness_error(
    model: nn.Module,
    x: torch.Tensor,
    attributions: torch.Tensor,
    target: int | Sequence[int] | torch.Tensor | None = None,
    baseline: torch.Tensor | float = 0.0,
    *,
    logits: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per image ``|sum(attributions) - (f(x) - f(baseline))| / |f(x) - f(baseline)|``.

    Integrated gradients sum exactly to the target logit's change along the path
    (Sundararajan et al.'s completeness axiom) only in the limit of many steps; this relative
    error (captum's convergence delta over the change) says whether ``steps`` sufficed.
    ``logits``: the model's output for ``x`` if the caller has it (saves a forward pass); a
    baseline shared by all images (a number or one image) costs one single-image pass."""
    with evaluating(model), torch.inference_mode():
        if logits is None:
            logits = model(x)
        chosen = logits.argmax(dim=1) if target is None else _targets(model, x, target)
        start = torch.as_tensor(baseline, dtype=x.dtype)
        shared = start.dim() < 4 or start.shape[0] == 1
        start = start.expand_as(x[:1] if shared else x)
        rows = torch.arange(x.shape[0])
        change = (
            logits[rows, chosen] - model(start)[torch.zeros_like(rows) if shared else rows, chosen]
        )
    total = attributions.flatten(1).sum(1)
    return (total - change).abs() / change.abs().clamp_min(1e-12)


def check_completeness(errors: torch.Tensor, steps: int) -> float:
    """The worst relative completeness error; warns above :data:`COMPLETENESS_TOLERANCE`."""
    worst = float(errors.max())
    if worst > COMPLETENESS_TOLERANCE:
        warnings.warn(
            f"integrated gradients with {steps} steps miss completeness by {100 * worst:.1f}% "
            f"(over {100 * COMPLETENESS_TOLERANCE:g}%); give more --steps, e.g. {2 * steps}",
            CompletenessWarning,
            stacklevel=2,
        )
    return worst


def project_units(
    model: nn.Module,
    x: torch.Tensor,
    layer: str,
    units: torch.Tensor,
    method: str = "deconvnet",
) -> torch.Tensor:
    """Deconvnet (or guided-backprop) projections ``(N, C, H, W)`` of one unit per image of
    ``layer``'s output (``units``: flat indices into each image's ``(C, H, W)`` map), in one
    backward pass. Without max-pooling a deconvnet projection does not depend on the image at
    all (its ReLUs ignore the forward pass; only the pooling switches carry the image), so for
    networks without max-pooling guided backprop shows more."""
    kinds = {"deconvnet": _Deconvolution, "guided-backprop": _GuidedBackprop}
    if method not in kinds:
        raise ValueError(f"projection must be deconvnet or guided-backprop, got {method!r}")
    with inspecting(model):
        x = as_channels_last(x.detach().clone()).requires_grad_(True)
        projected = kinds[method](LayerModel(model, layer)).attribute(x, target=units)
    return projected.detach().contiguous()


def spatial_layers(model: nn.Module, x: torch.Tensor, layers: Sequence[str]) -> dict[str, tuple]:
    """``{layer: (H, W)}`` of each layer's output for ``x`` (one pass up to the deepest)."""
    sizes = {}
    with evaluating(model), torch.inference_mode():
        for name in layers:
            out = layer_output(model, x[:1], name)
            sizes[name] = tuple(out.shape[2:]) if out.dim() == 4 else (1, 1)
    return sizes


def gradcam(
    model: nn.Module,
    x: torch.Tensor,
    layer: str,
    target: int | Sequence[int] | torch.Tensor | None = None,
    *,
    alternatives: Sequence[str] = (),
) -> torch.Tensor:
    """Grad-CAM ``(N, H, W)`` at the input's resolution (bilinear), ReLU'd, for ``layer``.

    A layer whose map is 1x1 localises nothing: :class:`GradCamWarning` says so and names the
    deepest of ``alternatives`` (e.g. the ``feature_info`` stages) that still has a map.
    """
    with inspecting(model):
        cam = LayerGradCam(model, find_layer(model, layer))
        chosen = _targets(model, x, target)
        raw = cam.attribute(as_channels_last(x), target=chosen, relu_attributions=True).detach()
    if raw.shape[-2:] == (1, 1):
        sizes = spatial_layers(model, x, alternatives)
        better = [name for name in alternatives if sizes[name] != (1, 1)]
        hint = (
            f"use --layer {better[-1]} ({'x'.join(map(str, sizes[better[-1]]))})"
            if better
            else "give a larger input or an earlier layer"
        )
        warnings.warn(
            f"Grad-CAM layer {layer!r} has a 1x1 map at input {'x'.join(map(str, x.shape[1:]))}, "
            f"so the heat map is flat; {hint}",
            GradCamWarning,
            stacklevel=2,
        )
    return LayerAttribution.interpolate(raw, tuple(x.shape[-2:]), "bilinear")[:, 0]


def _signed_image(attr: torch.Tensor) -> torch.Tensor:
    """A deconvnet/guided-backprop attribution shown as ZFNet does: zero is grey."""
    return unit_scale(attr, symmetric=True)


def plot_attribution(
    images: torch.Tensor,
    attributions: torch.Tensor,
    method: str,
    *,
    captions: Sequence[str] = (),
    title: str = "",
) -> Figure:
    """One row per image: the input and its attribution. Saliency and integrated gradients are
    heat maps (max |.| and sum over channels) with a colour bar; deconvnet and guided backprop are
    images (zero grey), as in the papers."""
    count = images.shape[0]
    fig = Figure(figsize=(5.2, 2.5 * count + 0.4))
    axes = fig.subplots(count, 2, squeeze=False)
    for row in range(count):
        left, right = axes[row]
        show(left, to_display(images[row]))
        left.set_title(captions[row] if captions else "input", fontsize=8)
        attr = attributions[row]
        if method in ("deconvnet", "guided-backprop"):
            show(right, to_display(_signed_image(attr)))
        elif method == "saliency":
            shown = right.imshow(attr.abs().amax(0).numpy(), cmap="hot")
            fig.colorbar(shown, ax=right, fraction=0.046)
        else:
            summed = attr.sum(0)
            bound = float(summed.abs().max().clamp_min(1e-12))
            shown = right.imshow(summed.numpy(), cmap="bwr", vmin=-bound, vmax=bound)
            fig.colorbar(shown, ax=right, fraction=0.046)
        right.set_title(method, fontsize=8)
        left.set_axis_off()
        right.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_gradcam(
    images: torch.Tensor,
    cams: torch.Tensor,
    layer: str,
    *,
    captions: Sequence[str] = (),
    title: str = "",
) -> Figure:
    """The input and the Grad-CAM heat map over it, with a colour bar, one row per image."""
    count = images.shape[0]
    fig = Figure(figsize=(5.4, 2.5 * count + 0.4))
    axes = fig.subplots(count, 2, squeeze=False)
    for row in range(count):
        left, right = axes[row]
        picture = to_display(images[row])
        show(left, picture)
        left.set_title(captions[row] if captions else "input", fontsize=8)
        show(right, picture)
        heat = right.imshow(cams[row].numpy(), cmap="jet", alpha=0.5, vmin=0)
        fig.colorbar(heat, ax=right, fraction=0.046)
        right.set_title(f"Grad-CAM at {layer}", fontsize=8)
        left.set_axis_off()
        right.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
