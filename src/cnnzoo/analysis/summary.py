"""Layer-by-layer summary of a model without running its compute.

The forward pass runs on *meta* tensors (shapes only, no memory, no arithmetic), so VGG-19 or
a 1202-layer ResNet is summarised in seconds. Per layer it reports output shape, parameters
(trainable / frozen), MACs, activation memory and, along the path from the input, receptive
field and jump (cumulative stride).

How things are counted (see also ``docs/counting.md``):

* **MACs** come from ``torch.utils.flop_counter``'s per-operator formulas (MACs = FLOPs / 2,
  through :class:`cnnzoo.analysis.macs.MacCounter`, which agrees with ``FlopCounterMode``),
  taken per layer: a layer with sub-layers and parameters of its own (ConvNeXt's layer scale)
  gets only what its sub-layers' rows do not hold, so the rows add up to the total. It counts
  convolutions and matrix products (linear layers) only; batch norm,
  activations, pooling and additions count zero. Every ``nn.Conv*d`` / ``nn.Linear`` row is
  also recomputed from the closed-form formula; :attr:`ModelSummary.formula_macs` holds that
  independent total and :meth:`ModelSummary.check` compares the two.
* **Activation memory** is the sum of the tensors the layers create in one forward pass at
  batch 1, times the element size. Outputs that are views of, or the same tensor as, their
  input (``Flatten``, ``Dropout`` in eval) create nothing and count zero. The input image is
  reported apart. Memory kept for the backward pass is not modelled.
* **Receptive field** grows through convolutions and pooling windows and is carried through
  every other operation; where branches merge it is the largest of them (per axis). After a
  global pooling, flatten or linear layer each output sees the whole image (``all``). See
  :mod:`cnnzoo.analysis.rf_tracking`.
* **Parameters** are counted in the row of the layer that owns them, or, when a layer uses a
  sub-layer's parameters functionally without calling it (``nn.MultiheadAttention``'s
  ``out_proj``), in the row of the layer that used them.
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
import torch.nn.functional as F
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)

from cnnzoo.analysis.macs import MacCounter
from cnnzoo.analysis.meta import meta_model
from cnnzoo.analysis.rf_tracking import ReceptiveFieldMode, tensors_in
from cnnzoo.analysis.tables import (
    check_format,
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
        """Raise ``AssertionError`` if the flop counter and the closed-form count disagree, or
        the rows hold more MACs than the whole pass."""
        if self.unattributed_macs < 0:
            raise AssertionError(
                f"{self.model_name}: the rows hold {-self.unattributed_macs:,} MACs more than the "
                f"{self.macs:,} of the whole forward pass"
            )
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

    def render(self, fmt: str = "text") -> str:
        """The table as ``text``, ``md``, ``csv`` or ``json``."""
        renderers = {
            "text": self.to_text,
            "md": self.to_markdown,
            "csv": self.to_csv,
            "json": self.to_json,
        }
        return renderers[check_format(fmt)]()

    def __str__(self) -> str:
        return self.to_text()


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) if shape else "-"


def _fmt_axes(values: tuple[int, ...] | None) -> str:
    if values is None:
        return "all"
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


# -- summary ------------------------------------------------------------------------------


def _formula_macs(module: nn.Module, output: torch.Tensor, batch: int) -> int | None:
    if isinstance(module, _CONV_TYPES) and not isinstance(
        module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    ):
        per_output = (module.in_channels // module.groups) * math.prod(module.kernel_size)
        return per_output * output.numel() // batch
    if isinstance(module, nn.Linear):
        return module.in_features * output.numel() // batch
    return None


def _stand_ins(model: nn.Module, dtype: torch.dtype) -> tuple[dict[str, torch.Tensor] | None, str]:
    """Meta stand-ins for the model's tensors (floating ones in ``dtype``) and a note if cast.

    ``None`` when the model is already on meta tensors of the input's dtype and can be called
    as it is.
    """
    params = dict(model.named_parameters(remove_duplicate=False))
    buffers = dict(model.named_buffers(remove_duplicate=False))
    tensors = {**params, **buffers}
    cast = {t.dtype for t in tensors.values() if t.is_floating_point() and t.dtype != dtype}
    if not cast and all(t.device.type == "meta" for t in tensors.values()):
        return None, ""
    state = {
        name: torch.empty_like(t, device="meta", dtype=dtype if t.is_floating_point() else t.dtype)
        for name, t in tensors.items()
    }
    note = ""
    if cast:
        was = ", ".join(sorted(str(d).replace("torch.", "") for d in cast))
        now = str(dtype).replace("torch.", "")
        note = (
            f"Note: the model's {was} parameters and buffers were cast to {now} for this pass "
            f"(PyTorch refuses a {now} input to {was} layers); 'Params' bytes are the model's own"
        )
    return state, note


def _same_storage(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True when ``a`` is ``b`` or a view sharing its storage (so it allocates nothing)."""
    return _root(a) is _root(b)


def _root(tensor: torch.Tensor) -> torch.Tensor:
    return tensor._base if tensor._base is not None else tensor


class _Recorder:
    """Forward hooks that turn one meta forward pass into :class:`LayerRow` s.

    A layer reports a row if it is a leaf or holds parameters of its own (ConvNeXt's layer
    scale, ViT's class token). Its row gets only the MACs and new tensors not already in a
    row of one of its sub-layers, so the rows add up to the total. The hooks only take note;
    :meth:`rows` measures the tensors after the pass, outside the torch-function modes (every
    ``.shape`` or ``.numel()`` inside them is a call through each mode).
    """

    def __init__(self, model: nn.Module, name: str, batch_size: int, spatial_dims: int) -> None:
        self.model_name = name
        self.batch_size = batch_size
        self.names = {m: n for n, m in model.named_modules(remove_duplicate=False)}
        self.reporting = {m for m in self.names if not _has_children(m) or _has_own_parameters(m)}
        self.counter = MacCounter()
        self.rf_mode = ReceptiveFieldMode(spatial_dims, _META_SHORTCUTS)
        # One frame per running layer: the layer, its inputs, FLOPs when it started, and the
        # FLOPs of its sub-layers' rows so far.
        self.stack: list[tuple[nn.Module, tuple[Any, ...], int, list[int]]] = []
        self.started: set[nn.Module] = set()
        self.calls: list[_Call] = []

    def hook(self) -> list[Any]:
        """Global forward hooks (two handles, not two per layer: registering 13,222 handles
        took a fifth of ResNet-1202's summary); layers of other models are ignored."""
        return [
            register_module_forward_pre_hook(self.pre_hook),
            register_module_forward_hook(self.post_hook),
        ]

    def pre_hook(self, module: nn.Module, inputs: tuple[Any, ...]) -> None:
        if module not in self.names:
            return
        self.started.add(module)
        self.stack.append((module, inputs, self.counter.flops, [0]))

    def post_hook(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        if module not in self.names:
            return
        _, _, flops_before, covered = self.stack.pop()
        inclusive = self.counter.flops - flops_before
        if module not in self.reporting:
            if self.stack:
                self.stack[-1][3][0] += covered[0]
            return
        if self.stack:
            self.stack[-1][3][0] += inclusive
        self.calls.append(
            _Call(
                module,
                tensors_in(inputs),
                tensors_in(output),
                (inclusive - covered[0]) // 2,
                self._used_parameters(module),
            )
        )

    def _used_parameters(self, module: nn.Module) -> list[nn.Parameter]:
        """The layer's own parameters, plus those of sub-layers that never ran but whose
        parameters this layer used functionally (``nn.MultiheadAttention``'s ``out_proj``)."""
        params = list(module.parameters(recurse=False))
        if not _has_children(module):
            return params
        used = self.rf_mode.arguments_seen
        for sub in module.modules():
            if sub is not module and sub not in self.started:
                params += [p for p in sub.parameters(recurse=False) if id(p) in used]
        return params

    def rows(self) -> list[LayerRow]:
        seen_params: set[int] = set()
        counted: dict[int, torch.Tensor] = {}  # roots of the tensors already in a row
        calls: dict[nn.Module, int] = {}
        rows = []
        for call in self.calls:
            own = [p for p in call.params if id(p) not in seen_params]
            seen_params.update(id(p) for p in own)
            new = [
                t
                for t in call.outputs
                if not any(_same_storage(t, i) for i in call.inputs)
                and counted.get(id(_root(t))) is not _root(t)
            ]
            counted.update({id(_root(t)): _root(t) for t in new})
            calls[call.module] = calls.get(call.module, 0) + 1
            label = self.names.get(call.module) or self.model_name
            if calls[call.module] > 1:
                label += f" (call {calls[call.module]})"
            rows.append(self._row(call, label, own, new))
        return rows

    def _row(
        self, call: _Call, label: str, own: list[nn.Parameter], new: list[torch.Tensor]
    ) -> LayerRow:
        out = call.outputs[0] if call.outputs else None
        rf, jump = self.rf_mode.lookup(out)
        batch = self.batch_size
        return LayerRow(
            name=label,
            type=type(call.module).__name__,
            kind=layer_kind(call.module),
            output_shape=tuple(out.shape[1:]) if out is not None else (),
            params=sum(p.numel() for p in own),
            frozen_params=sum(p.numel() for p in own if not p.requires_grad),
            macs=call.macs,
            activation_elements=sum(t.numel() for t in new) // batch,
            activation_bytes=sum(t.numel() * t.element_size() for t in new) // batch,
            receptive_field=rf,
            jump=jump,
            formula_macs=_formula_macs(call.module, out, batch) if out is not None else None,
        )


@dataclass
class _Call:
    """One call of a reporting layer, as the hooks saw it."""

    module: nn.Module
    inputs: list[torch.Tensor]
    outputs: list[torch.Tensor]
    macs: int
    """MACs of the whole batch not already in a sub-layer's row."""
    params: list[nn.Parameter]


def _meta_batch_norm(
    input: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    training: bool = False,
    *args: Any,
    **kwargs: Any,
) -> torch.Tensor:
    """``F.batch_norm`` for a summary: on meta tensors only the output's shape matters, and
    PyTorch's meta kernel (a Python decomposition) took half of ResNet-1202's summary time.
    Batch norm counts zero MACs. Anything unusual (real tensors, a channel mismatch, one value
    per channel in training) goes to the real function, which computes or fails as usual."""
    channels = input.shape[1] if input.ndim > 1 else -1
    sizes = [t.shape[0] for t in (running_mean, weight) if t is not None]
    if (
        input.device.type != "meta"
        or any(n != channels for n in sizes)
        or (training and input.numel() == channels)
    ):
        return F.batch_norm(
            input, running_mean, running_var, weight, bias, training, *args, **kwargs
        )
    return _empty_like(input)


def _meta_relu(input: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """``F.relu`` for a summary: on meta tensors PyTorch's meta kernel is a slow decomposition
    and only the (new, or for ``inplace`` the same) tensor matters."""
    if input.device.type != "meta":
        return F.relu(input, inplace)
    return input if inplace else _empty_like(input)


def _meta_add(a: Any, b: Any, *args: Any, **kwargs: Any) -> Any:
    """``a + b`` for a summary: two meta tensors of one shape and dtype (a residual sum) give a
    new one; anything else (broadcasting, type promotion, ``alpha``) runs as usual."""
    plain = not args and not kwargs and isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
    if (
        plain
        and a.device.type == b.device.type == "meta"
        and a.shape == b.shape
        and a.dtype == b.dtype
    ):
        return _empty_like(a)
    return torch.add(a, b, *args, **kwargs)


def _meta_linear(
    input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """``F.linear`` for a summary: on meta tensors PyTorch's ``addmm`` is a Python decomposition
    whose bias addition goes through a reference that imports ``torch._dynamo`` (1 s on first
    use, the largest part of a small model's ``cnnzoo summary``). The matrix product still
    runs, so the MACs are counted as before (``addmm`` counts only its product); the bias
    changes nothing but values. Anything else (real tensors, mismatched shapes or dtypes) goes
    to the real function."""
    if (
        input.device.type == weight.device.type == "meta"
        and input.ndim >= 1
        and weight.ndim == 2
        and input.shape[-1] == weight.shape[1]
        and input.dtype == weight.dtype
        and (
            bias is None
            or (
                bias.device.type == "meta"
                and bias.shape == weight.shape[:1]
                and bias.dtype == weight.dtype
            )
        )
    ):
        return torch.matmul(input, weight.t())
    return F.linear(input, weight, bias)


def _meta_cat(tensors: Any, dim: int = 0, **kwargs: Any) -> torch.Tensor:
    """``torch.cat`` for a summary: on meta tensors its kernel is a Python reference that imports
    ``torch._dynamo`` on first use; the result's shape is all that matters. Contiguous meta
    tensors of one dtype and rank that differ only along ``dim`` give a new contiguous tensor;
    anything else runs as usual."""
    parts = list(tensors) if isinstance(tensors, (list, tuple)) else []
    first = parts[0] if parts else None
    if (
        kwargs
        or not isinstance(first, torch.Tensor)
        or not isinstance(dim, int)
        or not all(isinstance(t, torch.Tensor) for t in parts)
    ):
        return torch.cat(tensors, dim, **kwargs)
    ndim = first.ndim
    axis = dim + ndim if dim < 0 else dim
    if not (
        0 <= axis < ndim
        and all(
            t.device.type == "meta"
            and t.dtype == first.dtype
            and t.ndim == ndim
            and t.is_contiguous()
            and t.shape[:axis] == first.shape[:axis]
            and t.shape[axis + 1 :] == first.shape[axis + 1 :]
            for t in parts
        )
    ):
        return torch.cat(tensors, dim)
    shape = list(first.shape)
    shape[axis] = sum(t.shape[axis] for t in parts)
    return torch.empty(shape, dtype=first.dtype, device="meta")


def _meta_adaptive_avg_pool2d(input: torch.Tensor, output_size: Any) -> torch.Tensor:
    """``F.adaptive_avg_pool2d`` for a summary: on meta tensors a 1x1 output is a ``mean``
    whose Python reference imports ``torch._dynamo`` on first use (1 s); a contiguous meta
    input gives a new contiguous tensor of the output's shape, anything else runs as usual.
    (The name keeps "adaptive": the receptive-field rules read it.)"""
    size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    if (
        input.device.type != "meta"
        or input.ndim not in (3, 4)
        or not input.is_contiguous()
        or len(size) != 2
        or not all(s is None or (isinstance(s, int) and s >= 1) for s in size)
    ):
        return F.adaptive_avg_pool2d(input, output_size)
    spatial = [input.shape[-2 + i] if s is None else s for i, s in enumerate(size)]
    return torch.empty([*input.shape[:-2], *spatial], dtype=input.dtype, device="meta")


def _empty_like(t: torch.Tensor) -> torch.Tensor:
    """``torch.empty_like(t)`` in 1 % of its time: on meta tensors empty_like is a Python
    decomposition (0.6 ms a call, most of a residual network's summary once the shortcuts above
    had removed the rest). For a dense tensor it keeps the strides, which is what this does."""
    if t.is_contiguous() or t.is_contiguous(memory_format=torch.channels_last):
        return torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device=t.device)
    return torch.empty_like(t)


# Functions a summary replaces by their meta-tensor result (same shape, dtype and newness):
# together they took three quarters of ResNet-1202's summary time, and count zero MACs.
_META_SHORTCUTS: dict[Any, Any] = {
    F.batch_norm: _meta_batch_norm,
    F.relu: _meta_relu,
    torch.add: _meta_add,
    torch.Tensor.add: _meta_add,
    torch.Tensor.__add__: _meta_add,
    F.linear: _meta_linear,
    torch.cat: _meta_cat,
    F.adaptive_avg_pool2d: _meta_adaptive_avg_pool2d,
}


def _has_children(module: nn.Module) -> bool:
    return next(iter(module.children()), None) is not None


def _has_own_parameters(module: nn.Module) -> bool:
    return next(iter(module.parameters(recurse=False)), None) is not None


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
    A ``dtype`` other than the model's casts the stand-ins (a note says so).
    ``train_mode=True`` summarises the training graph (auxiliary heads included).
    """
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point type such as torch.float32, got {dtype}")
    if isinstance(model, str):
        name = model
        model = meta_model(name, **create_kwargs)
    else:
        name = getattr(getattr(model, "card", None), "name", type(model).__name__)
    size = _input_size(model, name, input_size)
    if train_mode and batch_size == 1:
        # Batch norm refuses one value per channel in training (a 1x1 map at batch 1, as in
        # Inception v3's aux head); figures are per image whatever the batch.
        batch_size = 2
    recorder = _Recorder(model, name, batch_size, len(size) - 1)
    state, cast_note = _stand_ins(model, dtype)
    x = torch.empty((batch_size, *size), device="meta", dtype=dtype)
    handles = recorder.hook()
    was_training = model.training
    model.train(train_mode)
    try:
        with torch.no_grad(), recorder.counter, recorder.rf_mode:
            recorder.rf_mode.mark(x, (1,) * (len(size) - 1), (1,) * (len(size) - 1))
            if state is None:
                model(x)
            else:
                torch.func.functional_call(model, state, (x,), strict=False)
    except (RuntimeError, ValueError, IndexError) as error:
        if recorder.stack:
            raise _input_error(model, name, size, recorder, error) from error
        raise
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return _assemble(
        model, name, size, batch_size, dtype, recorder, [cast_note] if cast_note else []
    )


def _input_size(
    model: nn.Module, name: str, input_size: Sequence[int] | str | None
) -> tuple[int, ...]:
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
    return size


def _input_error(
    model: nn.Module,
    name: str,
    size: tuple[int, ...],
    recorder: _Recorder,
    error: Exception,
) -> InputSizeError:
    module, inputs, _, _ = recorder.stack[-1]
    where = recorder.names.get(module, type(module).__name__)
    reason = _explain_failure(module, inputs, error)
    card = getattr(model, "card", None)
    hint = ""
    if card is not None and tuple(card.input_size) != size:
        hint = f" The default input of {name} is {'x'.join(map(str, card.input_size))}."
    return InputSizeError(
        f"input {'x'.join(map(str, size))} does not fit {name}: at layer '{where}' "
        f"({_describe(module)}) {reason}.{hint}"
    )


def _assemble(
    model: nn.Module,
    name: str,
    size: tuple[int, ...],
    batch_size: int,
    dtype: torch.dtype,
    recorder: _Recorder,
    notes: list[str],
) -> ModelSummary:
    rows = recorder.rows()
    parameters = list(model.parameters())
    total_params = sum(p.numel() for p in parameters)
    total_macs = recorder.counter.macs // batch_size
    for row in rows:
        row.macs //= batch_size
    attributed = sum(r.macs for r in rows)
    formula = sum(r.formula_macs if r.formula_macs is not None else r.macs for r in rows)
    unused = total_params - sum(r.params for r in rows)
    if unused:
        notes.insert(
            0, f"Note: {unused:,} parameters belong to layers not used in this forward pass"
        )
    return ModelSummary(
        model_name=name,
        input_size=size,
        batch_size=batch_size,
        dtype=str(dtype).replace("torch.", ""),
        rows=rows,
        total_params=total_params,
        trainable_params=sum(p.numel() for p in parameters if p.requires_grad),
        param_bytes=sum(p.numel() * p.element_size() for p in parameters),
        macs=total_macs,
        formula_macs=formula + (total_macs - attributed),
        unattributed_macs=total_macs - attributed,
        input_bytes=math.prod(size) * torch.empty((), dtype=dtype).element_size(),
        notes=notes,
    )


def check_input(model: nn.Module | str, input_size: Sequence[int] | str) -> None:
    """Raise :class:`InputSizeError` (naming the layer) if ``input_size`` does not fit the model."""
    summary(model, input_size)
