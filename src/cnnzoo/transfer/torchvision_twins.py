"""torchvision's ImageNet weights for the zoo's torchvision twins.

A twin is a cnnzoo variant whose card names a torchvision builder (``ModelCard.torchvision``):
the same tensors, in the same order and with the same shapes, computing the same function. Its
weights are therefore copied by position, after checking every shape, never by guessing names.

Three facts about torchvision's files that a plain copy would get wrong:

* GoogLeNet and Inception v3 were trained by Google with inputs in [-1, 1]; torchvision
  compensates with ``transform_input=True``, which maps ImageNet-normalised input to
  ``(x - 0.5) / 0.5``. We record exactly that as the weights' preprocessing (mean = std = 0.5),
  so the same function needs no extra layer.
* torchvision's GoogLeNet returns its auxiliary logits as ``(logits, aux2, aux1)``; ours as
  ``(logits, aux1, aux2)``. The tensors are the same, only the tuple order differs. Its file's
  auxiliary heads were never trained (torchvision warns so too).
* DenseNet's files still use the pre-0.3 key names (``norm.1.weight``); they are renamed with
  torchvision's own rule before matching.

Only this module imports torchvision (about 2-3 s of start-up on our machine), and only the
``"torchvision"`` source and ``.pth`` files in torchvision's format need it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torchvision.models as tvm
from torch.hub import get_dir, load_state_dict_from_url

from cnnzoo.registry import get_model_card, list_models

__all__ = [
    "list_twins",
    "map_torchvision_state",
    "read_torchvision_weights",
    "torchvision_meta_model",
    "torchvision_preprocessing",
    "weights_file",
]

# torchvision builders whose released weights expect ``transform_input=True``.
_GOOGLE_INPUT = {"googlenet", "inception_v3"}
_DENSENET_LEGACY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def list_twins() -> dict[str, str]:
    """``{cnnzoo name: torchvision builder}`` for every variant that declares a twin."""
    twins = {}
    for name in list_models():
        twin = getattr(get_model_card(name), "torchvision", None)
        if twin:
            twins[name] = twin
    return twins


def _default_weights(tv_name: str) -> Any:
    return tvm.get_model_weights(tv_name).DEFAULT


def weights_file(tv_name: str) -> Path:
    """Where torch hub caches torchvision's default weights of ``tv_name``."""
    url = _default_weights(tv_name).url
    return Path(get_dir()) / "checkpoints" / os.path.basename(url)


def read_torchvision_weights(tv_name: str, download: bool = False) -> dict[str, torch.Tensor]:
    """torchvision's default ImageNet state dict of ``tv_name``, from the hub cache.

    With ``download`` a missing file is fetched from torchvision's URL with its hash check.
    Files are read with ``weights_only=True``: nothing in them is executed.
    """
    weights = _default_weights(tv_name)
    path = weights_file(tv_name)
    if path.is_file():
        return read_state_dict_file(path)
    if not download:
        raise FileNotFoundError(
            f"torchvision's {weights} weights are not cached: expected {path} (torch hub's cache, "
            "$TORCH_HOME/hub/checkpoints); run with --download (download=True) on a machine with "
            f"internet, or copy {weights.url} there"
        )
    return load_state_dict_from_url(
        weights.url,
        model_dir=str(path.parent),
        map_location="cpu",
        progress=True,
        check_hash=True,
        weights_only=True,
    )


def read_state_dict_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A ``.pth`` state dict loaded with ``weights_only=True``; refused if it is anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle errors, truncated zip, globals that are not allowed
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(
            f"refused {path}: it is not a plain tensor file that loads with weights_only=True "
            f"({type(error).__name__}: {first[:160]}); nothing from it was executed. Use a "
            "state dict saved with torch.save(model.state_dict(), path)"
        ) from None
    if isinstance(state, dict):
        for wrapper in ("state_dict", "model"):
            if isinstance(state.get(wrapper), dict):
                state = state[wrapper]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(
            f"refused {path}: it holds a {type(state).__name__}, not a state dict of named tensors"
        )
    return dict(state)


def torchvision_meta_model(tv_name: str, like: nn.Module | None = None) -> nn.Module:
    """torchvision's ``tv_name`` on the meta device (no memory), with ``like``'s aux heads."""
    kwargs: dict[str, Any] = {}
    if tv_name in _GOOGLE_INPUT:
        kwargs = {"init_weights": False, "aux_logits": bool(getattr(like, "aux_logits", True))}
    with torch.device("meta"):
        return tvm.get_model(tv_name, **kwargs)


def torchvision_preprocessing(tv_name: str) -> dict[str, Any]:
    """Input size, resize, crop, interpolation, mean and std that the default weights expect."""
    transform = _default_weights(tv_name).transforms()
    crop, resize = int(transform.crop_size[0]), int(transform.resize_size[0])
    mean, std = [float(v) for v in transform.mean], [float(v) for v in transform.std]
    if tv_name in _GOOGLE_INPUT:
        # transform_input=True turns ImageNet-normalised x into (pixel - 0.5) / 0.5.
        mean, std = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]
    return {
        "input_size": [3, crop, crop],
        "resize": resize,
        "crop": crop,
        "interpolation": str(transform.interpolation.value),
        "mean": mean,
        "std": std,
    }


def _rename_legacy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    renamed = {}
    for key, value in state.items():
        match = _DENSENET_LEGACY.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    return renamed


def _shape(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape)) or "scalar"


def map_torchvision_state(
    model: nn.Module,
    tv_name: str,
    state: dict[str, torch.Tensor],
    *,
    source: str = "the file",
    reference: nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """``{our key: tensor}`` from torchvision's state dict of ``tv_name``, matched by position.

    The file's tensors are ordered as torchvision's model orders them (built on the meta
    device); every shape is checked. Auxiliary heads the file has but ``model`` lacks are
    dropped. Raises ``ValueError`` listing what does not fit. ``reference``: torchvision's
    model if the caller has built it already (any device).
    """
    built = reference if reference is not None else torchvision_meta_model(tv_name, like=model)
    ref_state = built.state_dict()
    state = _rename_legacy(state)
    missing = [k for k in ref_state if k not in state]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f", ... ({len(missing)} in all)" if len(missing) > 5 else ""
        )
        raise ValueError(
            f"{source} is not a state dict of torchvision's {tv_name}: it lacks {shown}"
        )
    ours = model.state_dict()
    if len(ours) != len(ref_state):
        raise ValueError(
            f"{_name(model)} has {len(ours)} tensors but torchvision's {tv_name} has "
            f"{len(ref_state)}; they are not twins"
        )
    mapped, wrong = {}, []
    for (key, mine), tv_key in zip(ours.items(), ref_state, strict=True):
        value = state[tv_key]
        if value.shape != mine.shape:
            wrong.append(f"{key} {_shape(mine)} <- {tv_key} {_shape(value)}")
        mapped[key] = value
    if wrong:
        shown = "; ".join(wrong[:5]) + (f"; ... ({len(wrong)} in all)" if len(wrong) > 5 else "")
        raise ValueError(f"{source} does not fit {_name(model)} (ours <- file): {shown}")
    return mapped


def _name(model: nn.Module) -> str:
    card = getattr(model, "card", None)
    return card.name if card is not None else type(model).__name__


def state_shapes(state: dict[str, torch.Tensor]) -> list[tuple[int, ...]]:
    return [tuple(v.shape) for v in state.values()]


_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _by_size_first(count: int) -> list[str]:
    """Twins ordered so that those whose weights have ``count`` parameters come first (their
    torchvision metadata says so without building anything)."""
    twins = list_twins()
    return sorted(twins, key=lambda n: _default_weights(twins[n]).meta["num_params"] != count)


def which_twin_fits(state: dict[str, torch.Tensor]) -> list[str]:
    """The cnnzoo twins whose torchvision model has exactly these tensors (names and shapes)."""
    state = _rename_legacy(state)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    count = sum(v.numel() for k, v in state.items() if not k.endswith(_BUFFERS))
    twins = list_twins()
    for name in _by_size_first(count):
        reference = torchvision_meta_model(twins[name]).state_dict()
        if all(shapes.get(k) == tuple(v.shape) for k, v in reference.items()):
            return [name]
    return []


def same_shape_twins(model: nn.Module) -> list[str]:
    """A twin of the same family whose tensors have ``model``'s shapes (but another function)."""
    card = getattr(model, "card", None)
    if card is None:
        return []
    shapes = state_shapes(model.state_dict())
    twins = list_twins()
    count = sum(p.numel() for p in model.parameters())
    for name in _by_size_first(count):
        if get_model_card(name).family != card.family:
            continue
        if state_shapes(torchvision_meta_model(twins[name], like=model).state_dict()) == shapes:
            return [name]
    return []
