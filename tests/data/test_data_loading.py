"""load_data on the real MNIST / Fashion-MNIST files and on scikit-learn's digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cnnzoo.data import DataBundle, list_datasets, load_data

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist(shared_root: Path) -> DataBundle:
    return load_data("mnist", shared_root)


def test_list_datasets_names_every_supported_source() -> None:
    assert list_datasets() == [
        "digits",
        "mnist",
        "fashion_mnist",
        "cifar10",
        "cifar100",
        "svhn",
        "folder:<path>",
    ]


def test_mnist_splits_sizes_stats_and_test_set(mnist: DataBundle, shared_root: Path) -> None:
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (48000, 12000, 10000)
    assert mnist.input_size == (1, 28, 28) and mnist.num_classes == 10
    assert mnist.source == str(shared_root / "MNIST" / "raw")
    assert mnist.train.images.dtype == torch.uint8 and mnist.train.images.is_contiguous()
    # Per-channel stats measured on the 48k training split (the full 60k give 0.1307/0.3081).
    assert mnist.mean == (0.1305,) and mnist.std == (0.308,)
    # The test split is the official test file, untouched and in file order.
    assert mnist.test.labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert mnist.test.class_counts() == MNIST_TEST_COUNTS
    assert torch.equal(mnist.test.indices, torch.arange(10000))


def test_mnist_val_is_a_stratified_disjoint_part_of_the_training_file(mnist: DataBundle) -> None:
    train_idx, val_idx = set(mnist.train.indices.tolist()), set(mnist.val.indices.tolist())
    assert train_idx.isdisjoint(val_idx)
    assert train_idx | val_idx == set(range(60000))
    together = [
        a + b for a, b in zip(mnist.train.class_counts(), mnist.val.class_counts(), strict=True)
    ]
    assert together == MNIST_TRAIN_COUNTS
    for total, held in zip(MNIST_TRAIN_COUNTS, mnist.val.class_counts(), strict=True):
        assert abs(held - 0.2 * total) <= 1
    # Samples keep the file's order and labels: MNIST's training file starts 5 0 4 1 9 2 1 3 1 4.
    assert torch.equal(mnist.train.indices, torch.sort(mnist.train.indices).values)
    first = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    for split in (mnist.train, mnist.val):
        head = split.indices < 10
        assert split.labels[head].tolist() == [first[i] for i in split.indices[head].tolist()]


def test_split_is_deterministic_for_a_seed_and_never_moves_the_test_set(shared_root: Path) -> None:
    a = load_data("mnist", shared_root, seed=7, limit=300)
    b = load_data("mnist", shared_root, seed=7, limit=300)
    c = load_data("mnist", shared_root, seed=8, limit=300, val_fraction=0.5)
    assert torch.equal(a.val.indices, b.val.indices) and torch.equal(a.train.images, b.train.images)
    assert not torch.equal(a.val.indices, c.val.indices)
    assert c.split_seed == 8


def test_limit_takes_stratified_subsets_of_each_split(shared_root: Path) -> None:
    data = load_data("fashion_mnist", shared_root, limit=100)
    assert (len(data.train), len(data.val), len(data.test)) == (100, 100, 100)
    assert data.test.class_counts() == [10] * 10  # 1000 per class in the Fashion test set
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"


def test_fashion_padded_to_32_as_lenet5_expects(shared_root: Path) -> None:
    native = load_data("fashion_mnist", shared_root, limit=50)
    padded = load_data("fashion_mnist", shared_root, limit=50, image_size=32)
    assert padded.image_size == (32, 32)
    assert padded.preprocessing == "zero-padded 28x28 -> 32x32"
    assert torch.equal(padded.train.images[:, :, 2:30, 2:30], native.train.images)
    assert padded.train.images[:, :, :2].sum() == 0 and padded.train.images[:, :, :, 30:].sum() == 0


def test_resize_and_channel_conversion(shared_root: Path) -> None:
    data = load_data(
        "mnist", shared_root, limit=20, image_size=(40, 36), in_chans=3, resize="resize"
    )
    assert data.input_size == (3, 40, 36)
    assert torch.equal(data.train.images[:, 0], data.train.images[:, 2])
    assert len(data.mean) == 3 and data.mean[0] == data.mean[1] == data.mean[2]
    assert data.preprocessing == "resized (bilinear) 28x28 -> 40x36; 1 -> 3 channels"


def test_digits_default_needs_no_files(tmp_path: Path) -> None:
    data = load_data(data_dir=tmp_path / "nothing-here")
    assert data.name == "digits"
    assert (len(data.train), len(data.val), len(data.test)) == (1150, 288, 359)
    assert data.input_size == (1, 32, 32)
    assert data.classes == [str(i) for i in range(10)]
    everything = torch.cat([data.train.indices, data.val.indices, data.test.indices])
    assert sorted(everything.tolist()) == list(range(1797))  # disjoint and complete
    assert data.test.class_counts() == [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]
    assert "holdout" in data.notes[0]


def test_digits_pixels_are_sklearns_scaled_to_uint8() -> None:
    from sklearn.datasets import load_digits

    native = load_data("digits", image_size=8, limit=1000)
    expected = np.rint(load_digits().images * 255 / 16).astype(np.uint8)
    got = native.train.images[:, 0].numpy()
    assert np.array_equal(got, expected[native.train.indices.numpy()])
    assert native.preprocessing == "none (native size and channels)"


def test_digits_test_set_is_fixed_whatever_the_split_seed() -> None:
    a, b = load_data("digits", seed=0), load_data("digits", seed=1)
    assert torch.equal(a.test.indices, b.test.indices)
    assert torch.equal(a.test.images, b.test.images)
    assert not torch.equal(a.val.indices, b.val.indices)


def test_env_var_sets_the_data_dir(monkeypatch: pytest.MonkeyPatch, shared_root: Path) -> None:
    monkeypatch.setenv("CNNZOO_DATA", str(shared_root))
    assert load_data("fashion_mnist", limit=10).source == str(shared_root / "FashionMNIST" / "raw")


def test_describe_is_plain_data(mnist: DataBundle) -> None:
    info = mnist.describe()
    assert info["sizes"] == {"train": 48000, "val": 12000, "test": 10000}
    assert info["input_size"] == [1, 28, 28] and info["split_seed"] == 0
    assert "48000" in repr(mnist)
