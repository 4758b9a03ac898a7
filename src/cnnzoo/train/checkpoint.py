"""Checkpoints that are safe to share: weights as safetensors, metadata as JSON.

Loading never executes code from the file: weights come from safetensors (a flat table of
tensors) and the training state from ``torch.load(weights_only=True)``. Every file is written
atomically (a temporary file in the same folder, flushed, then ``os.replace``), so a run killed
mid-write leaves the previous version intact, never a truncated file; files get the mode
``open()`` would give them (``0o666`` minus the umask), so a shared server's group can read runs.

Every file carries a sha256 that loading verifies, so bit flips on disk are refused rather than
served: a ``.safetensors`` records the sha256 of its tensor data (everything after the header,
which holds the metadata itself) in its metadata (header and ``.json`` alike); ``optimizer.pt``
holds the training state as one serialised payload next to the payload's sha256.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from cnnzoo.layers import SeparableConv2d
from cnnzoo.registry import create_model

__all__ = [
    "CheckpointError",
    "DiskFullError",
    "atomic_write_bytes",
    "atomic_write_text",
    "commit_epoch",
    "load_checkpoint",
    "load_state",
    "load_weights",
    "read_metadata",
    "repair_checkpoints",
    "save_checkpoint",
    "save_state",
    "verified_epoch",
]

METADATA_KEY = "cnnzoo"


class CheckpointError(ValueError):
    """A checkpoint is unreadable, corrupt, or does not fit the model."""


class DiskFullError(OSError):
    """A file could not be written for lack of space; the message names the path and the size."""


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, verify: bool = False) -> None:
    """Write ``data`` to ``path`` so that readers see either the old or the new file, whole.

    With ``verify`` the written file is read back and compared with ``data`` (size and sha256)
    before it replaces the old one, so a short or damaged write stops here, naming the file,
    instead of being found when the file is loaded (checkpoints use it; a read-back from the
    page cache is a few ms per MB).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp creates 0600
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if verify:
            _check_written(Path(tmp), data, path)
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            free = shutil.disk_usage(path.parent).free
            raise DiskFullError(
                errno.ENOSPC,
                f"no space left on the device to write {path} ({len(data):,} bytes needed, "
                f"{free:,} free in {path.parent}); free some space or write the run elsewhere "
                "(--run-dir)",
            ) from None
        raise


def _check_written(tmp: Path, data: bytes, path: Path) -> None:
    written = tmp.read_bytes()
    if len(written) != len(data):
        what = f"{len(written):,} of its {len(data):,} bytes reached the disk"
    elif hashlib.sha256(written).digest() != hashlib.sha256(data).digest():
        what = "the bytes read back differ from those written (sha256)"
    else:
        return
    kept = "the previous version is kept" if path.exists() else "nothing was written"
    raise CheckpointError(
        f"{path} was not written whole: {what}; {kept}. Check the disk (free space, I/O "
        "errors), then write it again (`cnnzoo train --resume RUN` continues a run)"
    )


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: str | os.PathLike[str], write: Callable[[io.BytesIO], None]) -> None:
    """Let ``write`` fill a buffer (e.g. ``fig.savefig``), then write it atomically."""
    buffer = io.BytesIO()
    write(buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _json_default(value: Any) -> Any:
    if isinstance(value, (tuple, set)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, torch.Tensor):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in checkpoint metadata")


def save_checkpoint(
    path: str | os.PathLike[str], model: nn.Module, metadata: dict[str, Any]
) -> Path:
    """Save ``model``'s weights to ``path`` (``.safetensors``) and ``metadata`` beside it (``.json``).

    The metadata is also embedded in the safetensors header, so the weights file alone is enough
    to rebuild the model. The JSON file is written last: it marks the checkpoint as complete.
    """
    path = Path(path)
    # safetensors refuses tensors that share memory, and wants them contiguous.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    # The tensor data does not depend on the header, so it can be hashed before the header,
    # which records the hash, is written.
    digest = hashlib.sha256(_tensor_data(st_save(tensors))).hexdigest()
    text = json.dumps({**metadata, "sha256": digest}, indent=2, default=_json_default)
    atomic_write_bytes(path, st_save(tensors, metadata={METADATA_KEY: text}), verify=True)
    atomic_write_text(path.with_suffix(".json"), text + "\n")
    return path


def _tensor_data(data: bytes) -> bytes:
    """A safetensors file without its 8-byte length and JSON header."""
    return data[8 + int.from_bytes(data[:8], "little") :]


def _other_checkpoint(path: Path) -> str:
    return "last.safetensors" if path.stem == "best" else "best.safetensors"


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not path.is_file():
        what = "is a directory, not a checkpoint file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"checkpoint {path} {what}")
    data = path.read_bytes()
    remedy = f"Use another checkpoint (e.g. {_other_checkpoint(path)}) or retrain."
    try:
        tensors = st_load(data)
        header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
        text = header.get("__metadata__", {}).get(METADATA_KEY)
        meta = json.loads(text) if text else {}
    except (SafetensorError, ValueError, OSError) as error:
        raise CheckpointError(
            f"{path} is not a readable safetensors checkpoint ({error}); it may be truncated or "
            f"corrupt. {remedy}"
        ) from None
    recorded = meta.get("sha256")
    if recorded is not None and hashlib.sha256(_tensor_data(data)).hexdigest() != recorded:
        raise CheckpointError(
            f"{path} is corrupt: the sha256 of its tensors differs from the one recorded when it "
            f"was saved (bytes changed on disk). {remedy}"
        )
    side = path.with_suffix(".json")
    if recorded is not None and side.is_file() and _read_json(side).get("sha256") != recorded:
        raise CheckpointError(
            f"{side} does not describe {path} (their sha256 differ: one of them was replaced or "
            f"written by an interrupted run); `cnnzoo train --resume RUN` rewrites both. {remedy}"
        )
    return tensors, meta


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        what = "is empty" if not path.read_bytes().strip() else f"is not valid JSON ({error})"
        raise CheckpointError(
            f"{path} {what}; it is a copy of the metadata inside "
            f"{path.with_suffix('.safetensors').name}: delete it to use that one"
        ) from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path} holds {type(value).__name__}, expected checkpoint metadata")
    return value


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata of a checkpoint (from its JSON file, else from the safetensors header)."""
    path = Path(path)
    side = path.with_suffix(".json")
    if side.is_file():
        return _read_json(side)
    return _read_safetensors(path)[1]


def verified_epoch(path: str | os.PathLike[str]) -> int | None:
    """The epoch of a checkpoint that is whole and matches its sha256, else ``None``."""
    try:
        return int(_read_safetensors(Path(path))[1].get("epoch", -1))
    except (CheckpointError, FileNotFoundError):
        return None


def load_weights(
    model: nn.Module, path: str | os.PathLike[str], *, name: str | None = None
) -> dict[str, Any]:
    """Load a checkpoint's tensors into ``model`` (strict); return its metadata.

    Missing, unexpected or differently shaped tensors raise :class:`CheckpointError` listing them.
    """
    path = Path(path)
    tensors, meta = _read_safetensors(path)
    expected = model.state_dict()
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    mismatched = [
        f"{k} (checkpoint {'x'.join(map(str, tensors[k].shape))}, model "
        f"{'x'.join(map(str, expected[k].shape))})"
        for k in expected
        if k in tensors and tensors[k].shape != expected[k].shape
    ]
    if missing or unexpected or mismatched:
        label = name or getattr(getattr(model, "card", None), "name", type(model).__name__)
        problems = []
        for title, items in (
            ("different shapes", mismatched),
            ("missing from the checkpoint", missing),
            ("not in the model", unexpected),
        ):
            if items:
                shown = ", ".join(items[:5]) + (
                    f", ... ({len(items)} in all)" if len(items) > 5 else ""
                )
                problems.append(f"{title}: {shown}")
        made_for = meta.get("model")
        hint = f" The checkpoint was saved from {made_for!r}" if made_for else ""
        if meta.get("model_kwargs"):
            hint += f" with {meta['model_kwargs']}"
        raise CheckpointError(
            f"checkpoint {path} does not match model {label}: "
            + "; ".join(problems)
            + "."
            + (hint + "." if hint else "")
        )
    with torch.no_grad():
        for key, value in expected.items():
            value.copy_(tensors[key])
    return meta


def load_checkpoint(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the registered model a checkpoint was saved from and load its weights.

    Returns ``(model in eval mode, metadata)``. ``path`` may also be a run folder (its best
    checkpoint is used).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoints" / "best.safetensors"
    meta = read_metadata(path)
    name = meta.get("model")
    if not name:
        raise CheckpointError(
            f"{path} has no cnnzoo metadata naming its model; build the model yourself and use "
            "cnnzoo.train.load_weights(model, path)"
        )
    kwargs = dict(meta.get("model_kwargs") or {})
    with torch.device(device):
        model = create_model(name, **kwargs)
    if meta.get("separable"):
        _make_separable(model, meta["separable"], path)
    if meta.get("structure"):
        _resize_modules(model, meta["structure"], path)
    load_weights(model, path)
    model.eval()
    return model, meta


STATE_FORMAT = "cnnzoo-state-2"


# Shape attributes a channel-pruned checkpoint may record per module (cnnzoo.compress.structured).
_STRUCTURE_ATTRS = {"in_channels", "out_channels", "groups", "in_features", "out_features",
                    "num_features"}  # fmt: skip


def _make_separable(model: nn.Module, record: Any, path: Path) -> None:
    """Replace the convolutions ``record`` names (``{"layers": [...], "norm_act": bool}``, written
    by ``cnnzoo separable --finetune``) by depthwise-separable pairs, as the conversion did;
    load_weights then fills them. Only plain ``nn.Conv2d`` modules of the model are touched."""
    layers = record.get("layers") if isinstance(record, dict) else None
    norm_act = record.get("norm_act", False) if isinstance(record, dict) else None
    modules = dict(model.named_modules())
    if not isinstance(layers, list) or not isinstance(norm_act, bool):
        raise CheckpointError(
            f"{path} has a 'separable' record {record!r} that is not "
            "{'layers': [names], 'norm_act': bool}; it was not written by cnnzoo separable"
        )
    for name in layers:
        conv = modules.get(name) if isinstance(name, str) else None
        if type(conv) is not nn.Conv2d:
            raise CheckpointError(
                f"{path} converts layer {name!r} to depthwise-separable, but "
                f"{type(model).__name__} has no plain Conv2d of that name; it was not written "
                "by cnnzoo separable for this model"
            )
        parent_name, _, child = name.rpartition(".")
        setattr(
            modules[parent_name] if parent_name else model, child, SeparableConv2d(conv, norm_act)
        )


def _resize_modules(model: nn.Module, structure: dict[str, Any], path: Path) -> None:
    """Give the modules named in ``structure`` (a channel-pruned model's metadata) their
    recorded shape attributes and empty tensors of the checkpoint's shapes; load_weights fills
    them. Only integer shape attributes of existing modules change; no code is run."""
    modules = dict(model.named_modules())
    tensors, _ = _read_safetensors(path)
    for name, attrs in structure.items():
        module = modules.get(name)
        if module is None or not set(attrs) <= _STRUCTURE_ATTRS:
            raise CheckpointError(
                f"{path} records a structure for {name!r} ({attrs}) that does not fit "
                f"{type(model).__name__}; it was not written by cnnzoo prune"
            )
        for attr, value in attrs.items():
            setattr(module, attr, int(value))
        prefix = f"{name}." if name else ""
        for key in list(module._parameters) + list(module._buffers):
            stored = tensors.get(prefix + key)
            current = getattr(module, key)
            if stored is None or current is None or stored.shape == current.shape:
                continue
            empty = torch.empty(stored.shape, dtype=current.dtype, device=current.device)
            if key in module._parameters:
                module._parameters[key] = nn.Parameter(empty, current.requires_grad)
            else:
                module._buffers[key] = empty


def save_state(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Save optimizer/schedule/RNG state (plain tensors and containers only) with its sha256."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    wrapped = io.BytesIO()
    torch.save(
        {
            "format": STATE_FORMAT,
            "sha256": hashlib.sha256(payload).hexdigest(),
            "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8),
        },
        wrapped,
    )
    atomic_write_bytes(path, wrapped.getvalue(), verify=True)


def commit_epoch(
    state_path: Path,
    state: dict[str, Any],
    checkpoints: Sequence[tuple[Path, nn.Module]],
    meta: dict[str, Any],
) -> None:
    """Write a finished epoch: the training state (``optimizer.pt``) first, then ``checkpoints``
    (path, model) with ``meta``.

    The state file is the epoch's commit point: one atomic file holding everything a resume
    needs, the weights included. Written first, it makes every checkpoint on disk belong to an
    epoch in the run's history: a kill before it leaves the previous epoch whole, a kill after
    it leaves a checkpoint one epoch behind, which :func:`repair_checkpoints` rewrites on resume.
    """
    save_state(state_path, state)
    for path, model in checkpoints:
        save_checkpoint(path, model, meta)


def repair_checkpoints(
    checkpoints: Sequence[tuple[Path, nn.Module]], epoch: int, meta: dict[str, Any]
) -> list[Path]:
    """On resume after a kill: rewrite those ``checkpoints`` (path, model holding the committed
    epoch's weights) that are not epoch ``epoch``'s, whole; return their paths."""
    stale = [(path, model) for path, model in checkpoints if verified_epoch(path) != epoch]
    for path, model in stale:
        save_checkpoint(path, model, meta)
    return [path for path, _ in stale]


def load_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a state file with ``weights_only=True`` (no code from the file is executed) and
    verify its sha256."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training state {path} does not exist; the run cannot be resumed")
    try:
        state = _torch_load(path.read_bytes())
        if isinstance(state, dict) and state.get("format") == STATE_FORMAT:
            payload = state["payload"].numpy().tobytes()
            if hashlib.sha256(payload).hexdigest() != state["sha256"]:
                raise CheckpointError(
                    f"{path} is corrupt: the sha256 of its training state differs from the one "
                    "recorded when it was saved (bytes changed on disk); the run cannot be "
                    "resumed exactly. Start a new run from checkpoints/last.safetensors or retrain."
                )
            state = _torch_load(payload)
    except CheckpointError:
        raise
    except Exception as error:  # pickle errors, truncated zip, disallowed globals
        raise CheckpointError(
            f"{path} cannot be loaded safely ({type(error).__name__}: {str(error).splitlines()[0]})"
        ) from None
    return state


def _torch_load(data: bytes) -> Any:
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
