"""Does the fast engine keep the accuracy? The course's Fashion-MNIST CNN, trained with the
``fashion-cnn`` recipe (Adam 1e-3, batch 256, 10 epochs, 48k/12k split) on the real data, with the
fused kernels (the default) and with PyTorch's ops only (``fused=False``), over several seeds.

Prints each run's test top-1 (best-on-validation checkpoint, official 10k test set) and median
training seconds per epoch, then the mean and standard deviation per engine.

    python benchmarks/fashion_accuracy.py --data-dir ../shared/datasets --seeds 0 1 2 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cnnzoo.train import build_model, fit, load_data_for, load_recipe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding FashionMNIST/ (default: $CNNZOO_DATA)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--engines", nargs="+", choices=["fused", "torch"], default=["fused", "torch"]
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict[str, list[float]] = {engine: [] for engine in args.engines}
    print(f"{'engine':<8} {'seed':>4} {'test top-1':>11} {'s/epoch':>8}")
    for seed in args.seeds:
        base = load_recipe("fashion-cnn").override(seed=seed, epochs=args.epochs)
        data = load_data_for("fashion_cnn", base, args.data_dir)  # the split depends on the seed
        for engine in args.engines:
            recipe = base.override(fused=engine == "fused")
            model = build_model("fashion_cnn", data, recipe)
            with tempfile.TemporaryDirectory() as run_dir:
                result = fit(model, data, recipe, Path(run_dir) / "run")
            seconds = statistics.median(row["train_seconds"] for row in result.history)
            assert result.test is not None
            results[engine].append(result.test.top1)
            print(f"{engine:<8} {seed:>4} {result.test.top1:>10.2f}% {seconds:>8.2f}", flush=True)
    print()
    for engine, accs in results.items():
        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(
            f"{engine:<8} test top-1 {statistics.mean(accs):.2f}% +- {spread:.2f} (n={len(accs)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
