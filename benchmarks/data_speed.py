"""Throughput of cnnzoo.data: augmentation presets on a 256-image batch (images/s), against
torchvision.transforms.v2 applied image by image (the usual Dataset.__getitem__ way), plus
load and one-epoch batching times.

    python benchmarks/data_speed.py [--data-dir ../shared/datasets] [--threads 1] [--repeats 20]

Not run in CI. Warm-up first, then the median of timed repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torchvision.transforms import v2

from cnnzoo.data import augmentation, iterate_batches, load_data, normalize

BATCH = 256


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds per call after two warm-up calls."""
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_image(
    transform: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor
) -> Callable[[], object]:
    return lambda: torch.stack([transform(img) for img in images])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder holding FashionMNIST/raw (default: CNNZOO_DATA, ./data)",
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), batch {BATCH}, median of {args.repeats}\n"
    )

    gen = torch.Generator().manual_seed(0)
    cases = {
        "fashion": (
            (1, 28, 28),
            v2.RandomAffine(degrees=8, translate=(0.08, 0.08), scale=(0.92, 1.08), shear=0.3),
        ),
        "cifar": (
            (3, 32, 32),
            v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()]),
        ),
        "imagenet": (
            (3, 224, 224),
            v2.Compose(
                [
                    v2.RandomResizedCrop(224, antialias=True),
                    v2.RandomHorizontalFlip(),
                    v2.ColorJitter(0.4, 0.4, 0.4),
                ]
            ),
        ),
    }
    print(f"{'preset':<10} {'input':<10} {'cnnzoo batched':>16} {'v2 per image':>14} {'ratio':>7}")
    for preset, (shape, reference) in cases.items():
        images = torch.randint(0, 256, (BATCH, *shape), dtype=torch.uint8, generator=gen)
        ours = augmentation(preset, shape[1:], generator=gen)
        t_ours = timed(lambda ours=ours, images=images: ours(images), args.repeats)
        t_ref = timed(per_image(reference, images), max(3, args.repeats // 4))
        print(
            f"{preset:<10} {'x'.join(map(str, shape)):<10} {BATCH / t_ours:>12,.0f} im/s "
            f"{BATCH / t_ref:>10,.0f} im/s {t_ref / t_ours:>6.1f}x"
        )

    try:
        start = time.perf_counter()
        data = load_data("fashion_mnist", args.data_dir)
        load_s = time.perf_counter() - start
    except FileNotFoundError as exc:
        print(f"\n(skipping the Fashion-MNIST epoch: {exc})")
        return
    print(f"\nload_data('fashion_mnist'): {load_s:.2f} s ({data})")

    def epoch(augment: Callable[[torch.Tensor], torch.Tensor] | None) -> None:
        for images, _ in iterate_batches(
            data.train, BATCH, shuffle=True, generator=gen, augment=augment
        ):
            normalize(images, data.mean, data.std)

    for name, augment in (
        ("none", None),
        ("fashion", augmentation("fashion", data.image_size, generator=gen)),
    ):
        seconds = timed(lambda augment=augment: epoch(augment), 3)
        print(
            f"one epoch of batches + normalize, {len(data.train)} images, augment={name}: "
            f"{seconds:.2f} s ({len(data.train) / seconds:,.0f} im/s)"
        )


if __name__ == "__main__":
    main()
