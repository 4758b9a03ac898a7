"""Speed of cnnzoo.visualize against the targets of issue 13.

* every per-image method on ResNet-50 (random weights) at 3x224x224, one image: <= 2 s each;
* top-patches over 10,000 Fashion-MNIST test images for fashion_cnn (a run folder or random
  weights): <= 30 s;
* the default 21x21 landscape grid for ResNet-20 (3x32x32) on a 500-image subset: <= 5 min
  (timed on a ``--landscape-grid`` square grid and scaled by the points, or ``--full-landscape``).

    python benchmarks/visualize_speed.py [--run RUN] [--data-dir ../shared/datasets] [--threads 2]

Not run in CI. Each per-image method is called once to warm up, then timed (median of ``--repeats``).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch

from cnnzoo.registry import create_model
from cnnzoo.visualize import (
    Regularization,
    activations,
    attribute,
    default_layers,
    gradcam,
    load_source,
    maximize,
    source_images,
    surface,
    top_patches,
)


def timed(fn: Callable[[], object], repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_image_methods(repeats: int) -> None:
    """Print each method's time as soon as it is measured."""
    model = create_model("resnet50").eval()
    x = torch.randn(1, 3, 224, 224)
    stages = default_layers(model)
    mean, std = (0.5,) * 3, (0.25,) * 3
    calls: dict[str, Callable[[], object]] = {
        "activations (all stages)": lambda: activations(model, x, stages),
        "maximize (1 channel, 16 steps)": lambda: maximize(
            model, stages[-2], [0], (3, 224, 224), mean, std, regularization=Regularization(16)
        ),
        "gradcam": lambda: gradcam(model, x, stages[-1], alternatives=stages),
    }
    for method in ("saliency", "deconvnet", "guided-backprop", "integrated-gradients"):
        calls[method] = lambda m=method: attribute(model, x, m, target=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn in calls.items():
            print(f"  {name:<32} {timed(fn, repeats):6.2f} s", flush=True)


def top_patches_time(run: str | None, data_dir: str | None) -> tuple[str, float]:
    source = load_source(run or "fashion_cnn")
    images, _, _ = source_images(
        source, None if run else "fashion_mnist", None, data_dir=data_dir, limit=10_000
    )
    start = time.perf_counter()
    top_patches(source.model, images, source.prepare, "features.pool1", k=9)
    return f"top-patches, {len(images):,} images, 8 channels, k=9", time.perf_counter() - start


def landscape_time(small: int | None) -> tuple[str, float]:
    torch.manual_seed(0)
    model = create_model("resnet20").eval()
    x, y = torch.randn(500, 3, 32, 32), torch.randint(0, 10, (500,))
    batches = [(x[:250], y[:250]), (x[250:], y[250:])]
    start = time.perf_counter()
    if small is None:
        surface(model, batches, steps=21)
        return "landscape 21x21, 500 images", time.perf_counter() - start
    # Every grid point costs the same (one pass over the subset): time a small grid with the same
    # code and scale by the number of points (the one-off direction set-up is scaled too).
    surface(model, batches, steps=small)
    elapsed = (time.perf_counter() - start) * 21**2 / small**2
    return f"landscape 21x21, 500 images (extrapolated from {small}x{small})", elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", help="a fashion_cnn run folder (default: random weights)")
    parser.add_argument("--data-dir", help="folder holding FashionMNIST/raw")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--landscape-grid", type=int, default=4, help="small grid timed")
    parser.add_argument("--full-landscape", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per method")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    name, seconds = top_patches_time(args.run, args.data_dir)
    print(f"{name}: {seconds:.1f} s (target <= 30 s)", flush=True)
    name, seconds = landscape_time(None if args.full_landscape else args.landscape_grid)
    print(f"{name}: {seconds:.0f} s (target <= 300 s)", flush=True)
    print("ResNet-50, 3x224x224, one image (target <= 2 s each):", flush=True)
    per_image_methods(args.repeats)


if __name__ == "__main__":
    main()
