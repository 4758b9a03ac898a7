"""Readers for the on-disk formats: IDX (MNIST family), CIFAR python pickles, SVHN .mat files,
image folders, and scikit-learn's bundled digits.

Each reader returns whole uint8 ``(N, C, H, W)`` arrays and checks the file's structure (magic
numbers, header sizes, array shapes, label ranges) so a truncated or corrupt file raises
:class:`CorruptDataError` naming the file instead of being trained on.

Why our own readers rather than ``torchvision.datasets.*`` for *reading* (torchvision is still
what ``download=True`` uses to fetch and extract the files):

* torchvision's MNIST wants the decompressed IDX files in ``raw/``; we read the ``.gz`` files
  directly, so a read-only copy (a shared folder, a container image) works as is.
* torchvision's CIFAR reader calls ``pickle.load`` on the batch files, which executes whatever
  code a crafted file contains; we unpickle with an allow-list of the numpy array constructors
  that genuine CIFAR batches use, and refuse anything else.
* torchvision checks the official MD5 of every CIFAR/SVHN file and refuses anything else; we
  check structure instead (a truncated file fails the shape checks), which also lets the tests
  load tiny files written in the real on-disk format, and lets users load re-packed copies.
"""

from __future__ import annotations

import codecs
import functools
import gzip
import importlib
import io
import os
import pickle
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cnnzoo.data.core import CorruptDataError, DataError, DataFilesMissingError

__all__ = [
    "IMAGE_EXTENSIONS",
    "RawData",
    "read_cifar",
    "read_digits",
    "read_folder",
    "read_idx",
    "read_image_files",
    "read_mnist_family",
    "read_svhn",
]

IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".webp",
    ".tif",
    ".tiff",
    ".ppm",
    ".pgm",
)


@dataclass
class RawData:
    """What a reader found: official splits as uint8 NCHW numpy arrays plus provenance."""

    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    classes: list[str]
    source: str
    val: tuple[np.ndarray, np.ndarray] | None = None
    test_is_holdout: bool = False
    """True when ``test`` was carved out of the training files (digits, folders without test/)."""
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)

_IDX_UBYTE = 0x08


def read_idx(path: Path, expected_ndim: int) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) of unsigned bytes, checking magic number and size.

    The (read-only) result is cached per path, size and modification time, so loading the
    same dataset again in one process (another seed, another image size) skips the gunzip.
    """
    stat = path.stat()
    return _read_idx_cached(str(path), stat.st_size, stat.st_mtime_ns, expected_ndim)


@functools.lru_cache(maxsize=8)
def _read_idx_cached(name: str, size: int, mtime_ns: int, expected_ndim: int) -> np.ndarray:
    path = Path(name)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptDataError(
            f"{path} is not a readable{' gzip' if path.suffix == '.gz' else ''} file "
            f"({type(exc).__name__}: {exc}); it is probably truncated or corrupt. Delete it and "
            f"fetch it again (download=True / --download on a machine with internet)."
        ) from exc
    if len(data) < 4:
        raise CorruptDataError(
            f"{path} has only {len(data)} bytes{' once unpacked' if path.suffix == '.gz' else ''}"
            "; an IDX file starts with a 4-byte magic (an interrupted download or copy?). Delete "
            "it and fetch it again (download=True / --download on a machine with internet)."
        )
    zero, dtype_code, ndim = int.from_bytes(data[0:2], "big"), data[2], data[3]
    if zero != 0 or dtype_code != _IDX_UBYTE or ndim != expected_ndim:
        raise CorruptDataError(
            f"{path} has IDX magic 0x{int.from_bytes(data[0:4], 'big'):08X}; expected "
            f"0x{_IDX_UBYTE << 8 | expected_ndim:08X} (unsigned bytes, {expected_ndim} dimension"
            f"{'s' if expected_ndim > 1 else ''}). Is it the right file?"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CorruptDataError(f"{path} ends inside its IDX header ({len(data)} bytes)")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise CorruptDataError(
            f"{path} has {len(data)} bytes of data but its IDX header ({' x '.join(map(str, dims))}) "
            f"says {expected}; the file is {'truncated' if len(data) < expected else 'too long'}."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


MNIST_FAMILY: dict[str, dict[str, Any]] = {
    "mnist": {
        "folder": "MNIST",
        "torchvision": "MNIST",
        "classes": [str(i) for i in range(10)],
        "homepage": "https://ossci-datasets.s3.amazonaws.com/mnist/ (torchvision's mirror)",
    },
    "fashion_mnist": {
        "folder": "FashionMNIST",
        "torchvision": "FashionMNIST",
        "classes": [
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ],
        "homepage": "https://github.com/zalandoresearch/fashion-mnist (data/fashion/)",
    },
}

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def mnist_family_files(name: str, root: Path) -> tuple[Path, dict[str, Path | None]]:
    """The raw folder and, per expected file stem, the path found (plain file or .gz) or None."""
    raw = root / MNIST_FAMILY[name]["folder"] / "raw"
    found: dict[str, Path | None] = {}
    for stems in _IDX_FILES.values():
        for stem in stems:
            found[stem] = next((p for p in (raw / stem, raw / f"{stem}.gz") if p.is_file()), None)
    return raw, found


def read_mnist_family(name: str, root: Path) -> RawData:
    raw, found = mnist_family_files(name, root)
    missing = [stem for stem, path in found.items() if path is None]
    if missing:
        info = MNIST_FAMILY[name]
        raise DataFilesMissingError(
            f"{name}: looked in {raw} for {', '.join(f'{s}[.gz]' for s in missing)} "
            f"(IDX files, gzip-compressed or not) and did not find "
            f"{'it' if len(missing) == 1 else 'them'}.\nTo get them: on a machine with internet "
            f"pass download=True (CLI: --download) and torchvision fetches them into {raw}; or "
            f"copy the four files from {info['homepage']} into {raw}/; or point data_dir "
            f"(CLI: --data-dir, env CNNZOO_DATA) at a folder that contains "
            f"{info['folder']}/raw/."
        )
    splits = {}
    for split, (image_stem, label_stem) in _IDX_FILES.items():
        images = read_idx(found[image_stem], 3)  # type: ignore[arg-type]
        labels = read_idx(found[label_stem], 1)  # type: ignore[arg-type]
        _check_pair(found[image_stem], found[label_stem], images, labels, 10)
        splits[split] = (images[:, None, :, :], labels.astype(np.int64))
    return RawData(
        train=splits["train"],
        test=splits["test"],
        classes=list(MNIST_FAMILY[name]["classes"]),
        source=str(raw),
    )


def _check_pair(
    path: Path | None,
    label_path: Path | None,
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
) -> None:
    """Images and labels agree in number, and labels are class indices (the label file's
    fault, so it is the one named)."""
    if len(images) != len(labels):
        raise CorruptDataError(
            f"{path}: {len(images)} images but {len(labels)} labels in the matching label file"
            + (f" {label_path}" if label_path is not None and label_path != path else "")
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise CorruptDataError(
            f"{label_path or path}: labels range {labels.min()}..{labels.max()}, expected "
            f"0..{num_classes - 1}; the file is corrupt: delete it and fetch it again"
        )


# ---------------------------------------------------------------------------------------------
# CIFAR python pickles


def _numpy_global(module: str, name: str) -> object:
    # Pickles written by numpy < 2 name numpy.core.*, numpy >= 2 writes numpy._core.*.
    # Try numpy._core first: on numpy 2 the numpy.core alias warns on access.
    for candidate in (
        module.replace("numpy.core", "numpy._core"),
        module.replace("numpy._core", "numpy.core"),
    ):
        try:
            return getattr(importlib.import_module(candidate), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"cannot resolve {module}.{name}")


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings and numpy arrays; refuses every other global."""

    _ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str) -> object:
        if (module, name) == (
            "_codecs",
            "encode",
        ):  # how protocol-2 pickles from Python 3 store bytes
            return codecs.encode
        if (module, name) in self._ALLOWED:
            return _numpy_global(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load global {module}.{name}: CIFAR batch files contain only dicts, "
            f"lists and numpy arrays"
        )


def _load_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            obj = _ArrayOnlyUnpickler(io.BytesIO(f.read()), encoding="latin1").load()
    except Exception as exc:  # a corrupt pickle can raise nearly anything; report it as corrupt
        raise CorruptDataError(
            f"{path} is not a readable CIFAR pickle ({type(exc).__name__}: {exc}); it is probably "
            f"truncated or corrupt. Delete it and fetch it again (download=True / --download)."
        ) from exc
    if not isinstance(obj, dict):
        raise CorruptDataError(f"{path} holds a {type(obj).__name__}, expected a CIFAR batch dict")
    return obj


CIFAR: dict[str, dict[str, Any]] = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "torchvision": "CIFAR10",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "meta": ("batches.meta", "label_names"),
        "label_key": "labels",
        "num_classes": 10,
        "archive": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "torchvision": "CIFAR100",
        "train": ["train"],
        "test": ["test"],
        "meta": ("meta", "fine_label_names"),
        "label_key": "fine_labels",
        "num_classes": 100,
        "archive": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    },
}


def cifar_files(name: str, root: Path) -> tuple[Path, list[str]]:
    spec = CIFAR[name]
    folder = root / spec["folder"]
    names = [*spec["train"], *spec["test"], spec["meta"][0]]
    return folder, [n for n in names if not (folder / n).is_file()]


def read_cifar(name: str, root: Path) -> RawData:
    spec = CIFAR[name]
    folder, missing = cifar_files(name, root)
    if missing:
        raise DataFilesMissingError(
            f"{name}: looked in {folder} for {', '.join(missing)} (the python-pickle batches) "
            f"and did not find {'it' if len(missing) == 1 else 'them'}.\nTo get them: on a "
            f"machine with internet pass download=True (CLI: --download) and torchvision fetches "
            f"and extracts them; or download {spec['archive']} and extract it into {root} (it "
            f"creates {spec['folder']}/); or point data_dir (CLI: --data-dir, env CNNZOO_DATA) "
            f"at a folder that contains {spec['folder']}/."
        )
    meta_name, meta_key = spec["meta"]
    meta = _load_pickle(folder / meta_name)
    classes = meta.get(meta_key)
    if not isinstance(classes, list) or len(classes) != spec["num_classes"]:
        raise CorruptDataError(
            f"{folder / meta_name}: expected a list of {spec['num_classes']} names under "
            f"{meta_key!r}, found {type(classes).__name__}"
            + (f" of length {len(classes)}" if isinstance(classes, list) else "")
        )
    splits = {}
    for split in ("train", "test"):
        parts_x, parts_y = [], []
        for file_name in spec[split]:
            path = folder / file_name
            batch = _load_pickle(path)
            data, labels = batch.get("data"), batch.get(spec["label_key"])
            if (
                not isinstance(data, np.ndarray)
                or data.dtype != np.uint8
                or data.ndim != 2
                or data.shape[1] != 3072
            ):
                shape = getattr(data, "shape", None)
                raise CorruptDataError(
                    f"{path}: 'data' should be a uint8 array of shape (N, 3072) (N images of "
                    f"3x32x32), found {type(data).__name__} {getattr(data, 'dtype', '')} {shape}"
                )
            if labels is None:
                raise CorruptDataError(f"{path}: no {spec['label_key']!r} entry")
            labels = np.asarray(labels, dtype=np.int64)
            _check_pair(path, path, data, labels, spec["num_classes"])
            parts_x.append(data.reshape(-1, 3, 32, 32))
            parts_y.append(labels)
        splits[split] = (np.concatenate(parts_x), np.concatenate(parts_y))
    return RawData(
        train=splits["train"],
        test=splits["test"],
        classes=[str(c) for c in classes],
        source=str(folder),
    )


# ---------------------------------------------------------------------------------------------
# SVHN .mat files

SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}


def svhn_folder(root: Path) -> Path:
    """``<root>/SVHN`` (where our downloads go), or ``<root>`` if the files sit there directly."""
    for folder in (root / "SVHN", root):
        if all((folder / f).is_file() for f in SVHN_FILES.values()):
            return folder
    return root / "SVHN"


def read_svhn(root: Path) -> RawData:
    # start-up: scipy.io costs 0.3-0.4 s on top of `import cnnzoo` and only SVHN needs it.
    import scipy.io

    folder = svhn_folder(root)
    missing = [f for f in SVHN_FILES.values() if not (folder / f).is_file()]
    if missing:
        raise DataFilesMissingError(
            f"svhn: looked in {root / 'SVHN'} and {root} for {', '.join(missing)} and did not "
            f"find {'it' if len(missing) == 1 else 'them'}.\nTo get them: on a machine with "
            f"internet pass download=True (CLI: --download) and torchvision fetches them into "
            f"{root / 'SVHN'}; or download train_32x32.mat and test_32x32.mat from "
            f"http://ufldl.stanford.edu/housenumbers/ into {root / 'SVHN'}/."
        )
    splits = {}
    for split, file_name in SVHN_FILES.items():
        path = folder / file_name
        try:
            mat = scipy.io.loadmat(path)
        except Exception as exc:  # scipy raises ValueError, OSError, MatReadError, TypeError...
            raise CorruptDataError(
                f"{path} is not a readable MATLAB file ({type(exc).__name__}: {exc}); it is "
                f"probably truncated or corrupt. Delete it and fetch it again (--download)."
            ) from exc
        x, y = mat.get("X"), mat.get("y")
        if (
            not isinstance(x, np.ndarray)
            or x.dtype != np.uint8
            or x.ndim != 4
            or x.shape[:3] != (32, 32, 3)
        ):
            raise CorruptDataError(
                f"{path}: 'X' should be a uint8 array of shape (32, 32, 3, N), found "
                f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}"
            )
        if not isinstance(y, np.ndarray) or y.size != x.shape[3]:
            raise CorruptDataError(
                f"{path}: 'y' should hold {x.shape[3]} labels, found {getattr(y, 'shape', type(y).__name__)}"
            )
        labels = y.reshape(-1).astype(np.int64)
        if labels.size and (labels.min() < 1 or labels.max() > 10):
            raise CorruptDataError(
                f"{path}: labels range {labels.min()}..{labels.max()}, expected 1..10"
            )
        labels[labels == 10] = 0  # SVHN stores digit 0 as label 10
        splits[split] = (np.ascontiguousarray(x.transpose(3, 2, 0, 1)), labels)
    return RawData(
        train=splits["train"],
        test=splits["test"],
        classes=[str(i) for i in range(10)],
        source=str(folder),
        notes=["the 531,131-image 'extra' set is not used"],
    )


# ---------------------------------------------------------------------------------------------
# scikit-learn digits


def read_digits() -> RawData:
    """scikit-learn's bundled 1797 8x8 digits, scaled from 0..16 to uint8 0..255.

    There is no official test set: ``load_data`` carves one out (``test_is_holdout``).
    """
    # start-up: scikit-learn costs 2-3 s on top of `import cnnzoo`; only the digits need it.
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[:, None]
    labels = digits.target.astype(np.int64)
    empty = (images[:0], labels[:0])
    return RawData(
        train=(images, labels),
        test=empty,
        classes=[str(i) for i in range(10)],
        source="sklearn.datasets.load_digits (bundled with scikit-learn)",
        test_is_holdout=True,
    )


# ---------------------------------------------------------------------------------------------
# Image folders


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _decode(path: Path, mode: str) -> np.ndarray:
    # start-up: PIL.Image costs 0.05 s on top of `import cnnzoo`; only image files need it.
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.array(img.convert(mode), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise CorruptDataError(
            f"{path} could not be decoded as an image ({type(exc).__name__}: {exc}); remove or "
            f"replace it"
        ) from exc


def _read_chw(path: Path, mode: str, resize_to: tuple[int, int] | None) -> np.ndarray:
    """One image file as a uint8 (C, H, W) array, resized to ``resize_to`` when given."""
    return _to_chw(_decode(path, mode), resize_to)


UPSCALE_WARNING = 4.0
"""read_image_files warns when an image must grow more than this factor on a side: the model
then sees a blur (a 1x1 image becomes one flat colour)."""


def _warn_if_upscaled(path: Path, hw: tuple[int, ...], target: tuple[int, int]) -> None:
    h, w = int(hw[0]), int(hw[1])
    if target[0] > UPSCALE_WARNING * h or target[1] > UPSCALE_WARNING * w:
        warnings.warn(
            f"{path} is {h}x{w} pixels: upscaled to {target[0]}x{target[1]} (more than "
            f"{UPSCALE_WARNING:g}x), the model sees little of it; give a larger image",
            UserWarning,
            stacklevel=3,
        )


def _to_chw(pixels: np.ndarray, resize_to: tuple[int, int] | None) -> np.ndarray:
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    chw = np.ascontiguousarray(pixels.transpose(2, 0, 1))
    if resize_to is not None and chw.shape[1:] != resize_to:
        chw = _resize_one(chw, resize_to)
    return chw


def _read_class_tree(
    folder: Path,
    classes: list[str],
    mode: str,
    resize_to: tuple[int, int] | None,
) -> tuple[np.ndarray, np.ndarray]:
    images: list[np.ndarray] = []
    labels: list[int] = []
    index = {c: i for i, c in enumerate(classes)}
    for class_dir in _class_dirs(folder):
        if class_dir.name not in index:
            raise DataError(
                f"{class_dir} is a class that the training folder does not have (training "
                f"classes: {', '.join(classes)})"
            )
        for path in _image_files(class_dir):
            images.append(_read_chw(path, mode, resize_to))
            labels.append(index[class_dir.name])
    if not images:
        raise DataError(
            f"{folder} has no images: expected {folder}/<class name>/<image> files with one of "
            f"the extensions {', '.join(IMAGE_EXTENSIONS)}"
        )
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise DataError(
            f"images under {folder} have different sizes ({', '.join(sorted({f'{s[1]}x{s[2]}' for s in shapes}))}); "
            f"pass image_size (CLI: --image-size) so they are resized to one size at load time"
        )
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _resize_one(chw: np.ndarray, size: tuple[int, int]) -> np.ndarray:

    x = torch.from_numpy(chw)[None].float()
    y = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return y.round_().clamp_(0, 255).to(torch.uint8)[0].numpy()


def read_image_files(
    paths: Sequence[str | Path], in_chans: int, size: tuple[int, int]
) -> torch.Tensor:
    """Image files (anything Pillow reads: PNG, JPEG, BMP, ...) as one uint8 (N, C, H, W) tensor,
    converted to greyscale (``in_chans`` 1) or RGB and resized to ``size`` (H, W) like
    :func:`read_folder` does. A missing or undecodable file raises a :class:`DataError` naming
    it."""
    if in_chans not in (1, 3):
        raise ValueError(f"in_chans must be 1 (greyscale) or 3 (RGB), got {in_chans}")
    mode = "L" if in_chans == 1 else "RGB"
    target = (int(size[0]), int(size[1]))
    batch = []
    for path in map(Path, paths):
        if path.is_dir():
            raise DataFilesMissingError(
                f"{path} is a directory; give image files (e.g. {path / '*.png'})"
            )
        if not path.is_file():
            raise DataFilesMissingError(f"image {path} does not exist")
        pixels = _decode(path, mode)
        _warn_if_upscaled(path, pixels.shape[:2], target)
        batch.append(torch.from_numpy(_to_chw(pixels, target)))
    if not batch:
        raise ValueError("no image files given")
    return torch.stack(batch)


def read_folder(path: Path, in_chans: int | None, image_size: tuple[int, int] | None) -> RawData:
    """An image folder in one of two layouts (see docs/data.md).

    * ``path/train/<class>/*`` with optional ``path/val/<class>/*`` and ``path/test/<class>/*``;
    * ``path/<class>/*`` (no ``train`` subfolder): everything is training data and ``load_data``
      holds out a seeded stratified test set.

    Images are decoded once with Pillow as RGB (``in_chans`` 3, the default) or greyscale
    (``in_chans`` 1); images of different sizes are resized to ``image_size`` one by one here.
    """
    if not path.is_dir():
        raise DataFilesMissingError(
            f"folder:{path}: no such directory. Expected {path}/train/<class>/<images> (with "
            f"optional val/ and test/ next to train/), or {path}/<class>/<images>."
        )
    mode = "L" if in_chans == 1 else "RGB"
    train_dir = path / "train"
    layout_root = train_dir if train_dir.is_dir() else path
    classes = [p.name for p in _class_dirs(layout_root)]
    if not classes:
        raise DataError(
            f"folder:{path}: no class subfolders in {layout_root}. Expected "
            f"{path}/train/<class>/<images> (with optional val/ and test/), or "
            f"{path}/<class>/<images>."
        )
    train = _read_class_tree(layout_root, classes, mode, image_size)
    notes = []
    val = test = None
    if layout_root is train_dir:
        if (path / "val").is_dir():
            val = _read_class_tree(path / "val", classes, mode, image_size or _hw(train[0]))
            notes.append(f"validation images from {path / 'val'} (val_fraction not used)")
        if (path / "test").is_dir():
            test = _read_class_tree(path / "test", classes, mode, image_size or _hw(train[0]))
    if test is None:
        notes.append(
            "no test/ folder: the test set is a seeded stratified holdout of the training images"
        )
    return RawData(
        train=train,
        test=test if test is not None else (train[0][:0], train[1][:0]),
        val=val,
        classes=classes,
        source=str(path),
        test_is_holdout=test is None,
        notes=notes,
    )


def _hw(images: np.ndarray) -> tuple[int, int]:
    return int(images.shape[2]), int(images.shape[3])


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """``data_dir`` if given, else the env var ``CNNZOO_DATA``, else ``./data``."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("CNNZOO_DATA")
    return Path(env).expanduser() if env else Path("data")
