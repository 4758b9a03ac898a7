"""Embeddings (pooled features of any layer) and L2 nearest neighbours in feature space.

The lectures show, after Krizhevsky, Sutskever & Hinton ("ImageNet Classification with Deep
Convolutional Neural Networks", NeurIPS 2012, Figure 4), test images beside the training images
whose last-layer features are nearest in L2 distance: the neighbours share the class even where
the pixels differ. :func:`knn_predict` turns the same neighbours into a k-NN classifier, a plain
measure of how linearly useful (and transferable) the features are.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from cnnzoo.data import TensorSplit, iterate_batches, normalize
from cnnzoo.train.checkpoint import atomic_write_bytes

__all__ = [
    "FeatureSet",
    "extract_features",
    "knn_predict",
    "load_features",
    "nearest_neighbors",
    "save_features",
]


@dataclass
class FeatureSet:
    """``features`` (N, D) float32, ``labels`` (N,) int64, where they came from in ``meta``."""

    features: torch.Tensor
    labels: torch.Tensor
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def _pool(output: Any) -> torch.Tensor:
    if isinstance(output, (tuple, list)):
        output = output[0]
    if output.dim() == 4:  # (N, C, H, W): global average pool, as the classifiers do
        return output.mean((2, 3))
    return output.flatten(1)


def extract_features(
    model: nn.Module,
    split: TensorSplit,
    *,
    mean: Any,
    std: Any,
    layer: str | None = None,
    batch_size: int = 500,
) -> torch.Tensor:
    """Pooled features of ``layer`` (default: ``forward_features``, the last feature map) for
    every image of ``split``, as an (N, D) float32 tensor. Feature maps are average-pooled."""
    modules = dict(model.named_modules())
    if layer is not None and layer not in modules:
        stages = [s["module"] for s in getattr(model, "feature_info", [])]
        raise ValueError(
            f"{type(model).__name__} has no layer {layer!r}; its stages are "
            f"{', '.join(map(str, stages)) or '(none listed)'} (any name from `cnnzoo summary`)"
        )
    captured: list[torch.Tensor] = []
    handle = None
    if layer is not None:
        handle = modules[layer].register_forward_hook(lambda m, i, o: captured.append(_pool(o)))
    was_training = model.training
    model.eval()
    chunks = []
    try:
        with torch.inference_mode():
            for images, _ in iterate_batches(split, batch_size, shuffle=False):
                x = normalize(images, mean, std)
                if layer is None:
                    chunks.append(_pool(model.forward_features(x)).float())
                else:
                    captured.clear()
                    model(x)
                    chunks.append(captured[-1].float())  # a layer called twice: its last call
    finally:
        if handle is not None:
            handle.remove()
        model.train(was_training)
    return torch.cat(chunks) if chunks else torch.empty(0, 0)


def save_features(path: str | os.PathLike[str], features: FeatureSet) -> Path:
    """Write ``features`` as safetensors (``features``, ``labels``; ``meta`` in the header)."""
    path = Path(path)
    tensors = {"features": features.features.contiguous(), "labels": features.labels.contiguous()}
    text = json.dumps(features.meta, default=str)
    atomic_write_bytes(path, st_save(tensors, metadata={"cnnzoo_features": text}))
    return path


def load_features(path: str | os.PathLike[str]) -> FeatureSet:
    """Read a file written by :func:`save_features`."""
    data = Path(path).read_bytes()
    tensors = st_load(data)
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    meta = json.loads(header.get("__metadata__", {}).get("cnnzoo_features", "{}"))
    return FeatureSet(tensors["features"], tensors["labels"], meta)


def nearest_neighbors(
    queries: torch.Tensor, bank: torch.Tensor, k: int = 5, chunk: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(distances, indices)``, each (Q, k): the ``k`` rows of ``bank`` nearest in L2 to each
    query, nearest first (exact search, in chunks so memory stays at chunk x N)."""
    if not 1 <= k <= bank.shape[0]:
        raise ValueError(f"k must be between 1 and the bank's {bank.shape[0]} samples, got {k}")
    dists, indices = [], []
    for start in range(0, queries.shape[0], chunk):
        d = torch.cdist(queries[start : start + chunk], bank)
        values, idx = d.topk(k, dim=1, largest=False)
        dists.append(values)
        indices.append(idx)
    return torch.cat(dists), torch.cat(indices)


def knn_predict(
    queries: torch.Tensor, bank: torch.Tensor, bank_labels: torch.Tensor, k: int = 5
) -> torch.Tensor:
    """Majority vote of the ``k`` L2-nearest bank samples (a tie goes to the nearest's class)."""
    _, idx = nearest_neighbors(queries, bank, k)
    votes = bank_labels[idx]  # (Q, k)
    classes = int(bank_labels.max()) + 1
    counts = F.one_hot(votes, classes).sum(1).float()
    # Break ties toward nearer neighbours: a tiny bonus that decreases with rank.
    bonus = F.one_hot(votes, classes).float() * (1e-3 / (1 + torch.arange(k)))[None, :, None]
    return (counts + bonus.sum(1)).argmax(1)
