"""Receptive field and jump of every tensor in a forward pass, tracked as it runs (the
summary's receptive-field columns; the closed form for a plain stack is
:func:`cnnzoo.analysis.formulas.receptive_field`).

A ``TorchFunctionMode`` carries, per spatial axis, the receptive field ``r`` and the jump
(cumulative stride) ``j`` along every tensor derived from the input. A convolution or pooling
window of size ``k``, stride ``s`` and dilation ``d`` gives ``r' = r + d (k - 1) j`` and
``j' = j s`` (Araujo, Norris and Sim, "Computing Receptive Fields of Convolutional Neural
Networks", Distill 2019). Every other operation carries its inputs' figures through; where
branches merge the result is the largest of them per axis. After a global pooling, flatten or
linear layer each output sees the whole input (:data:`WHOLE_INPUT`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

__all__ = ["WHOLE_INPUT", "Axes", "ReceptiveFieldMode", "tensors_in"]

Axes = tuple[int, ...] | None
"""One figure per spatial axis, or ``None`` for the whole input."""

WHOLE_INPUT: Axes = None


class ReceptiveFieldMode(TorchFunctionMode):
    """Tracks (receptive field, jump) of every tensor derived from a marked input.

    ``arguments_seen`` collects the ids of every tensor passed to a torch function (top-level
    calls only), so a caller can tell which parameters a forward pass used, also those used
    functionally (``F.linear(x, self.out_proj.weight)``) rather than through their module.
    ``replace`` maps torch functions to cheaper ones with the same result for the caller's
    purpose (the summary skips batch norm's meta kernel, which dominates its time).
    """

    def __init__(
        self,
        spatial_dims: int,
        replace: dict[Callable[..., Any], Callable[..., Any]] | None = None,
    ) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.replace = replace or {}
        self.depth = 0
        self.info: dict[int, tuple[torch.Tensor, Axes, Axes]] = {}
        self.arguments_seen: set[int] = set()

    def mark(self, tensor: torch.Tensor, rf: Axes, jump: Axes) -> None:
        self.info[id(tensor)] = (tensor, rf, jump)

    def lookup(self, tensor: Any) -> tuple[Axes, Axes]:
        """(receptive field, jump) of ``tensor``; the whole input if it is not tracked."""
        entry = self.info.get(id(tensor)) if isinstance(tensor, torch.Tensor) else None
        if entry is None or entry[0] is not tensor:
            return WHOLE_INPUT, WHOLE_INPUT
        return entry[1], entry[2]

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Sequence[type],
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        func = self.replace.get(func, func)
        if self.depth:
            # A call made while running another one (e.g. a decomposition): the outer call
            # accounts for it.
            return func(*args, **kwargs)
        self.depth += 1
        try:
            out = func(*args, **kwargs)
        finally:
            self.depth -= 1
        tracked = []
        for tensor in tensors_in((args, kwargs)):
            self.arguments_seen.add(id(tensor))
            entry = self.info.get(id(tensor))
            if entry is not None and entry[0] is tensor:
                tracked.append(entry)
        if not tracked:
            return out
        rf, jump = self._merge(tracked)
        rf, jump = self._update(func, args, kwargs, tracked[0][0], out, rf, jump)
        for tensor in tensors_in(out):
            self.mark(tensor, rf, jump)
        return out

    def _merge(self, tracked: list[tuple[torch.Tensor, Axes, Axes]]) -> tuple[Axes, Axes]:
        rfs = [rf for _, rf, _ in tracked]
        jumps = [jump for _, _, jump in tracked]
        if any(rf is None for rf in rfs) or any(j is None for j in jumps):
            return WHOLE_INPUT, WHOLE_INPUT
        axes = range(self.spatial_dims)
        return (
            tuple(max(rf[i] for rf in rfs if rf is not None) for i in axes),
            tuple(max(j[i] for j in jumps if j is not None) for i in axes),
        )

    def _update(
        self,
        func: Callable[..., Any],
        args: Sequence[Any],
        kwargs: dict[str, Any],
        first: torch.Tensor,
        out: Any,
        rf: Axes,
        jump: Axes,
    ) -> tuple[Axes, Axes]:
        name = getattr(func, "__name__", "")
        out_t = out[0] if isinstance(out, (tuple, list)) else out
        if rf is None or jump is None or not isinstance(out_t, torch.Tensor):
            return rf, jump
        dims = self.spatial_dims
        if name.startswith("conv") and "transpose" not in name:
            weight = args[1] if len(args) > 1 else kwargs["weight"]
            kernel = tuple(weight.shape[2:])
            stride = _axes(_arg(args, kwargs, 3, "stride", 1), dims)
            dilation = _axes(_arg(args, kwargs, 5, "dilation", 1), dims)
            return _grow(rf, jump, kernel, stride, dilation)
        if "pool" in name and "adaptive" not in name:
            kernel = _axes(_arg(args, kwargs, 1, "kernel_size", 1), dims)
            stride_arg = _arg(args, kwargs, 2, "stride", None)
            stride = kernel if stride_arg in (None, [], ()) else _axes(stride_arg, dims)
            dilation = (
                _axes(_arg(args, kwargs, 4, "dilation", 1), dims) if "max" in name else (1,) * dims
            )
            return _grow(rf, jump, kernel, stride, dilation)
        return _resampled(name, first, out_t, rf, jump, dims)


def _resampled(
    name: str,
    first: torch.Tensor,
    out: torch.Tensor,
    rf: tuple[int, ...],
    jump: tuple[int, ...],
    dims: int,
) -> tuple[Axes, Axes]:
    """Any other operation: carried through, adaptive pooling followed, the rest given up."""
    if out.ndim < 2 + dims:
        return WHOLE_INPUT, WHOLE_INPUT
    in_spatial = tuple(first.shape[-dims:])
    out_spatial = tuple(out.shape[-dims:])
    if out_spatial == in_spatial:
        return rf, jump
    if all(s == 1 for s in out_spatial):
        return WHOLE_INPUT, WHOLE_INPUT
    if "adaptive" in name:
        kernel = tuple(math.ceil(i / o) for i, o in zip(in_spatial, out_spatial, strict=True))
        stride = tuple(max(1, i // o) for i, o in zip(in_spatial, out_spatial, strict=True))
        return _grow(rf, jump, kernel, stride, (1,) * dims)
    # Resampling and reshapes we cannot follow: stop reporting rather than guess.
    return WHOLE_INPUT, WHOLE_INPUT


def tensors_in(tree: Any) -> list[torch.Tensor]:
    """Tensors in nested tuples, lists and dicts (cheaper than pytree on this hot path)."""
    if isinstance(tree, torch.Tensor):
        return [tree]
    if isinstance(tree, (tuple, list)):
        return [t for item in tree for t in tensors_in(item)]
    if isinstance(tree, dict):
        return [t for item in tree.values() for t in tensors_in(item)]
    return []


def _arg(args: Sequence[Any], kwargs: dict[str, Any], index: int, key: str, default: Any) -> Any:
    if key in kwargs:
        return kwargs[key]
    return args[index] if len(args) > index else default


def _axes(value: Any, dims: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * dims
    value = tuple(value)
    return value * dims if len(value) == 1 else value


def _grow(
    rf: tuple[int, ...],
    jump: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple[Axes, Axes]:
    new_rf = tuple(
        r + d * (k - 1) * j for r, k, j, d in zip(rf, kernel, jump, dilation, strict=True)
    )
    new_jump = tuple(j * s for j, s in zip(jump, stride, strict=True))
    return new_rf, new_jump
