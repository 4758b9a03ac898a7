"""``cnnzoo speedrun``: one time-to-accuracy record run, timed end to end."""

from __future__ import annotations

import argparse
import json
import math
import sys

from cnnzoo.cli import add_threads_option, positive_int

RECORD_NAMES = ("fashion_mnist", "mnist")
TRICK_NAMES = ("batch_norm", "label_smoothing", "schedule", "augment", "tta", "ema", "whiten")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "speedrun",
        help="train a time-to-accuracy record recipe and report wall time and test accuracy",
        description=(
            "Run one of the time-to-accuracy records (docs/training.md): load the data, train\n"
            "the record's recipe, evaluate on validation and then, once, on the test split.\n"
            "The time counts from the command's first line (data loading included, interpreter\n"
            "start-up excluded); CPU time is this process's. Targets on 2 cores: Fashion-MNIST\n"
            ">= 93.0 % test in <= 120 s, MNIST >= 99.4 % in <= 45 s. Five seeds with mean,\n"
            "min and max: python benchmarks/speedrun.py."
        ),
        epilog="examples:\n"
        "  cnnzoo speedrun mnist --data-dir ../shared/datasets --threads 2\n"
        "  cnnzoo speedrun fashion_mnist --data-dir ../shared/datasets --seeds 5 --json\n"
        "  cnnzoo speedrun fashion_mnist --data-dir DIR --without tta --without ema",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("record", metavar="RECORD", help=" or ".join(RECORD_NAMES))
    p.add_argument("--data-dir", help="where MNIST/ and FashionMNIST/ are (default $CNNZOO_DATA)")
    p.add_argument(
        "--seeds", type=positive_int, default=1, metavar="N", help="run seeds 0..N-1 (default 1)"
    )
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument(
        "--without",
        action="append",
        default=[],
        metavar="TRICK",
        help=f"remove a trick (repeatable): {', '.join(TRICK_NAMES)}",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object per run")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    add_threads_option(p)
    p.set_defaults(func=_speedrun)


def _speedrun(args: argparse.Namespace) -> int:
    # start-up: cnnzoo.train costs ~1 s of CPU to import (engine, numba kernels); only the
    # training commands need it, not `cnnzoo --help`
    from cnnzoo.train.speedrun import get_record, speedrun

    record = get_record(args.record)
    say = (lambda text: None) if args.quiet or args.json else (lambda text: print(text, flush=True))
    for seed in range(args.seed, args.seed + args.seeds):
        result = speedrun(
            record, args.data_dir, seed=seed, threads=args.threads, without=args.without, log=say
        )
        if args.json:
            print(json.dumps(result.as_dict()), flush=True)
        else:
            ok = result.test_acc >= record.target and result.wall_seconds <= record.time_limit
            print(
                f"{record.name} seed {seed}: test {result.test_acc:.2f}% in "
                f"{result.wall_seconds:.1f} s wall ({result.cpu_seconds:.1f} s CPU, "
                f"{result.threads} threads, load average {result.load_average[0]:.1f}); target "
                f">= {record.target:g}% in <= {record.time_limit:g} s: "
                + ("met" if ok else "missed"),
                flush=True,
            )
        if not math.isfinite(result.test_acc):
            print("error: the test accuracy is not a number", file=sys.stderr)
            return 1
    return 0
