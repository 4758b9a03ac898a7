"""Speed of ``cnnzoo.analysis.summary``: seconds per model in Python and at the CLI.

    python benchmarks/summary_speed.py [--repeats 3] [--models resnet1202 densenet201 ...]

Python: ``summary(name)`` in this process, median of ``--repeats`` calls after two warm-ups.
CLI: ``python -m cnnzoo summary NAME`` in a fresh process (output discarded), median of
``--repeats`` runs, minus the median start-up of a bare interpreter (``python -c pass``), so the figure is the command's own cost beyond the
interpreter's start-up. The target (issue 11) is 2 s in Python and 3 s at the CLI for every zoo
model. Not run in CI; the machine is shared, so take the median of several runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from data_speed import timed  # benchmarks/ is on sys.path when a script in it runs

import cnnzoo
from cnnzoo.analysis import summary

MODELS = ("resnet1202", "densenet201", "resnet50", "vgg16")
# The CLI runs from the same source tree as this process (so a copy of the old tree can be timed).
SRC = str(Path(cnnzoo.__file__).resolve().parents[1])


def cli_seconds(argv: list[str]) -> float:
    """Wall time of one run of ``argv`` in a fresh process, output discarded."""
    env = {**os.environ, "PYTHONPATH": SRC}
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    startup = statistics.median(
        cli_seconds([sys.executable, "-c", "pass"]) for _ in range(args.repeats)
    )
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats} runs")
    print(f"interpreter start-up: {startup:.2f} s (subtracted from the CLI figures)\n")
    threads_flag = ["--threads", str(args.threads)] if "--threads" in _summary_help() else []
    print(f"{'model':<14} {'rows':>6} {'python s':>9} {'cli s':>7}")
    for name in args.models:
        rows = len(summary(name).rows)
        python_s = timed(lambda name=name: summary(name), args.repeats)
        cli = [sys.executable, "-m", "cnnzoo", "summary", name, *threads_flag]
        cli_s = statistics.median(cli_seconds(cli) for _ in range(args.repeats)) - startup
        print(f"{name:<14} {rows:>6} {python_s:>9.2f} {cli_s:>7.2f}", flush=True)


def _summary_help() -> str:
    env = {**os.environ, "PYTHONPATH": SRC}
    argv = [sys.executable, "-m", "cnnzoo", "summary", "--help"]
    return subprocess.run(argv, capture_output=True, text=True, env=env).stdout


if __name__ == "__main__":
    main()
