"""Building a registered model on meta tensors (shapes only) for analysis, without its init.

A meta tensor has a shape and a dtype but no values, so a model's weight initialisation
(``nn.init.kaiming_normal_``, ``Conv2d.reset_parameters``, ``weight.data.normal_``) has nothing
to do on one. PyTorch still runs it, through Python reference kernels: for ResNet-1202 that was
half of ``summary()``'s time. :func:`meta_model` skips those in-place fills on meta tensors only;
a real tensor created in the same block is initialised as usual, and the random-number
generator's state is the same as after a plain meta build (meta fills never drew from it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode
from torch.utils._device import DeviceContext

from cnnzoo.registry import create_model

__all__ = ["SkipMetaInit", "meta_model"]

# In-place ops that only write values (shape, dtype and strides unchanged): what nn.init and
# the models' own init code call. Ops that change metadata (resize_, t_, squeeze_) still run.
# The nn.init functions listed are those that pass through torch-function modes themselves
# (so the fan-in arithmetic around the fill is skipped too); the others end in the fills.
_VALUE_FILLS = frozenset(
    {
        nn.init.uniform_,
        nn.init.normal_,
        nn.init.constant_,
        nn.init.kaiming_uniform_,
        torch.Tensor.normal_,
        torch.Tensor.uniform_,
        torch.Tensor.fill_,
        torch.Tensor.zero_,
        torch.Tensor.erfinv_,
        torch.Tensor.mul_,
        torch.Tensor.add_,
        torch.Tensor.clamp_,
        torch.Tensor.copy_,
    }
)


class SkipMetaInit(TorchFunctionMode):
    """Returns a meta tensor unchanged from a value-only in-place op instead of running it."""

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Sequence[type],
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        skipped = _skipped_fill(func, args, kwargs)
        return self._run(func, types, args, kwargs) if skipped is None else skipped

    def _run(
        self, func: Callable[..., Any], types: Sequence[type], args: Sequence[Any], kwargs: Any
    ) -> Any:
        return func(*args, **kwargs)


class _MetaBuild(SkipMetaInit, DeviceContext):
    """``torch.device("meta")`` and :class:`SkipMetaInit` as one torch-function mode: building
    ResNet-1202 makes 44,000 torch calls, and each passed through both modes (0.1-0.2 s of a
    ``cnnzoo summary``). It is torch's device context (kept at the bottom of the mode stack,
    the default device set); what is not a skipped fill goes to the device context's own
    handler, which puts factory functions on the meta device."""

    _run = DeviceContext.__torch_function__

    def __init__(self) -> None:
        DeviceContext.__init__(self, "meta")


def _skipped_fill(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """The meta tensor a value-only fill would write to (returned unchanged), else ``None``."""
    if func not in _VALUE_FILLS:
        return None
    # Tensor methods get the tensor first; nn.init functions pass it as `tensor=`.
    target = args[0] if args else kwargs.get("tensor")
    return target if _is_meta(target) else None


def _is_meta(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.device.type == "meta"


def meta_model(name: str, **create_kwargs: Any) -> nn.Module:
    """``create_model(name, **create_kwargs)`` with every parameter and buffer on meta tensors
    and no weight initialisation (their values do not exist)."""
    with _MetaBuild():
        return create_model(name, **create_kwargs)
