"""Speed of cnnzoo.visualize against the targets of issue 13.

* every per-image method on ResNet-50 (random weights) at 3x224x224, one image: <= 2 s each;
* top-patches over 10,000 Fashion-MNIST test images for fashion_cnn (a run folder or random
  weights): <= 30 s;
* the CLI's default landscape for ResNet-20 (3x32x32): a 21x21 grid plus 21 interpolation
  points on 128 images, <= 5 min (``--full-landscape``; else a ``--landscape-grid`` square grid,
  scaled by the points).

    python benchmarks/visualize_speed.py [--run RUN] [--data-dir ../shared/datasets] [--threads 2]

Not run in CI. Each per-image method is called once to warm up, then timed (median of
``--repeats``); wall and process CPU time are printed, because on a shared machine the wall time
says more about the other jobs than about the method. ``old path`` rows repeat a pass the way
the methods ran before ``inspecting`` (weight gradients on, NCHW), side by side.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from cnnzoo.registry import create_model
from cnnzoo.visualize import (
    IG_STEPS,
    Regularization,
    activations,
    attribute,
    default_layers,
    gradcam,
    interpolate,
    load_source,
    maximize,
    source_images,
    surface,
    top_patches,
)


def timed(fn: Callable[[], object], repeats: int = 3) -> tuple[float, float]:
    """Median (wall, CPU) seconds of ``repeats`` calls after one warm-up call."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def _old_pass(model: torch.nn.Module, x: torch.Tensor) -> None:
    """One forward+backward to the input as before: weight gradients on, NCHW."""
    x = x.clone().requires_grad_(True)
    model(x)[:, 0].sum().backward()
    model.zero_grad(set_to_none=True)


def per_image_methods(repeats: int) -> None:
    """Print each method's time as soon as it is measured."""
    model = create_model("resnet50").eval()
    x = torch.randn(1, 3, 224, 224)
    stages = default_layers(model)
    mean, std = (0.5,) * 3, (0.25,) * 3

    def maximise(side: int, steps: int) -> Callable[[], object]:
        reg = Regularization(steps)
        return lambda: maximize(
            model, stages[-2], [0], (3, side, side), mean, std, regularization=reg
        )

    old = copy.deepcopy(model)
    calls: dict[str, Callable[[], object]] = {
        "activations (all stages)": lambda: activations(model, x, stages),
        "gradcam": lambda: gradcam(model, x, stages[-1], alternatives=stages),
        "old path: 1 fwd+bwd, weight grads, NCHW": lambda: _old_pass(old, x),
    }
    for method in ("saliency", "deconvnet", "guided-backprop"):
        calls[method] = lambda m=method: attribute(model, x, m, target=0)
    for steps in sorted({IG_STEPS, 16}):
        default = " (default)" if steps == IG_STEPS else ""
        calls[f"integrated-gradients, {steps} steps{default}"] = lambda n=steps: attribute(
            model, x, "integrated-gradients", target=0, steps=n
        )
    calls["maximize 224, 1 channel, 16 steps"] = maximise(224, 16)
    calls["maximize 128, 1 channel, 16 steps"] = maximise(128, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn in calls.items():
            wall, cpu = timed(fn, repeats)
            print(f"  {name:<44} wall {wall:6.2f} s  CPU {cpu:6.2f} s", flush=True)
            steps = re.search(r"(\d+) steps", name)
            if steps:
                per = wall / int(steps[1])
                print(
                    f"  {'':<4}per step wall {per:.3f} s, CPU {cpu / int(steps[1]):.3f} s: "
                    f"{int(2.0 / per)} steps fit 2 s at this wall time",
                    flush=True,
                )


def top_patches_time(run: str | None, data_dir: str | None) -> tuple[str, float, float]:
    source = load_source(run or "fashion_cnn")
    images, _, _ = source_images(
        source, None if run else "fashion_mnist", None, data_dir=data_dir, limit=10_000
    )
    start, cpu = time.perf_counter(), time.process_time()
    top_patches(source.model, images, source.prepare, "features.pool1", k=9)
    name = f"top-patches, {len(images):,} images, 8 channels, k=9"
    return name, time.perf_counter() - start, time.process_time() - cpu


def landscape_time(small: int | None, images: int = 128) -> tuple[str, float, float]:
    """The CLI default (1-D 21 points + 2-D 21x21 on ``images``), or a ``small`` grid scaled."""
    torch.manual_seed(0)
    model = create_model("resnet20").eval()
    x, y = torch.randn(images, 3, 32, 32), torch.randint(0, 10, (images,))
    batches = [(x, y)]
    state = model.state_dict()
    start, cpu = time.perf_counter(), time.process_time()
    if small is None:
        interpolate(model, state, state, batches, list(np.linspace(-0.5, 1.5, 21)))
        surface(model, batches, steps=21)
        name = f"landscape 21 points + 21x21, {images} images"
        return name, time.perf_counter() - start, time.process_time() - cpu
    # Every grid point costs the same (one pass over the subset): time a small grid with the same
    # code and scale by the number of points (the one-off direction set-up is scaled too).
    surface(model, batches, steps=small)
    scale = (21 + 21**2) / small**2
    name = f"landscape 21 points + 21x21, {images} images (scaled from {small}x{small})"
    return name, (time.perf_counter() - start) * scale, (time.process_time() - cpu) * scale


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", help="a fashion_cnn run folder (default: random weights)")
    parser.add_argument("--data-dir", help="folder holding FashionMNIST/raw")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--landscape-grid", type=int, default=4, help="small grid timed")
    parser.add_argument("--full-landscape", action="store_true")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["patches", "landscape", "methods"]
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per method")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if "patches" not in args.skip:
        name, wall, cpu = top_patches_time(args.run, args.data_dir)
        print(f"{name}: wall {wall:.1f} s, CPU {cpu:.1f} s (target <= 30 s)", flush=True)
    if "landscape" not in args.skip:
        name, wall, cpu = landscape_time(None if args.full_landscape else args.landscape_grid)
        print(
            f"{name}: wall {wall:.0f} s, CPU {cpu:.0f} s (target <= 300 s); load average "
            f"{os.getloadavg()[0]:.1f}",
            flush=True,
        )
    if "methods" not in args.skip:
        print("ResNet-50, 3x224x224, one image (target <= 2 s each):", flush=True)
        per_image_methods(args.repeats)


if __name__ == "__main__":
    main()
