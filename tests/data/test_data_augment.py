"""Augmentation presets on whole uint8 batches, and offline pre-augmented copies."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from cnnzoo.data import (
    Augmentation,
    CorruptDataError,
    DataError,
    TensorSplit,
    augment_offline,
    augmentation,
)
from cnnzoo.data.augment import cifar_augment, fashion_augment, imagenet_augment, keras_affine_theta


def _batch(n: int = 64, c: int = 1, h: int = 28, w: int = 28) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, c, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
    )


def _theta(**kw: float) -> torch.Tensor:
    p = {"rotation": 0.0, "tx": 0.0, "ty": 0.0, "shear": 0.0, "zx": 1.0, "zy": 1.0} | kw
    return keras_affine_theta(
        *(torch.tensor([v], dtype=torch.float64) for v in p.values()), size=(6, 6)
    )


def _warp(image: torch.Tensor, theta: torch.Tensor, padding: str = "zeros") -> torch.Tensor:
    from cnnzoo.data.augment import _sample

    return _sample(image, theta, tuple(image.shape[2:]), padding)


def test_keras_affine_identity_rotation_and_shift_are_exact() -> None:
    image = _batch(1, 1, 6, 6)
    assert torch.equal(_warp(image, _theta()), image)
    # 90 degrees: output pixel (x, y) reads input (-y, x) about the centre (y points down),
    # which turns the picture a quarter turn counter-clockwise on screen.
    assert torch.equal(_warp(image, _theta(rotation=90.0)), torch.rot90(image, k=1, dims=(2, 3)))
    # A shift of tx pixels reads input x + tx: the content moves left by 2 columns.
    shifted = _warp(image, _theta(tx=2.0))
    assert torch.equal(shifted[..., :4], image[..., 2:]) and shifted[..., 4:].sum() == 0
    # Zoom 2 in x reads input x * 2: the centre columns spread out, row values are kept.
    zoomed = _warp(image, _theta(zx=0.5))
    assert zoomed.shape == image.shape and not torch.equal(zoomed, image)


def test_fashion_preset_with_zero_ranges_is_identity() -> None:
    images = _batch()
    same = fashion_augment(images, rotation=0.0, shift=0.0, shear=0.0, zoom=0.0)
    assert torch.equal(same, images)


def test_fashion_preset_changes_images_reproducibly_within_its_ranges() -> None:
    images = torch.zeros(256, 1, 28, 28, dtype=torch.uint8)
    images[:, :, 10:18, 10:18] = 255  # a centred square
    aug = augmentation("fashion", (28, 28), generator=torch.Generator().manual_seed(0))
    out = aug(images)
    again = augmentation("fashion", (28, 28), generator=torch.Generator().manual_seed(0))(images)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    assert torch.equal(out, again)
    assert (out != images).flatten(1).any(1).float().mean() > 0.95
    # Shifts of at most 8% of 28 px = 2.24 px: the square's centre of mass stays within it.
    ys = torch.arange(28.0).view(1, 1, 28, 1)
    mass = out.float().sum(dim=(1, 2, 3))
    centre_y = (out.float() * ys).sum(dim=(1, 2, 3)) / mass
    assert (centre_y - 13.5).abs().max() <= 2.24 * 1.1 + 0.5
    # Zoom within 8% keeps the square's area within (1 +- 0.08)^-2 of 64 pixels, roughly.
    area = mass / 255
    assert area.min() > 64 / 1.08**2 - 3 and area.max() < 64 / 0.92**2 + 3


def test_cifar_preset_is_a_padded_crop_maybe_flipped() -> None:
    images = _batch(128, 3, 32, 32)
    out = cifar_augment(images, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    seen_offsets, flips = set(), 0
    for i in range(len(images)):
        match = [
            (oy, ox, flip)
            for oy in range(9)
            for ox in range(9)
            for flip in (False, True)
            if torch.equal(
                out[i],
                padded[i, :, oy : oy + 32, ox : ox + 32].flip(-1)
                if flip
                else padded[i, :, oy : oy + 32, ox : ox + 32],
            )
        ]
        assert len(match) == 1, f"image {i} is not a single pad-4 crop of its input"
        seen_offsets.add(match[0][:2])
        flips += match[0][2]
    assert 40 <= flips <= 88  # about half of 128
    assert len(seen_offsets) > 40  # offsets spread over the 81 possible


def test_imagenet_preset_without_crop_or_jitter_is_identity_or_mirror() -> None:
    images = _batch(32, 3, 16, 16)
    out = imagenet_augment(
        images, torch.Generator().manual_seed(0), scale=(1.0, 1.0), ratio=(1.0, 1.0), jitter=0.0
    )
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, images, strict=True)]
    same = [torch.equal(o, i) for o, i in zip(out, images, strict=True)]
    assert all(f or s for f, s in zip(flipped, same, strict=True))
    assert 0 < sum(flipped) < 32


def test_imagenet_preset_resizes_to_the_output_size_and_jitters() -> None:
    images = _batch(16, 3, 48, 40)
    out = augmentation("imagenet", (24, 24), generator=torch.Generator().manual_seed(0))(images)
    assert out.shape == (16, 3, 24, 24) and out.dtype == torch.uint8
    grey = imagenet_augment(_batch(4, 1, 20, 20), size=(20, 20))
    assert grey.shape == (4, 1, 20, 20)


def test_unknown_preset_and_wrong_input_are_rejected() -> None:
    with pytest.raises(
        DataError, match=r"unknown augmentation preset 'mixup'; known presets: none"
    ):
        augmentation("mixup", (28, 28))
    with pytest.raises(DataError, match=r"expects a uint8 \(N, C, H, W\) batch"):
        augmentation("cifar", (32, 32))(torch.zeros(2, 3, 32, 32))
    with pytest.raises(DataError, match=r"fashion preset keeps the image size"):
        augmentation("fashion", (32, 32))(_batch(2))
    none = augmentation("none", (28, 28))
    images = _batch(2)
    assert none(images) is images
    assert repr(none) == "Augmentation('none', image_size=(28, 28))"


def _split(n: int = 20) -> TensorSplit:
    return TensorSplit(_batch(n), torch.arange(n) % 10, torch.arange(n))


def test_augment_offline_appends_seeded_copies() -> None:
    split = _split()
    out = augment_offline(split, "fashion", copies=2, seed=3)
    assert len(out) == 60
    assert torch.equal(out.images[:20], split.images)
    assert torch.equal(out.labels, split.labels.repeat(3)) and torch.equal(
        out.indices, split.indices.repeat(3)
    )
    assert not torch.equal(out.images[20:40], out.images[40:60])
    assert torch.equal(out.images, augment_offline(split, "fashion", copies=2, seed=3).images)
    only = augment_offline(split, "fashion", copies=1, seed=3, include_original=False)
    assert torch.equal(only.images, out.images[20:40])


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_augment_offline_file_is_written_once_then_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    split = _split()
    path = tmp_path / f"fashion_x2{suffix}"
    first = augment_offline(split, "fashion", copies=2, seed=0, path=path)
    assert path.exists() and not list(tmp_path.glob(".*tmp*"))

    def fail(self: Augmentation, images: torch.Tensor) -> torch.Tensor:
        raise AssertionError("recomputed instead of loading the file")

    monkeypatch.setattr(Augmentation, "__call__", fail)
    again = augment_offline(split, "fashion", copies=2, seed=0, path=path)
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels)
    with pytest.raises(AssertionError, match="recomputed"):  # another seed does not match the file
        augment_offline(split, "fashion", copies=2, seed=1, path=path)


def test_augment_offline_corrupt_file_and_bad_arguments(tmp_path: Path) -> None:
    path = tmp_path / "aug.safetensors"
    path.write_bytes(b"\x00" * 20)
    with pytest.raises(
        CorruptDataError, match=r"aug.safetensors is not a readable safetensors file"
    ):
        augment_offline(_split(), "cifar", copies=1, path=path)
    with pytest.raises(DataError, match=r"copies must be >= 1"):
        augment_offline(_split(), "cifar", copies=0, include_original=False)
    with pytest.raises(DataError, match=r"end in .safetensors or .pt"):
        augment_offline(_split(), "cifar", copies=1, path=tmp_path / "aug.npz")


def test_preset_throughput_is_batched() -> None:
    # Not a benchmark (see benchmarks/data_speed.py): guards against per-sample Python creeping
    # in, which would make 256 images take far longer than this generous bound.
    import time

    images = _batch(256)
    for preset in ("fashion", "cifar", "imagenet"):
        aug = augmentation(preset, (28, 28))
        aug(images)
        start = time.perf_counter()
        aug(images)
        assert time.perf_counter() - start < 1.0, preset
    assert math.isfinite(start)
