"""Data-parallel scaling on this machine: training images/s of ``cnnzoo train`` in 1 process
(1 thread, then 2 threads) and in 2 processes of 1 thread each (``--nproc 2``, gloo), for each
model, on Fashion-MNIST.

Each configuration runs ``--epochs`` epochs through the command line, as a user would, and
keeps the last epoch's ``images_per_second`` from ``metrics.csv`` (the first epoch pays for
numba's compilation). The configurations alternate for ``--rounds`` rounds, so that a change in
the machine's load touches all of them; the median of the rounds is reported.

``--clock cpu`` (1-thread configurations only) times the engine in CPU seconds of rank 0
instead of wall-clock seconds: on a machine shared with other jobs the wall clock mostly
measures their load, while CPU time measures the work a rank does, communication included
(waiting for the other rank costs no CPU). 2 ranks' figure over 1 rank's, divided by 2, is the
parallel efficiency 2 dedicated cores would reach if waiting cost nothing.

    python benchmarks/ddp_speed.py --data-dir ../shared/datasets
    python benchmarks/ddp_speed.py --data-dir ../shared/datasets --clock cpu --models resnet20
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CONFIGS = {
    "1 process x 1 thread": ["--threads", "1"],
    "1 process x 2 threads": ["--threads", "2"],
    "2 processes x 1 thread": ["--threads", "1", "--nproc", "2"],
}


def images_per_second(model: str, extra: list[str], args: argparse.Namespace, out: Path) -> float:
    run = out / f"{model}-{len(list(out.iterdir()))}"
    train = ["train", model, "--data", "fashion_mnist", "--data-dir", args.data_dir, "--limit"]
    train += [str(args.limit), "--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
    train += ["--quiet", "--run-dir", str(run), *extra]
    if args.clock == "wall":
        command = [sys.executable, "-m", "cnnzoo", *train]
    else:  # this file is each rank's program: it switches the engine's clock, then trains
        nproc = train.pop(train.index("--nproc") + 1) if "--nproc" in train else "1"
        train = [a for a in train if a != "--nproc"]
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command += [f"--nproc-per-node={nproc}", __file__, "--rank", *train]
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return float(rows[-1]["images_per_second"])


def rank_main(argv: list[str]) -> None:
    """A rank of ``--clock cpu``: the engine's timer (``time.perf_counter``) reads CPU time."""
    import time

    from cnnzoo.cli import main as cnnzoo_main

    time.perf_counter = time.process_time
    sys.exit(cnnzoo_main(argv))


def main() -> None:
    if sys.argv[1:2] == ["--rank"]:
        rank_main(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lenet5", "resnet20"])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--limit", type=int, default=4000, help="images per split")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = parser.parse_args()
    if args.clock == "cpu":  # CPU seconds of a 2-thread process are not a throughput
        CONFIGS.pop("1 process x 2 threads")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            speeds: dict[str, list[float]] = {name: [] for name in CONFIGS}
            for _ in range(args.rounds):
                for name, extra in CONFIGS.items():
                    speeds[name].append(images_per_second(model, extra, args, Path(tmp)))
                    print(f"{model}  {name}: {speeds[name][-1]:,.0f} images/s", flush=True)
            base = statistics.median(speeds["1 process x 1 thread"])
            print(f"| {model} | batch {args.batch_size} | " + " | ".join(
                f"{name}: {statistics.median(v):,.0f} ({statistics.median(v) / base:.2f}x)"
                for name, v in speeds.items()
            ) + " |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
