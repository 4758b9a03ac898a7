"""Shared by the transfer tests: cheap random torchvision weights, tiny cnnzoo checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn as nn

from cnnzoo import create_model
from cnnzoo.train import save_checkpoint
from cnnzoo.transfer.torchvision_twins import (
    list_twins,
    map_torchvision_state,
    torchvision_meta_model,
)

TWINS = list_twins()
_BUFFER = torch.randn(1 << 22, generator=torch.Generator().manual_seed(0))
_TILED: dict[tuple[tuple[int, ...], float], torch.Tensor] = {}


def _fill(i: int, shape: torch.Size, scale: float) -> torch.Tensor:
    n = math.prod(shape)
    if n <= 1 << 20:
        start = (i * 104_729) % (_BUFFER.numel() - n)
        return _BUFFER[start : start + n].mul(scale).view(shape)
    key = (tuple(shape), scale)
    if key not in _TILED:  # one big FC matrix (VGG's fc6), tiled from a 1M block, shared
        block = _BUFFER[: (1 << 20) + 17] * scale
        _TILED[key] = block.repeat(n // block.numel() + 1)[:n].view(shape)
    return _TILED[key]


def random_torchvision_state(tv_meta: nn.Module) -> dict[str, torch.Tensor]:
    state = {}
    for i, (key, ref) in enumerate(tv_meta.state_dict().items()):
        if not ref.is_floating_point():
            state[key] = torch.zeros((), dtype=ref.dtype)
        elif key.endswith("running_var"):
            state[key] = _fill(i, ref.shape, 0.2).abs() + 0.5
        elif key.endswith("running_mean") or ref.dim() == 1:
            state[key] = _fill(i, ref.shape, 0.1) + (1.0 if key.endswith("weight") else 0.0)
        else:  # conv / linear weights, He-scaled so deep nets neither vanish nor explode
            fan_in = math.prod(ref.shape[1:])
            state[key] = _fill(i, ref.shape, math.sqrt(2.0 / fan_in))
    return state


def twin_pair(name: str) -> tuple[nn.Module, nn.Module]:
    with torch.device("meta"):
        ours = create_model(name)
    tv_name = TWINS[name]
    theirs = torchvision_meta_model(tv_name, like=ours)
    state = random_torchvision_state(theirs)
    theirs.load_state_dict(state, assign=True)
    ours.load_state_dict(map_torchvision_state(ours, tv_name, state, reference=theirs), assign=True)
    return ours, theirs


def make_checkpoint(path: Path, name: str, num_classes: int, in_chans: int = 1) -> Path:
    """A cnnzoo checkpoint of a randomly initialised model, 'trained on' 32x32 digits."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=num_classes, in_chans=in_chans)
    meta = {
        "model": name,
        "model_kwargs": {"num_classes": num_classes, "in_chans": in_chans},
        "epoch": 3,
        "data": {
            "name": "digits",
            "input_size": [in_chans, 32, 32],
            "mean": [0.3] * in_chans,
            "std": [0.4] * in_chans,
            "classes": [str(i) for i in range(num_classes)],
        },
    }
    return save_checkpoint(path, model, meta)
