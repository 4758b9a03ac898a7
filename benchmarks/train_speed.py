"""Training speed: cnnzoo's engine vs a plain eager PyTorch loop, same model, same batch size.

For each model (the course's Fashion-MNIST CNN, LeNet-5, CIFAR ResNet-20 if registered) this
times ``--epochs`` training epochs over N in-memory images and keeps the median epoch

* ``eager``: the usual tutorial loop -- a ``DataLoader`` over a ``TensorDataset`` of float
  tensors (normalised once, up front), ``shuffle=True``, Adam, forward / loss / backward / step;
* ``engine``: :func:`cnnzoo.train.fit` (uint8 batches gathered and normalised on whole batches,
  fused optimizer, progress/metrics bookkeeping, checkpoints and run files written): with
  PyTorch's ops only (``fused=False``), with its default fused kernels (cnnzoo.train.fused), and
  with each speed option (channels_last, bf16 autocast, both; torch.compile with ``--compile``);

and reports images/s, seconds per 48k-image epoch, the speed-up over eager, and model FLOP
utilisation: ``MACs x 2 x 3`` (forward + backward) per image x images/s, against the measured
fp32 and bf16 matmul peaks of this machine. The images are random (speed does not depend on
content); accuracy is checked separately (docs/training.md).

On a machine shared with other jobs, wall-clock timings mostly measure the other jobs; with
``--threads 1 --clock cpu`` every loop is timed in CPU seconds of this process instead, which
stays comparable under load (the engine's own timer is switched to the CPU clock as well).

    python benchmarks/train_speed.py                       # all models, torch's thread count
    python benchmarks/train_speed.py --models fashion_cnn --threads 2 --images 48000
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import cnnzoo.train.engine as engine_module
from cnnzoo.analysis import summary
from cnnzoo.analysis.throughput import matmul_peak_gflops
from cnnzoo.data import DataBundle, TensorSplit
from cnnzoo.registry import create_model, get_model_card, is_model
from cnnzoo.train import Recipe, fit

DEFAULT_IMAGES = {"fashion_cnn": 24_000, "lenet5": 24_000}
"""Images per timed epoch; others get ``100G / MACs`` (a few seconds each)."""
ENGINE_CONFIGS = {
    "fp32, torch ops": {"fused": False},
    "fp32": {},
    "channels_last": {"channels_last": True},
    "bf16": {"bf16": True},
    "bf16+channels_last": {"bf16": True, "channels_last": True},
}


def synthetic_bundle(input_size: tuple[int, int, int], n: int, classes: int = 10) -> DataBundle:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, *input_size), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, classes, (n,), generator=generator)
    small = TensorSplit(images[:256].clone(), labels[:256].clone())
    return DataBundle(
        name="synthetic",
        train=TensorSplit(images, labels),
        val=small,
        test=small,
        classes=[str(c) for c in range(classes)],
        mean=(0.5,) * input_size[0],
        std=(0.25,) * input_size[0],
        split_seed=0,
        source="random uint8 images",
    )


CLOCK = time.perf_counter


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """Best GFLOP/s of a square matmul on CLOCK (cnnzoo.analysis's peak, on either clock)."""
    if CLOCK is time.perf_counter:
        return matmul_peak_gflops(dtype, size, repeats)
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = CLOCK()
        torch.mm(a, b)
        best = min(best, CLOCK() - start)
    return 2 * size**3 / best / 1e9


def eager_loop(name: str, data: DataBundle, batch_size: int) -> Callable[[], float]:
    """A function that runs one epoch of the tutorial loop and returns its images/s."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=data.num_classes, in_chans=data.in_chans)
    x = (data.train.images.float() / 255 - 0.5) / 0.25
    loader = DataLoader(TensorDataset(x, data.train.labels), batch_size=batch_size, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def epoch() -> float:
        start = CLOCK()
        for images, labels in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
        return len(x) / (CLOCK() - start)

    return epoch


def engine_epoch(
    name: str, data: DataBundle, batch_size: int, epochs: int = 1, **options: bool
) -> float:
    """images/s of cnnzoo.train.fit's training loop (validation and file writes excluded): the
    median over ``epochs`` epochs."""
    recipe = Recipe(
        name="bench", optimizer="adam", lr=1e-3, batch_size=batch_size, epochs=epochs, **options
    )
    torch.manual_seed(0)
    model = create_model(name, num_classes=data.num_classes, in_chans=data.in_chans)
    with tempfile.TemporaryDirectory() as run_dir:
        result = fit(model, data, recipe, Path(run_dir) / "run", evaluate_test=False)
    return statistics.median(row["images_per_second"] for row in result.history)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["fashion_cnn", "lenet5", "resnet20"])
    parser.add_argument(
        "--images",
        type=int,
        help="images per epoch (default: 24k for the small CNNs, 100G / MACs for the others)",
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--epochs",
        type=int,
        default=3,
        help="rounds of one epoch per loop (interleaved); medians and ranges are reported",
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--compile", action="store_true", help="also time torch.compile (slow warm-up)"
    )
    parser.add_argument("--skip-eager", action="store_true")
    parser.add_argument(
        "--peak",
        type=float,
        help="fp32 matmul GFLOP/s for MFU (bf16: half of it) instead of the one measured now, "
        "which a loaded machine understates",
    )
    parser.add_argument(
        "--configs",
        nargs="+",
        choices=list(ENGINE_CONFIGS),
        help="engine configurations to time (default: all)",
    )
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: CPU seconds (use with --threads 1)",
    )
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.clock == "cpu":
        # The engine times its training loop with time.perf_counter; give it the CPU clock.
        engine_module.time = SimpleNamespace(perf_counter=time.process_time)
    if args.threads:
        torch.set_num_threads(args.threads)
    # Warm-up: the first fit imports TensorBoard and matplotlib; keep that out of the timings.
    engine_epoch("lenet5", synthetic_bundle((1, 32, 32), 64), 32)
    configs = {k: v for k, v in ENGINE_CONFIGS.items() if k in (args.configs or ENGINE_CONFIGS)}
    if args.compile:
        configs["compile+bf16"] = {"compile": True, "bf16": True}
    peak32, peak16 = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)
    if args.peak:
        print(f"measured matmul peak: fp32 {peak32:.0f}, bf16 {peak16:.0f} GFLOP/s")
        peak32, peak16 = args.peak, args.peak / 2
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
        f"{args.clock} clock"
    )
    print(f"matmul peak: fp32 {peak32:.0f} GFLOP/s, bf16 {peak16:.0f} GFLOP/s")
    print()
    header = (
        f"{'model':<14} {'loop':<26} {'images/s':>9} {'range':^15} {'vs eager':>8} "
        f"{'(range)':>11} {'MFU':>7}"
    )
    print(header)
    print("-" * len(header))
    for name in args.models:
        if not is_model(name):
            print(f"{name:<12} skipped: not registered on this branch")
            continue
        card = get_model_card(name)
        macs = summary(name).macs
        n = args.images or DEFAULT_IMAGES.get(name, max(1024, int(round(100e9 / macs, -2))))
        data = synthetic_bundle(card.input_size, n)
        bs = args.batch_size
        loops = {} if args.skip_eager else {"eager (DataLoader)": eager_loop(name, data, bs)}
        for label, options in configs.items():
            loops[f"engine {label}"] = functools.partial(engine_epoch, name, data, bs, **options)
        # Rounds: one epoch of every loop per round, so that each loop sees the same load, and
        # each round's ratio to eager is a paired measurement.
        speeds: dict[str, list[float]] = {label: [] for label in loops}
        for _ in range(args.epochs):
            for label, run_epoch in loops.items():
                speeds[label].append(run_epoch())
        eager = speeds.get("eager (DataLoader)")
        for label, runs in speeds.items():
            speed = statistics.median(runs)
            peak = peak16 if "bf16" in label else peak32
            ratios = [a / b for a, b in zip(runs, eager, strict=True)] if eager else []
            ratio = f"{statistics.median(ratios):.2f}x" if ratios else "-"
            spread = f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"
            print(
                f"{name:<14} {label:<26} {speed:>9,.0f} {min(runs):>7,.0f}-{max(runs):<7,.0f} "
                f"{ratio:>8} {spread:>11} {100 * 6 * macs * speed / 1e9 / peak:>6.1f}%",
                flush=True,
            )
        print(
            f"{'':<14} ({n:,} images of {'x'.join(map(str, card.input_size))}, {macs:,} MACs/image)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
