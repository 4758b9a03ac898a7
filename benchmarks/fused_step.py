"""One training step, eager vs cnnzoo.train.fused (vs torch.compile), interleaved in one process.

A paired A/B for a loaded machine: each round times one step of every variant (same model, same
parameters, same batch), on the process's CPU clock with 1 thread by default, so other tenants
count less than on the wall clock. Reports the median step and the median and range of the
per-round speed-ups over eager.

    python benchmarks/fused_step.py resnet20
    python benchmarks/fused_step.py resnet20 --channels-last --compile --batch-size 128
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cnnzoo.registry import create_model, get_model_card
from cnnzoo.train.fused import fuse


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.threads == 1 else time.perf_counter
    torch.manual_seed(0)
    model = create_model(args.model).train()
    x = torch.randn(args.batch_size, *get_model_card(args.model).input_size)
    y = torch.randint(0, 10, (args.batch_size,))
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    fused, report = fuse(model, training=True)
    print(f"{args.model}: {len(report.fused)} rewrites")
    variants = {"eager": model, "fused": fused}
    if args.compile:
        variants["compile"] = torch.compile(model)
    optimizer = torch.optim.Adam(model.parameters(), fused=True)

    def step(forward: torch.nn.Module) -> float:
        start = clock()
        optimizer.zero_grad()
        F.cross_entropy(forward(x), y).backward()
        optimizer.step()
        return clock() - start

    for name, forward in variants.items():  # warm-up: numba's cache, inductor's compilation
        start = time.perf_counter()
        step(forward)
        step(forward)
        print(f"  {name} warm-up: {time.perf_counter() - start:.1f} s wall")
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, forward in variants.items():
            times[name].append(step(forward))
    for name, runs in times.items():
        ratios = [e / t for e, t in zip(times["eager"], runs, strict=True)]
        print(
            f"  {name:<8} {statistics.median(runs):.3f} s/step   vs eager "
            f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
