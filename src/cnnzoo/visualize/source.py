"""Where a visualisation's model, images and layers come from.

A *source* is a run folder (its best checkpoint), a checkpoint file, or a registered model name
(random weights). :func:`load_source` returns the model in eval mode with what it was trained on:
input size, class names and the normalisation statistics, so images are fed exactly as in
training (``cnnzoo evaluate`` / ``predict`` normalise the same way).
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cnnzoo.data import DataBundle, load_data, normalize, read_image_files
from cnnzoo.registry import create_model, get_model_card, is_model
from cnnzoo.train import load_checkpoint

__all__ = [
    "LayerModel",
    "Source",
    "VisualizeWarning",
    "checkpoint_weights",
    "default_layers",
    "evaluating",
    "find_layer",
    "initial_weights",
    "inspecting",
    "layer_output",
    "load_images",
    "load_source",
    "source_data",
    "source_images",
]


class VisualizeWarning(UserWarning):
    """A visualisation ran but its result is weaker than asked for (the CLI prints these)."""


# Normalisation for a bare model name without --data: pixels in [0, 1] centred on 0.5.
UNTRAINED_MEAN, UNTRAINED_STD = 0.5, 0.25


@dataclass
class Source:
    """A model to look into, and how its inputs must be prepared."""

    model: nn.Module
    name: str
    trained: bool
    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: list[str]
    data_name: str | None = None
    split_seed: int = 0
    val_fraction: float = 0.2
    checkpoint: Path | None = None
    run_dir: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """``fashion_cnn (trained on fashion_mnist)`` or ``resnet20 (random weights)``."""
        if self.trained:
            return f"{self.name} (trained on {self.data_name})"
        return f"{self.name} (random weights)"

    def default_out(self) -> Path:
        """``<run>/visualize`` for a run or checkpoint, ``./visualize`` for a bare model name."""
        if self.run_dir is not None:
            return self.run_dir / "visualize"
        if self.checkpoint is not None:
            return self.checkpoint.parent / "visualize"
        return Path("visualize")

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, C, H, W)`` -> the float input the model was trained on."""
        return normalize(images, self.mean, self.std)


def load_source(
    source: str | os.PathLike[str],
    *,
    input_size: Sequence[int] | None = None,
    num_classes: int | None = None,
) -> Source:
    """A run folder, a ``.safetensors`` checkpoint, or a model name (random weights, seed 0)."""
    path = Path(source)
    if path.exists():
        return _from_checkpoint(path)
    if not is_model(str(source)):
        get_model_card(str(source))  # raises KeyError with close names
    return _from_name(str(source), input_size, num_classes)


def _from_checkpoint(path: Path) -> Source:
    run_dir = path if path.is_dir() else None
    if path.is_dir() and not (path / "checkpoints" / "best.safetensors").is_file():
        raise FileNotFoundError(
            f"{path} has no checkpoints/best.safetensors; give a run folder made by "
            "`cnnzoo train`, a .safetensors checkpoint, or a model name"
        )
    checkpoint = path / "checkpoints" / "best.safetensors" if path.is_dir() else path
    if run_dir is None and checkpoint.parent.name == "checkpoints":
        run_dir = checkpoint.parent.parent
    model, meta = load_checkpoint(checkpoint)
    data = meta.get("data", {})
    recipe = meta.get("recipe", {})
    classes = [str(c) for c in data.get("classes", range(getattr(model, "num_classes", 0)))]
    return Source(
        model=model,
        name=meta["model"],
        trained=True,
        input_size=tuple(data["input_size"]),  # type: ignore[arg-type]
        mean=tuple(data["mean"]),
        std=tuple(data["std"]),
        classes=classes,
        data_name=data.get("name"),
        split_seed=int(data.get("split_seed", 0)),
        val_fraction=float(recipe.get("val_fraction", 0.2)),
        checkpoint=checkpoint,
        run_dir=run_dir,
        meta=meta,
    )


def _from_name(name: str, input_size: Sequence[int] | None, num_classes: int | None) -> Source:
    card = get_model_card(name)
    size = tuple(input_size) if input_size else card.input_size
    torch.manual_seed(0)
    model = create_model(name, in_chans=size[0], num_classes=num_classes).eval()
    chans = size[0]
    classes = [str(i) for i in range(getattr(model, "num_classes", card.num_classes))]
    return Source(
        model=model,
        name=name,
        trained=False,
        input_size=size,  # type: ignore[arg-type]
        mean=(UNTRAINED_MEAN,) * chans,
        std=(UNTRAINED_STD,) * chans,
        classes=classes,
    )


def initial_weights(source: Source) -> dict[str, torch.Tensor]:
    """The run's initialisation, rebuilt: ``cnnzoo.train.build_model`` seeds with the recipe's
    seed and then creates the model, so the same two calls give the same weights."""
    if not source.trained:
        return {k: v.clone() for k, v in source.model.state_dict().items()}
    torch.manual_seed(int(source.meta.get("recipe", {}).get("seed", 0)))
    fresh = create_model(source.name, **dict(source.meta.get("model_kwargs") or {}))
    return fresh.state_dict()


def checkpoint_weights(path: str | os.PathLike[str], like: Source) -> dict[str, torch.Tensor]:
    """Weights of another checkpoint (or run folder) of the same model as ``like``."""
    other = load_source(path)
    if other.name != like.name or other.meta.get("model_kwargs") != like.meta.get("model_kwargs"):
        raise ValueError(
            f"{path} holds {other.name} {other.meta.get('model_kwargs')}, not {like.name} "
            f"{like.meta.get('model_kwargs')}; interpolate between checkpoints of one model"
        )
    return other.model.state_dict()


def load_images(paths: Sequence[str | os.PathLike[str]], source: Source) -> torch.Tensor:
    """Image files as uint8 ``(N, C, H, W)`` at the source's channels and size."""
    c, h, w = source.input_size
    return read_image_files(list(paths), c, (h, w))


def source_data(
    source: Source,
    data: str | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    limit: int | None = None,
) -> DataBundle:
    """A dataset loaded as the run loaded it (same split seed, size and channels); ``data``
    defaults to the run's. For a bare model name the source takes the data's statistics."""
    name = data or source.data_name
    if name is None:
        raise ValueError(
            f"{source.name} is a bare model name: give the images with --image FILE or "
            "--data NAME --index I"
        )
    c, h, w = source.input_size
    bundle = load_data(
        name,
        data_dir,
        val_fraction=source.val_fraction,
        seed=source.split_seed,
        image_size=(h, w),
        in_chans=c,
        limit=limit,
    )
    if not source.trained:
        source.mean, source.std = bundle.mean, bundle.std
    return bundle


def source_images(
    source: Source,
    data: str | None = None,
    indices: Sequence[int] | None = (0,),
    *,
    split: str = "test",
    data_dir: str | os.PathLike[str] | None = None,
    limit: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """``(uint8 images, labels, class names)`` of a split of :func:`source_data`: the given
    ``indices``, or (``indices`` None) the first ``limit`` images (all without a limit)."""
    bundle = source_data(source, data, data_dir=data_dir)
    part = getattr(bundle, split)
    if indices is None:
        indices = range(min(limit or len(part), len(part)))
    bad = [i for i in indices if not 0 <= i < len(part)]
    if bad:
        raise ValueError(
            f"index {bad[0]} is outside the {split} split of {bundle.name} (0..{len(part) - 1}); "
            "give --index between them"
        )
    chosen = torch.tensor(list(indices), dtype=torch.long)
    return part.images[chosen], part.labels[chosen], [str(c) for c in bundle.classes]


def find_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name``; an unknown name raises ``KeyError`` naming close ones."""
    modules = dict(model.named_modules())
    if name in modules and name:
        return modules[name]
    close = difflib.get_close_matches(name, [n for n in modules if n], n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "see `cnnzoo summary MODEL`"
    raise KeyError(f"{type(model).__name__} has no layer {name!r}; {hint}")


def default_layers(model: nn.Module) -> list[str]:
    """The stages of ``feature_info`` (every model of the zoo has them), in input order."""
    info = getattr(model, "feature_info", None) or []
    names = [str(stage["module"]) for stage in info]
    if not names:
        raise ValueError(
            f"{type(model).__name__} has no feature_info stages; give a layer with --layer NAME"
        )
    return names


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode for the block, every module's own mode restored afterwards.

    In eval mode GoogLeNet and Inception v3 return their logits alone (no auxiliary heads) and
    batch norm uses its running statistics, so a model handed over in train mode is looked into
    as it predicts, and comes back still training."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, mode in modes:
            module.training = mode


def _in_nchw(model: nn.Module) -> bool:
    """Whether the model has k x k convolution weights (k > 1) in the default NCHW memory."""
    spatial = [p for p in model.parameters() if p.dim() == 4 and p.shape[-1] * p.shape[-2] > 1]
    return bool(spatial) and not spatial[0].is_contiguous(memory_format=torch.channels_last)


@contextlib.contextmanager
def inspecting(model: nn.Module, *, channels_last: bool = True) -> Iterator[nn.Module]:
    """:func:`evaluating`, with the weights' ``requires_grad`` off and (``channels_last``) the
    4-D weights in channels-last memory; all restored afterwards.

    The input-gradient methods need no weight gradients: skipping them halves a backward pass
    (ResNet-50 at 224: 0.87 against 1.76 CPU s forward+backward), and oneDNN's channels-last
    convolutions save another third (0.58 s; benchmarks/visualize_speed.py). Nested use is a
    no-op."""
    frozen = [p for p in model.parameters() if p.requires_grad]
    convert = channels_last and _in_nchw(model)
    with evaluating(model):
        for parameter in frozen:
            parameter.requires_grad_(False)
        if convert:
            model.to(memory_format=torch.channels_last)
        try:
            yield model
        finally:
            if convert:
                model.to(memory_format=torch.contiguous_format)
            for parameter in frozen:
                parameter.requires_grad_(True)


def as_channels_last(x: torch.Tensor) -> torch.Tensor:
    """An image batch in channels-last memory (what :func:`inspecting`'s weights expect)."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


class _Stop(Exception):
    def __init__(self, output: torch.Tensor) -> None:
        super().__init__()
        self.output = output


def layer_output(
    model: nn.Module, x: torch.Tensor, layer: str, *, stop: bool = True
) -> torch.Tensor:
    """The output of ``layer`` for input ``x``. With ``stop`` the forward pass ends there
    (nothing after the layer is computed); the result keeps its autograd graph."""

    def hook(module: nn.Module, args: Any, output: Any) -> None:
        if stop:
            raise _Stop(output)
        captured.append(output)

    captured: list[torch.Tensor] = []
    handle = find_layer(model, layer).register_forward_hook(hook)
    try:
        model(x)
    except _Stop as done:
        return _as_tensor(done.output, layer)
    finally:
        handle.remove()
    if not captured:
        raise ValueError(f"layer {layer!r} is not used by {type(model).__name__}'s forward pass")
    return _as_tensor(captured[-1], layer)


def _as_tensor(output: Any, layer: str) -> torch.Tensor:
    if isinstance(output, (tuple, list)):
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise ValueError(f"layer {layer!r} returns {type(output).__name__}, not a tensor")
    return output


class LayerModel(nn.Module):
    """``model`` cut at ``layer``: forward returns that layer's output (flattened per image with
    ``flat``), so attribution libraries can target one unit of an inner layer."""

    def __init__(self, model: nn.Module, layer: str, flat: bool = True) -> None:
        super().__init__()
        self.model = model
        self.layer = layer
        self.flat = flat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = layer_output(self.model, x, self.layer)
        return out.flatten(1) if self.flat else out
