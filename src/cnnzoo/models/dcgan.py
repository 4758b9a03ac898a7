"""DCGAN generator and discriminator for 28x28 images (MNIST, Fashion-MNIST).

A. Radford, L. Metz, S. Chintala. Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks. ICLR, 2016. Their architecture guidelines, kept here: no
pooling (strided convolutions in the discriminator, fractionally-strided ones in the
generator), batch norm in both nets except the generator's output and the discriminator's input,
ReLU in the generator with Tanh at the output, LeakyReLU (slope 0.2) in the discriminator,
weights drawn from N(0, 0.02).

Deviation: the paper's nets are 64x64 with four up/down-sampling stages; for 28x28 images the
generator projects z to 7x7 and doubles twice (7 -> 14 -> 28), and the discriminator halves twice
and ends in one linear logit. ``conditional=True`` adds the class (M. Mirza, S. Osindero.
Conditional Generative Adversarial Nets. 2014): a one-hot label concatenated to z, and
label planes concatenated to the discriminator's input.

Cards: the generator's ``input_size`` is ``(latent, 1, 1)`` (z as a 1x1 map), its ``in_chans``
the image channels it makes; ``num_classes`` is the number of labels a conditional net uses.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnzoo.registry import Paper, register_model

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "dcgan_init"]

RADFORD = Paper(
    authors="A. Radford, L. Metz, S. Chintala",
    title="Unsupervised Representation Learning with Deep Convolutional Generative Adversarial "
    "Networks",
    year=2016,
    venue="ICLR",
    url="https://arxiv.org/abs/1511.06434",
)


def dcgan_init(module: nn.Module) -> None:
    """The paper's initialisation: conv weights N(0, 0.02); BN weights N(1, 0.02), bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """z (N, latent) or (N, latent, 1, 1) [+ labels] -> image (N, out_chans, 28, 28) in [-1, 1].

    ``in_chans`` is the latent size (z is the generator's input), ``out_chans`` the image's.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 100,
        out_chans: int = 1,
        width: int = 32,
        conditional: bool = False,
    ) -> None:
        super().__init__()
        self.num_classes, self.in_chans, self.out_chans = num_classes, in_chans, out_chans
        self.latent, self.conditional = in_chans, conditional
        z_chans = in_chans + (num_classes if conditional else 0)
        self.net = nn.Sequential()
        self.net.add_module("project", nn.ConvTranspose2d(z_chans, 4 * width, 7, 1, 0, bias=False))
        self.net.add_module("bn1", nn.BatchNorm2d(4 * width))
        self.net.add_module("act1", nn.ReLU())
        self.net.add_module("up2", nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1, bias=False))
        self.net.add_module("bn2", nn.BatchNorm2d(2 * width))
        self.net.add_module("act2", nn.ReLU())
        self.net.add_module("up3", nn.ConvTranspose2d(2 * width, out_chans, 4, 2, 1))
        self.net.add_module("out", nn.Tanh())
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        z = z.flatten(1)
        if self.conditional:
            if labels is None:
                raise ValueError("a conditional generator needs labels (one class per sample)")
            z = torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """image (N, in_chans, 28, 28) [+ labels] -> one logit per image (real vs generated)."""

    def __init__(
        self, num_classes: int = 10, in_chans: int = 1, width: int = 32, conditional: bool = False
    ) -> None:
        super().__init__()
        self.num_classes, self.in_chans, self.conditional = num_classes, in_chans, conditional
        first = in_chans + (num_classes if conditional else 0)
        self.features = nn.Sequential()
        self.features.add_module("conv1", nn.Conv2d(first, 2 * width, 4, 2, 1))
        self.features.add_module("act1", nn.LeakyReLU(0.2))
        self.features.add_module("conv2", nn.Conv2d(2 * width, 4 * width, 4, 2, 1, bias=False))
        self.features.add_module("bn2", nn.BatchNorm2d(4 * width))
        self.features.add_module("act2", nn.LeakyReLU(0.2))
        self.flatten = nn.Flatten(1)
        self.head = nn.Linear(4 * width * 7 * 7, 1)
        self.apply(dcgan_init)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditional:
            if labels is None:
                raise ValueError("a conditional discriminator needs labels (one class per image)")
            planes = F.one_hot(labels, self.num_classes).to(images.dtype)[:, :, None, None]
            images = torch.cat([images, planes.expand(-1, -1, *images.shape[2:])], dim=1)
        return self.head(self.flatten(self.features(images))).squeeze(1)


_CARD = {
    "paper": RADFORD,
    "num_classes": 10,
    "task": "gan",
    "family": "dcgan",
    "dataset": "MNIST / Fashion-MNIST",
}


@register_model(
    input_size=(100, 1, 1),
    params=759_681,
    macs=7_250_432,
    reported="The paper's 64x64 nets are larger.",
    notes="z (100) -> 128x7x7 -> 64x14x14 -> 1x28x28, Tanh; input_size is z as a 100x1x1 map",
    **_CARD,
    no_figures="our 28x28 variant: the paper gives no count for it",
)
def dcgan28_generator(num_classes: int = 10, in_chans: int = 100, **kwargs) -> DCGANGenerator:
    """DCGAN generator for 28x28 images, width 32."""
    return DCGANGenerator(num_classes, in_chans, **kwargs)


@register_model(
    input_size=(1, 28, 28),
    params=138_689,
    macs=6_629_504,
    reported="The paper's 64x64 nets are larger.",
    notes="1x28x28 -> 64x14x14 -> 128x7x7 -> one logit; LeakyReLU 0.2",
    **_CARD,
    no_figures="our 28x28 variant: the paper gives no count for it",
)
def dcgan28_discriminator(num_classes: int = 10, in_chans: int = 1, **kwargs) -> DCGANDiscriminator:
    """DCGAN discriminator for 28x28 images, width 32."""
    return DCGANDiscriminator(num_classes, in_chans, **kwargs)
