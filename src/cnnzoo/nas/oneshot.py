"""The cheap search: one weight-sharing supernet over the whole cell space, trained once with a
uniformly sampled path per step, then searched by evolution with the weights it inherited.

H. Pham, M. Y. Guan, B. Zoph, Q. V. Le, J. Dean. Efficient Neural Architecture Search via
Parameter Sharing. ICML, 2018 (ENAS: every candidate is a path through one shared graph, so a
candidate costs a forward pass instead of a training run). Z. Guo et al. Single Path One-Shot
Neural Architecture Search with Uniform Sampling. ECCV, 2020 (train the supernet with paths
drawn uniformly, then run evolution over it; no controller to train, and the supernet's ranking
is not biased towards what a controller happened to prefer early).

Deviation from ENAS: no LSTM controller (uniform sampling, as Guo et al.); the search after
training is the same aging evolution as ``strategy="evolution"``, but scoring a candidate is
batch-norm recalibration plus one validation pass with the supernet's weights.

The supernet mirrors :class:`cnnzoo.models.nascell.CellNet` module for module, except that
every (block, half, input) edge holds all 13 operations and a cell's 1x1 projection holds one
weight column group per block: a path uses the columns of the blocks it concatenates.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnzoo.data.core import DataBundle, TensorSplit, iterate_batches, normalize
from cnnzoo.models.nascell import OPERATIONS, Block, CellNet, FactorizedReduce, parse_genotype
from cnnzoo.nas.proxy import recalibrate_batch_norm
from cnnzoo.train import evaluate
from cnnzoo.train.checkpoint import load_state, save_state

__all__ = ["SuperNet", "inherit", "score_on_supernet", "train_supernet"]


def _relu_conv_bn(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))


class SharedProjection(nn.Module):
    """ReLU, 1x1 conv from ``blocks`` x ``c`` channels, BN; a path that concatenates only some
    blocks uses only their input columns (the same weights a stand-alone cell would have)."""

    def __init__(self, c: int, blocks: int) -> None:
        super().__init__()
        self.c = c
        self.act = nn.ReLU()
        self.weight = nn.Parameter(torch.empty(c, c * blocks, 1, 1))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)  # nn.Conv2d's default
        self.bn = nn.BatchNorm2d(c)

    def columns(self, blocks: list[int]) -> torch.Tensor:
        return torch.cat([torch.arange(b * self.c, (b + 1) * self.c) for b in blocks])

    def forward(self, x: torch.Tensor, blocks: list[int]) -> torch.Tensor:
        return self.bn(F.conv2d(self.act(x), self.weight[:, self.columns(blocks)]))


class SuperCell(nn.Module):
    def __init__(
        self, n_blocks: int, c_prev2: int, c_prev: int, c: int, reduction: bool, prev_reduced: bool
    ) -> None:
        super().__init__()
        self.pre0 = FactorizedReduce(c_prev2, c) if prev_reduced else _relu_conv_bn(c_prev2, c)
        self.pre1 = _relu_conv_bn(c_prev, c)
        self.edges = nn.ModuleDict()
        for b in range(n_blocks):
            for half in "ab":
                for source in range(b + 2):
                    stride = 2 if reduction and source < 2 else 1
                    self.edges[f"{b}{half}{source}"] = nn.ModuleDict(
                        {name: build(c, stride) for name, build in OPERATIONS.items()}
                    )
        self.project = SharedProjection(c, n_blocks)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, blocks: list[Block]) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for b, (op1, in1, op2, in2) in enumerate(blocks):
            a = self.edges[f"{b}a{in1}"][op1](states[in1])
            states.append(a + self.edges[f"{b}b{in2}"][op2](states[in2]))
        used = {source for _, i, _, j in blocks for source in (i, j)}
        concat = [k for k in range(2, len(blocks) + 2) if k not in used]
        return self.project(torch.cat([states[k] for k in concat], dim=1), [k - 2 for k in concat])


class SuperNet(nn.Module):
    """Every genotype of ``n_blocks`` blocks is a path; :meth:`set_path` picks the one that
    ``forward`` runs (so the engine's ``evaluate`` and BN recalibration work unchanged)."""

    def __init__(
        self,
        n_blocks: int,
        num_classes: int = 10,
        in_chans: int = 1,
        width: int = 8,
        cells: int = 1,
        stages: int = 3,
    ) -> None:
        super().__init__()
        self.n_blocks, self.num_classes, self.in_chans = n_blocks, num_classes, in_chans
        self.width, self.cells_per_stage, self.stages = width, cells, stages
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width)
        )
        self.cells = nn.ModuleList()
        self.is_reduction: list[bool] = []
        c_prev2 = c_prev = c = width
        prev_reduced = False
        for stage in range(stages):
            for reduction in ([True] if stage > 0 else []) + [False] * cells:
                c = c * 2 if reduction else c
                self.cells.append(SuperCell(n_blocks, c_prev2, c_prev, c, reduction, prev_reduced))
                self.is_reduction.append(reduction)
                c_prev2, c_prev, prev_reduced = c_prev, c, reduction
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.head = nn.Linear(c, num_classes)
        self.path: tuple[list[Block], list[Block]] | None = None

    def set_path(self, genotype: str) -> None:
        normal, reduction = parse_genotype(genotype)
        if len(normal) != self.n_blocks or len(reduction) != self.n_blocks:
            raise ValueError(f"this supernet's cells have {self.n_blocks} blocks: {genotype!r}")
        self.path = (normal, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.path is None:
            raise ValueError("choose a path first: supernet.set_path(genotype)")
        normal, reduction = self.path
        s0 = s1 = self.stem(x)
        for cell, is_reduction in zip(self.cells, self.is_reduction, strict=True):
            s0, s1 = s1, cell(s0, s1, reduction if is_reduction else normal)
        return self.head(self.flatten(self.pool(s1)))


def train_supernet(
    supernet: SuperNet,
    data: DataBundle,
    sample: Callable[[random.Random], str],
    epochs: int,
    state_path: Path,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> float:
    """Train with one uniformly sampled path per step (Adam 1e-3, batch 128), saving the
    weights, optimizer and random states after every epoch to ``state_path`` (one atomic file);
    a killed run continues from its last finished epoch. Returns the CPU seconds spent so far."""
    say = log or (lambda line: None)
    optimizer = torch.optim.Adam(supernet.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    first, cpu_seconds = 1, 0.0
    if state_path.is_file():
        state = load_state(state_path)
        supernet.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        rng.setstate(_tuple_state(state["rng"]))
        first, cpu_seconds = state["epoch"] + 1, state["cpu_seconds"]
    for epoch in range(first, epochs + 1):
        started = time.process_time()
        loss = _supernet_epoch(supernet, data, sample, optimizer, generator, rng)
        cpu_seconds += time.process_time() - started
        save_state(
            state_path,
            {
                "model": supernet.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(),
                "rng": list(rng.getstate()),
                "epoch": epoch,
                "cpu_seconds": cpu_seconds,
            },
        )
        say(f"supernet epoch {epoch}/{epochs}: loss {loss:.3f}, {cpu_seconds / 60:.1f} CPU-min")
    return cpu_seconds


def _tuple_state(state: list[Any]) -> tuple[Any, ...]:
    """random.Random's state as ``setstate`` wants it (it was stored as lists)."""
    version, internal, gauss = state
    return version, tuple(internal), gauss


def _supernet_epoch(
    supernet: SuperNet,
    data: DataBundle,
    sample: Callable[[random.Random], str],
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    rng: random.Random,
) -> float:
    supernet.train()
    total, count = 0.0, 0
    for images, labels in iterate_batches(data.train, 128, shuffle=True, generator=generator):
        supernet.set_path(sample(rng))
        loss = F.cross_entropy(supernet(normalize(images, data.mean, data.std)), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total, count = total + float(loss.detach()) * len(labels), count + len(labels)
    return total / count


def score_on_supernet(
    supernet: SuperNet, genotype: str, data: DataBundle, calibration: TensorSplit, val: TensorSplit
) -> float:
    """A candidate's validation accuracy (%) with the weights it inherits: batch-norm statistics
    recomputed on the ``calibration`` training images (the shared ones average over all paths),
    then one pass over ``val``."""
    supernet.set_path(genotype)
    recalibrate_batch_norm(supernet, calibration, data.mean, data.std)
    metrics = evaluate(supernet, val, mean=data.mean, std=data.std, num_classes=data.num_classes)
    return float(metrics.top1)


@torch.no_grad()
def inherit(supernet: SuperNet, genotype: str) -> CellNet:
    """The stand-alone :class:`CellNet` of ``genotype`` with the weights (and batch-norm
    statistics) its path has in the supernet: it computes what the supernet computes on that
    path, so a found cell can be fine-tuned from there instead of trained from scratch."""
    net = CellNet(
        genotype,
        supernet.num_classes,
        supernet.in_chans,
        width=supernet.width,
        cells=supernet.cells_per_stage,
        stages=supernet.stages,
    )
    normal, reduction = parse_genotype(genotype)
    net.stem.load_state_dict(supernet.stem.state_dict())
    net.head.load_state_dict(supernet.head.state_dict())
    pairs = zip(net.cells, supernet.cells, supernet.is_reduction, strict=True)
    for cell, shared, is_reduction in pairs:
        cell.pre0.load_state_dict(shared.pre0.state_dict())
        cell.pre1.load_state_dict(shared.pre1.state_dict())
        for b, (op1, in1, op2, in2) in enumerate(reduction if is_reduction else normal):
            cell.ops[2 * b].load_state_dict(shared.edges[f"{b}a{in1}"][op1].state_dict())
            cell.ops[2 * b + 1].load_state_dict(shared.edges[f"{b}b{in2}"][op2].state_dict())
        columns = shared.project.columns([k - 2 for k in cell.concat])
        cell.project[1].weight.copy_(shared.project.weight[:, columns])
        cell.project[2].load_state_dict(shared.project.bn.state_dict())
    return net
