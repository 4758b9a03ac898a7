"""Data-parallel training on ``torch.distributed`` (gloo on CPU, NCCL on GPUs): every rank draws
the same seeded permutation and the same global batches, trains on its contiguous shard of each
batch with its loss weighted by ``shard / global batch``, and the gradients are summed, so that N
processes take the step one process takes on the whole batch (the data-parallel scheme of
Krizhevsky et al., 2012, "ImageNet Classification with Deep Convolutional Neural Networks", for
its convolutions). :class:`SyncBatchNorm2d` normalises with the statistics of the whole global
batch, so that also a batch-norm network trains as it would in one process.
"""

from __future__ import annotations

import datetime
import os
import signal
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn

__all__ = [
    "FAULT_ENV",
    "LAUNCHER_ENV",
    "LOST_RANK_EXIT",
    "TIMEOUT_ENV",
    "SyncBatchNorm2d",
    "broadcast_object",
    "convert_sync_batchnorm",
    "describe_failure",
    "fault_point",
    "init_process_group",
    "is_collective_failure",
    "launched",
    "shard",
    "sum_across",
    "sum_gradients",
    "world",
]

TIMEOUT_ENV = "CNNZOO_DIST_TIMEOUT"
"""Seconds a rank waits in a collective for the others (default 300) before it gives up."""
LAUNCHER_ENV = "CNNZOO_LAUNCHER"
"""Set by :mod:`cnnzoo.train.launch` for its ranks: the launcher reports a failure in one line."""
FAULT_ENV = "CNNZOO_FAULT_KILL"
"""Testing hook ``RANK:EPOCH:STEP``: that rank kills itself (SIGKILL) before that step."""
LOST_RANK_EXIT = 75
"""Exit status of a rank that lost contact with the others (EX_TEMPFAIL: try again, resume)."""


def is_collective_failure(error: BaseException) -> bool:
    """Whether ``error`` is a failed collective (a rank died or hung, the network broke): gloo
    raises a plain ``RuntimeError`` naming itself, NCCL a ``DistError``."""
    return isinstance(error, dist.DistError) or (
        isinstance(error, RuntimeError) and "gloo" in str(error)
    )


def describe_failure(error: BaseException) -> str:
    """The informative part of a collective's error: gloo's first sentence without its
    source location (``Read error [127.0.0.1]:38815: Connection reset by peer``)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text.split("] ", 1)[-1].split(". ")[0].rstrip(".")


def world() -> tuple[int, int]:
    """``(rank, world size)``; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def launched() -> bool:
    """Whether this rank was started by cnnzoo's own launcher (``--nproc``, ``--nnodes``)."""
    return os.environ.get(LAUNCHER_ENV) == "1"


def init_process_group(device: torch.device) -> int:
    """Under torchrun (``WORLD_SIZE > 1``) join the process group: NCCL for CUDA ranks, else
    gloo, with a timeout of :data:`TIMEOUT_ENV` seconds (default 300) so that a rank whose peer
    is gone stops instead of waiting 30 minutes. This process's rank (0 outside torchrun)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0
    if not dist.is_initialized():
        seconds = float(os.environ.get(TIMEOUT_ENV, "300"))
        dist.init_process_group(
            "nccl" if device.type == "cuda" else "gloo",
            timeout=datetime.timedelta(seconds=seconds),
        )
    return dist.get_rank()


def shard(
    images: torch.Tensor, labels: torch.Tensor, rank: int, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's contiguous part of a global batch (the first ``n % size`` ranks get one more)."""
    n = labels.shape[0]
    start = rank * (n // size) + min(rank, n % size)
    stop = start + n // size + (1 if rank < n % size else 0)
    return images[start:stop], labels[start:stop]


def sum_gradients(model: nn.Module) -> None:
    """Sum each gradient over the ranks (each rank's loss was weighted by its share of the
    global batch, so the sum is the global batch's gradient)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)  # one message per step rather than one per tensor
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def sum_across(*values: float) -> list[float]:
    """Each value summed over the ranks (float64)."""
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor)
    return tensor.tolist()


def broadcast_object(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (pickled: for a resumed run's state, once per run)."""
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def fault_point(rank: int, epoch: int, step: int) -> None:
    """The :data:`FAULT_ENV` testing hook: SIGKILL this process at the chosen rank and step."""
    wanted = os.environ.get(FAULT_ENV)
    if wanted and wanted == f"{rank}:{epoch}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


# -- batch norm over the global batch ----------------------------------------------------------


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) whose gradient is the all-reduced gradient: the derivative of a sum
    over the ranks of losses that all depend on the summed tensor."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        total = grad.clone()
        dist.all_reduce(total)
        return total


def _sum_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    return _SumOverRanks.apply(tensor)


class SyncBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` whose training statistics are those of the whole global batch.

    ``torch.nn.SyncBatchNorm`` refuses CPU tensors (its kernels are CUDA's); this one is built
    from differentiable all-reduces, so it runs on gloo and NCCL alike. Two all-reduces per layer and step: the sums and count (for the mean), then the sum of
    squared deviations (the variance, computed in two passes as ``BatchNorm2d`` does). Outside a
    process group, or in evaluation, it is exactly ``BatchNorm2d``; its state dict is the same.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        channels = x.shape[1]
        local = torch.cat([x.sum((0, 2, 3)), x.new_tensor([x.numel() / channels])])
        total = _sum_over_ranks(local)
        count = float(total[-1].detach())
        mean = total[:channels] / count
        centred = x - mean.view(1, -1, 1, 1)
        var = _sum_over_ranks((centred * centred).sum((0, 2, 3))) / count
        if self.track_running_stats and self.running_mean is not None:
            self._update_running_stats(mean.detach(), var.detach(), count)
        y = centred * torch.rsqrt(var + self.eps).view(1, -1, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, count: float) -> None:
        """What ``BatchNorm2d`` does to its buffers: momentum (or cumulative) averages of the
        mean and of the unbiased variance."""
        assert self.running_mean is not None and self.running_var is not None
        assert self.num_batches_tracked is not None
        self.num_batches_tracked += 1
        momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = var * (count / max(1.0, count - 1))
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
        self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)


def convert_sync_batchnorm(model: nn.Module) -> int:
    """Swap every ``BatchNorm2d`` of ``model`` for a :class:`SyncBatchNorm2d` holding the same
    parameters and buffers, in place; how many were swapped."""
    swapped = 0
    for module in model.modules():
        if type(module) is nn.BatchNorm2d:
            # The same object with BatchNorm2d's attributes, parameters and buffers: an
            # optimizer or checkpoint holding them stays valid.
            module.__class__ = SyncBatchNorm2d
            swapped += 1
    return swapped
