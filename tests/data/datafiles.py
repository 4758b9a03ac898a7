"""Writers of tiny dataset files in the real on-disk formats (IDX, CIFAR pickles, SVHN .mat,
image folders), for the cnnzoo.data tests."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes, as MNIST ships."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def write_tiny_mnist(
    root: Path, folder: str = "MNIST", n_train: int = 50, n_test: int = 20, gz: bool = True
) -> dict[str, np.ndarray]:
    """Write a tiny MNIST-format dataset (random pixels, balanced labels) under root/folder/raw."""
    rng = np.random.default_rng(0)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(n_test, dtype=np.uint8) % 10,
    }
    for stem, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            (raw / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (raw / stem).write_bytes(data)
    return arrays


def write_tiny_cifar(
    root: Path, name: str = "cifar10", per_batch: int = 10, n_test: int = 12
) -> dict:
    """Tiny CIFAR-10/100 python-pickle files in the official layout (protocol 2, like the
    originals); each image's pixels encode its batch and position so tests can find them."""
    rng = np.random.default_rng(1)
    if name == "cifar10":
        folder, train_files, test_files = (
            root / "cifar-10-batches-py",
            [f"data_batch_{i}" for i in range(1, 6)],
            ["test_batch"],
        )
        meta_file, meta = (
            "batches.meta",
            {
                "label_names": [
                    "airplane",
                    "automobile",
                    "bird",
                    "cat",
                    "deer",
                    "dog",
                    "frog",
                    "horse",
                    "ship",
                    "truck",
                ],
                "num_cases_per_batch": per_batch,
                "num_vis": 3072,
            },
        )
        label_key, num_classes = "labels", 10
    else:
        folder, train_files, test_files = root / "cifar-100-python", ["train"], ["test"]
        meta_file, meta = (
            "meta",
            {
                "fine_label_names": [f"class{i:02d}" for i in range(100)],
                "coarse_label_names": [f"super{i:02d}" for i in range(20)],
            },
        )
        label_key, num_classes = "fine_labels", 100
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for file_name, n in [
        *((f, per_batch) for f in train_files),
        *((f, n_test) for f in test_files),
    ]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, num_classes, n)]
        batch = {
            "batch_label": file_name,
            "data": data,
            label_key: labels,
            "filenames": [f"img_{i}.png" for i in range(n)],
        }
        if name == "cifar100":
            batch["coarse_labels"] = [lab // 5 for lab in labels]
        with open(folder / file_name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
        written[file_name] = (data, np.asarray(labels))
    with open(folder / meta_file, "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return written


def write_tiny_svhn(folder: Path, n_train: int = 30, n_test: int = 10) -> dict:
    """Tiny SVHN .mat files: X is (32, 32, 3, N) uint8 and y is (N, 1) with 10 for digit 0."""
    import scipy.io

    rng = np.random.default_rng(2)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).reshape(n, 1).astype(np.uint8)
        scipy.io.savemat(folder / f"{split}_32x32.mat", {"X": x, "y": y})
        written[split] = (x, y)
    return written


def write_image_folder(
    root: Path,
    classes: tuple[str, ...] = ("cat", "dog"),
    per_class: int = 5,
    size: tuple[int, int] = (12, 10),
    splits: tuple[str, ...] = ("train", "val", "test"),
) -> None:
    """PNG images under root/<split>/<class>/ (or root/<class>/ when splits is empty); each
    image is filled with a colour that encodes its class and number."""
    from PIL import Image

    for split in splits or ("",):
        for c, cls in enumerate(classes):
            folder = root / split / cls if split else root / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                colour = (40 * c + 10, 20 * i, 100 + 10 * c)
                Image.new("RGB", (size[1], size[0]), colour).save(folder / f"{i}.png")
