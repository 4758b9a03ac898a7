"""Training-time outputs of the networks with auxiliary classifiers (GoogLeNet, Inception v3).

In ``train()`` mode those models return a named tuple whose first field is ``logits``; in
``eval()`` mode they return the logits tensor alone, like every other model of the zoo.
:func:`loss_with_aux` turns either form into one loss, so a training loop needs no special case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

__all__ = ["GoogLeNetOutputs", "InceptionOutputs", "loss_with_aux"]


class GoogLeNetOutputs(NamedTuple):
    """GoogLeNet in train mode: main logits and the heads on inception4a and inception4d."""

    logits: torch.Tensor
    aux1: torch.Tensor
    aux2: torch.Tensor


class InceptionOutputs(NamedTuple):
    """Inception v3 in train mode: main logits and the single auxiliary head on the 17x17 grid."""

    logits: torch.Tensor
    aux: torch.Tensor


def loss_with_aux(
    outputs: torch.Tensor | tuple[torch.Tensor, ...],
    target: torch.Tensor,
    aux_weight: float = 0.3,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
) -> torch.Tensor:
    """``criterion(logits) + aux_weight * sum(criterion(aux))``.

    GoogLeNet's recipe weights each auxiliary loss by 0.3 (Szegedy et al. 2015, section 5);
    torchvision's Inception v3 reference training uses 0.4. A plain tensor (eval mode, or a model
    without auxiliary heads) gives ``criterion(outputs, target)``.
    """
    if isinstance(outputs, torch.Tensor):
        return criterion(outputs, target)
    logits, *aux = outputs
    loss = criterion(logits, target)
    for extra in aux:
        loss = loss + aux_weight * criterion(extra, target)
    return loss
