"""Measured speed on this machine: images/s of a model and the matmul peak it is compared with.

Unlike :func:`cnnzoo.analysis.summary` this runs the real compute (random weights, random
input), so keep batch sizes and steps modest for the big models on a CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn as nn

from cnnzoo.analysis.summary import summary
from cnnzoo.registry import create_model

__all__ = ["Throughput", "matmul_peak_gflops", "measure_throughput"]


@dataclass(frozen=True)
class Throughput:
    model: str
    mode: str  # "inference" or "train", with the label of ``prepare`` ("train (fused)")
    dtype: str
    batch_size: int
    steps: int
    seconds_per_step: float
    macs_per_image: int

    @property
    def images_per_second(self) -> float:
        return self.batch_size / self.seconds_per_step

    @property
    def gflops(self) -> float:
        """Achieved GFLOP/s, counting 2 FLOPs per MAC and 3x the forward for training."""
        passes = 3 if self.mode.startswith("train") else 1
        return 2 * passes * self.macs_per_image * self.images_per_second / 1e9


def matmul_peak_gflops(
    dtype: torch.dtype = torch.float32, size: int = 2048, repeats: int = 5
) -> float:
    """Best GFLOP/s of a square matmul: the ceiling that model FLOP utilisation is measured against."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.mm(a, b)  # warm-up (thread pool, oneDNN kernels)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def measure_throughput(
    model: nn.Module | str,
    input_size: Sequence[int] | None = None,
    batch_size: int = 32,
    steps: int = 10,
    warmup: int = 2,
    train: bool = False,
    bf16: bool = False,
    channels_last: bool = False,
    prepare: Callable[[nn.Module], nn.Module] | None = None,
    label: str = "",
) -> Throughput:
    """Median seconds per step of ``steps`` timed steps after ``warmup`` untimed ones.

    Inference runs under ``torch.inference_mode()``; training does forward, cross-entropy,
    backward and an SGD step. ``bf16`` uses CPU autocast to bfloat16 (AMX where present).
    ``prepare`` turns the model (in train or eval mode, parameters already given to the
    optimizer) into the one that is timed, e.g. the training engine's fused version
    (``lambda m: cnnzoo.train.fused.fuse(m, training=True)[0]``, which ``cnnzoo bench
    --fused`` passes); ``label`` names it in :attr:`Throughput.mode`. The caller passes it
    because the engine sits above analysis.
    """
    if batch_size < 1 or steps < 1 or warmup < 0:
        raise ValueError(
            f"batch_size and steps must be >= 1 and warmup >= 0, got {batch_size}, {steps}, {warmup}"
        )
    name = (
        model
        if isinstance(model, str)
        else getattr(getattr(model, "card", None), "name", type(model).__name__)
    )
    if isinstance(model, str):
        model = create_model(model)
    card = getattr(model, "card", None)
    if input_size is None:
        if card is None:
            raise ValueError(f"{name}: give input_size as (C, H, W); the model has no card")
        input_size = card.input_size
    macs = summary(model, input_size).macs
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    x = torch.randn(batch_size, *input_size).to(memory_format=memory_format)
    num_classes = getattr(model, "num_classes", None) or card.num_classes  # type: ignore[union-attr]
    y = torch.randint(0, num_classes, (batch_size,))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3) if train else None
    model.train(train)
    if prepare is not None:
        model = prepare(model)

    def step() -> None:
        if optimizer is None:
            with torch.inference_mode(), autocast:
                model(x)
            return
        with autocast:
            out = model(x)
            logits = out[0] if isinstance(out, (tuple, list)) else out
            loss = nn.functional.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    times.sort()
    return Throughput(
        model=name,
        mode=("train" if train else "inference") + (f" ({label})" if label else ""),
        dtype="bfloat16" if bf16 else "float32",
        batch_size=batch_size,
        steps=steps,
        seconds_per_step=times[len(times) // 2],
        macs_per_image=macs,
    )
