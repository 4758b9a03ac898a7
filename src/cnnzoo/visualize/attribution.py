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

from cnnzoo.visualize.plots import to_display, unit_scale
from cnnzoo.visualize.source import LayerModel, find_layer, layer_output

__all__ = [
    "ATTRIBUTION_METHODS",
    "GradCamWarning",
    "attribute",
    "gradcam",
    "plot_attribution",
    "plot_gradcam",
    "project_units",
    "spatial_layers",
]


class GradCamWarning(UserWarning):
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


def predicted(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The predicted class of each image."""
    with torch.no_grad():
        return model.eval()(x).argmax(dim=1)


def attribute(
    model: nn.Module,
    x: torch.Tensor,
    method: str,
    target: int | Sequence[int] | torch.Tensor | None = None,
    *,
    steps: int = 32,
    baseline: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    """Input attribution ``(N, C, H, W)`` of class ``target`` (default: the prediction).

    ``method``: one of :data:`ATTRIBUTION_METHODS`. Integrated gradients integrates ``steps``
    points from ``baseline`` (pass the normalised black image for "from black").
    """
    model.eval()
    if target is None:
        target = predicted(model, x)
    if isinstance(target, int):
        target = torch.full((x.shape[0],), target, dtype=torch.long)
    target = torch.as_tensor(target)
    x = x.detach().clone().requires_grad_(True)
    if method == "saliency":
        return Saliency(model).attribute(x, target=target, abs=True).detach()
    if method == "deconvnet":
        return _Deconvolution(model).attribute(x, target=target).detach()
    if method == "guided-backprop":
        return _GuidedBackprop(model).attribute(x, target=target).detach()
    if method == "integrated-gradients":
        return (
            IntegratedGradients(model)
            .attribute(
                x,
                baselines=baseline,
                target=target,
                n_steps=steps,
                internal_batch_size=max(1, x.shape[0]) * steps,
            )
            .detach()
        )
    raise ValueError(
        f"unknown attribution method {method!r}; choose one of {', '.join(ATTRIBUTION_METHODS)}"
    )


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
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    kinds = {"deconvnet": _Deconvolution, "guided-backprop": _GuidedBackprop}
    if method not in kinds:
        raise ValueError(f"projection must be deconvnet or guided-backprop, got {method!r}")
    return kinds[method](LayerModel(model, layer)).attribute(x, target=units).detach()


def spatial_layers(model: nn.Module, x: torch.Tensor, layers: Sequence[str]) -> dict[str, tuple]:
    """``{layer: (H, W)}`` of each layer's output for ``x`` (one pass up to the deepest)."""
    sizes = {}
    with torch.no_grad():
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
    model.eval()
    if target is None:
        target = predicted(model, x)
    target = torch.as_tensor(target if not isinstance(target, int) else [target] * x.shape[0])
    cam = LayerGradCam(model, find_layer(model, layer))
    raw = cam.attribute(x, target=target, relu_attributions=True).detach()
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
        left.imshow(to_display(images[row]), cmap="gray")
        left.set_title(captions[row] if captions else "input", fontsize=8)
        attr = attributions[row]
        if method in ("deconvnet", "guided-backprop"):
            right.imshow(to_display(_signed_image(attr)), cmap="gray")
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
        left.imshow(picture, cmap="gray")
        left.set_title(captions[row] if captions else "input", fontsize=8)
        right.imshow(picture, cmap="gray")
        heat = right.imshow(cams[row].numpy(), cmap="jet", alpha=0.5, vmin=0)
        fig.colorbar(heat, ax=right, fraction=0.046)
        right.set_title(f"Grad-CAM at {layer}", fontsize=8)
        left.set_axis_off()
        right.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
