"""Augmentation presets applied to whole uint8 batches, online or offline.

Every preset draws its random parameters for the whole batch at once (from ``generator``, or
the global RNG) and then transforms the batch with a handful of tensor ops: one ``gather`` for
pad + crop + flip, one ``affine_grid``/``grid_sample`` for the fashion preset's affine warps,
chunked in-place arithmetic for colour jitter. Input and output are uint8 ``(N, C, H, W)``.

Presets (the course's):

``none``
    identity.
``fashion``
    Keras ``ImageDataGenerator(rotation_range=8, width_shift_range=0.08,
    height_shift_range=0.08, shear_range=0.3, zoom_range=0.08)`` as used in the course's
    Fashion-MNIST notebook, with Keras's semantics: rotation uniform in +-8 degrees, shifts
    uniform in +-8% of width/height, shear uniform in +-0.3 *degrees* (Keras 2 and torchvision
    both take shear in degrees; Keras 1 took radians, where 0.3 would be ~17 degrees), zoom
    factors for x and y drawn independently in [0.92, 1.08], bilinear sampling, and Keras's
    default ``fill_mode="nearest"`` (edge pixels are repeated).
``cifar``
    zero-pad 4 pixels on each side, random crop back to the image size, horizontal flip with
    probability 0.5 (He et al. 2016's CIFAR recipe).
``imagenet``
    random resized crop (scale 0.08-1 of the area, aspect ratio 3/4-4/3, torchvision's
    defaults; up to 10 draws, then the whole image), horizontal flip, colour jitter with
    brightness, contrast and saturation factors in [0.6, 1.4] (timm's ``color_jitter=0.4``),
    applied in that fixed order (torchvision shuffles the order per call).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file

from cnnzoo.data.core import CorruptDataError, DataError, TensorSplit

__all__ = ["PRESETS", "Augmentation", "augment_offline", "augmentation"]

PRESETS: dict[str, str] = {
    "none": "no augmentation",
    "fashion": "rotation 8 deg, shifts 0.08, shear 0.3 deg, zoom 0.08 (Keras ImageDataGenerator)",
    "cifar": "pad 4 + random crop, horizontal flip",
    "imagenet": "random resized crop (0.08-1, 3/4-4/3), horizontal flip, colour jitter 0.4",
}


def _uniform(n: int, low: float, high: float, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=generator, dtype=torch.float64).mul_(high - low).add_(low)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return x.round_().clamp_(0, 255).to(torch.uint8)


def _sample(
    images: torch.Tensor, theta: torch.Tensor, size: tuple[int, int], padding: str
) -> torch.Tensor:
    """Resample a uint8 batch through per-image affine maps (output -> input, normalised coords)."""
    n, c = images.shape[:2]
    grid = F.affine_grid(theta.to(torch.float32), [n, c, *size], align_corners=False)
    out = F.grid_sample(
        images.float(),
        grid.to(images.device),
        mode="bilinear",
        padding_mode=padding,
        align_corners=False,
    )
    return _to_uint8(out)


def keras_affine_theta(
    rotation: torch.Tensor,
    tx: torch.Tensor,
    ty: torch.Tensor,
    shear: torch.Tensor,
    zx: torch.Tensor,
    zy: torch.Tensor,
    size: tuple[int, int],
) -> torch.Tensor:
    """``(N, 2, 3)`` ``affine_grid`` matrices for Keras-style transforms.

    Angles in degrees, shifts in pixels, zooms as factors (> 1 shows a larger area, so the
    content shrinks, as in Keras). The matrix maps output pixels to input pixels about the
    image centre, composed as Keras's ``apply_affine_transform``: rotation @ shift @ shear @
    zoom; it is then expressed in ``affine_grid``'s normalised coordinates.
    """
    h, w = size
    angle, sh = torch.deg2rad(rotation), torch.deg2rad(shear)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Linear part A = R @ Sh @ Z and translation R @ t, in centred pixel coordinates (x, y).
    a11 = cos * zx
    a12 = (-cos * torch.sin(sh) - sin * torch.cos(sh)) * zy
    a21 = sin * zx
    a22 = (-sin * torch.sin(sh) + cos * torch.cos(sh)) * zy
    t1 = cos * tx - sin * ty
    t2 = sin * tx + cos * ty
    # Normalised coordinates: theta = D^-1 [A | Rt] diag(D, 1) with D = diag(w/2, h/2).
    return torch.stack(
        [
            torch.stack([a11, a12 * h / w, t1 * 2 / w], dim=1),
            torch.stack([a21 * w / h, a22, t2 * 2 / h], dim=1),
        ],
        dim=1,
    )


def fashion_augment(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    rotation: float = 8.0,
    shift: float = 0.08,
    shear: float = 0.3,
    zoom: float = 0.08,
) -> torch.Tensor:
    """Random rotation, shift, shear and zoom of each image (Keras ImageDataGenerator semantics).

    The per-image matrix maps output pixels to input pixels about the image centre, composed
    as Keras does: rotation @ shift @ shear @ zoom.
    """
    n, _, h, w = images.shape
    angle = _uniform(n, -rotation, rotation, generator)
    tx = _uniform(n, -shift, shift, generator) * w
    ty = _uniform(n, -shift, shift, generator) * h
    sh = _uniform(n, -shear, shear, generator)
    zx = _uniform(n, 1 - zoom, 1 + zoom, generator)
    zy = _uniform(n, 1 - zoom, 1 + zoom, generator)
    theta = keras_affine_theta(angle, tx, ty, sh, zx, zy, (h, w))
    return _sample(images, theta, (h, w), padding="border")


def cifar_augment(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    size: tuple[int, int] | None = None,
    padding: int = 4,
    flip: bool = True,
) -> torch.Tensor:
    """Zero-pad, take a random ``size`` crop and flip half the images, in one ``gather``."""
    n, c, h, w = images.shape
    ch, cw = size or (h, w)
    padded = F.pad(images, (padding, padding, padding, padding))
    ph, pw = h + 2 * padding, w + 2 * padding
    if ch > ph or cw > pw:
        raise DataError(f"crop {ch}x{cw} is larger than the padded {ph}x{pw} images")
    oy = torch.randint(0, ph - ch + 1, (n,), generator=generator)
    ox = torch.randint(0, pw - cw + 1, (n,), generator=generator)
    rows = oy[:, None] + torch.arange(ch)
    cols = ox[:, None] + torch.arange(cw)
    if flip:
        flipped = torch.rand(n, generator=generator) < 0.5
        cols = torch.where(flipped[:, None], cols.flip(1), cols)
    # Flat index of every output pixel in its padded image; one gather does crop and flip.
    index = (rows[:, :, None] * pw + cols[:, None, :]).view(n, 1, ch * cw).expand(n, c, ch * cw)
    out = torch.gather(padded.view(n, c, ph * pw), 2, index.to(images.device))
    return out.view(n, c, ch, cw)


def random_resized_boxes(
    n: int,
    h: int,
    w: int,
    generator: torch.Generator | None = None,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    tries: int = 10,
) -> torch.Tensor:
    """``(N, 4)`` integer crop boxes ``(top, left, height, width)``, sampled as torchvision's
    ``RandomResizedCrop`` does: area share in ``scale``, log-uniform aspect ratio in ``ratio``,
    the first of ``tries`` draws that fits, else the whole image (torchvision falls back to a
    centre crop clamped to ``ratio``, which for these ratios is nearly the whole image)."""
    area = _uniform(n * tries, *scale, generator).view(n, tries) * (h * w)
    log_ratio = _uniform(n * tries, math.log(ratio[0]), math.log(ratio[1]), generator)
    aspect = torch.exp(log_ratio).view(n, tries)
    cw = torch.sqrt(area * aspect).round().long()
    ch = torch.sqrt(area / aspect).round().long()
    fits = (cw >= 1) & (cw <= w) & (ch >= 1) & (ch <= h)
    first = fits.long().argmax(1, keepdim=True)
    any_fit = fits.any(1)
    ch = torch.where(any_fit, ch.gather(1, first)[:, 0], torch.full((n,), h))
    cw = torch.where(any_fit, cw.gather(1, first)[:, 0], torch.full((n,), w))
    top = (torch.rand(n, generator=generator, dtype=torch.float64) * (h - ch + 1)).long()
    left = (torch.rand(n, generator=generator, dtype=torch.float64) * (w - cw + 1)).long()
    return torch.stack([top, left, ch, cw], dim=1)


def imagenet_augment(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    size: tuple[int, int] | None = None,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    jitter: float = 0.4,
) -> torch.Tensor:
    """Random resized crop + horizontal flip, then colour jitter.

    The crop boxes are drawn for the whole batch at once; each crop is then resized with its own
    antialiased uint8 ``interpolate`` call. That is one C++ call per image, deliberately:
    measured on this machine at 224x224 it runs 6x faster than one batched ``grid_sample``
    (which would also alias when shrinking a large crop), and at 32x32 it is as fast.
    """
    n, c, h, w = images.shape
    out_h, out_w = size or (h, w)
    boxes = random_resized_boxes(n, h, w, generator, scale, ratio).tolist()
    flips = (torch.rand(n, generator=generator) < 0.5).tolist()
    out = torch.empty((n, c, out_h, out_w), dtype=torch.uint8, device=images.device)
    for i, ((top, left, ch, cw), flip) in enumerate(zip(boxes, flips, strict=True)):
        crop = images[i : i + 1, :, top : top + ch, left : left + cw]
        if (ch, cw) != (out_h, out_w):
            crop = F.interpolate(
                crop, size=(out_h, out_w), mode="bilinear", antialias=True, align_corners=False
            )
        out[i] = crop[0].flip(-1) if flip else crop[0]
    if jitter > 0:
        out = colour_jitter(out, jitter, generator)
    return out


def colour_jitter(
    images: torch.Tensor,
    strength: float,
    generator: torch.Generator | None = None,
    chunk_bytes: int = 1 << 20,
) -> torch.Tensor:
    """Brightness, contrast and saturation factors in ``[1 - s, 1 + s]`` per image, applied in
    that order with torchvision's blends (each clamped to 0..255); uint8 in, uint8 out.

    Runs in float over chunks of about ``chunk_bytes`` so the working set stays in cache.
    """
    n, c = images.shape[:2]
    low, high = max(0.0, 1 - strength), 1 + strength
    factors = _uniform(3 * n, low, high, generator).float().view(3, n, 1, 1, 1).to(images.device)
    luma = torch.tensor([0.299, 0.587, 0.114], device=images.device).view(1, 3, 1, 1)
    out = torch.empty_like(images)
    step = max(1, chunk_bytes // (4 * images[0].numel()))
    for start in range(0, n, step):
        end = min(start + step, n)
        bright, contrast, saturation = (f[start:end] for f in factors)
        x = images[start:end].float().mul_(bright).clamp_(0, 255)
        grey_mean = (
            (x.mean(dim=(2, 3), keepdim=True) * luma).sum(1, keepdim=True)
            if c == 3
            else x.mean(dim=(2, 3), keepdim=True)
        )
        x.mul_(contrast).add_(grey_mean * (1 - contrast)).clamp_(0, 255)
        if c == 3:
            grey = (x * luma).sum(1, keepdim=True)
            x.mul_(saturation).add_(grey.mul_(1 - saturation)).clamp_(0, 255)
        out[start:end] = x.round_()
    return out


class Augmentation:
    """A preset bound to an output size and a generator; call it on a uint8 batch."""

    def __init__(
        self, preset: str, image_size: tuple[int, int], generator: torch.Generator | None = None
    ) -> None:
        if preset not in PRESETS:
            raise DataError(
                f"unknown augmentation preset {preset!r}; known presets: "
                + "; ".join(f"{k} ({v})" for k, v in PRESETS.items())
            )
        self.preset = preset
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.generator = generator

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise DataError(
                f"augmentation expects a uint8 (N, C, H, W) batch, got {images.dtype} "
                f"{tuple(images.shape)}"
            )
        if self.preset == "none" or images.shape[0] == 0:
            return images
        if self.preset == "fashion":
            if tuple(images.shape[2:]) != self.image_size:
                raise DataError(
                    f"the fashion preset keeps the image size; got {tuple(images.shape[2:])} "
                    f"images but image_size={self.image_size}"
                )
            return fashion_augment(images, self.generator)
        if self.preset == "cifar":
            return cifar_augment(images, self.generator, size=self.image_size)
        return imagenet_augment(images, self.generator, size=self.image_size)

    def __repr__(self) -> str:
        return f"Augmentation({self.preset!r}, image_size={self.image_size})"


def augmentation(
    preset: str, image_size: tuple[int, int], *, generator: torch.Generator | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The batch transform of ``preset`` (``none``, ``fashion``, ``cifar``, ``imagenet``).

    ``image_size`` is the output ``(H, W)``. Random parameters come from ``generator`` (the
    global RNG if None), so a seeded generator makes every epoch's augmentation reproducible.
    """
    return Augmentation(preset, image_size, generator)


def _fingerprint(split: TensorSplit) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(split.images.contiguous().numpy().tobytes())
    digest.update(split.labels.numpy().tobytes())
    return digest.hexdigest()


def _load_cached(path: Path, expected: dict[str, str]) -> TensorSplit | None:
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                if any(meta.get(k) != v for k, v in expected.items()):
                    return None
                return TensorSplit(f.get_tensor("images"), f.get_tensor("labels"))
        except Exception as exc:
            raise CorruptDataError(
                f"{path} is not a readable safetensors file ({type(exc).__name__}: {exc}); "
                f"delete it and it will be rebuilt"
            ) from exc
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CorruptDataError(
            f"{path} is not a readable tensor file ({type(exc).__name__}: {exc}); delete it and "
            f"it will be rebuilt"
        ) from exc
    if not isinstance(blob, dict) or any(
        blob.get("meta", {}).get(k) != v for k, v in expected.items()
    ):
        return None
    return TensorSplit(blob["images"], blob["labels"])


def _save(path: Path, split: TensorSplit, meta: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if path.suffix == ".safetensors":
            save_file({"images": split.images, "labels": split.labels}, str(tmp), metadata=meta)
        else:
            torch.save({"images": split.images, "labels": split.labels, "meta": meta}, tmp)
        os.replace(tmp, path)  # atomic: a killed run never leaves a half-written file at path
    finally:
        if tmp.exists():
            tmp.unlink()


def augment_offline(
    split: TensorSplit,
    preset: str,
    copies: int,
    seed: int = 0,
    *,
    include_original: bool = True,
    path: str | os.PathLike | None = None,
    chunk: int = 1024,
) -> TensorSplit:
    """Pre-augment ``split`` once: the originals (unless ``include_original=False``) followed by
    ``copies`` augmented copies of every image, drawn from a generator seeded with ``seed``.

    With ``path`` (``.safetensors`` or ``.pt``) the result is saved there, atomically; a later
    call with the same split, preset, copies, seed and ``include_original`` loads that file
    instead of recomputing (the file's metadata records them, plus a hash of the split).
    """
    if copies < 0 or (copies == 0 and not include_original):
        raise DataError(f"copies must be >= 1 (or 0 with include_original=True), got {copies}")
    transform = Augmentation(preset, split.image_size)  # validates the preset name early
    meta = {
        "preset": preset,
        "copies": str(copies),
        "seed": str(seed),
        "include_original": str(include_original),
        "source_fingerprint": _fingerprint(split),
    }
    target = Path(path) if path is not None else None
    if target is not None:
        if target.suffix not in (".safetensors", ".pt"):
            raise DataError(f"offline augmentation files end in .safetensors or .pt, got {target}")
        if target.exists():
            cached = _load_cached(target, meta)
            if cached is not None:
                return cached
    transform.generator = torch.Generator().manual_seed(seed)
    parts = [split.images] if include_original else []
    for _ in range(copies):
        parts.extend(transform(split.images[i : i + chunk]) for i in range(0, len(split), chunk))
    repeats = copies + int(include_original)
    result = TensorSplit(
        torch.cat(parts) if parts else split.images[:0],
        split.labels.repeat(repeats),
        None if split.indices is None else split.indices.repeat(repeats),
    )
    if target is not None:
        _save(target, result, meta)
    return result
