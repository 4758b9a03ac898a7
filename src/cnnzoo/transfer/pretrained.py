"""Pretrained weights for any registered model: ``create_model(name, pretrained=SOURCE)``.

SOURCE is one of

* a cnnzoo run folder or checkpoint (``.safetensors``; the run's best checkpoint for a folder);
* a ``.pth`` / ``.pt`` state dict, in cnnzoo's key names or in torchvision's (read with
  ``torch.load(weights_only=True)``: a file that would run code is refused, nothing executed);
* ``"torchvision"`` (or ``True``): torchvision's default ImageNet weights of the model's twin
  (``ModelCard.torchvision``), from torch hub's cache or downloaded with ``download=True``.

The weights' preprocessing (input size, resize/crop, mean/std) travels with them as
``model.pretrained_cfg["preprocessing"]``. A different ``num_classes`` re-initialises only the
head (``reset_classifier``); a different ``in_chans`` adapts the first convolution (one channel:
the sum of its RGB filters, the grey image seen as R = G = B; otherwise the filters repeated and
scaled by 3/C, as timm does). Every such change is listed in ``model.pretrained_cfg["notes"]``.

The recipe itself is the lectures' (after Yosinski et al., "How transferable are features in deep
neural networks?", NeurIPS 2014): keep the pretrained layers, replace the last one.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors.torch import load_file

from cnnzoo.registry import create_model, get_model_card
from cnnzoo.train.checkpoint import load_weights, read_metadata

__all__ = ["adapt_in_chans", "adapt_to", "load_pretrained", "resolve_checkpoint"]


def resolve_checkpoint(source: str | os.PathLike[str]) -> Path:
    """A run folder's best checkpoint, or the file itself."""
    path = Path(source)
    if path.is_dir():
        best = path / "checkpoints" / "best.safetensors"
        if not best.is_file():
            raise FileNotFoundError(
                f"{path} is not a cnnzoo run folder with a checkpoint (no {best}); give a run "
                "folder made by `cnnzoo train`, a .safetensors checkpoint, a .pth state dict or "
                "'torchvision'"
            )
        return best
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained source {str(source)!r} is neither a file nor a run folder nor "
            "'torchvision'; give a run folder, a .safetensors checkpoint or a .pth state dict"
        )
    return path


def load_pretrained(
    name: str,
    source: Any,
    *,
    num_classes: int | None = None,
    in_chans: int | None = None,
    download: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """Build ``name`` with the weights of ``source``, then fit it to ``num_classes``/``in_chans``.

    Registered as ``create_model``'s loader when ``cnnzoo`` is imported.
    """
    if source is True or source == "torchvision":
        model, cfg = _from_torchvision(name, download, kwargs)
    else:
        path = resolve_checkpoint(source)
        if path.suffix == ".safetensors":
            model, cfg = _from_checkpoint(name, path, kwargs)
        else:
            model, cfg = _from_state_dict_file(name, path, kwargs)
    model.pretrained_cfg = cfg
    adapt_to(model, num_classes=num_classes, in_chans=in_chans)
    return model


# -- sources ---------------------------------------------------------------------------------


def _from_torchvision(name: str, download: bool, kwargs: dict[str, Any]) -> tuple[nn.Module, dict]:
    # Imported here, not at the top: torchvision costs ~2-3 s of start-up, and `import cnnzoo`
    # registers this loader; only this source and torchvision-format files need it.
    from cnnzoo.transfer import torchvision_twins as tv

    card = get_model_card(name)
    if not card.torchvision:
        with torch.device("meta"):  # only its shapes are compared
            model = create_model(name, num_classes=1000, in_chans=3, **kwargs)
        raise ValueError(_no_twin_message(name, model, tv))
    model = create_model(name, num_classes=1000, in_chans=3, **kwargs)
    state = tv.read_torchvision_weights(card.torchvision, download=download)
    where = f"torchvision's {card.torchvision} weights ({tv.weights_file(card.torchvision).name})"
    model.load_state_dict(tv.map_torchvision_state(model, card.torchvision, state, source=where))
    notes = [f"loaded {where} into {name} by tensor order, every shape checked"]
    if card.torchvision == "googlenet":
        notes.append("torchvision's GoogLeNet file has untrained auxiliary heads")
    return model, _cfg(
        "torchvision", card.torchvision, tv.torchvision_preprocessing(card.torchvision), notes
    )


def _no_twin_message(name: str, model: nn.Module, tv: Any) -> str:
    twins = tv.list_twins()
    close = tv.same_shape_twins(model)
    if close:
        return (
            f"{name} has no torchvision twin: its tensors have the shapes of torchvision's "
            f"{twins[close[0]]} but it computes another function (e.g. the paper's stride on the "
            f"first 1x1 instead of the 3x3); use {close[0]} for torchvision's weights"
        )
    return (
        f"{name} has no torchvision twin, so there are no pretrained weights for "
        f"pretrained='torchvision'; the models with one are: {', '.join(twins)}"
    )


def _from_checkpoint(name: str, path: Path, kwargs: dict[str, Any]) -> tuple[nn.Module, dict]:
    meta = read_metadata(path)
    saved = meta.get("model")
    saved_kwargs = dict(meta.get("model_kwargs") or {})
    model = create_model(name, **{**saved_kwargs, **kwargs})
    if saved and saved != name:
        raise ValueError(_other_model_message(name, path, saved, saved_kwargs, model))
    load_weights(model, path, name=name)
    data = meta.get("data", {})
    preprocessing = {
        "input_size": list(data.get("input_size") or get_model_card(name).input_size),
        "mean": list(data["mean"]) if "mean" in data else None,
        "std": list(data["std"]) if "std" in data else None,
        "resize": None,
        "crop": None,
        "interpolation": "bilinear",
        "trained_on": data.get("name"),
        "classes": list(data.get("classes") or []),
    }
    notes = [
        f"loaded {path} ({saved or name} trained on {data.get('name', '?')}, epoch "
        f"{meta.get('epoch', '?')})"
    ]
    return model, _cfg("checkpoint", str(path), preprocessing, notes)


def _other_model_message(
    name: str, path: Path, saved: str, saved_kwargs: dict[str, Any], model: nn.Module
) -> str:

    tensors = load_file(str(path))
    ours = model.state_dict()
    wrong = [
        f"{k} ({'x'.join(map(str, tensors[k].shape)) if k in tensors else 'absent'} in the file, "
        f"{'x'.join(map(str, v.shape))} in {name})"
        for k, v in ours.items()
        if k not in tensors or tensors[k].shape != v.shape
    ]
    detail = (
        "mismatched tensors: "
        + "; ".join(wrong[:5])
        + (f"; ... ({len(wrong)} in all)" if len(wrong) > 5 else "")
        if wrong
        else "the tensors have the same names and shapes but the architecture differs"
    )
    return (
        f"{path} holds weights of {saved}, not {name} ({detail}); they fit "
        f"create_model({saved!r}, pretrained=...)"
    )


def _from_state_dict_file(name: str, path: Path, kwargs: dict[str, Any]) -> tuple[nn.Module, dict]:
    # start-up: torchvision (~2-3 s), as in _from_torchvision
    from cnnzoo.transfer import torchvision_twins as tv

    state = tv.read_state_dict_file(path)
    card = get_model_card(name)
    model = create_model(name, **kwargs)
    ours = model.state_dict()
    if list(state) == list(ours) or set(state) == set(ours):
        return _load_by_name(model, state, path, card)
    model = create_model(name, num_classes=1000, in_chans=3, **kwargs)
    if not card.torchvision:
        fits = tv.which_twin_fits(state)
        hint = f"; its tensors fit {', '.join(fits)}" if fits else ""
        raise ValueError(
            f"{path} is not in {name}'s key names and {name} has no torchvision twin to map it "
            f"by{hint}"
        )
    try:
        mapped = tv.map_torchvision_state(model, card.torchvision, state, source=str(path))
    except ValueError as error:
        fits = tv.which_twin_fits(state)
        hint = f"; its tensors fit {', '.join(fits)}" if fits else ""
        raise ValueError(f"{error}{hint}") from None
    model.load_state_dict(mapped)
    notes = [f"loaded {path} in torchvision's {card.torchvision} layout by tensor order"]
    return model, _cfg(
        "state_dict", str(path), tv.torchvision_preprocessing(card.torchvision), notes
    )


def _load_by_name(model: nn.Module, state: dict, path: Path, card: Any) -> tuple[nn.Module, dict]:
    ours = model.state_dict()
    wrong = [
        f"{k} ({'x'.join(map(str, state[k].shape))} vs {'x'.join(map(str, v.shape))})"
        for k, v in ours.items()
        if state[k].shape != v.shape
    ]
    if wrong:
        raise ValueError(
            f"{path} does not fit {card.name}: different shapes: {'; '.join(wrong[:5])}"
        )
    model.load_state_dict(state)
    c = card.input_size[0]
    preprocessing = {
        "input_size": list(card.input_size),
        "mean": [0.5] * c,
        "std": [0.5] * c,
        "resize": None,
        "crop": None,
        "interpolation": "bilinear",
    }
    notes = [f"loaded {path} by key names; it records no preprocessing: mean/std 0.5 assumed"]
    return model, _cfg("state_dict", str(path), preprocessing, notes)


def _cfg(kind: str, source: str, preprocessing: dict[str, Any], notes: list[str]) -> dict:
    return {"kind": kind, "source": source, "preprocessing": preprocessing, "notes": notes}


# -- fitting the weights to the new task --------------------------------------------------------


def adapt_to(
    model: nn.Module, *, num_classes: int | None = None, in_chans: int | None = None
) -> None:
    """Fit a pretrained model to a new task: a fresh head for ``num_classes``, the first
    convolution adapted to ``in_chans``; each change is noted in ``model.pretrained_cfg``."""
    cfg = model.pretrained_cfg
    have = getattr(model, "num_classes", None)
    if num_classes is not None and num_classes != have:
        model.reset_classifier(num_classes)
        cfg["notes"].append(
            f"new head: {have} -> {num_classes} classes, freshly initialised (the rest pretrained)"
        )
    chans = getattr(model, "in_chans", cfg["preprocessing"]["input_size"][0])
    if in_chans is not None and in_chans != chans:
        cfg["notes"].append(adapt_in_chans(model, in_chans))
        pre = cfg["preprocessing"]
        pre["input_size"] = [in_chans, *pre["input_size"][1:]]
        for key in ("mean", "std"):
            if pre.get(key):
                pre[key] = [sum(pre[key]) / len(pre[key])] * in_chans


def _first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise ValueError(f"{type(model).__name__} has no convolution whose input channels could adapt")


def adapt_in_chans(model: nn.Module, in_chans: int) -> str:
    """Change the first convolution to ``in_chans`` inputs, keeping what it computes on grey input.

    One channel: the sum of the filters over the old channels (an image with R = G = B gives the
    same response). More channels: the filters repeated and scaled by ``old / in_chans``.
    Returns a sentence saying what was done.
    """
    name, conv = _first_conv(model)
    old = conv.in_channels
    if conv.groups != 1:
        raise ValueError(f"{name} is a grouped convolution; its input channels cannot be adapted")
    weight = conv.weight.detach()
    if in_chans == 1:
        new_weight = weight.sum(1, keepdim=True)
        how = f"summing its {old} input filters"
    else:
        repeat = math.ceil(in_chans / old)
        new_weight = weight.repeat(1, repeat, 1, 1)[:, :in_chans] * (old / in_chans)
        how = f"repeating its filters and scaling them by {old}/{in_chans}"
    new = nn.Conv2d(
        in_chans,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
        dtype=weight.dtype,
        device=weight.device,
    )
    with torch.no_grad():
        new.weight.copy_(new_weight)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)
    if hasattr(model, "in_chans"):
        model.in_chans = in_chans
    return f"adapted {name} from {old} to {in_chans} input channel(s) by {how}"
