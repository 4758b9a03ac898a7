"""Start-up cost of cnnzoo: ``import torch``, ``import cnnzoo`` and ``cnnzoo --help``.

    python benchmarks/startup.py [--repeats 5]

Each command runs ``--repeats`` times in a fresh interpreter, interleaved (torch, cnnzoo, help,
torch, ...) so that a change in the machine's load hits all three alike; the medians of wall time
and of CPU time (user + system of the child, the fairer figure on a shared machine) are printed,
with the differences to ``import torch``. The target (issues 10 and 15): ``import cnnzoo`` and
``cnnzoo --help`` each add at most 0.5 s to ``import torch`` (judged on CPU time, since wall
time on a shared machine mostly measures the neighbours). ``python -X importtime -c "import
cnnzoo"`` shows where the time goes. Not run in CI.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

# The commands run from this source tree (src/ next to benchmarks/), not an installed copy.
SRC = str(Path(__file__).resolve().parents[1] / "src")
COMMANDS = {
    "import torch": [sys.executable, "-c", "import torch"],
    "import cnnzoo": [sys.executable, "-c", "import cnnzoo"],
    "cnnzoo --help": [sys.executable, "-m", "cnnzoo", "--help"],
}
TARGET = 0.5


def run(argv: list[str], src: str = SRC) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``argv`` in a fresh process that
    imports cnnzoo from ``src`` (benchmarks/summary_speed.py times its commands with it too)."""
    env = {**os.environ, "PYTHONPATH": src}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs per command (default 5)")
    args = parser.parse_args()
    for argv in COMMANDS.values():  # warm the file cache
        run(argv)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):
        for name, argv in COMMANDS.items():
            times[name].append(run(argv))
    medians = {
        name: (statistics.median(t[0] for t in runs), statistics.median(t[1] for t in runs))
        for name, runs in times.items()
    }
    base_wall, base_cpu = medians["import torch"]
    print(f"source {SRC}, median of {args.repeats} fresh interpreters")
    print(f"{'command':<15} {'wall s':>7} {'CPU s':>7} {'+wall s':>8} {'+CPU s':>7}  target")
    for name, (wall, cpu) in medians.items():
        if name == "import torch":
            print(f"{name:<15} {wall:>7.2f} {cpu:>7.2f}")
            continue
        extra_wall, extra_cpu = wall - base_wall, cpu - base_cpu
        verdict = "met" if extra_cpu <= TARGET else "missed"
        print(
            f"{name:<15} {wall:>7.2f} {cpu:>7.2f} {extra_wall:>8.2f} {extra_cpu:>7.2f}"
            f"  CPU <= {TARGET} s: {verdict}"
        )
    wall_ranges = {name: (min(t[0] for t in r), max(t[0] for t in r)) for name, r in times.items()}
    print(
        "wall range: " + ", ".join(f"{n} {lo:.2f}-{hi:.2f}" for n, (lo, hi) in wall_ranges.items())
    )


if __name__ == "__main__":
    main()
