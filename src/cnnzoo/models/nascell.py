"""NASNet-style cell networks over the seed's operation list, and the cells our search found.

B. Zoph, V. Vasudevan, J. Shlens, Q. V. Le. Learning Transferable Architectures for Scalable
Image Recognition. CVPR, 2018 (the search space: a normal and a reduction cell, each of B blocks;
a block applies an operation to each of two hidden states chosen from the cell's two inputs and
earlier blocks, and adds the results; the cell concatenates the blocks nobody consumed).
E. Real, A. Aggarwal, Y. Huang, Q. V. Le. Regularized Evolution for Image Classifier
Architecture Search. AAAI, 2019 (the same space, searched by aging evolution).

Operations (the seed's list): identity, 1x3 then 3x1 conv, 1x7 then 7x1 conv, 3x3 dilated conv,
3x3 average pool, 3x3 / 5x5 / 7x7 max pool, 1x1 conv, 3x3 / 5x5 / 7x7 depthwise-separable conv.
Convolutions are ReLU-conv-BN as in NASNet; separable ones are applied twice, as there.

Deviations for a small grey-scale proxy: the concatenated block outputs are projected back to
the cell's width with a 1x1 conv (NASNet widens instead); the network is a 3x3 stem, ``cells``
normal cells per stage, a reduction cell between stages (width doubles), global average pooling
and a linear head.

A genotype is text: the normal cell, ``/``, the reduction cell; blocks separated by ``|``, each
``op@input+op@input`` where input 0 and 1 are the cell's inputs (h_{-2}, h_{-1}) and 2, 3 ...
the outputs of earlier blocks.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cnnzoo.registry import Paper, get_model_card, is_model, register_model

__all__ = [
    "FOUND",
    "OPERATIONS",
    "REFERENCE",
    "CellNet",
    "cell_record",
    "format_genotype",
    "parse_genotype",
    "register_cells",
    "register_cells_from_environment",
]

ZOPH = Paper(
    authors="B. Zoph, V. Vasudevan, J. Shlens, Q. V. Le",
    title="Learning Transferable Architectures for Scalable Image Recognition",
    year=2018,
    venue="CVPR",
    url="https://arxiv.org/abs/1707.07012",
)

# What every cell network's card says: the space's paper, the proxy task's input.
CARD: dict[str, Any] = {
    "paper": ZOPH,
    "input_size": (1, 28, 28),
    "num_classes": 10,
    "family": "nas",
    "dataset": "Fashion-MNIST",
}


def _relu_conv_bn(
    cin: int, cout: int, kernel, stride: int = 1, padding=0, dilation: int = 1, groups: int = 1
) -> nn.Sequential:
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(cin, cout, kernel, stride, padding, dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    )


def _separable(c: int, k: int, stride: int) -> nn.Sequential:
    """NASNet's separable op: (ReLU, depthwise kxk, pointwise 1x1, BN) twice, stride on the first."""
    layers = []
    for s in (stride, 1):
        layers += [
            nn.ReLU(),
            nn.Conv2d(c, c, k, s, k // 2, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c),
        ]
    return nn.Sequential(*layers)


def _factorised(c: int, k: int, stride: int) -> nn.Sequential:
    """1xk then kx1 convolution."""
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(c, c, (1, k), (1, stride), (0, k // 2), bias=False),
        nn.Conv2d(c, c, (k, 1), (stride, 1), (k // 2, 0), bias=False),
        nn.BatchNorm2d(c),
    )


class FactorizedReduce(nn.Module):
    """Halve the grid without losing half the pixels: two 1x1 stride-2 convs, one shifted by a
    pixel, concatenated (NASNet's identity at stride 2)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.act = nn.ReLU()
        self.conv_a = nn.Conv2d(cin, cout // 2, 1, 2, bias=False)
        self.conv_b = nn.Conv2d(cin, cout - cout // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(x)
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


OPERATIONS = {
    "identity": lambda c, s: nn.Identity() if s == 1 else FactorizedReduce(c, c),
    "conv_1x3_3x1": lambda c, s: _factorised(c, 3, s),
    "conv_1x7_7x1": lambda c, s: _factorised(c, 7, s),
    "dil_conv_3x3": lambda c, s: _relu_conv_bn(c, c, 3, s, 2, dilation=2),
    "avg_pool_3x3": lambda c, s: nn.AvgPool2d(3, s, 1, count_include_pad=False),
    "max_pool_3x3": lambda c, s: nn.MaxPool2d(3, s, 1),
    "max_pool_5x5": lambda c, s: nn.MaxPool2d(5, s, 2),
    "max_pool_7x7": lambda c, s: nn.MaxPool2d(7, s, 3),
    "conv_1x1": lambda c, s: _relu_conv_bn(c, c, 1, s),
    "conv_3x3": lambda c, s: _relu_conv_bn(c, c, 3, s, 1),
    "sep_conv_3x3": lambda c, s: _separable(c, 3, s),
    "sep_conv_5x5": lambda c, s: _separable(c, 5, s),
    "sep_conv_7x7": lambda c, s: _separable(c, 7, s),
}

Block = tuple[str, int, str, int]


def parse_genotype(text: str) -> tuple[list[Block], list[Block]]:
    """``"op@i+op@j|.../op@i+op@j|..."`` -> (normal blocks, reduction blocks), checked."""
    cells = text.strip().split("/")
    if len(cells) != 2:
        raise ValueError(f"a genotype is 'NORMAL/REDUCTION', got {text!r}")
    parsed = []
    for cell in cells:
        blocks: list[Block] = []
        for b, block in enumerate(cell.split("|")):
            try:
                (op1, in1), (op2, in2) = (half.split("@") for half in block.split("+"))
                entry = (op1, int(in1), op2, int(in2))
            except ValueError:
                raise ValueError(f"block {block!r} is not 'op@input+op@input'") from None
            for op, source in ((entry[0], entry[1]), (entry[2], entry[3])):
                if op not in OPERATIONS:
                    raise ValueError(
                        f"unknown operation {op!r}; expected one of {', '.join(OPERATIONS)}"
                    )
                if not 0 <= source < b + 2:
                    raise ValueError(f"block {b} reads input {source}; it can read 0..{b + 1}")
            blocks.append(entry)
        parsed.append(blocks)
    return parsed[0], parsed[1]


def format_genotype(normal: list[Block], reduction: list[Block]) -> str:
    return "/".join(
        "|".join(f"{a}@{i}+{b}@{j}" for a, i, b, j in cell) for cell in (normal, reduction)
    )


class Cell(nn.Module):
    def __init__(
        self,
        blocks: list[Block],
        c_prev2: int,
        c_prev: int,
        c: int,
        reduction: bool,
        prev_reduced: bool,
    ) -> None:
        super().__init__()
        self.blocks = blocks
        self.pre0 = FactorizedReduce(c_prev2, c) if prev_reduced else _relu_conv_bn(c_prev2, c, 1)
        self.pre1 = _relu_conv_bn(c_prev, c, 1)
        self.ops = nn.ModuleList()
        for op1, in1, op2, in2 in blocks:
            for op, source in ((op1, in1), (op2, in2)):
                stride = 2 if reduction and source < 2 else 1
                self.ops.append(OPERATIONS[op](c, stride))
        used = {source for _, i, _, j in blocks for source in (i, j)}
        self.concat = [k for k in range(2, len(blocks) + 2) if k not in used]
        self.project = _relu_conv_bn(c * len(self.concat), c, 1)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for b, (_, in1, _, in2) in enumerate(self.blocks):
            states.append(self.ops[2 * b](states[in1]) + self.ops[2 * b + 1](states[in2]))
        return self.project(torch.cat([states[k] for k in self.concat], dim=1))


class CellNet(nn.Module):
    """Stem, ``stages`` stages of ``cells`` normal cells with a reduction cell between them,
    global average pooling, linear head."""

    def __init__(
        self,
        genotype: str,
        num_classes: int = 10,
        in_chans: int = 1,
        width: int = 16,
        cells: int = 1,
        stages: int = 3,
    ) -> None:
        super().__init__()
        normal, reduction = parse_genotype(genotype)
        self.genotype, self.num_classes, self.in_chans = genotype, num_classes, in_chans
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width)
        )
        self.cells = nn.ModuleList()
        self.feature_info = []
        c_prev2 = c_prev = c = width
        prev_reduced = False
        for stage in range(stages):
            if stage > 0:
                c *= 2
                self.cells.append(Cell(reduction, c_prev2, c_prev, c, True, prev_reduced))
                c_prev2, c_prev, prev_reduced = c_prev, c, True
            for _ in range(cells):
                self.cells.append(Cell(normal, c_prev2, c_prev, c, False, prev_reduced))
                c_prev2, c_prev, prev_reduced = c_prev, c, False
            index = len(self.cells) - 1
            self.feature_info.append(
                {"module": f"cells.{index}", "num_chs": c, "reduction": 2**stage}
            )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.head = nn.Linear(c, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return s1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.flatten(self.pool(self.forward_features(x))))

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        old = self.head
        self.head = nn.Linear(
            old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype
        )


# A hand-picked reference cell (not searched): separable and pooling branches, NASNet-A-like.
REFERENCE = (
    "sep_conv_3x3@1+identity@1|sep_conv_5x5@0+sep_conv_3x3@1|avg_pool_3x3@1+identity@0"
    "/sep_conv_5x5@1+sep_conv_7x7@0|max_pool_3x3@1+sep_conv_7x7@0|avg_pool_3x3@2+sep_conv_3x3@2"
)


@register_model(
    **CARD,
    params=48_194,
    macs=5_253_120,
    notes="genotype= any cell text (see cnnzoo.models.nascell); default: REFERENCE",
    no_figures="a hand-picked cell of our search space (width 8, one cell per stage)",
)
def nas_cell(
    num_classes: int = 10, in_chans: int = 1, genotype: str = REFERENCE, **kwargs
) -> CellNet:
    """A CellNet of any genotype (the search's proxy size: width 8, one cell per stage)."""
    kwargs.setdefault("width", 8)
    return CellNet(genotype, num_classes, in_chans, **kwargs)


# -- cells found by `cnnzoo nas search` ------------------------------------------------------

# docs/nas.md has the search and the retraining that found and measured them.
FOUND: dict[str, str] = {
    "nas_fashion_a": (
        "avg_pool_3x3@1+max_pool_5x5@1|max_pool_3x3@1+sep_conv_5x5@1|conv_3x3@2+identity@3"
        "/sep_conv_5x5@0+max_pool_5x5@0|sep_conv_7x7@1+max_pool_3x3@1|conv_1x7_7x1@2+conv_1x1@0"
    ),
}


@register_model(
    **CARD,
    params=58_194,
    macs=5_867_776,
    reported="trial 13 of `cnnzoo nas search --strategy oneshot` (defaults, seed 0); its "
    "supernet score and retraining result are in docs/nas.md",
    no_figures="found by our own search; no paper reports it",
    notes="found by `cnnzoo nas search --strategy oneshot` (defaults, seed 0); genotype in "
    "cnnzoo.models.nascell.FOUND; width 8, one cell per stage",
)
def nas_fashion_a(num_classes: int = 10, in_chans: int = 1, **kwargs) -> CellNet:
    """The best cell of the one-shot search on Fashion-MNIST (docs/nas.md)."""
    kwargs.setdefault("width", 8)
    return CellNet(FOUND["nas_fashion_a"], num_classes, in_chans, **kwargs)


# -- cells registered from a JSON file (`cnnzoo nas register`) ------------------------------

CELLS_ENV = "CNNZOO_CELLS"
_NAME = re.compile(r"nas_[a-z0-9_]{1,40}")
_CELL_KEYS = {"genotype", "width", "source"}


def register_cells(path: str | os.PathLike[str]) -> list[str]:
    """Register every cell of a JSON file ``{"cells": {NAME: {"genotype": TEXT, "width": N,
    "source": TEXT}}}`` as a model; the names registered.

    The file is data only: JSON, a name pattern, a parsed and checked genotype and a width, so
    nothing in it is ever executed. Registering the same file twice is harmless; a name that is
    already a different model is refused.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path} does not exist; write it with `cnnzoo nas register`"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{path} is not a JSON file ({error}); write it with `cnnzoo nas register`"
        ) from None
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, dict):
        raise ValueError(
            f'{path} has no "cells" object; expected {{"cells": {{"nas_NAME": {{"genotype": ...}}}}}}'
        )
    names = []
    for name, cell in cells.items():
        genotype, width, source = _checked_cell(path, name, cell)
        if is_model(name):
            if get_model_card(name).notes != _cell_notes(genotype, width):
                raise ValueError(
                    f"{path}: {name!r} is already a model with another cell; rename it"
                )
        else:
            _register_cell(name, genotype, width, f"{path}: {source}" if source else str(path))
        names.append(name)
    return names


def cell_record(name: str, genotype: str, width: int = 8, source: str = "") -> dict[str, object]:
    """The JSON record of one cell for :func:`register_cells`, checked the same way."""
    record: dict[str, object] = {"genotype": genotype, "width": width, "source": source}
    _checked_cell(Path("<new cell>"), name, record)
    return record


def register_cells_from_environment() -> list[str]:
    """The cells of every file in ``$CNNZOO_CELLS`` (paths separated by ``os.pathsep``)."""
    files = [f for f in os.environ.get(CELLS_ENV, "").split(os.pathsep) if f]
    return [name for file in files for name in register_cells(file)]


def _checked_cell(path: Path, name: object, cell: object) -> tuple[str, int, str]:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"{path}: cell name {name!r} must look like nas_lower_case (letters, digits, _)"
        )
    if not isinstance(cell, dict) or "genotype" not in cell or set(cell) - _CELL_KEYS:
        raise ValueError(
            f'{path}: cell {name!r} must be an object with "genotype" (and optionally "width", "source")'
        )
    genotype, width, source = cell["genotype"], cell.get("width", 8), cell.get("source", "")
    if not isinstance(genotype, str) or not isinstance(source, str):
        raise ValueError(f"{path}: cell {name!r}: genotype and source must be text")
    if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= 256:
        raise ValueError(
            f"{path}: cell {name!r}: width must be a whole number in 1..256, got {width!r}"
        )
    try:
        parse_genotype(genotype)
    except ValueError as error:
        raise ValueError(f"{path}: cell {name!r}: {error}") from None
    return genotype, width, source


def _cell_notes(genotype: str, width: int) -> str:
    return f"genotype={genotype} width={width}"


def _register_cell(name: str, genotype: str, width: int, source: str) -> None:
    def builder(num_classes: int = 10, in_chans: int = 1, **kwargs) -> CellNet:
        kwargs.setdefault("width", width)
        return CellNet(genotype, num_classes, in_chans, **kwargs)

    builder.__name__ = builder.__qualname__ = name
    params = sum(p.numel() for p in CellNet(genotype, width=width).parameters())
    register_model(
        **CARD,
        params=params,
        reported=f"registered from {source}",
        no_figures="a cell registered from a search result; no paper reports it",
        notes=_cell_notes(genotype, width),
    )(builder)
