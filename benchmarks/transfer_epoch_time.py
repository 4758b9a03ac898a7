"""What does freezing save per training epoch? CPU seconds of one epoch of training steps
(forward, backward, Adam) on N Fashion-MNIST-sized images (1x28x28, batch 100), for each freeze
policy against training the same network from scratch. Frozen layers need no weight gradients;
below the lowest trainable layer no backward runs at all.

    nice -n 5 python benchmarks/transfer_epoch_time.py --images 2000 --threads 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cnnzoo import create_model
from cnnzoo.train import Recipe
from cnnzoo.train.optim import build_optimizer
from cnnzoo.transfer import finetune_param_groups, freeze

POLICIES = {
    "fashion_cnn": ["head", "all-but-head", "none"],
    "resnet20": ["head", "stages:2", "none"],
}


def epoch_cpu_seconds(arch: str, policy: str, images: torch.Tensor, labels: torch.Tensor) -> float:
    torch.manual_seed(0)
    model = create_model(arch, num_classes=5, in_chans=1).train()
    if policy != "scratch":
        freeze(model, policy)
    optimizer = build_optimizer(
        model,
        Recipe(optimizer="adam", lr=1e-3),
        finetune_param_groups(model, 0.0, head_lr_mult=10.0),
    )
    model(images[:100]).sum().backward()  # warm-up
    optimizer.zero_grad(set_to_none=True)
    start = time.process_time()
    for i in range(0, len(images), 100):
        loss = F.cross_entropy(model(images[i : i + 100]), labels[i : i + 100])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.process_time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    images = torch.randn(args.images, 1, 28, 28, generator=g)
    labels = torch.randint(0, 5, (args.images,), generator=g)
    print(f"| model | policy | CPU s per {args.images:,} images | vs scratch |")
    print("|---|---|---:|---:|")
    for arch, policies in POLICIES.items():
        scratch = epoch_cpu_seconds(arch, "scratch", images, labels)
        for policy in [*policies, "scratch"]:
            s = scratch if policy == "scratch" else epoch_cpu_seconds(arch, policy, images, labels)
            print(f"| {arch} | {policy} | {s:.2f} | {s / scratch:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
