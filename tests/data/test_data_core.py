"""Splits, batching and normalisation on in-memory tensors (no files)."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.data import DataError, TensorSplit, iterate_batches, normalize
from cnnzoo.data.core import channel_stats, stratified_split, stratified_subset


def _labels(counts: list[int]) -> torch.Tensor:
    # Interleave the classes so that "the first k" is not already stratified.
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(5))]


def test_stratified_split_is_disjoint_complete_and_proportional() -> None:
    counts = [100, 50, 30, 20]
    labels = _labels(counts)
    kept, held = stratified_split(labels, 0.2, seed=0)
    assert len(held) == 40 and len(kept) == 160
    assert set(kept.tolist()).isdisjoint(held.tolist())
    assert sorted(kept.tolist() + held.tolist()) == list(range(200))
    assert torch.bincount(labels[held], minlength=4).tolist() == [20, 10, 6, 4]
    assert torch.equal(kept, torch.sort(kept).values)


def test_stratified_split_is_deterministic_per_seed() -> None:
    labels = _labels([60, 40])
    a = stratified_split(labels, 0.25, seed=3)
    b = stratified_split(labels, 0.25, seed=3)
    c = stratified_split(labels, 0.25, seed=4)
    assert torch.equal(a[1], b[1]) and torch.equal(a[0], b[0])
    assert not torch.equal(a[1], c[1])


def test_stratified_subset_caps_and_keeps_proportions() -> None:
    labels = _labels([300, 100])
    subset = stratified_subset(labels, 40, seed=0)
    assert len(subset) == 40
    assert torch.bincount(labels[subset]).tolist() == [30, 10]
    assert torch.equal(stratified_subset(labels, 1000, seed=0), torch.arange(400))


def _split(n: int = 10, c: int = 1) -> TensorSplit:
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, c, 2, 3).contiguous()
    return TensorSplit(images, torch.arange(n) % 3, torch.arange(n))


def test_tensor_split_validates_dtypes_and_lengths() -> None:
    with pytest.raises(DataError, match="uint8"):
        TensorSplit(torch.zeros(2, 1, 2, 2), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(DataError, match="int64"):
        TensorSplit(torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.zeros(2, dtype=torch.int32))
    with pytest.raises(DataError, match="3 images but 2 labels"):
        TensorSplit(torch.zeros(3, 1, 2, 2, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64))
    split = _split()
    assert len(split) == 10 and split.image_size == (2, 3) and split.in_chans == 1
    assert split.class_counts() == [4, 3, 3]


def test_iterate_batches_in_order_with_partial_last_batch() -> None:
    split = _split(10)
    batches = list(iterate_batches(split, 4, shuffle=False))
    assert [len(labels) for _, labels in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([images for images, _ in batches]), split.images)
    assert batches[0][0].dtype == torch.uint8 and batches[0][1].dtype == torch.int64
    assert [len(b[1]) for b in iterate_batches(split, 4, shuffle=False, drop_last=True)] == [4, 4]


def test_iterate_batches_shuffle_is_a_seeded_permutation() -> None:
    split = _split(10)

    def epoch(seed: int) -> list[int]:
        gen = torch.Generator().manual_seed(seed)
        return [
            int(v)
            for images, _ in iterate_batches(split, 3, shuffle=True, generator=gen)
            for v in images[:, 0, 0, 0]
        ]

    for images, labels in iterate_batches(split, 3, shuffle=True):
        assert torch.equal(labels, images[:, 0, 0, 0].long() % 3)  # labels travel with images
    first = epoch(0)
    assert sorted(first) == list(range(10))
    assert first == epoch(0)
    assert first != epoch(1)
    assert first != list(range(10))


def test_iterate_batches_applies_augment_to_whole_batches() -> None:
    calls = []

    def invert(images: torch.Tensor) -> torch.Tensor:
        calls.append(images.shape[0])
        return 255 - images

    out = list(iterate_batches(_split(10), 4, shuffle=False, augment=invert))
    assert calls == [4, 4, 2]
    assert out[0][0][1, 0, 0, 0].item() == 254
    with pytest.raises(DataError, match="batch_size"):
        next(iterate_batches(_split(), 0, shuffle=False))


def test_normalize_values_dtype_and_memory_format() -> None:
    images = torch.tensor([0, 51, 255], dtype=torch.uint8).view(3, 1, 1, 1)
    out = normalize(images, (0.2,), (0.4,))
    assert out.dtype == torch.float32
    assert out.flatten().tolist() == pytest.approx([-0.5, 0.0, 2.0], abs=1e-6)
    rgb = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8).contiguous(
        memory_format=torch.channels_last
    )
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    expected = (rgb.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(
        1, 3, 1, 1
    )
    got = normalize(rgb, mean, std)
    assert torch.allclose(got, expected, atol=1e-5)
    assert got.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(DataError, match="3-channel images but mean has 1"):
        normalize(rgb, (0.5,), (0.5,))


def test_channel_stats_matches_float_computation() -> None:
    images = torch.randint(0, 256, (50, 3, 7, 5), dtype=torch.uint8)
    mean, std = channel_stats(images)
    x = images.double() / 255
    assert mean == pytest.approx(x.mean(dim=(0, 2, 3)).tolist(), abs=6e-5)
    assert std == pytest.approx(x.std(dim=(0, 2, 3), unbiased=False).tolist(), abs=6e-5)
    # A constant channel gets std 1 so normalize never divides by zero.
    assert channel_stats(torch.full((2, 1, 3, 3), 7, dtype=torch.uint8))[1] == (1.0,)
