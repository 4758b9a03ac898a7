"""One sweep worker process: ``python -m cnnzoo.sweep STORAGE STUDY TRIALS [--job K]``
(what ``cnnzoo sweep --jobs J`` starts J times; the study holds everything else)."""

from __future__ import annotations

import argparse
import sys

import torch

from cnnzoo.sweep.study import load_sweep, run_trials


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnzoo.sweep")
    parser.add_argument("storage")
    parser.add_argument("study")
    parser.add_argument("trials", type=int)
    parser.add_argument("--job", type=int, default=1)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sweep = load_sweep(args.storage, args.study, job=args.job)
    try:
        run_trials(sweep, args.trials, job=args.job, say=lambda text: print(text, flush=True))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
