"""Speed of ``cnnzoo.analysis.summary``: seconds per model in Python and at the CLI.

    python benchmarks/summary_speed.py [--repeats 3] [--models resnet1202 densenet201 ...]

Python: ``summary(name)`` in this process, median of ``--repeats`` calls after one warm-up, and
"1st call": the first ``summary(name)`` in a fresh interpreter, timed inside it (imports
excluded; what a notebook's first summary costs, one-off imports such as sympy's included).
CLI: ``python -m cnnzoo summary NAME`` in a fresh process (output discarded), median of
``--repeats`` runs, minus the median of one of three start-ups, each timed the same way:
``python -c pass`` (bare interpreter: the figure includes torch's and cnnzoo's imports),
``python -c "import torch"`` (the figure is cnnzoo's own cost: its imports, the parser and the
command) and ``python -c "import cnnzoo.cli"`` (the command alone). The issue's "beyond the
interpreter's start-up" is read as beyond ``import torch``: torch's 2-3 s import is the
interpreter start-up of any PyTorch program. Each figure is given as wall time and as CPU time
(user + system), the fairer one on a shared machine. The target (issue 11) is 2 s in Python and 3 s at the CLI for every zoo
model. Not run in CI; the machine is shared, so take the median of several runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from startup import run  # benchmarks/startup.py (this script's folder is on sys.path)

import cnnzoo
from cnnzoo.analysis import summary

MODELS = ("resnet1202", "densenet201", "resnet50", "vgg16")
# The CLI runs from the same source tree as this process (so a copy of the old tree can be timed).
SRC = str(Path(cnnzoo.__file__).resolve().parents[1])


def cli_seconds(argv: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``argv`` in a fresh process."""
    return run(argv, SRC)


def cli_median(argv: list[str], repeats: int) -> tuple[float, float]:
    runs = [cli_seconds(argv) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


STARTUPS = {"bare": "pass", "torch": "import torch", "cli": "import cnnzoo.cli"}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    startup = {
        key: cli_median([sys.executable, "-c", code], args.repeats)
        for key, code in STARTUPS.items()
    }
    threads_flag = ["--threads", str(args.threads)] if "--threads" in _summary_help() else []
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats} runs")
    for key, code in STARTUPS.items():
        wall, cpu = startup[key]
        print(f"start-up {key:<5} (python -c {code!r}): {wall:.2f} s wall, {cpu:.2f} s CPU")
    print("cli columns: `cnnzoo summary MODEL` minus each start-up, wall / CPU seconds\n")
    columns = " ".join(f"{'- ' + key:>13}" for key in STARTUPS)
    print(
        f"{'model':<14} {'rows':>6} {'python s':>9} {'python CPU':>11} {'1st call':>13} "
        f"{'cli total':>13} {columns}"
    )
    for name in args.models:
        rows = len(summary(name).rows)  # warm-up
        python_s, python_cpu = in_process(lambda name=name: summary(name), args.repeats)
        first_wall, first_cpu = first_call(name, args.threads, args.repeats)
        cli = [sys.executable, "-m", "cnnzoo", "summary", name, *threads_flag]
        wall, cpu = cli_median(cli, args.repeats)
        beyond = " ".join(
            f"{wall - startup[key][0]:>6.2f}/{cpu - startup[key][1]:<6.2f}" for key in STARTUPS
        )
        print(
            f"{name:<14} {rows:>6} {python_s:>9.2f} {python_cpu:>11.2f} "
            f"{first_wall:>6.2f}/{first_cpu:<6.2f} {wall:>6.2f}/{cpu:<6.2f} {beyond}",
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


FIRST_CALL = """import sys, time, torch
from cnnzoo.analysis import summary
torch.set_num_threads(int(sys.argv[2]))
wall, cpu = time.perf_counter(), time.process_time()
summary(sys.argv[1])
print(time.perf_counter() - wall, time.process_time() - cpu)
"""


def first_call(name: str, threads: int, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of the first ``summary(name)`` in a fresh interpreter, timed
    inside it (its imports excluded): what a notebook's first summary costs."""
    env = {**os.environ, "PYTHONPATH": SRC}
    runs = []
    for _ in range(repeats):
        argv = [sys.executable, "-c", FIRST_CALL, name, str(threads)]
        out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout
        wall, cpu = (float(x) for x in out.split())
        runs.append((wall, cpu))
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def _summary_help() -> str:
    env = {**os.environ, "PYTHONPATH": SRC}
    argv = [sys.executable, "-m", "cnnzoo", "summary", "--help"]
    return subprocess.run(argv, capture_output=True, text=True, env=env).stdout


if __name__ == "__main__":
    main()
