"""Why int8 is (or is not) faster at batch 1: float32 eager, int8 FX and int8 pt2e (compiled)
of a trained run, timed in alternation on the same input, then torch.profiler's top operators
of each at batch 1 and 64 (one thread).

The rows of ``cnnzoo quantize`` used to be timed one after another; on a shared machine that
mixes load changes into the comparison, so this times every variant in turn, ``--rounds``
times, and prints median wall and thread-CPU ms per forward pass.

    PYTHONPATH=src python benchmarks/int8_batch1.py runs/base-r20 --profile
"""

from __future__ import annotations

import argparse
import copy
import warnings

import torch
from torch.profiler import ProfilerActivity, profile

from cnnzoo.compress.common import alternating, load_source
from cnnzoo.compress.quantize import compile_int8, quantize_fx, quantize_pt2e
from cnnzoo.compress.tools import _calibration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="trained run folder")
    parser.add_argument("--rounds", type=int, default=40, help="alternating rounds at batch 1")
    parser.add_argument("--rounds-64", type=int, default=15, help="rounds at batch 64")
    parser.add_argument("--calibration", type=int, default=512)
    parser.add_argument("--profile", action="store_true", help="also print the top operators")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    source = load_source(args.run, limit=1000)
    model = source.model.eval()
    calibration = _calibration(source, args.calibration)
    variants = {
        "float32 eager": model,
        "int8 fx": quantize_fx(copy.deepcopy(model), calibration),
        "int8 pt2e": compile_int8(quantize_pt2e(model, calibration)),
    }
    size = tuple(source.data.input_size)
    for batch, rounds in ((1, args.rounds), (64, args.rounds_64)):
        times = alternating(variants, size, batch, rounds, warmup=3)
        for name, (wall, cpu) in times.items():
            print(f"batch {batch:2d} {name:13s} wall {wall:7.2f} ms  CPU {cpu:7.2f} ms")
    if args.profile:
        for name, forward in variants.items():
            for batch in (1, 64):
                _profile(name, forward, torch.randn(batch, *size))


def _profile(name: str, forward: object, x: torch.Tensor, calls: int = 30) -> None:
    with torch.inference_mode():
        for _ in range(5):
            forward(x)  # type: ignore[operator]
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(calls):
                forward(x)  # type: ignore[operator]
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) / calls / 1000
    print(f"\n{name} batch {x.shape[0]}: {total:.2f} ms self CPU per call (profiled); top ops:")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:6]:
        ms = e.self_cpu_time_total / calls / 1000
        print(f"  {e.key[:60]:60s} {ms:7.3f} ms  x{e.count // calls}")


if __name__ == "__main__":
    main()
