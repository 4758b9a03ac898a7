"""Activation maximisation: the input that most excites a channel, a neuron or a class logit.

Gradient ascent on the image, ``x <- x + a * da/dx`` (the gradient divided by its mean magnitude
per image, so ``a`` is a step in pixel units whatever the layer's scale), regularised as
in Yosinski, Clune, Nguyen, Fuchs, Lipson. Understanding Neural Networks Through Deep
Visualization. 2015: L2 decay towards grey, a Gaussian blur every few steps, random jitter
(translations) before each step, and clipping to valid pixels. Optionally the image is
parameterised in a decorrelated Fourier basis with a 1/f spectrum and decorrelated colours (Olah,
Mordvintsev, Schubert. Feature Visualization. Distill 2017), which needs no blur or clipping.

Written here rather than taken from torch-lucent, which is unmaintained and pins 2020-era
dependencies. All channels of a grid are optimised together, one image per channel in one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib.figure import Figure

from cnnzoo.visualize.plots import grid_figure
from cnnzoo.visualize.source import as_channels_last, inspecting, layer_output

__all__ = ["Regularization", "maximize", "plot_maximized"]

# Lucid's colour correlation (square root of the ImageNet colour covariance, via SVD).
_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
_COLOR_SQRT = _COLOR_SQRT / _COLOR_SQRT.norm(dim=0).max()


@dataclass(frozen=True)
class Regularization:
    """Yosinski et al.'s regularisers (pixel parameterisation) and the step size."""

    steps: int = 128
    lr: float | None = None
    """Step size in units of the mean gradient magnitude (default: 0.05 for pixels, 0.002 for
    the Fourier spectrum, whose coefficients start at 0.01)."""
    l2_decay: float = 1e-3
    """Fraction of the distance to mid-grey removed at every step."""
    blur_every: int = 4
    blur_sigma: float = 0.5
    jitter: int = 2
    """Maximum random translation (pixels) before each step."""
    clip: bool = True
    parameterization: str = "pixel"
    """``"pixel"`` or ``"fourier"`` (decorrelated, 1/f-scaled spectrum; no blur, no clipping)."""


def _blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, round(2 * sigma))
    grid = torch.arange(-radius, radius + 1, dtype=image.dtype)
    kernel = torch.exp(-(grid**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    chans = image.shape[1]
    padded = F.pad(image, (radius,) * 4, mode="replicate")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(chans, 1, 1, 1), groups=chans)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).repeat(chans, 1, 1, 1), groups=chans)


class _FourierImage:
    """Pixels = sigmoid(colour-decorrelated inverse FFT of a 1/f-scaled spectrum)."""

    def __init__(self, shape: tuple[int, int, int, int], generator: torch.Generator) -> None:
        n, c, h, w = shape
        fy = torch.fft.fftfreq(h).view(-1, 1)
        fx = torch.fft.rfftfreq(w).view(1, -1)
        self.scale = 1.0 / torch.sqrt(fx**2 + fy**2).clamp_min(1.0 / max(h, w))
        self.size = (h, w)
        self.spectrum = (
            0.01 * torch.randn(n, c, h, w // 2 + 1, 2, generator=generator)
        ).requires_grad_()

    def params(self) -> list[torch.Tensor]:
        return [self.spectrum]

    def image(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        # As Lucid's fft_image: the 1/f scale times sqrt(H*W) with an inverse FFT that divides
        # by H*W (= an orthonormal one), then divided by 4.
        image = torch.fft.irfft2(spectrum, s=self.size, norm="ortho") / 4
        if image.shape[1] == 3:
            image = torch.einsum("nchw,dc->ndhw", image, _COLOR_SQRT)
        return torch.sigmoid(2 * image)


def _objective(
    model: nn.Module, x: torch.Tensor, layer: str | None, channels: torch.Tensor, unit: str
) -> torch.Tensor:
    out = model(x) if layer is None else layer_output(model, x, layer)
    rows = torch.arange(x.shape[0])
    if out.dim() == 2 or unit == "class":
        return out.flatten(1)[rows, channels]
    picked = out[rows, channels]
    if unit == "neuron":
        return picked[:, picked.shape[1] // 2, picked.shape[2] // 2]
    return picked.flatten(1).mean(1)


def maximize(
    model: nn.Module,
    layer: str | None,
    channels: Sequence[int],
    input_size: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    *,
    unit: str = "channel",
    regularization: Regularization = Regularization(),
    seed: int = 0,
) -> torch.Tensor:
    """Images ``(len(channels), C, H, W)`` in [0, 1] that maximise each of ``channels``.

    ``unit``: ``"channel"`` (the mean of a feature map), ``"neuron"`` (its centre unit) or
    ``"class"`` (a logit; ``layer`` None). ``mean``/``std`` are the model's normalisation, so the
    optimised pixels are real [0, 1] images.
    """
    if unit not in ("channel", "neuron", "class"):
        raise ValueError(f"unit must be channel, neuron or class, got {unit!r}")
    reg = regularization
    fourier = reg.parameterization == "fourier"
    if not fourier and reg.parameterization != "pixel":
        raise ValueError(f"parameterization must be pixel or fourier, got {reg.parameterization!r}")
    generator = torch.Generator().manual_seed(seed)
    shape = (len(channels), *input_size)
    if fourier:
        source = _FourierImage(shape, generator)  # type: ignore[arg-type]
        params, image_of = source.params(), source.image
    else:
        pixels = (0.5 + 0.01 * torch.randn(shape, generator=generator)).requires_grad_()
        params, image_of = [pixels], lambda: pixels
    objective = _Objective(model, layer, channels, unit, mean, std)
    step_size = reg.lr if reg.lr is not None else (0.002 if fourier else 0.05)
    with inspecting(model):  # gradients for the image only
        for step in range(reg.steps):
            image = image_of()
            if reg.jitter:
                dy, dx = torch.randint(-reg.jitter, reg.jitter + 1, (2,), generator=generator)
                image = torch.roll(image, (int(dy), int(dx)), dims=(2, 3))
            grads = torch.autograd.grad(objective(image).sum(), params)
            with torch.no_grad():
                _ascend(params, grads, step_size)
                if fourier:
                    source.spectrum.mul_(1 - reg.l2_decay)
                else:
                    _regularize(pixels, reg, step)
    with torch.no_grad():
        return image_of().detach().clamp(0, 1)


class _Objective:
    """The activation to maximise of each image, from [0, 1] pixels."""

    def __init__(
        self,
        model: nn.Module,
        layer: str | None,
        channels: Sequence[int],
        unit: str,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        self.model, self.layer, self.unit = model, layer, unit
        self.channels = torch.tensor(list(channels), dtype=torch.long)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        x = as_channels_last((image - self.mean) / self.std)
        return _objective(self.model, x, self.layer, self.channels, self.unit)


def _ascend(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], step: float) -> None:
    """One step along each gradient divided by its mean magnitude per image."""
    for param, grad in zip(params, grads, strict=True):
        scale = grad.abs().flatten(1).mean(1).clamp_min(1e-12)
        param.add_(grad / scale.view(-1, *[1] * (grad.dim() - 1)), alpha=step)


def _regularize(pixels: torch.Tensor, reg: Regularization, step: int) -> None:
    """Yosinski et al.'s L2 decay towards grey, periodic blur and clipping, in place."""
    pixels.sub_(reg.l2_decay * (pixels - 0.5))
    if reg.blur_every and (step + 1) % reg.blur_every == 0:
        pixels.copy_(_blur(pixels, reg.blur_sigma))
    if reg.clip:
        pixels.clamp_(0, 1)


def plot_maximized(
    images: torch.Tensor, channels: Sequence[int], what: str, title: str = ""
) -> Figure:
    """The optimised images, one per channel, each stretched to its own range."""
    shown = []
    for image in images:
        low, high = image.min(), image.max()
        shown.append((image - low) / (high - low).clamp_min(1e-6))
    return grid_figure(shown, titles=[f"{what} {c}" for c in channels], title=title, cell=1.4)
