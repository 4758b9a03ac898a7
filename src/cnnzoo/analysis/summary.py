"""Layer-by-layer summary of a model without running its compute.

The forward pass runs on *meta* tensors (shapes only, no memory, no arithmetic), so VGG-19 or
a 1202-layer ResNet is summarised in seconds. Per layer it reports output shape, parameters
(trainable / frozen), MACs, activation memory and, along the path from the input, receptive
field and jump (cumulative stride).

How things are counted (see also ``docs/counting.md``):

* **MACs** come from ``torch.utils.flop_counter.FlopCounterMode`` (MACs = FLOPs / 2), taken
  per layer. It counts convolutions and matrix products (linear layers) only; batch norm,
  activations, pooling and additions count zero. Every ``nn.Conv*d`` / ``nn.Linear`` row is
  also recomputed from the closed-form formula; :attr:`ModelSummary.formula_macs` holds that
  independent total and :meth:`ModelSummary.check` compares the two.
* **Activation memory** is the sum of the tensors the layers create in one forward pass at
  batch 1, times the element size. Outputs that are views of, or the same tensor as, their
  input (``Flatten``, ``Dropout`` in eval) create nothing and count zero. The input image is
  reported apart. Memory kept for the backward pass is not modelled.
* **Receptive field** grows through convolutions and pooling windows and is carried through
  every other operation; where branches merge it is the largest of them (per axis). After a
  global pooling, flatten or linear layer each output sees the whole image (``all``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from cnnzoo.analysis.tables import (
    format_bytes,
    format_count,
    format_pct,
    markdown_table,
    text_table,
)

__all__ = [
    "InputSizeError",
    "LayerRow",
    "ModelSummary",
    "check_input",
    "layer_kind",
    "parse_input_size",
    "summary",
]

_CONV_TYPES = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)


class InputSizeError(ValueError):
    """The input does not fit the model; the message names the layer and what it expected."""


def parse_input_size(text: str | Sequence[int]) -> tuple[int, ...]:
    """``"3x224x224"`` (or ``"3,224,224"`` or a sequence) -> ``(3, 224, 224)``."""
    if isinstance(text, str):
        parts = text.lower().replace(",", "x").replace(" ", "").split("x")
        try:
            dims = tuple(int(p) for p in parts if p)
        except ValueError:
            raise ValueError(
                f"input size {text!r} is not of the form CxHxW, e.g. 3x224x224"
            ) from None
    else:
        dims = tuple(int(d) for d in text)
    if len(dims) != 3 or any(d < 1 for d in dims):
        raise ValueError(
            f"input size must be three positive integers CxHxW (e.g. 3x224x224), got {text!r}"
        )
    return dims


def layer_kind(module: nn.Module) -> str:
    """'conv', 'fc' or 'other', for the conv-vs-fully-connected split.

    Custom layers declare themselves with a ``layer_kind`` attribute (e.g. a sparse C3 layer).
    """
    declared = getattr(module, "layer_kind", None)
    if declared in ("conv", "fc", "other"):
        return declared
    if isinstance(module, _CONV_TYPES):
        return "conv"
    if isinstance(module, nn.Linear):
        return "fc"
    return "other"


@dataclass
class LayerRow:
    name: str
    type: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    frozen_params: int
    macs: int
    activation_elements: int
    activation_bytes: int
    receptive_field: tuple[int, ...] | None
    jump: tuple[int, ...] | None
    formula_macs: int | None = None

    @property
    def trainable_params(self) -> int:
        return self.params - self.frozen_params


@dataclass
class ModelSummary:
    model_name: str
    input_size: tuple[int, ...]
    batch_size: int
    dtype: str
    rows: list[LayerRow]
    total_params: int
    trainable_params: int
    param_bytes: int
    macs: int
    """All MACs counted by torch.utils.flop_counter for the forward pass (batch 1)."""
    formula_macs: int
    """Closed-form MACs of nn.Conv*/nn.Linear layers plus counter MACs of other layers."""
    unattributed_macs: int
    """MACs of operations called outside any layer (e.g. a matmul in a forward method)."""
    input_bytes: int
    notes: list[str] = field(default_factory=list)

    # -- derived figures -------------------------------------------------------------------
    @property
    def frozen_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def used_params(self) -> int:
        """Parameters of the layers this forward pass used (e.g. without GoogLeNet's aux heads in eval)."""
        return sum(r.params for r in self.rows)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def activation_elements(self) -> int:
        return sum(r.activation_elements for r in self.rows)

    @property
    def activation_bytes(self) -> int:
        return sum(r.activation_bytes for r in self.rows)

    def split(self) -> dict[str, dict[str, float]]:
        """Parameters and MACs of conv, fully-connected and other layers, with shares in %."""
        out: dict[str, dict[str, float]] = {}
        params_total = max(1, sum(r.params for r in self.rows))
        macs_total = max(1, sum(r.macs for r in self.rows))
        for kind in ("conv", "fc", "other"):
            params = sum(r.params for r in self.rows if r.kind == kind)
            macs = sum(r.macs for r in self.rows if r.kind == kind)
            out[kind] = {
                "params": params,
                "params_pct": 100.0 * params / params_total,
                "macs": macs,
                "macs_pct": 100.0 * macs / macs_total,
            }
        return out

    def check(self) -> None:
        """Raise ``AssertionError`` if the flop counter and the closed-form count disagree."""
        if self.macs != self.formula_macs:
            raise AssertionError(
                f"{self.model_name}: torch.utils.flop_counter counts {self.macs:,} MACs but the "
                f"layer formulas give {self.formula_macs:,}"
            )

    # -- export ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        rows = []
        for r in self.rows:
            row = asdict(r)
            row["output_shape"] = list(r.output_shape)
            row["receptive_field"] = list(r.receptive_field) if r.receptive_field else None
            row["jump"] = list(r.jump) if r.jump else None
            row["trainable_params"] = r.trainable_params
            rows.append(row)
        return {
            "model": self.model_name,
            "input_size": list(self.input_size),
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "layers": rows,
            "totals": {
                "params": self.total_params,
                "trainable_params": self.trainable_params,
                "frozen_params": self.frozen_params,
                "param_bytes": self.param_bytes,
                "macs": self.macs,
                "flops": self.flops,
                "formula_macs": self.formula_macs,
                "unattributed_macs": self.unattributed_macs,
                "activation_elements": self.activation_elements,
                "activation_bytes": self.activation_bytes,
                "input_bytes": self.input_bytes,
            },
            "split": self.split(),
            "notes": self.notes,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(
            [
                "layer",
                "type",
                "kind",
                "output_shape",
                "params",
                "trainable_params",
                "frozen_params",
                "macs",
                "activation_elements",
                "activation_bytes",
                "receptive_field",
                "jump",
            ]
        )
        for r in self.rows:
            writer.writerow(
                [
                    r.name,
                    r.type,
                    r.kind,
                    "x".join(map(str, r.output_shape)),
                    r.params,
                    r.trainable_params,
                    r.frozen_params,
                    r.macs,
                    r.activation_elements,
                    r.activation_bytes,
                    _fmt_axes(r.receptive_field),
                    _fmt_axes(r.jump),
                ]
            )
        return buffer.getvalue()

    def table_rows(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows of the per-layer table as display strings."""
        show_frozen = self.frozen_params > 0
        header = ["Layer", "Type", "Output shape", "Params"]
        if show_frozen:
            header.append("Frozen")
        header += ["MACs", "Act. memory", "RF", "Jump"]
        rows = []
        for r in self.rows:
            row = [r.name, r.type, _fmt_shape(r.output_shape), f"{r.params:,}"]
            if show_frozen:
                row.append(f"{r.frozen_params:,}")
            row += [
                f"{r.macs:,}",
                format_bytes(r.activation_bytes) if r.activation_bytes else "-",
                _fmt_axes(r.receptive_field),
                _fmt_axes(r.jump),
            ]
            rows.append(row)
        return header, rows

    def totals_lines(self) -> list[str]:
        split = self.split()
        size = "x".join(map(str, self.input_size))
        lines = [
            f"Model: {self.model_name}    input: {size}    batch: {self.batch_size}    dtype: {self.dtype}",
            f"Params: {self.total_params:,} ({format_count(self.total_params)}; trainable "
            f"{self.trainable_params:,}, frozen {self.frozen_params:,}; {format_bytes(self.param_bytes)})",
            f"MACs: {self.macs:,} ({format_count(self.macs)}; FLOPs = 2 x MACs = "
            f"{format_count(self.flops)}); conv and linear layers only, BN/activations/pooling "
            "count zero",
            f"Cross-check: torch.utils.flop_counter {self.macs:,} MACs, layer formulas "
            f"{self.formula_macs:,} MACs ({'agree' if self.macs == self.formula_macs else 'DISAGREE'})",
            f"Activation memory: {self.activation_elements:,} elements = "
            f"{format_bytes(self.activation_bytes)} per image (layer outputs, forward pass; "
            f"input {format_bytes(self.input_bytes)} not included)",
            f"Conv vs FC: params conv {format_pct(split['conv']['params_pct'])} / fc "
            f"{format_pct(split['fc']['params_pct'])} / other {format_pct(split['other']['params_pct'])}; "
            f"MACs conv {format_pct(split['conv']['macs_pct'])} / fc {format_pct(split['fc']['macs_pct'])}",
        ]
        if self.unattributed_macs:
            lines.append(f"MACs outside any layer: {self.unattributed_macs:,}")
        lines += self.notes
        return lines

    def to_markdown(self) -> str:
        header, rows = self.table_rows()
        return markdown_table(header, rows, self.totals_lines())

    def to_text(self, width: int | None = None) -> str:
        """A terminal table (rich), as a string."""
        header, rows = self.table_rows()
        return text_table(header, rows, 3, self.totals_lines(), width or 200)

    def render(self, fmt: str = "table") -> str:
        renderers = {
            "table": self.to_text,
            "md": self.to_markdown,
            "csv": self.to_csv,
            "json": self.to_json,
        }
        if fmt not in renderers:
            raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(renderers)}")
        return renderers[fmt]()

    def __str__(self) -> str:
        return self.to_text()


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) if shape else "-"


def _fmt_axes(values: tuple[int, ...] | None) -> str:
    if values is None:
        return "all"
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


# -- receptive-field tracking -------------------------------------------------------------

_GLOBAL = None  # receptive field covering the whole input


class _ReceptiveFieldMode(TorchFunctionMode):
    """Carries (receptive field, jump) per spatial axis along every tensor derived from the input."""

    def __init__(self, spatial_dims: int) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.depth = 0
        self.info: dict[
            int, tuple[torch.Tensor, tuple[int, ...] | None, tuple[int, ...] | None]
        ] = {}

    def mark(
        self, tensor: torch.Tensor, rf: tuple[int, ...] | None, jump: tuple[int, ...] | None
    ) -> None:
        self.info[id(tensor)] = (tensor, rf, jump)

    def lookup(self, tensor: Any) -> tuple[bool, tuple[int, ...] | None, tuple[int, ...] | None]:
        entry = self.info.get(id(tensor)) if isinstance(tensor, torch.Tensor) else None
        if entry is None or entry[0] is not tensor:
            return False, None, None
        return True, entry[1], entry[2]

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
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
        for tensor in _tensors((args, kwargs)):
            entry = self.info.get(id(tensor))
            if entry is not None and entry[0] is tensor:
                tracked.append(entry)
        if not tracked:
            return out
        first = tracked[0][0]
        if any(rf is _GLOBAL for _, rf, _ in tracked):
            rf, jump = _GLOBAL, _GLOBAL
        else:
            rf = tuple(max(r[1][i] for r in tracked) for i in range(self.spatial_dims))
            jump = tuple(max(r[2][i] for r in tracked) for i in range(self.spatial_dims))
        rf, jump = self._update(func, args, kwargs, first, out, rf, jump)
        for tensor in _tensors(out):
            self.mark(tensor, rf, jump)
        return out

    def _update(self, func, args, kwargs, first, out, rf, jump):  # type: ignore[no-untyped-def]
        name = getattr(func, "__name__", "")
        if rf is _GLOBAL:
            return rf, jump
        out_t = out[0] if isinstance(out, (tuple, list)) else out
        if not isinstance(out_t, torch.Tensor):
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
        if out_t.ndim < 2 + dims:
            return _GLOBAL, _GLOBAL
        in_spatial = tuple(first.shape[-dims:])
        out_spatial = tuple(out_t.shape[-dims:])
        if out_spatial == in_spatial:
            return rf, jump
        if all(s == 1 for s in out_spatial):
            return _GLOBAL, _GLOBAL
        if "adaptive" in name:
            kernel = tuple(math.ceil(i / o) for i, o in zip(in_spatial, out_spatial, strict=True))
            stride = tuple(max(1, i // o) for i, o in zip(in_spatial, out_spatial, strict=True))
            return _grow(rf, jump, kernel, stride, (1,) * dims)
        # Resampling and reshapes we cannot follow: stop reporting rather than guess.
        return _GLOBAL, _GLOBAL


def _tensors(tree: Any) -> list[torch.Tensor]:
    """Tensors in nested tuples, lists and dicts (cheaper than pytree on this hot path)."""
    if isinstance(tree, torch.Tensor):
        return [tree]
    if isinstance(tree, (tuple, list)):
        return [t for item in tree for t in _tensors(item)]
    if isinstance(tree, dict):
        return [t for item in tree.values() for t in _tensors(item)]
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


def _grow(rf, jump, kernel, stride, dilation):  # type: ignore[no-untyped-def]
    new_rf = tuple(
        r + d * (k - 1) * j for r, k, j, d in zip(rf, kernel, jump, dilation, strict=True)
    )
    new_jump = tuple(j * s for j, s in zip(jump, stride, strict=True))
    return new_rf, new_jump


# -- summary ------------------------------------------------------------------------------


def _formula_macs(
    module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor, batch: int
) -> int | None:
    if isinstance(module, _CONV_TYPES) and not isinstance(
        module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    ):
        per_output = (module.in_channels // module.groups) * math.prod(module.kernel_size)
        return per_output * output.numel() // batch
    if isinstance(module, nn.Linear):
        return module.in_features * output.numel() // batch
    return None


def _meta_state(model: nn.Module) -> dict[str, torch.Tensor] | None:
    tensors = list(model.parameters()) + list(model.buffers())
    if all(t.device.type == "meta" for t in tensors):
        return None
    state = {
        name: torch.empty_like(p, device="meta")
        for name, p in model.named_parameters(remove_duplicate=False)
    }
    state.update(
        {
            name: torch.empty_like(b, device="meta")
            for name, b in model.named_buffers(remove_duplicate=False)
        }
    )
    return state


def _same_storage(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True when ``a`` is ``b`` or a view sharing its storage (so it allocates nothing)."""
    root_a = a._base if a._base is not None else a
    root_b = b._base if b._base is not None else b
    return root_a is root_b


def _count_macs(counter: FlopCounterMode) -> int:
    return sum(counter.flop_counts["Global"].values()) // 2


def _describe(module: nn.Module) -> str:
    text = repr(module).splitlines()[0]
    return text if len(text) < 120 else text[:117] + "..."


def _explain_failure(module: nn.Module, inputs: tuple[Any, ...], error: Exception) -> str:
    x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
    if x is None:
        return str(error).splitlines()[0]
    shape = "x".join(map(str, x.shape[1:]))
    if isinstance(module, _CONV_TYPES) and x.ndim >= 3:
        if x.shape[1] != module.in_channels:
            return f"it expects {module.in_channels} input channels but gets {x.shape[1]} (input {shape})"
        sizes = []
        for size, k, s, p, d in zip(
            x.shape[2:],
            module.kernel_size,
            module.stride,
            module.padding if isinstance(module.padding, tuple) else (0,) * len(module.kernel_size),
            module.dilation,
            strict=True,
        ):
            sizes.append((size + 2 * p - d * (k - 1) - 1) // s + 1)
        return f"it gets a {shape} feature map, and its window would produce {'x'.join(map(str, sizes))}"
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        return f"its {module.kernel_size} window does not fit the {shape} feature map it gets"
    if isinstance(module, nn.Linear):
        return (
            f"it expects {module.in_features} input features but gets {x.shape[-1]} (input {shape})"
        )
    return f"it gets input {shape}: {str(error).splitlines()[0]}"


def summary(
    model: nn.Module | str,
    input_size: Sequence[int] | str | None = None,
    batch_size: int = 1,
    dtype: torch.dtype = torch.float32,
    train_mode: bool = False,
    **create_kwargs: Any,
) -> ModelSummary:
    """Per-layer table of a model (an ``nn.Module`` or a registered name) at ``input_size``.

    ``input_size`` is ``(C, H, W)`` (or ``"CxHxW"``); it defaults to the model card's input.
    Nothing is computed: the pass runs on meta tensors, and a module with real weights is
    called with meta stand-ins (``torch.func.functional_call``), so it is left untouched.
    ``train_mode=True`` summarises the training graph (auxiliary heads included).
    """
    from cnnzoo.registry import create_model

    if isinstance(model, str):
        name = model
        with torch.device("meta"):
            model = create_model(name, **create_kwargs)
    else:
        name = getattr(getattr(model, "card", None), "name", type(model).__name__)
    card = getattr(model, "card", None)
    if input_size is None:
        if card is None:
            raise ValueError(f"{name}: give input_size as (C, H, W); the model has no card")
        input_size = (getattr(model, "in_chans", card.input_size[0]), *card.input_size[1:])
    size = (
        parse_input_size(input_size)
        if isinstance(input_size, str)
        else tuple(int(d) for d in input_size)
    )
    if len(size) < 2 or any(d < 1 for d in size):
        raise ValueError(f"input size must be positive (C, H, W), got {size}")
    spatial_dims = len(size) - 1
    if train_mode and batch_size == 1:
        # Batch norm refuses one value per channel in training (a 1x1 map at batch 1, as in
        # Inception v3's aux head); figures are per image whatever the batch.
        batch_size = 2

    rows: list[LayerRow] = []
    stack: list[tuple[nn.Module, tuple[Any, ...], int]] = []
    seen_params: set[int] = set()
    names = {m: n for n, m in model.named_modules(remove_duplicate=False)}
    calls: dict[nn.Module, int] = {}
    counter = FlopCounterMode(display=False)
    rf_mode = _ReceptiveFieldMode(spatial_dims)

    def reports(module: nn.Module) -> bool:
        return not any(True for _ in module.children()) or any(
            True for _ in module.parameters(recurse=False)
        )

    def pre_hook(module: nn.Module, inputs: tuple[Any, ...]) -> None:
        stack.append((module, inputs, _count_macs(counter)))

    def post_hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        _, _, macs_before = stack.pop()
        if not reports(module):
            return
        tensors = [t for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)]
        out = tensors[0] if tensors else None
        own = [p for p in module.parameters(recurse=False) if id(p) not in seen_params]
        seen_params.update(id(p) for p in own)
        params = sum(p.numel() for p in own)
        frozen = sum(p.numel() for p in own if not p.requires_grad)
        in_tensors = [t for t in tree_flatten(inputs)[0] if isinstance(t, torch.Tensor)]
        new = [t for t in tensors if not any(_same_storage(t, i) for i in in_tensors)]
        elements = sum(t.numel() for t in new) // batch_size
        nbytes = sum(t.numel() * t.element_size() for t in new) // batch_size
        calls[module] = calls.get(module, 0) + 1
        label = names.get(module, type(module).__name__) or name
        if calls[module] > 1:
            label += f" (call {calls[module]})"
        _, rf, jump = rf_mode.lookup(out) if out is not None else (False, None, None)
        rows.append(
            LayerRow(
                name=label,
                type=type(module).__name__,
                kind=layer_kind(module),
                output_shape=tuple(out.shape[1:]) if out is not None else (),
                params=params,
                frozen_params=frozen,
                macs=_count_macs(counter) - macs_before,
                activation_elements=elements,
                activation_bytes=nbytes,
                receptive_field=rf,
                jump=jump,
                formula_macs=_formula_macs(module, inputs, out, batch_size)
                if out is not None
                else None,
            )
        )

    handles = []
    for module in model.modules():
        handles.append(module.register_forward_pre_hook(pre_hook))
        handles.append(module.register_forward_hook(post_hook))
    was_training = model.training
    model.train(train_mode)
    x = torch.empty((batch_size, *size), device="meta", dtype=dtype)
    state = _meta_state(model)
    try:
        with torch.no_grad(), counter, rf_mode:
            rf_mode.mark(x, (1,) * spatial_dims, (1,) * spatial_dims)
            if state is None:
                model(x)
            else:
                torch.func.functional_call(model, state, (x,), strict=False)
    except (RuntimeError, ValueError, IndexError) as error:
        if stack:
            module, inputs, _ = stack[-1]
            where = names.get(module, type(module).__name__)
            reason = _explain_failure(module, inputs, error)
            default = card.input_size if card is not None else None
            hint = ""
            if default is not None and tuple(default) != size:
                hint = f" The default input of {name} is {'x'.join(map(str, default))}."
            raise InputSizeError(
                f"input {'x'.join(map(str, size))} does not fit {name}: at layer '{where}' "
                f"({_describe(module)}) {reason}.{hint}"
            ) from error
        raise
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)

    total_params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    total_macs = _count_macs(counter) // batch_size
    for row in rows:
        row.macs //= batch_size
    attributed = sum(r.macs for r in rows)
    formula = sum(r.formula_macs if r.formula_macs is not None else r.macs for r in rows)
    notes = []
    if sum(r.params for r in rows) != total_params:
        notes.append(
            f"Note: {total_params - sum(r.params for r in rows):,} parameters belong to layers "
            "not used in this forward pass"
        )
    return ModelSummary(
        model_name=name,
        input_size=size,
        batch_size=batch_size,
        dtype=str(dtype).replace("torch.", ""),
        rows=rows,
        total_params=total_params,
        trainable_params=trainable,
        param_bytes=param_bytes,
        macs=total_macs,
        formula_macs=formula + (total_macs - attributed),
        unattributed_macs=total_macs - attributed,
        input_bytes=math.prod(size) * torch.empty((), dtype=dtype).element_size(),
        notes=notes,
    )


def check_input(model: nn.Module | str, input_size: Sequence[int] | str) -> None:
    """Raise :class:`InputSizeError` (naming the layer) if ``input_size`` does not fit the model."""
    summary(model, input_size)
