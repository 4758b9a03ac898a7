"""How many integrated-gradients steps a trained run needs: the completeness error per step count.

    python benchmarks/ig_completeness.py RUN [--images 100] [--data-dir DIR] [--steps 4 8 12 16 32]

For the first ``--images`` test images of the run's data set, from the black image (as
``cnnzoo visualize integrated-gradients``), prints the median, 90th percentile and worst relative
completeness error, ``|sum(attributions) - (f(x) - f(black))| / |f(x) - f(black)|``, and the
share of images above the CLI's 5% warning. docs/visualize.md quotes its figures for the course
CNN; cnnzoo.visualize.attribution.IG_STEPS is chosen from them and the speed benchmark.
"""

from __future__ import annotations

import argparse

import torch

from cnnzoo.visualize import attribute, completeness_error, load_source, source_images
from cnnzoo.visualize.attribution import COMPLETENESS_TOLERANCE


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", help="a run folder or checkpoint")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--data-dir", help="default: $CNNZOO_DATA")
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 12, 16, 32])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    source = load_source(args.run)
    images, _, _ = source_images(source, indices=range(args.images), data_dir=args.data_dir)
    x = source.prepare(images)
    black = source.prepare(torch.zeros_like(images[:1]))
    for steps in args.steps:
        maps = attribute(source.model, x, "integrated-gradients", steps=steps, baseline=black)
        errors = 100 * completeness_error(source.model, x, maps, None, black)
        over = 100 * float((errors > 100 * COMPLETENESS_TOLERANCE).float().mean())
        print(
            f"{steps:3d} steps: median {errors.median():.2f}%, 90th percentile "
            f"{errors.quantile(0.9):.2f}%, worst {errors.max():.2f}%; {over:.0f}% of "
            f"{len(x)} images over {100 * COMPLETENESS_TOLERANCE:g}%",
            flush=True,
        )


if __name__ == "__main__":
    main()
