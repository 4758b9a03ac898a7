"""DCGAN training on MNIST / Fashion-MNIST, sample and interpolation grids, and scores computed
with a zoo classifier trained on the real set.

A. Radford, L. Metz, S. Chintala. Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks. ICLR, 2016: Adam with lr 2e-4 and beta1 0.5, batch norm, the
non-saturating generator loss of I. Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014.

Scores (T. Salimans et al., Improved Techniques for Training GANs, 2016; M. Heusel et al., GANs
Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium, 2017), with a
classifier ``C`` trained on the real training split instead of Inception-v3:

* confidence: the mean of ``max_y p_C(y | x)`` over generated images;
* classifier score (the Inception-score analogue): ``exp(E_x KL(p_C(y|x) || p_C(y)))`` with
  ``p_C(y)`` the mean prediction over the same images; between 1 and the number of classes;
* Frechet distance: ``||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))`` between Gaussians
  fitted to the classifier's penultimate features (the input of its head,
  ``model.get_classifier()``) of ``n`` real test images and ``n`` generated ones.

The same scores of real test images (against real training images for the distance) are the
reference a generator can at best reach.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib.figure import Figure
from torchvision.utils import make_grid

from cnnzoo.data import load_data
from cnnzoo.models.dcgan import DCGANDiscriminator, DCGANGenerator
from cnnzoo.registry import create_model
from cnnzoo.seq.loop import (
    commit_epoch,
    open_run,
    plot_history,
    restore,
    rng_state,
    train_classifier,
)
from cnnzoo.train import load_checkpoint, load_weights
from cnnzoo.train.checkpoint import atomic_write_text, atomic_write_with
from cnnzoo.train.runs import RunFolder

__all__ = [
    "GANConfig",
    "GANScores",
    "frechet_distance",
    "generate",
    "interpolation_grid",
    "load_generator",
    "save_grid",
    "score_generator",
    "score_images",
    "train_gan",
    "train_scorer",
    "write_scores",
]

DATASETS = ("mnist", "fashion_mnist", "digits")  # digits (resized to 28x28): tests, smoke runs


@dataclass
class GANConfig:
    data: str = "mnist"
    epochs: int = 3
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    latent: int = 100
    width: int = 32
    limit: int | None = None  # at most N training images (a fixed stratified subset)
    conditional: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.data not in DATASETS:
            raise ValueError(
                f"DCGAN here is for 28x28 data: {', '.join(DATASETS)}; got {self.data!r}"
            )
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be >= 1 and batch_size >= 2 (batch norm needs two)")


def _to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 in [0, 255] -> float in [-1, 1] (the generator's Tanh range)."""
    return images.float().div_(127.5).sub_(1.0)


def _fixed_inputs(config: GANConfig, n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(config.seed + 1000)
    z = torch.randn(n, config.latent, generator=generator)
    return z, torch.arange(n) % 10  # conditional grids: one class per column


def train_gan(
    config: GANConfig,
    data_dir: str | None = None,
    run_dir: str | Path | None = None,
    *,
    resume: bool = False,
    log: Callable[[str], None] | None = None,
) -> RunFolder:
    """Train a DCGAN in a run folder; a grid of the same 64 latent vectors after every epoch
    (``samples/epoch_NNN.png``). With ``resume`` the run continues after its last epoch."""
    say = log or (lambda line: None)
    name = "dcgan28" + ("_cond" if config.conditional else "")
    run, state = open_run(run_dir, (name, config.data), resume)
    if state is not None:
        config = GANConfig(**{**run.read_config(required=())["gan"], "epochs": config.epochs})
    data = load_data(
        config.data, data_dir, seed=config.seed, limit=config.limit, image_size=28, in_chans=1
    )
    real, labels = data.train.images, data.train.labels
    gen, disc, kwargs = _build_models(config)
    betas = (config.beta1, 0.999)
    opt_g = torch.optim.Adam(gen.parameters(), lr=config.lr, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=config.lr, betas=betas)
    shuffle = torch.Generator().manual_seed(config.seed)
    parts = {"model": gen, "discriminator": disc, "opt_g": opt_g, "opt_d": opt_d}
    history, _, start = restore(state, parts, shuffle, say, run)
    run.write_config(
        {
            "model": "dcgan28_generator",
            "model_kwargs": kwargs,
            "gan": asdict(config),
            "data": data.describe(),
            "torch": str(torch.__version__),
        }
    )
    z_fixed, y_fixed = _fixed_inputs(config)
    for epoch in range(start, config.epochs + 1):
        row = _train_epoch(gen, disc, opt_g, opt_d, real, labels, config, shuffle)
        row["epoch"] = epoch
        history.append(row)
        grid = generate(gen, z_fixed, y_fixed if config.conditional else None)
        nrow = 10 if config.conditional else 8
        save_grid(run.path / "samples" / f"epoch_{epoch:03d}.png", grid, nrow=nrow)
        meta = {"model": "dcgan28_generator", "model_kwargs": kwargs}
        saved = {"model": gen.state_dict(), "discriminator": disc.state_dict()}
        saved.update(opt_g=opt_g.state_dict(), opt_d=opt_d.state_dict(), rng=rng_state(shuffle))
        # No validation loss ranks GAN epochs: "best" is the last epoch.
        models = {"model": gen, "discriminator": disc}
        meta.update(epoch=epoch, metrics=row)
        commit_epoch(run, models, meta, {"epoch": epoch, **saved}, history, True)
        say(_epoch_line(row, epoch, config.epochs))
    plot_history(
        run.curves,
        history,
        {"losses": ("d_loss", "g_loss"), "discriminator output": ("d_real", "d_fake")},
        f"DCGAN on {config.data}",
    )
    return run


def _build_models(config: GANConfig) -> tuple[DCGANGenerator, DCGANDiscriminator, dict[str, Any]]:
    """The seeded generator and discriminator, and the generator's keyword arguments."""
    torch.manual_seed(config.seed)
    kwargs = {"in_chans": config.latent, "width": config.width, "conditional": config.conditional}
    gen = create_model("dcgan28_generator", **kwargs)
    disc = create_model("dcgan28_discriminator", width=config.width, conditional=config.conditional)
    return gen, disc, kwargs


def _epoch_line(row: dict[str, float], epoch: int, epochs: int) -> str:
    return (
        f"epoch {epoch}/{epochs}  D loss {row['d_loss']:.3f}  G loss {row['g_loss']:.3f}  "
        f"D(real) {row['d_real']:.2f}  D(fake) {row['d_fake']:.2f}  {row['seconds']:.1f}s "
        f"({row['images_per_second']:,.0f} img/s)"
    )


def _train_epoch(
    gen: DCGANGenerator,
    disc: DCGANDiscriminator,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    labels: torch.Tensor,
    config: GANConfig,
    shuffle: torch.Generator,
) -> dict[str, float]:
    """One pass: per batch a discriminator step on real + generated images, then a generator
    step with the non-saturating loss -log D(G(z))."""
    gen.train()
    disc.train()
    order = torch.randperm(len(real), generator=shuffle)
    sums = {"d_loss": 0.0, "g_loss": 0.0, "d_real": 0.0, "d_fake": 0.0}
    steps, t0 = 0, time.perf_counter()
    for idx in order.split(config.batch_size):
        if len(idx) < 2:
            continue
        x, y = _to_unit(real[idx]), labels[idx]
        y = y if config.conditional else None
        z = torch.randn(len(idx), config.latent)
        fake = gen(z, y)
        d_real, d_fake = disc(x, y), disc(fake.detach(), y)
        d_loss = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
        d_loss = d_loss + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_logits = disc(fake, y)
        g_loss = F.binary_cross_entropy_with_logits(g_logits, torch.ones_like(g_logits))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if not math.isfinite(float(g_loss.detach())):
            raise FloatingPointError("the generator loss became non-finite; try a lower --lr")
        sums["d_loss"] += float(d_loss.detach())
        sums["g_loss"] += float(g_loss.detach())
        sums["d_real"] += float(torch.sigmoid(d_real.detach()).mean())
        sums["d_fake"] += float(torch.sigmoid(d_fake.detach()).mean())
        steps += 1
    seconds = time.perf_counter() - t0
    row = {key: value / max(1, steps) for key, value in sums.items()}
    return {**row, "seconds": seconds, "images_per_second": steps * config.batch_size / seconds}


@torch.inference_mode()
def generate(
    gen: DCGANGenerator, z: torch.Tensor, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Images in [-1, 1] for latent vectors ``z`` (eval mode: batch norm uses its running stats)."""
    gen.eval()
    return torch.cat(
        [
            gen(chunk, None if labels is None else labels[i : i + 500])
            for i, chunk in zip(range(0, len(z), 500), z.split(500), strict=True)
        ]
    )


def interpolation_grid(
    gen: DCGANGenerator, rows: int = 8, steps: int = 10, seed: int = 0, label: int | None = None
) -> torch.Tensor:
    """``rows`` straight lines in latent space, each from one random z to another in ``steps``
    equal steps (the paper's "walking in the latent space"); images row by row."""
    generator = torch.Generator().manual_seed(seed)
    start, end = torch.randn(2, rows, gen.latent, generator=generator)
    t = torch.linspace(0, 1, steps)[None, :, None]
    z = (start[:, None] * (1 - t) + end[:, None] * t).reshape(rows * steps, gen.latent)
    labels = None
    if gen.conditional:  # one class per row, or ``label`` everywhere
        rows_label = (
            torch.arange(rows) % gen.num_classes if label is None else torch.full((rows,), label)
        )
        labels = rows_label.repeat_interleave(steps)
    return generate(gen, z, labels)


def save_grid(path: str | Path, images: torch.Tensor, nrow: int = 8) -> Path:
    """A PNG of ``images`` (in [-1, 1]) as a grid, one image pixel per screen pixel x 2."""
    grid = make_grid(images.clamp(-1, 1), nrow=nrow, padding=2, normalize=True, value_range=(-1, 1))
    height, width = grid.shape[1:]
    fig = Figure(figsize=(2 * width / 100, 2 * height / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(grid[0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    path = Path(path)
    atomic_write_with(path, lambda buffer: fig.savefig(buffer, format="png", dpi=100))
    return path


def load_generator(run_dir: str | Path) -> tuple[DCGANGenerator, dict[str, Any]]:
    run = RunFolder(run_dir)
    config = run.read_config(required=())
    if "gan" not in config:
        raise ValueError(
            f"{run.path} is not a DCGAN run (its config has no 'gan' section); give a folder made by `cnnzoo gan train`"
        )
    gen = create_model("dcgan28_generator", **config["model_kwargs"])
    load_weights(gen, run.last, name="dcgan28_generator")
    return gen.eval(), config


# -- scores ----------------------------------------------------------------------------------


def train_scorer(
    data: str,
    data_dir: str | None,
    run_dir: str | Path,
    epochs: int = 3,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Train the scoring classifier (the zoo's ``fashion_cnn``, recipe ``fashion-cnn``) on the
    real training split with the engine; an existing run folder is reused as it is."""
    return train_classifier("fashion_cnn", data, data_dir, run_dir, epochs, log)


@dataclass
class GANScores:
    n: int
    confidence: float
    classifier_score: float
    frechet_distance: float
    class_shares: list[float]
    label_accuracy: float | None = None  # conditional: generated images classified as asked

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.inference_mode()
def _predict(
    classifier: nn.Module, images01: torch.Tensor, mean: list[float], std: list[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax probabilities and penultimate features (the head's input) of images in [0, 1]."""
    classifier.eval()
    captured: list[torch.Tensor] = []
    hook = classifier.get_classifier().register_forward_pre_hook(
        lambda _m, args: captured.append(args[0].flatten(1))
    )
    probs = []
    try:
        for chunk in images01.split(1000):
            x = (chunk - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
            probs.append(torch.softmax(classifier(x), dim=1))
    finally:
        hook.remove()
    return torch.cat(probs), torch.cat(captured).double()


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to feature sets ``a`` and ``b`` (rows = samples).

    ``Tr((S_a S_b)^(1/2))`` is computed as the sum of square roots of the eigenvalues of the
    symmetric ``S_a^(1/2) S_b S_a^(1/2)`` (same eigenvalues), which needs only ``eigh``.
    """
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    vals, vecs = torch.linalg.eigh(cov_a)
    root_a = vecs @ torch.diag(vals.clamp(min=0).sqrt()) @ vecs.T
    middle = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp(min=0).sqrt().sum()
    return float((mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * middle)


def score_images(
    images01: torch.Tensor,
    reference01: torch.Tensor,
    classifier: nn.Module,
    mean: list[float],
    std: list[float],
    requested: torch.Tensor | None = None,
) -> GANScores:
    """The three scores of ``images01`` (float in [0, 1]) against ``reference01`` real images."""
    probs, feats = _predict(classifier, images01, mean, std)
    _, ref_feats = _predict(classifier, reference01, mean, std)
    marginal = probs.mean(0, keepdim=True)
    kl = (probs * (probs.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1)
    shares = torch.bincount(probs.argmax(1), minlength=probs.shape[1]).float() / len(probs)
    accuracy = None if requested is None else float((probs.argmax(1) == requested).float().mean())
    return GANScores(
        n=len(images01),
        confidence=float(probs.max(1).values.mean()),
        classifier_score=float(kl.mean().exp()),
        frechet_distance=frechet_distance(ref_feats, feats),
        class_shares=[round(float(s), 4) for s in shares],
        label_accuracy=accuracy,
    )


def score_generator(
    gen: DCGANGenerator,
    scorer_run: str | Path,
    data: str,
    data_dir: str | None,
    n: int = 5000,
    seed: int = 0,
) -> tuple[GANScores, GANScores]:
    """Scores of ``n`` generated images, and of ``n`` real test images (the reference: the
    distance then is real test vs real training images)."""
    classifier, meta = load_checkpoint(Path(scorer_run))
    mean, std = meta["data"]["mean"], meta["data"]["std"]
    bundle = load_data(data, data_dir, seed=seed, image_size=28, in_chans=1)
    pick = torch.randperm(len(bundle.train), generator=torch.Generator().manual_seed(seed))[:n]
    train01 = bundle.train.images[pick].float() / 255
    test01 = bundle.test.images[:n].float() / 255
    z = torch.randn(n, gen.latent, generator=torch.Generator().manual_seed(seed + 1))
    requested = torch.arange(n) % gen.num_classes if gen.conditional else None
    fake01 = (generate(gen, z, requested) + 1) / 2
    generated = score_images(fake01, test01, classifier, mean, std, requested)
    real = score_images(
        test01, train01, classifier, mean, std, bundle.test.labels[:n] if gen.conditional else None
    )
    return generated, real


def write_scores(path: Path, generated: GANScores, real: GANScores, extra: dict[str, Any]) -> None:
    atomic_write_text(
        path,
        json.dumps({"generated": generated.as_dict(), "real": real.as_dict(), **extra}, indent=2)
        + "\n",
    )
