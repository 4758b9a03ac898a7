"""Speed of ``cnnzoo.analysis.summary``: seconds per model in Python and at the CLI.

    python benchmarks/summary_speed.py [--repeats 3] [--models resnet1202 densenet201 ...]

Python: ``summary(name)`` in this process, median of ``--repeats`` calls after one warm-up.
CLI: ``python -m cnnzoo summary NAME`` in a fresh process (output discarded), median of
``--repeats`` runs, minus the median start-up of a bare interpreter (``python -c pass``), so
the figure is the command's own cost beyond the interpreter's start-up (torch's import
included). Each figure is given as wall time and as CPU time (user + system), the fairer one
on a shared machine. The target (issue 11) is 2 s in Python and 3 s at the CLI for every zoo
model. Not run in CI; the machine is shared, so take the median of several runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

import cnnzoo
from cnnzoo.analysis import summary

MODELS = ("resnet1202", "densenet201", "resnet50", "vgg16")
# The CLI runs from the same source tree as this process (so a copy of the old tree can be timed).
SRC = str(Path(cnnzoo.__file__).resolve().parents[1])


def cli_seconds(argv: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``argv`` in a fresh process."""
    env = {**os.environ, "PYTHONPATH": SRC}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cli_median(argv: list[str], repeats: int) -> tuple[float, float]:
    runs = [cli_seconds(argv) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    startup_wall, startup_cpu = cli_median([sys.executable, "-c", "pass"], args.repeats)
    threads_flag = ["--threads", str(args.threads)] if "--threads" in _summary_help() else []
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats} runs")
    print(
        f"interpreter start-up: {startup_wall:.2f} s wall, {startup_cpu:.2f} s CPU "
        "(subtracted from the CLI figures)\n"
    )
    print(
        f"{'model':<14} {'rows':>6} {'python s':>9} {'python CPU s':>13} {'cli s':>7} {'cli CPU s':>10}"
    )
    for name in args.models:
        rows = len(summary(name).rows)  # warm-up
        python_s, python_cpu = in_process(lambda name=name: summary(name), args.repeats)
        cli = [sys.executable, "-m", "cnnzoo", "summary", name, *threads_flag]
        cli_wall, cli_cpu = cli_median(cli, args.repeats)
        print(
            f"{name:<14} {rows:>6} {python_s:>9.2f} {python_cpu:>13.2f} "
            f"{cli_wall - startup_wall:>7.2f} {cli_cpu - startup_cpu:>10.2f}",
            flush=True,
        )


def in_process(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of this process per call."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def _summary_help() -> str:
    env = {**os.environ, "PYTHONPATH": SRC}
    argv = [sys.executable, "-m", "cnnzoo", "summary", "--help"]
    return subprocess.run(argv, capture_output=True, text=True, env=env).stdout


if __name__ == "__main__":
    main()
