"""Datasets as in-memory uint8 tensors, seeded splits, batched augmentation (``cnnzoo.data``).

>>> from cnnzoo.data import load_data, iterate_batches, normalize, augmentation
>>> data = load_data("digits")                      # no download: scikit-learn's digits, 32x32
>>> aug = augmentation("fashion", data.image_size)
>>> for images, labels in iterate_batches(data.train, 256, shuffle=True, augment=aug):
...     x = normalize(images, data.mean, data.std)  # float32, ready for the model

See docs/data.md for the datasets, where their files go, the splits and the presets.
"""

from cnnzoo.data.augment import PRESETS, Augmentation, augment_offline, augmentation
from cnnzoo.data.core import (
    CorruptDataError,
    DataBundle,
    DataError,
    DataFilesMissingError,
    TensorSplit,
    iterate_batches,
    normalize,
)
from cnnzoo.data.datasets import DATASETS, list_datasets, load_data, resolve_data_dir
from cnnzoo.data.readers import read_image_files

__all__ = [
    "DATASETS",
    "PRESETS",
    "Augmentation",
    "CorruptDataError",
    "DataBundle",
    "DataError",
    "DataFilesMissingError",
    "TensorSplit",
    "augment_offline",
    "augmentation",
    "iterate_batches",
    "list_datasets",
    "load_data",
    "normalize",
    "read_image_files",
    "resolve_data_dir",
]
