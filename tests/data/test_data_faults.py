"""Bad input: unknown names, missing files, truncated or corrupt files, invalid arguments."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from datafiles import (
    idx_bytes,
    write_image_folder,
    write_tiny_cifar,
    write_tiny_mnist,
    write_tiny_svhn,
)

from cnnzoo.data import CorruptDataError, DataError, DataFilesMissingError, load_data


def test_unknown_dataset_lists_the_known_names() -> None:
    with pytest.raises(DataError) as info:
        load_data("mnsit")
    message = str(info.value)
    assert "unknown dataset 'mnsit'. Did you mean 'mnist'?" in message
    for name in ("digits", "fashion_mnist", "cifar10", "cifar100", "svhn", "folder:<path>"):
        assert name in message


@pytest.mark.parametrize(
    ("name", "where", "files"),
    [
        ("mnist", "MNIST/raw", ["train-images-idx3-ubyte[.gz]", "t10k-labels-idx1-ubyte[.gz]"]),
        ("fashion_mnist", "FashionMNIST/raw", ["train-labels-idx1-ubyte[.gz]"]),
        (
            "cifar10",
            "cifar-10-batches-py",
            ["data_batch_1", "data_batch_5", "test_batch", "batches.meta"],
        ),
        ("cifar100", "cifar-100-python", ["train", "test", "meta"]),
        ("svhn", "SVHN", ["train_32x32.mat", "test_32x32.mat"]),
    ],
)
def test_missing_files_say_what_was_looked_for_where_and_how_to_get_it(
    tmp_path: Path, name: str, where: str, files: list[str]
) -> None:
    with pytest.raises(DataFilesMissingError) as info:
        load_data(name, tmp_path)
    message = str(info.value)
    assert str(tmp_path / where) in message
    for file_name in files:
        assert file_name in message
    assert "download=True (CLI: --download)" in message
    assert isinstance(info.value, FileNotFoundError)


def test_missing_files_name_only_the_missing_ones(tmp_path: Path) -> None:
    write_tiny_mnist(tmp_path)
    os.remove(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataFilesMissingError, match=r"for t10k-labels-idx1-ubyte\[\.gz\] \(IDX"):
        load_data("mnist", tmp_path)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(
        DataFilesMissingError, match=r"no such directory. Expected .*/train/<class>"
    ):
        load_data(f"folder:{tmp_path / 'absent'}")


def _raw(tmp_path: Path) -> Path:
    write_tiny_mnist(tmp_path)
    return tmp_path / "MNIST" / "raw"


def test_truncated_gzip_is_detected(tmp_path: Path) -> None:
    path = _raw(tmp_path) / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(
        CorruptDataError, match=r"train-images-idx3-ubyte.gz is not a readable gzip file"
    ):
        load_data("mnist", tmp_path)


def test_not_gzip_at_all_is_detected(tmp_path: Path) -> None:
    (_raw(tmp_path) / "t10k-images-idx3-ubyte.gz").write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(CorruptDataError, match=r"probably truncated or corrupt"):
        load_data("mnist", tmp_path)


def test_wrong_idx_magic_is_detected(tmp_path: Path) -> None:
    raw = _raw(tmp_path)
    # A label file (1 dimension) where the image file (3 dimensions) should be.
    (raw / "train-images-idx3-ubyte.gz").write_bytes(
        (raw / "train-labels-idx1-ubyte.gz").read_bytes()
    )
    with pytest.raises(CorruptDataError, match=r"IDX magic 0x00000801; expected 0x00000803"):
        load_data("mnist", tmp_path)


def test_idx_size_mismatch_inside_a_valid_gzip_is_detected(tmp_path: Path) -> None:
    data = idx_bytes(np.zeros((50, 28, 28), np.uint8))[:-100]
    (_raw(tmp_path) / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(data))
    with pytest.raises(
        CorruptDataError, match=r"header \(50 x 28 x 28\) says 39216; the file is truncated"
    ):
        load_data("mnist", tmp_path)


def test_label_count_and_range_are_checked(tmp_path: Path) -> None:
    raw = _raw(tmp_path)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros(49, np.uint8)))
    )
    with pytest.raises(CorruptDataError, match=r"50 images but 49 labels"):
        load_data("mnist", tmp_path)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.full(50, 12, np.uint8)))
    )
    with pytest.raises(CorruptDataError, match=r"labels range 12..12, expected 0..9"):
        load_data("mnist", tmp_path)


def test_truncated_cifar_pickle_is_detected(tmp_path: Path) -> None:
    write_tiny_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CorruptDataError, match=r"data_batch_3 is not a readable CIFAR pickle"):
        load_data("cifar10", tmp_path)


def test_cifar_batch_with_wrong_shape_is_detected(tmp_path: Path) -> None:
    write_tiny_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(
        pickle.dumps({"data": np.zeros((4, 1000), np.uint8), "labels": [0] * 4}, protocol=2)
    )
    with pytest.raises(
        CorruptDataError, match=r"'data' should be a uint8 array of shape \(N, 3072\)"
    ):
        load_data("cifar10", tmp_path)


class _Exploit:
    def __reduce__(self) -> tuple:
        return (os.system, ("touch pwned",))


def test_cifar_pickle_cannot_run_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tiny_cifar(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "batches.meta").write_bytes(
        pickle.dumps({"label_names": _Exploit()})
    )
    with pytest.raises(CorruptDataError, match=r"refusing to load global (posix|os|nt)\.system"):
        load_data("cifar10", tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_corrupt_svhn_mat_is_detected(tmp_path: Path) -> None:
    write_tiny_svhn(tmp_path / "SVHN")
    path = tmp_path / "SVHN" / "test_32x32.mat"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CorruptDataError, match=r"test_32x32.mat is not a readable MATLAB file"):
        load_data("svhn", tmp_path)


def test_corrupt_image_in_a_folder_is_named(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "pets", splits=("train",))
    (tmp_path / "pets" / "train" / "dog" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(CorruptDataError, match=r"dog/3.png could not be decoded as an image"):
        load_data(f"folder:{tmp_path / 'pets'}")


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5])
def test_val_fraction_outside_0_1_is_rejected(fraction: float) -> None:
    with pytest.raises(DataError, match=r"val_fraction must be strictly between 0 and 1"):
        load_data("digits", val_fraction=fraction)


@pytest.mark.parametrize("limit", [0, -5, 2.5, True])
def test_limit_below_one_is_rejected(limit: object) -> None:
    with pytest.raises(DataError, match=r"limit must be a whole number >= 1"):
        load_data("digits", limit=limit)  # type: ignore[arg-type]


def test_other_bad_arguments_are_rejected() -> None:
    with pytest.raises(DataError, match=r"in_chans must be 1 \(greyscale\) or 3"):
        load_data("digits", in_chans=2)
    with pytest.raises(DataError, match=r"image_size must be a positive int"):
        load_data("digits", image_size=(0, 32))
    with pytest.raises(DataError, match=r"resize must be one of auto, pad, resize"):
        load_data("digits", resize="stretch")
    with pytest.raises(DataError, match=r"resize='pad' cannot shrink 8x8 images to 6x6"):
        load_data("digits", image_size=6, resize="pad")


def test_download_goes_through_torchvision_only_when_files_are_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets as tvd

    calls = []

    def fake_mnist(root: str, train: bool, download: bool) -> None:
        calls.append((root, train, download))
        write_tiny_mnist(Path(root))

    monkeypatch.setattr(tvd, "MNIST", fake_mnist)
    assert len(load_data("mnist", tmp_path, download=True).test) == 20
    assert calls == [(str(tmp_path), True, True), (str(tmp_path), False, True)]
    load_data("mnist", tmp_path, download=True)  # files present now: no second download
    assert len(calls) == 2


def test_failed_download_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets as tvd

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("Network is unreachable")

    monkeypatch.setattr(tvd, "CIFAR10", offline)
    with pytest.raises(
        DataFilesMissingError,
        match=r"cifar10: download into .* failed \(OSError: Network is unreachable\)",
    ):
        load_data("cifar10", tmp_path, download=True)


def test_out_of_range_test_label_names_the_label_file(tmp_path: Path) -> None:
    raw = _raw(tmp_path)
    labels = np.arange(20, dtype=np.uint8) % 10
    labels[3] = 11
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    with pytest.raises(CorruptDataError) as info:
        load_data("mnist", tmp_path)
    message = str(info.value)
    assert message.startswith(f"{raw / 't10k-labels-idx1-ubyte.gz'}: labels range 0..11")
    assert "t10k-images" not in message and "fetch it again" in message


def test_empty_gzip_gives_the_remedy(tmp_path: Path) -> None:
    raw = _raw(tmp_path)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(CorruptDataError) as info:
        load_data("mnist", tmp_path)
    message = str(info.value)
    assert f"{raw / 'train-images-idx3-ubyte.gz'} has only 0 bytes once unpacked" in message
    assert "Delete it and fetch it again (download=True / --download" in message


def test_image_files_directory_and_tiny_image(tmp_path: Path) -> None:
    from PIL import Image

    from cnnzoo.data import read_image_files

    with pytest.raises(DataFilesMissingError, match=r"is a directory; give image files \(e\.g\."):
        read_image_files([tmp_path], 1, (32, 32))
    Image.new("L", (1, 1), 200).save(tmp_path / "dot.png")
    Image.new("L", (8, 8), 100).save(tmp_path / "digit.png")
    with pytest.warns(UserWarning, match=r"dot\.png is 1x1 pixels: upscaled to 32x32") as record:
        images = read_image_files([tmp_path / "dot.png", tmp_path / "digit.png"], 1, (32, 32))
    assert len(record) == 1  # 8x8 -> 32x32 (4x, the digits' own scale) is not warned about
    assert images.shape == (2, 1, 32, 32) and int(images[0].min()) == 200
