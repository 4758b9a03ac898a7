"""In-memory splits, the dataset bundle, seeded stratified splitting, normalisation, batching.

Everything here works on whole uint8 tensors: a split is one ``(N, C, H, W)`` uint8 tensor plus
one int64 label tensor, batches are gathered with one indexing op, and normalisation is one
fused multiply-add per batch. No per-sample Python runs in the training loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "CorruptDataError",
    "DataBundle",
    "DataError",
    "DataFilesMissingError",
    "TensorSplit",
    "iterate_batches",
    "normalize",
    "stratified_order",
    "stratified_split",
    "stratified_subset",
]


class DataError(ValueError):
    """A dataset could not be loaded, or was asked for with invalid arguments."""


class DataFilesMissingError(DataError, FileNotFoundError):
    """The dataset's files are not where they were looked for (the message says where)."""


class CorruptDataError(DataError):
    """A dataset file exists but is truncated, corrupt or not in the expected format."""


@dataclass
class TensorSplit:
    """One split held in memory, ready for fast batching.

    ``images`` is uint8 ``(N, C, H, W)`` and contiguous; ``labels`` is int64 ``(N,)``.
    ``indices`` (optional, int64 ``(N,)``) records where each sample came from: its position in
    the dataset's file (the official training set for ``train``/``val``, the test set for
    ``test``; for digits and folders without ``test/``, all images), so runs can record and
    tests can check exactly which samples a split holds.
    """

    images: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataError(
                f"TensorSplit.images must be a uint8 (N, C, H, W) tensor, got "
                f"{self.images.dtype} with shape {tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or self.labels.dim() != 1:
            raise DataError(
                f"TensorSplit.labels must be an int64 (N,) tensor, got "
                f"{self.labels.dtype} with shape {tuple(self.labels.shape)}"
            )
        if len(self.images) != len(self.labels):
            raise DataError(
                f"TensorSplit has {len(self.images)} images but {len(self.labels)} labels"
            )
        if self.indices is not None and self.indices.shape != self.labels.shape:
            raise DataError(
                f"TensorSplit.indices has shape {tuple(self.indices.shape)}, labels "
                f"{tuple(self.labels.shape)}"
            )
        if not self.images.is_contiguous():
            self.images = self.images.contiguous()

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.images.shape[2]), int(self.images.shape[3])

    @property
    def in_chans(self) -> int:
        return int(self.images.shape[1])

    def subset(self, indices: torch.Tensor) -> TensorSplit:
        """The samples at ``indices`` (a copy), in that order."""
        return TensorSplit(
            self.images[indices].contiguous(),
            self.labels[indices].clone(),
            None if self.indices is None else self.indices[indices].clone(),
        )

    def class_counts(self, num_classes: int | None = None) -> list[int]:
        """Number of samples per class, ``[count of class 0, count of class 1, ...]``."""
        return torch.bincount(self.labels, minlength=num_classes or 0).tolist()

    def to(self, device: torch.device | str) -> TensorSplit:
        """Both tensors moved to ``device`` (e.g. to keep a small dataset on the GPU)."""
        return TensorSplit(self.images.to(device), self.labels.to(device), self.indices)


@dataclass
class DataBundle:
    """A dataset ready to train on: train / val / test splits plus what a run must record.

    ``val`` is held out from the official training set (seeded, stratified, disjoint from
    ``train``); ``test`` is the official test set and is never used to pick a model.
    ``mean`` and ``std`` are per channel in [0, 1] pixel units, measured on ``train`` as loaded.
    """

    name: str
    train: TensorSplit
    val: TensorSplit
    test: TensorSplit
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    split_seed: int
    source: str
    preprocessing: str = ""
    """How the stored images were derived from the files (resize, pad, channel conversion)."""
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_chans(self) -> int:
        return self.train.in_chans

    @property
    def image_size(self) -> tuple[int, int]:
        return self.train.image_size

    @property
    def input_size(self) -> tuple[int, int, int]:
        """``(C, H, W)``, the form model cards use."""
        return (self.in_chans, *self.image_size)

    def describe(self) -> dict[str, Any]:
        """Plain-data description for run configs and checkpoint metadata."""
        return {
            "name": self.name,
            "source": self.source,
            "classes": list(self.classes),
            "input_size": list(self.input_size),
            "sizes": {"train": len(self.train), "val": len(self.val), "test": len(self.test)},
            "mean": list(self.mean),
            "std": list(self.std),
            "split_seed": self.split_seed,
            "preprocessing": self.preprocessing,
        }

    def __repr__(self) -> str:
        c, h, w = self.input_size
        return (
            f"DataBundle({self.name!r}: train {len(self.train)}, val {len(self.val)}, "
            f"test {len(self.test)}, {self.num_classes} classes, {c}x{h}x{w}, "
            f"split_seed={self.split_seed}, source={self.source!r})"
        )


def stratified_order(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """A seeded permutation of ``range(len(labels))`` in which every prefix is stratified.

    Each sample's key is its (random) rank within its class divided by the class size, so
    taking the first ``k`` indices takes about ``k * share`` of every class. Deterministic for a
    given seed and label vector, on any machine.
    """
    n = labels.shape[0]
    generator = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=generator)
    shuffled = labels[perm]
    counts = torch.bincount(shuffled)
    # Rank of each shuffled sample within its class: stable sort by class, then position.
    by_class = torch.sort(shuffled, stable=True).indices
    rank = torch.empty(n, dtype=torch.int64)
    starts = torch.cumsum(counts, 0) - counts
    rank[by_class] = torch.arange(n) - torch.repeat_interleave(starts, counts)
    key = (rank.double() + 0.5) / counts[shuffled].double()
    return perm[torch.sort(key, stable=True).indices]


def stratified_split(
    labels: torch.Tensor, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices into ``(kept, held_out)`` with ``round(fraction * N)`` held out, stratified.

    Both index tensors are sorted, so the samples keep the file's order.
    """
    order = stratified_order(labels, seed)
    n_out = round(fraction * labels.shape[0])
    return torch.sort(order[n_out:]).values, torch.sort(order[:n_out]).values


def stratified_subset(labels: torch.Tensor, limit: int, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded, stratified subset of at most ``limit`` samples."""
    if labels.shape[0] <= limit:
        return torch.arange(labels.shape[0])
    return torch.sort(stratified_order(labels, seed)[:limit]).values


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` batch -> float32 ``(x / 255 - mean) / std`` per channel.

    One multiply and one add, in place on the float copy of the whole batch, on the batch's
    device, keeping its memory format (channels_last batches stay channels_last).
    """
    if images.dim() != 4:
        raise DataError(f"normalize expects an (N, C, H, W) batch, got shape {tuple(images.shape)}")
    channels = images.shape[1]
    if len(mean) != channels or len(std) != channels:
        raise DataError(
            f"normalize got {channels}-channel images but mean has {len(mean)} and std "
            f"{len(std)} values; use the bundle's mean/std"
        )
    std_t = torch.tensor(std, dtype=torch.float32, device=images.device)
    mean_t = torch.tensor(mean, dtype=torch.float32, device=images.device)
    scale = (1.0 / (255.0 * std_t)).view(1, -1, 1, 1)
    shift = (-mean_t / std_t).view(1, -1, 1, 1)
    # In-place mul_/add_ on the float copy: measured 3-6x faster on CPU than torch.addcmul,
    # whose broadcasting path is slow (5 ms vs 0.9 ms for 256 CIFAR images).
    return images.to(torch.float32).mul_(scale).add_(shift)


def iterate_batches(
    split: TensorSplit,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(uint8 images, int64 labels)`` batches of ``split``.

    With ``shuffle`` the order is one ``randperm`` drawn from ``generator`` (the global RNG if
    None) when iteration starts; each batch is gathered with a single indexing op and
    ``augment`` (if given) is applied to the whole uint8 batch.
    """
    if batch_size < 1:
        raise DataError(f"batch_size must be at least 1, got {batch_size}")
    n = len(split)
    order = torch.randperm(n, generator=generator) if shuffle else None
    stop = n - n % batch_size if drop_last else n
    # index_select on a 2-D view is ~50x faster than advanced indexing of the 4-D tensor.
    sample_shape = split.images.shape[1:]
    flat = split.images.view(n, -1)
    for start in range(0, stop, batch_size):
        end = min(start + batch_size, n)
        if order is None:
            images, labels = split.images[start:end], split.labels[start:end]
        else:
            index = order[start:end].to(split.images.device)
            images = torch.index_select(flat, 0, index).view(-1, *sample_shape)
            labels = torch.index_select(split.labels, 0, index)
        if augment is not None:
            images = augment(images)
        yield images, labels


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of a uint8 batch in [0, 1] units, rounded to 4 dp.

    Computed exactly from a 256-bin histogram per channel (a uint8 bincount is far faster than
    summing floats, and needs no float copy of the dataset).
    """
    values = torch.arange(256, dtype=torch.float64)
    means, stds = [], []
    for c in range(images.shape[1]):
        hist = torch.bincount(images[:, c].reshape(-1), minlength=256).to(torch.float64)
        count = hist.sum().clamp_min(1)
        mean = (hist * values).sum() / count
        var = (hist * (values - mean) ** 2).sum() / count
        std = var.sqrt() / 255.0
        # A constant channel (blank test images) would make normalize divide by zero.
        means.append(round(float(mean / 255.0), 4))
        stds.append(round(float(std), 4) if std > 1e-4 else 1.0)
    return tuple(means), tuple(stds)
