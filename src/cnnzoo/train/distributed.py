"""Data-parallel training on ``torch.distributed`` (gloo on CPU): every rank draws the same
seeded permutation and the same global batches, trains on its contiguous shard of each batch,
and the gradients are averaged with weights ``shard / global batch`` so that N processes take the
step one process takes on the whole batch (the data-parallel scheme of Krizhevsky et al., 2012,
"ImageNet Classification with Deep Convolutional Neural Networks", for its convolutions).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn as nn

__all__ = ["average_gradients", "shard", "sum_across", "world"]


def world() -> tuple[int, int]:
    """``(rank, world size)``; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(
    images: torch.Tensor, labels: torch.Tensor, rank: int, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's contiguous part of a global batch (the first ``n % size`` ranks get one more)."""
    n = labels.shape[0]
    start = rank * (n // size) + min(rank, n % size)
    stop = start + n // size + (1 if rank < n % size else 0)
    return images[start:stop], labels[start:stop]


def average_gradients(model: nn.Module, local: int, total: int) -> None:
    """Replace each gradient by the global batch's: ``sum over ranks of grad x local / total``
    (each rank's loss is the mean over its own shard)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads]) * (local / total)
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
