"""Skip connections make the loss surface smooth; without them a deep net's is chaotic.

Li, Xu, Taylor, Studer, Goldstein, "Visualizing the Loss Landscape of Neural Nets" (NeurIPS
2018), Figure 5: the filter-normalised 2-D loss surface of ResNet-56 on CIFAR-10 is nearly
convex around the minimum, that of the same net without shortcuts (plain-56) is chaotic; at 20
layers both are still smooth. Here on Fashion-MNIST (CIFAR-10 is not on this machine) with
depth-degradation's members (its ``plan``, one depth: the same CIFAR nets and recipe, 28x28 grey
zero-padded to 32x32, one input channel); the surfaces come from
:func:`cnnzoo.visualize.surface` on a fixed subset of the training split (eval mode: the trained
batch-norm statistics).

Chaos is measured on the surface itself: the share of interior grid points where the
finite-difference Hessian of the loss (in the two plotted directions) has a negative
eigenvalue, i.e. where the surface is not locally convex. Li et al. show the same with the
Hessian's min/max eigenvalue ratio (their Fig. 7); the 2-D version needs no extra passes.
"""

from __future__ import annotations

import numpy as np
import torch

from cnnzoo.data import DataBundle, normalize
from cnnzoo.experiments.common import MEMBER_HEADERS, judge, member_rows, pct, test_error
from cnnzoo.experiments.core import Budget, Context, Experiment, Outcome
from cnnzoo.experiments.depth_degradation import plan
from cnnzoo.visualize import Surface, plot_contours, plot_surfaces, save_figure, surface


def nonconvex_share(losses: np.ndarray) -> float:
    """Share of interior points whose 2x2 finite-difference Hessian has a negative eigenvalue
    (NaN or infinite losses count as non-convex)."""
    centre = losses[1:-1, 1:-1]
    d_xx = losses[1:-1, 2:] - 2 * centre + losses[1:-1, :-2]
    d_yy = losses[2:, 1:-1] - 2 * centre + losses[:-2, 1:-1]
    d_xy = (losses[2:, 2:] - losses[2:, :-2] - losses[:-2, 2:] + losses[:-2, :-2]) / 4
    # Both eigenvalues >= 0 exactly when the trace and the determinant are.
    convex = (d_xx + d_yy >= 0) & (d_xx * d_yy - d_xy**2 >= 0)
    return float(1.0 - convex.mean()) if convex.size else 0.0


def _batches(bundle: DataBundle, images: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``images`` training images, normalised as in training, in batches of 256."""
    split = bundle.train
    count = min(images, len(split))
    x = normalize(split.images[:count], bundle.mean, bundle.std)
    labels = split.labels[:count]
    return [(x[i : i + 256], labels[i : i + 256]) for i in range(0, count, 256)]


def _surfaces(context: Context) -> dict[str, Surface]:
    options = context.budget.options
    surfaces = {}
    for result in context.results:
        batches = _batches(context.data[result.member.key], options["images"])
        surfaces[result.label] = surface(result.model, batches, steps=options["grid"], seed=0)
    return surfaces


def analyse(context: Context) -> Outcome:
    options = context.budget.options
    surfaces = _surfaces(context)
    (depth,) = options["depths"]
    res, plain = surfaces[f"resnet{depth}"], surfaces[f"plain{depth}"]
    share = {label: nonconvex_share(s.losses) for label, s in surfaces.items()}
    centre = options["grid"] // 2
    measured = {
        label: {
            "nonconvex_share": round(share[label], 4),
            "centre_loss": float(s.losses[centre, centre]),
            "max_loss": float(np.nanmax(s.losses)),
            "test_error": test_error(context.by_key(label)),
        }
        for label, s in surfaces.items()
    }
    found = (
        f"non-convex share of the {options['grid']}x{options['grid']} surface: "
        f"ResNet-{depth} {100 * share[f'resnet{depth}']:.1f}% vs plain-{depth} "
        f"{100 * share[f'plain{depth}']:.1f}%; loss at the minimum {res.losses[centre, centre]:.3f} "
        f"vs {plain.losses[centre, centre]:.3f}"
    )
    reproduced, verdict = judge(
        context,
        share[f"resnet{depth}"] < share[f"plain{depth}"],
        found,
        "the likely reason is the short training on a subset (Li et al. train 300 epochs on "
        "CIFAR-10) and a surface measured on few images",
    )
    title = (
        f"{context.budget.data}: filter-normalised loss surfaces (Li et al. 2018 Fig. 5), "
        f"{options['grid']}x{options['grid']} grid, {res.images} training images"
    )
    figures = [
        save_figure(plot_contours(surfaces, title), context.folder / "skip-landscape-contour.png"),
        save_figure(plot_surfaces(surfaces, title), context.folder / "skip-landscape-surface.png"),
    ]
    rows = [
        [label, f"{100 * share[label]:.1f}%", f"{m['centre_loss']:.3f}", pct(m["test_error"])]
        for label, m in measured.items()
    ]
    return Outcome(
        measured={"surfaces": measured, "grid": options["grid"], "images": res.images},
        reproduced=reproduced,
        verdict=verdict,
        tables=[
            (
                "Loss surface around the trained weights",
                ["model", "non-convex share", "loss at minimum", "test error"],
                rows,
            ),
            ("Runs", MEMBER_HEADERS, member_rows(context.results)),
        ],
        figures=figures,
    )


EXPERIMENT = Experiment(
    name="skip-landscape",
    title="Loss surfaces of ResNet-56 and plain-56 (with and without skip connections)",
    claim="Skip connections keep the loss surface smooth and nearly convex around the minimum; "
    "the same deep net without them has a chaotic surface.",
    source="seed deck 'CNN architectures' (ResNet slides, loss-surface figure); Li et al., "
    "Visualizing the Loss Landscape of Neural Nets, NeurIPS 2018, Figure 5",
    measures="the filter-normalised 2-D loss surface around each trained net on a fixed subset "
    "of the training split, and the share of its grid points where it is not locally convex",
    budgets={
        "smoke": Budget(
            "digits",
            epochs=1,
            limit=100,
            image_size=16,
            options={"depths": (20,), "grid": 3, "images": 32},
            note="digits at 16x16, depth 20, a 3x3 grid on 32 images",
        ),
        "quick": Budget(
            "fashion_mnist",
            epochs=4,
            limit=1500,
            image_size=32,
            minutes=15,
            options={"depths": (20,), "grid": 11, "images": 128},
            note="1,500 images per split, depth 20 (Li et al.'s smooth case), an 11x11 grid on "
            "128 images",
        ),
        "full": Budget(
            "fashion_mnist",
            epochs=24,
            limit=5000,
            image_size=32,
            minutes=120,
            options={"depths": (56,), "grid": 21, "images": 256},
            note="5,000 images per split, 24 epochs, depth 56, a 21x21 grid on 256 images",
        ),
    },
    plan=plan,
    analyse=analyse,
)
