"""What every search strategy does before ranking a candidate: recompute batch-norm statistics."""

from __future__ import annotations

import torch
import torch.nn as nn

from cnnzoo.data.core import TensorSplit, iterate_batches, normalize

__all__ = ["recalibrate_batch_norm"]


@torch.no_grad()
def recalibrate_batch_norm(
    model: nn.Module, images: TensorSplit, mean, std, batch_size: int = 256
) -> None:
    """Recompute every batch norm's statistics as the plain average over ``images``.

    A proxy run of a few dozen steps leaves the running averages (momentum 0.1) far from what
    the final weights produce, and the deep stacks of BN in a cell compound it: measured, such
    nets reached 45% training accuracy and 10% validation accuracy in eval mode. In a supernet
    the shared statistics are an average over all paths, which fits none of them. This is the
    usual remedy in proxy and one-shot NAS (Guo et al. 2020).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
    model.train()
    for batch, _ in iterate_batches(images, batch_size, shuffle=False):
        model(normalize(batch, mean, std))
    model.eval()
    for norm in norms:
        norm.momentum = 0.1
