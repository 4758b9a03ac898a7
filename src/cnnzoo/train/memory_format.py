"""Which memory format a model trains faster in, decided at start-up and recorded with the run.

oneDNN's convolutions prefer channels_last (NHWC) tensors once there are enough channels to fill
a vector register; for narrow early layers, 1-channel inputs and models whose time goes to other
layers (LeNet-5, the course's CNN with its NCHW stem kernel) the layout conversions around them
cost more than they save. Which one wins depends on the model *and* the input size, so
:func:`choose_channels_last` does not guess: a rule settles the clear cases, and a short
measurement (a few training steps of the model as it will be trained, each format, on a copy)
settles the rest. The decision and its reason go to ``config.yaml`` (``memory_format``);
``--channels-last`` / ``--no-channels-last`` force it.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "MIN_CHANNELS",
    "MIN_RUN_STEPS",
    "MemoryFormatChoice",
    "choose_channels_last",
    "wide_conv_share",
]

MIN_CHANNELS = 16
"""Convolutions with fewer input channels than this do not gain from channels_last (a 512-bit
vector holds 16 floats)."""
MIN_WIDE_SHARE = 0.5
"""Below this share of convolution MACs in wide convolutions, NCHW is kept without measuring."""
MARGIN = 0.05
"""channels_last must be this much faster (5%) to be chosen: a closer call is noise."""
MAX_PROBE_SECONDS = 2.0
"""A first probe step slower than this ends the measurement; the rule decides (channels_last)."""
MIN_RUN_STEPS = 300
"""Runs with fewer training steps keep NCHW without measuring. The probe (two copies of the
model, two warm-up and four timed steps) costs about as much as 10-15 training steps, and a win
just above :data:`MARGIN` pays that back only over a few hundred steps; in the smoke budgets and
tests the probe took longer than the training itself (2.7 s vs 1.4 s per ResNet-20 run)."""


@dataclass(frozen=True)
class MemoryFormatChoice:
    channels_last: bool
    reason: str

    def as_config(self) -> dict[str, object]:
        return {"channels_last": self.channels_last, "decided_by": self.reason}


def wide_conv_share(model: nn.Module, input_size: tuple[int, ...]) -> float:
    """Share of the model's convolution MACs (one ``(C, H, W)`` image) in ungrouped 2-d
    convolutions with at least :data:`MIN_CHANNELS` input channels (0 without convolutions)."""
    macs: dict[bool, int] = {False: 0, True: 0}

    def count(module: nn.Module, _: object, out: torch.Tensor) -> None:
        assert isinstance(module, nn.Conv2d)
        per_output = module.weight[0].numel()
        wide = module.in_channels >= MIN_CHANNELS and module.groups == 1
        macs[wide] += out.numel() * per_output

    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        return 0.0
    hooks = [m.register_forward_hook(count) for m in convs]
    mode = model.training
    try:
        with torch.inference_mode():
            model.eval()(torch.zeros(1, *input_size, device=convs[0].weight.device))
    finally:
        model.train(mode)
        for hook in hooks:
            hook.remove()
    total = macs[False] + macs[True]
    return macs[True] / total if total else 0.0


def _step_seconds(
    forward: Callable[[torch.Tensor], torch.Tensor],
    params: list[nn.Parameter],
    x: torch.Tensor,
    y: torch.Tensor,
) -> float:
    """CPU seconds (this process) of one forward + backward; CPU time, because a shared
    machine's wall clock mostly measures the other jobs."""
    start = time.process_time()
    out = forward(x)
    logits = out[0] if isinstance(out, (tuple, list)) else out
    F.cross_entropy(logits.float(), y).backward()
    for p in params:
        p.grad = None
    return time.process_time() - start


def _measure(
    model: nn.Module,
    input_size: tuple[int, ...],
    batch_size: int,
    prepare: Callable[[nn.Module], Callable[[torch.Tensor], torch.Tensor]],
    steps: int,
) -> tuple[float, float] | None:
    """Median CPU seconds per step ``(nchw, channels_last)``, interleaved; ``None`` when a
    step takes longer than :data:`MAX_PROBE_SECONDS`."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, *input_size, generator=generator)
    classes = int(getattr(model, "num_classes", 0) or 10)
    y = torch.randint(0, classes, (batch_size,), generator=generator)
    runs = {}
    for last in (False, True):
        probe = copy.deepcopy(model).train()
        fmt = torch.channels_last if last else torch.contiguous_format
        probe = probe.to(memory_format=fmt)
        runs[last] = (prepare(probe), list(probe.parameters()), x.contiguous(memory_format=fmt))
    times: dict[bool, list[float]] = {False: [], True: []}
    for forward, params, batch in runs.values():  # warm-up: oneDNN primitives, numba
        _step_seconds(forward, params, batch, y)
    for _ in range(steps):
        for last, (forward, params, batch) in runs.items():
            seconds = _step_seconds(forward, params, batch, y)
            if seconds > MAX_PROBE_SECONDS:
                return None
            times[last].append(seconds)
    nchw, channels_last = (sorted(times[k])[len(times[k]) // 2] for k in (False, True))
    return nchw, channels_last


def choose_channels_last(
    model: nn.Module,
    input_size: tuple[int, ...],
    batch_size: int,
    *,
    device: torch.device,
    prepare: Callable[[nn.Module], Callable[[torch.Tensor], torch.Tensor]] = lambda m: m,
    steps: int = 2,
    run_steps: int | None = None,
) -> MemoryFormatChoice:
    """Whether ``model`` (trained as ``prepare(model)`` on ``(C, H, W)`` inputs) should use
    channels_last: a rule for the clear cases, else a short measurement on a copy (the model,
    its statistics and the random number generators are left as they were). ``run_steps`` is
    the number of training steps the run will take, if known: a short run is not measured."""
    if device.type != "cpu":
        return MemoryFormatChoice(False, f"rule: {device.type} (measured on CPUs only)")
    share = wide_conv_share(model, input_size)
    if share < MIN_WIDE_SHARE:
        return MemoryFormatChoice(
            False,
            f"rule: {100 * share:.0f}% of the convolution MACs have >= {MIN_CHANNELS} input "
            f"channels (< {100 * MIN_WIDE_SHARE:.0f}%)",
        )
    if run_steps is not None and run_steps < MIN_RUN_STEPS:
        return MemoryFormatChoice(
            False,
            f"rule: a short run ({run_steps} training steps < {MIN_RUN_STEPS}) does not repay "
            "the measurement",
        )
    probe_batch = max(2, min(batch_size, 16))
    with torch.random.fork_rng(devices=[]):
        measured = _measure(model, input_size, probe_batch, prepare, steps)
    if measured is None:
        return MemoryFormatChoice(
            True, f"rule: a probe step takes > {MAX_PROBE_SECONDS:.0f} s; wide convolutions"
        )
    nchw, last = measured
    chosen = last < nchw * (1 - MARGIN)
    return MemoryFormatChoice(
        chosen,
        f"measured: {1000 * nchw:.1f} ms NCHW vs {1000 * last:.1f} ms channels_last per "
        f"training step (batch {probe_batch}, CPU time)",
    )
