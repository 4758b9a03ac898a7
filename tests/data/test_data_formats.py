"""CIFAR-10/100, SVHN and image folders, from tiny files written in the real on-disk formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from datafiles import write_image_folder, write_tiny_cifar, write_tiny_mnist, write_tiny_svhn

from cnnzoo.data import DataError, load_data


def test_cifar10_batches_load_with_pixel_layout_and_class_names(tmp_path: Path) -> None:
    written = write_tiny_cifar(tmp_path, "cifar10", per_batch=10, n_test=12)
    data = load_data("cifar10", tmp_path, val_fraction=0.2)
    assert (len(data.train), len(data.val), len(data.test)) == (40, 10, 12)
    assert data.input_size == (3, 32, 32)
    assert data.classes[:3] == ["airplane", "automobile", "bird"]
    assert data.source == str(tmp_path / "cifar-10-batches-py")
    # Row layout of a CIFAR batch: 1024 red, 1024 green, 1024 blue values, row-major.
    test_x, test_y = written["test_batch"]
    assert torch.equal(data.test.images, torch.from_numpy(test_x.reshape(12, 3, 32, 32)))
    assert data.test.labels.tolist() == test_y.tolist()
    # Training indices run over the five batches in order: index 23 is batch 3, row 3.
    all_train = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    i = int(data.train.indices[7])
    assert torch.equal(data.train.images[7], torch.from_numpy(all_train[i].reshape(3, 32, 32)))


def test_cifar_pickles_written_by_old_numpy_load(tmp_path: Path) -> None:
    # The official batches (2009, Python 2) name numpy.core.multiarray, which numpy 2 renamed.
    written = write_tiny_cifar(tmp_path, "cifar10")
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    blob = path.read_bytes()
    assert b"numpy._core.multiarray" in blob
    path.write_bytes(blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DeprecationWarning from the numpy.core alias
        data = load_data("cifar10", tmp_path)
    assert torch.equal(
        data.test.images, torch.from_numpy(written["test_batch"][0].reshape(-1, 3, 32, 32))
    )


def test_cifar100_uses_fine_labels(tmp_path: Path) -> None:
    written = write_tiny_cifar(tmp_path, "cifar100", per_batch=30, n_test=8)
    data = load_data("cifar-100", tmp_path)
    assert data.name == "cifar100" and data.num_classes == 100
    assert data.classes[99] == "class99"
    assert data.test.labels.tolist() == written["test"][1].tolist()


def test_cifar_to_greyscale_uses_luma(tmp_path: Path) -> None:
    write_tiny_cifar(tmp_path, "cifar10")
    rgb = load_data("cifar10", tmp_path).test.images.double()
    grey = load_data("cifar10", tmp_path, in_chans=1).test.images
    expected = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]).round()
    assert grey.shape == (12, 1, 32, 32)
    assert torch.equal(grey[:, 0].double(), expected)


def test_svhn_mat_files_load_with_label_10_as_0(tmp_path: Path) -> None:
    written = write_tiny_svhn(tmp_path / "SVHN", n_train=30, n_test=10)
    data = load_data("svhn", tmp_path)
    assert (len(data.train) + len(data.val), len(data.test)) == (30, 10)
    assert data.test.labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    x = written["test"][0]
    assert torch.equal(
        data.test.images[4], torch.from_numpy(x[:, :, :, 4].transpose(2, 0, 1).copy())
    )
    assert "extra" in data.notes[0]


def test_svhn_files_directly_in_the_data_dir(tmp_path: Path) -> None:
    write_tiny_svhn(tmp_path)  # where torchvision's SVHN(root) keeps them
    assert load_data("svhn", tmp_path).source == str(tmp_path)


def test_plain_idx_files_work_as_well_as_gz(tmp_path: Path) -> None:
    arrays = write_tiny_mnist(tmp_path, gz=False)
    data = load_data("mnist", tmp_path)
    assert torch.equal(data.test.images[:, 0], torch.from_numpy(arrays["t10k-images-idx3-ubyte"]))


def test_image_folder_with_train_val_test(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "pets", per_class=5, size=(12, 10))
    data = load_data(f"folder:{tmp_path / 'pets'}")
    assert data.classes == ["cat", "dog"]
    assert (len(data.train), len(data.val), len(data.test)) == (10, 10, 10)
    assert data.input_size == (3, 12, 10)
    # Image 2 of class "dog" (index 1) is filled with colour (50, 40, 110).
    assert data.train.images[7, :, 0, 0].tolist() == [50, 40, 110]
    assert data.train.labels.tolist() == [0] * 5 + [1] * 5
    assert any("val_fraction not used" in note for note in data.notes)


def test_image_folder_without_split_folders_holds_out_test(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "flat", per_class=10, splits=())
    data = load_data(f"folder:{tmp_path / 'flat'}", in_chans=1, image_size=8)
    assert (len(data.train), len(data.val), len(data.test)) == (13, 3, 4)
    assert data.test.class_counts() == [2, 2]
    assert data.input_size == (1, 8, 8)


def test_image_folder_relative_to_data_dir(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "pets", per_class=5, splits=("train",))
    data = load_data("folder:pets", tmp_path)
    assert data.source == str((tmp_path / "pets").resolve())
    assert data.name == f"folder:{(tmp_path / 'pets').resolve()}"


def test_image_folder_with_mixed_sizes_needs_image_size(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "mixed", per_class=5, size=(12, 10), splits=("train",))
    write_image_folder(
        tmp_path / "mixed", classes=("cow",), per_class=5, size=(9, 9), splits=("train",)
    )
    with pytest.raises(DataError, match=r"different sizes \(12x10, 9x9\).*image_size"):
        load_data(f"folder:{tmp_path / 'mixed'}")
    assert load_data(f"folder:{tmp_path / 'mixed'}", image_size=16).input_size == (3, 16, 16)


def test_image_folder_rejects_classes_missing_from_train(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "pets", per_class=5, splits=("train", "test"))
    write_image_folder(tmp_path / "pets", classes=("fox",), per_class=1, splits=("test",))
    with pytest.raises(DataError, match=r"fox is a class that the training folder does not have"):
        load_data(f"folder:{tmp_path / 'pets'}")


def test_image_files_are_read_converted_and_resized(tmp_path: Path) -> None:
    from PIL import Image

    from cnnzoo.data import CorruptDataError, DataFilesMissingError, read_image_files

    Image.new("RGB", (12, 10), (255, 0, 0)).save(tmp_path / "red.png")
    Image.new("L", (8, 8), 200).save(tmp_path / "grey.jpg", quality=100)
    grey = read_image_files([tmp_path / "red.png", tmp_path / "grey.jpg"], 1, (8, 8))
    assert grey.shape == (2, 1, 8, 8) and grey.dtype == torch.uint8
    assert int(grey[0].min()) == int(grey[0].max()) == 76  # ITU-R 601 luma of pure red
    assert abs(int(grey[1].float().mean()) - 200) <= 1
    rgb = read_image_files([str(tmp_path / "red.png")], 3, (5, 6))
    assert rgb.shape == (1, 3, 5, 6) and rgb[0, :, 2, 3].tolist() == [255, 0, 0]
    with pytest.raises(DataFilesMissingError, match=r"nowhere\.png does not exist"):
        read_image_files([tmp_path / "nowhere.png"], 1, (8, 8))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(CorruptDataError, match=r"broken\.png could not be decoded"):
        read_image_files([tmp_path / "broken.png"], 1, (8, 8))
