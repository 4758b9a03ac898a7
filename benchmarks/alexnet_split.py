"""AlexNet's split (Krizhevsky et al. 2012; "One weird trick", Krizhevsky 2014) against plain
data parallel, on 2 gloo processes of this machine: what one training step of the fully
connected layers costs, communication included.

Both schemes convolve B/2 images per rank (the same work, left out here: the features are
random tensors of AlexNet's 256x6x6 = 9216 values per image). Then

* ``data parallel``: each rank runs fc6-fc8 with all their weights on its B/2 images, and the
  gradients of all 62.4M parameters (features 3.7M + classifier 58.6M) are all-reduced;
* ``AlexNet split``: the features of the whole batch are all-gathered, fc6 is split by
  output columns and fc7 by input rows across the ranks with torch's tensor-parallel API
  (``ColwiseParallel``, ``RowwiseParallel``: one all-reduce of fc7's output forward, one of
  fc6's input gradient backward), fc8 is replicated, each rank keeps its slice of the batch's
  feature gradient, and only the 3.7M convolution gradients are all-reduced.

It checks that the split's fc6 gradient is the data-parallel one (the rows this rank holds) and
prints the median step time of each scheme and the bytes each rank sends.

    python benchmarks/alexnet_split.py --batch 128 --steps 3
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

from cnnzoo import create_model

FEATURES = 9216


def _data_parallel_step(classifier: torch.nn.Module, conv_grads: torch.Tensor, x, y) -> None:
    classifier.zero_grad()
    F.cross_entropy(classifier(x), y).backward()
    flat = torch.cat([p.grad.reshape(-1) for p in classifier.parameters()] + [conv_grads])
    dist.all_reduce(flat)


def _split_step(classifier: torch.nn.Module, conv_grads: torch.Tensor, x, y, rank: int):
    classifier.zero_grad()
    gathered = [torch.empty_like(x) for _ in range(2)]
    dist.all_gather(gathered, x)
    batch = torch.cat(gathered).requires_grad_()
    labels = [torch.empty_like(y) for _ in range(2)]
    dist.all_gather(labels, y)
    F.cross_entropy(classifier(batch), torch.cat(labels)).backward()
    mine = batch.grad[rank * x.shape[0] : (rank + 1) * x.shape[0]]  # to this rank's convolutions
    dist.all_reduce(conv_grads)
    return mine


def _timed(step, steps: int) -> float:
    times = []
    for _ in range(steps + 1):  # the first step warms up
        dist.barrier()
        t0 = time.perf_counter()
        step()
        dist.barrier()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def _rank(rank: int, port: int, batch: int, steps: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = create_model("alexnet")
    for module in model.classifier.modules():  # dropout off: both schemes see the same network
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    conv = sum(p.numel() for p in model.features.parameters())
    dense = copy.deepcopy(model.classifier)
    split = parallelize_module(
        model.classifier,
        init_device_mesh("cpu", (2,)),
        {"fc6": ColwiseParallel(), "fc7": RowwiseParallel()},
    )
    generator = torch.Generator().manual_seed(rank)
    x = torch.randn(batch // 2, FEATURES, generator=generator)
    y = torch.randint(0, 1000, (batch // 2,), generator=generator)
    conv_grads = torch.zeros(conv)
    _data_parallel_step(dense, conv_grads, x, y)
    _split_step(split, conv_grads, x, y, rank)
    # The data-parallel fc6 gradient (averaged over the ranks) is the split's (its rows).
    full = dense.fc6.weight.grad.clone()
    dist.all_reduce(full)
    mine = split.fc6.weight.grad.to_local()
    rows = slice(rank * mine.shape[0], (rank + 1) * mine.shape[0])
    error = float((full[rows] / 2 - mine).abs().max())
    dp = _timed(lambda: _data_parallel_step(dense, conv_grads, x, y), steps)
    sp = _timed(lambda: _split_step(split, conv_grads, x, y, rank), steps)
    if rank == 0:
        params = sum(p.numel() for p in dense.parameters()) + conv
        # A ring all-reduce sends 2 (W - 1) / W of the tensor per rank: all of it for W = 2;
        # an all-gather sends this rank's part.
        dp_bytes = 4 * params
        sp_bytes = 4 * (batch // 2 * FEATURES + batch * 4096 + batch * FEATURES + conv)
        print(f"fc6 gradient, split vs data parallel: max |difference| {error:.2e}")
        print(f"batch {batch} (2 x {batch // 2}), median of {steps} steps, 1 thread per rank:")
        print(f"  data parallel: {dp:.2f} s per step, {dp_bytes / 1e6:.0f} MB sent per rank")
        print(f"  AlexNet split: {sp:.2f} s per step, {sp_bytes / 1e6:.1f} MB sent per rank")
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--port", type=int, default=29655)
    args = parser.parse_args()
    mp.spawn(_rank, args=(args.port, args.batch, args.steps), nprocs=2)


if __name__ == "__main__":
    main()
