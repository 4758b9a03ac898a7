"""``load_data``: a dataset name in, a :class:`DataBundle` of in-memory uint8 splits out.

Order of operations (each done once, at load time, on whole tensors):

1. read the files (``readers``), checking their structure;
2. carve the test set out of the training data if the dataset has none (digits, folders
   without ``test/``): a stratified ``TEST_HOLDOUT`` share drawn with the fixed seed
   ``HOLDOUT_SEED``, so test numbers stay comparable whatever ``seed`` a run uses;
3. hold out ``val_fraction`` of the (remaining) training data as the validation split, stratified
   and drawn with ``seed``; the test set is never touched;
4. cap each split at ``limit`` samples (seeded, stratified) for quick runs;
5. bring the images to ``image_size`` (zero-padding MNIST-style 28x28 digits into 32x32 as
   LeNet-5's paper did, bilinear resizing otherwise) and to ``in_chans`` channels;
6. measure per-channel mean and std on the training split as it now is.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cnnzoo.data import readers
from cnnzoo.data.core import (
    DataBundle,
    DataError,
    DataFilesMissingError,
    TensorSplit,
    channel_stats,
    stratified_split,
    stratified_subset,
)

__all__ = [
    "DATASETS",
    "HOLDOUT_SEED",
    "TEST_HOLDOUT",
    "list_datasets",
    "load_data",
    "resolve_data_dir",
]

resolve_data_dir = readers.resolve_data_dir

DATASETS: dict[str, str] = {
    "digits": "scikit-learn's bundled 8x8 handwritten digits (1797 images), upsampled; no download",
    "mnist": "MNIST handwritten digits, 60k train + 10k test, 1x28x28",
    "fashion_mnist": "Fashion-MNIST (Zalando) clothing, 60k train + 10k test, 1x28x28",
    "cifar10": "CIFAR-10, 50k train + 10k test, 3x32x32, 10 classes",
    "cifar100": "CIFAR-100, 50k train + 10k test, 3x32x32, 100 fine classes",
    "svhn": "SVHN street-view house numbers (cropped digits), 73k train + 26k test, 3x32x32",
    "folder:<path>": "any image folder: <path>/train/<class>/*, optional val/ and test/",
}
_ALIASES = {
    "fashion-mnist": "fashion_mnist",
    "fashionmnist": "fashion_mnist",
    "fmnist": "fashion_mnist",
    "cifar-10": "cifar10",
    "cifar-100": "cifar100",
    "sklearn_digits": "digits",
}

TEST_HOLDOUT = 0.2
"""Share of the data held out as the test set when a dataset has no official one."""
HOLDOUT_SEED = 0
"""Fixed seed of that test holdout (independent of the train/val ``seed``)."""
DIGITS_DEFAULT_SIZE = (32, 32)
"""Default image size of ``digits``: LeNet-5's 32x32 input."""
_RESIZE_MODES = ("auto", "pad", "resize")


def list_datasets() -> list[str]:
    """Names ``load_data`` accepts (``folder:<path>`` stands for any image folder)."""
    return list(DATASETS)


def _canonical(name: str) -> str:
    if name.startswith("folder:"):
        return name
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        close = difflib.get_close_matches(key, [k for k in DATASETS if k != "folder:<path>"], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DataError(
            f"unknown dataset {name!r}.{hint} Known datasets: "
            f"{', '.join(DATASETS)} (e.g. folder:./my_images)."
        )
    return key


def _as_size(image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
        raise DataError(f"image_size must be a positive int or (height, width), got {image_size!r}")
    return size


def _check_args(val_fraction: float, limit: int | None, in_chans: int | None, resize: str) -> None:
    if not 0.0 < val_fraction < 1.0:
        raise DataError(
            f"val_fraction must be strictly between 0 and 1 (the share of the training set held "
            f"out for validation, 0.2 by default), got {val_fraction}"
        )
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise DataError(f"limit must be a whole number >= 1 (samples per split), got {limit!r}")
    if in_chans not in (None, 1, 3):
        raise DataError(f"in_chans must be 1 (greyscale) or 3 (RGB), got {in_chans!r}")
    if resize not in _RESIZE_MODES:
        raise DataError(f"resize must be one of {', '.join(_RESIZE_MODES)}, got {resize!r}")


def _download(name: str, root: Path) -> None:
    """Fetch a dataset with torchvision (needs internet); files land where our readers look."""
    # start-up: torchvision.datasets costs 1-2 s CPU on top of `import cnnzoo`; only a download
    # needs it.
    import torchvision.datasets as tvd

    try:
        if name in readers.MNIST_FAMILY:
            cls = getattr(tvd, readers.MNIST_FAMILY[name]["torchvision"])
            for train in (True, False):
                cls(str(root), train=train, download=True)
        elif name in readers.CIFAR:
            cls = getattr(tvd, readers.CIFAR[name]["torchvision"])
            cls(str(root), train=True, download=True)
        elif name == "svhn":
            for split in ("train", "test"):
                tvd.SVHN(str(root / "SVHN"), split=split, download=True)
    except Exception as exc:  # network errors come in many types; say what failed and where
        raise DataFilesMissingError(
            f"{name}: download into {root} failed ({type(exc).__name__}: {exc}). Check the "
            f"internet connection and that {root} is writable, or copy the files in by hand "
            f"(see docs/data.md)."
        ) from exc


def _files_present(name: str, root: Path) -> bool:
    if name in readers.MNIST_FAMILY:
        return all(p is not None for p in readers.mnist_family_files(name, root)[1].values())
    if name in readers.CIFAR:
        return not readers.cifar_files(name, root)[1]
    if name == "svhn":
        folder = readers.svhn_folder(root)
        return all((folder / f).is_file() for f in readers.SVHN_FILES.values())
    return True


def _read(
    name: str, root: Path, download: bool, in_chans: int | None, size: tuple[int, int] | None
) -> readers.RawData:
    if name == "digits":
        return readers.read_digits()
    if name.startswith("folder:"):
        folder = Path(name[len("folder:") :]).expanduser()
        if not folder.is_absolute() and not folder.exists() and (root / folder).exists():
            folder = root / folder  # folder:<name> may also be relative to the data directory
        return readers.read_folder(folder.resolve(), in_chans, size)
    if download and not _files_present(name, root):
        _download(name, root)
    if name in readers.MNIST_FAMILY:
        return readers.read_mnist_family(name, root)
    if name in readers.CIFAR:
        return readers.read_cifar(name, root)
    return readers.read_svhn(root)


def _to_split(images: np.ndarray, labels: np.ndarray) -> TensorSplit:
    # np.frombuffer arrays are read-only; torch wants to own writable memory.
    images = images if images.flags.writeable and images.flags.c_contiguous else images.copy()
    labels = labels if labels.flags.writeable else labels.copy()
    return TensorSplit(
        torch.from_numpy(images), torch.from_numpy(labels), torch.arange(len(labels))
    )


def _fit_mode(name: str, native: tuple[int, int], size: tuple[int, int], resize: str) -> str:
    if size == native:
        return "none"
    if resize != "auto":
        return resize
    # LeNet-5's paper placed the 28x28 MNIST images in a 32x32 field (zero border), which is
    # what lenet5 expects; any other change of size is a resize.
    if name in ("mnist", "fashion_mnist") and native == (28, 28) and size == (32, 32):
        return "pad"
    return "resize"


def _pad(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    h, w = images.shape[2:]
    dh, dw = size[0] - h, size[1] - w
    if dh < 0 or dw < 0:
        raise DataError(
            f"resize='pad' cannot shrink {h}x{w} images to {size[0]}x{size[1]}; use "
            f"resize='resize' (or 'auto')"
        )
    return F.pad(images, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2)).contiguous()


def _resize(images: torch.Tensor, size: tuple[int, int], chunk: int = 2048) -> torch.Tensor:
    out = torch.empty((images.shape[0], images.shape[1], *size), dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        x = images[start : start + chunk].float()
        y = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        out[start : start + chunk] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


def _convert_channels(images: torch.Tensor, in_chans: int) -> torch.Tensor:
    c = images.shape[1]
    if c == in_chans:
        return images
    if c == 1 and in_chans == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if c == 3 and in_chans == 1:
        # ITU-R 601-2 luma, the weights Pillow's convert("L") uses.
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        out = torch.empty((images.shape[0], 1, *images.shape[2:]), dtype=torch.uint8)
        for start in range(0, images.shape[0], 4096):
            x = images[start : start + 4096].float()
            out[start : start + 4096] = (
                (x * weights).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
            )
        return out
    raise DataError(f"cannot convert {c}-channel images to {in_chans} channels")


def _splits(
    raw: readers.RawData, name: str, val_fraction: float, seed: int, limit: int | None
) -> tuple[TensorSplit, TensorSplit, TensorSplit, list[str]]:
    """Train, validation and test splits of a read data set (the test split held out of the
    training set where the set has none; validation held out of training unless the set has
    its own; each cut to ``limit``), and the notes saying how."""
    train = _to_split(*raw.train)
    notes = list(raw.notes)
    if raw.test_is_holdout:
        rest, held = stratified_split(train.labels, TEST_HOLDOUT, HOLDOUT_SEED)
        test, train = train.subset(held), train.subset(rest)
        notes.append(
            f"test = stratified {TEST_HOLDOUT:.0%} holdout of all {len(rest) + len(held)} "
            f"images, fixed seed {HOLDOUT_SEED}"
        )
    else:
        test = _to_split(*raw.test)
    if raw.val is not None:
        val = _to_split(*raw.val)
    else:
        kept, held = stratified_split(train.labels, val_fraction, seed)
        if len(kept) == 0 or len(held) == 0:
            raise DataError(
                f"{name}: {len(train)} training images are too few to hold out "
                f"val_fraction={val_fraction} for validation"
            )
        train, val = train.subset(kept), train.subset(held)
    if limit is not None:
        train, val, test = (
            s.subset(stratified_subset(s.labels, limit, seed + offset))
            for offset, s in enumerate((train, val, test))
        )
    return train, val, test, notes


def load_data(
    name: str | None = "digits",
    data_dir: str | os.PathLike | None = None,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    image_size: int | tuple[int, int] | None = None,
    in_chans: int | None = None,
    download: bool = False,
    limit: int | None = None,
    resize: str = "auto",
) -> DataBundle:
    """Load a dataset into memory as uint8 train / val / test splits.

    Args:
        name: one of :func:`list_datasets` (``"digits"``, ``"mnist"``, ``"fashion_mnist"``,
            ``"cifar10"``, ``"cifar100"``, ``"svhn"``) or ``"folder:<path>"``; None means
            ``"digits"``.
        data_dir: where dataset files live; defaults to env ``CNNZOO_DATA``, then ``./data``.
            MNIST is read from ``<data_dir>/MNIST/raw``, Fashion-MNIST from
            ``<data_dir>/FashionMNIST/raw`` (torchvision's layout), CIFAR from
            ``<data_dir>/cifar-10-batches-py`` / ``cifar-100-python``, SVHN from
            ``<data_dir>/SVHN``.
        val_fraction: share of the official training set held out for validation, in (0, 1).
        seed: seed of the train/validation split (and of ``limit``'s subsets).
        image_size: ``H`` or ``(H, W)`` to store the images at; None keeps the native size
            (``digits``: 32x32, LeNet-5's input).
        in_chans: 1 or 3 to convert channels (greyscale repeated to RGB, RGB to ITU-R 601 luma).
        download: fetch missing files with torchvision (needs internet).
        limit: keep at most this many samples per split (seeded, stratified) for quick runs.
        resize: how ``image_size`` is reached: ``"pad"`` (zero border, centred), ``"resize"``
            (bilinear, antialiased) or ``"auto"`` (pad 28x28 MNIST/Fashion-MNIST into 32x32 as
            LeNet-5's paper did, resize everything else).
    """
    name = name or "digits"
    key = _canonical(name)
    _check_args(val_fraction, limit, in_chans, resize)
    size = _as_size(image_size)
    if key == "digits" and size is None:
        size = DIGITS_DEFAULT_SIZE
    root = resolve_data_dir(data_dir)
    raw = _read(key, root, download, in_chans, size)

    train, val, test, notes = _splits(raw, name, val_fraction, seed, limit)

    native = train.image_size
    target = size or native
    chans = in_chans or train.in_chans
    mode = _fit_mode(key, native, target, resize)
    steps = []
    if mode != "none":
        steps.append(
            f"{'zero-padded' if mode == 'pad' else 'resized (bilinear)'} {native[0]}x{native[1]} -> {target[0]}x{target[1]}"
        )
    if chans != train.in_chans:
        steps.append(f"{train.in_chans} -> {chans} channels")

    def prepare(split: TensorSplit) -> TensorSplit:
        images = split.images
        if mode == "pad":
            images = _pad(images, target)
        elif mode == "resize":
            images = _resize(images, target)
        return TensorSplit(_convert_channels(images, chans), split.labels, split.indices)

    train, val, test = prepare(train), prepare(val), prepare(test)
    mean, std = channel_stats(train.images)
    return DataBundle(
        # Folders are named by their absolute path so a checkpoint can find them again.
        name=f"folder:{raw.source}" if key.startswith("folder:") else key,
        train=train,
        val=val,
        test=test,
        classes=raw.classes,
        mean=mean,
        std=std,
        split_seed=seed,
        source=raw.source,
        preprocessing="; ".join(steps) or "none (native size and channels)",
        notes=notes,
    )
