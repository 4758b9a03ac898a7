"""Turn the standard KxK convolutions of a model into depthwise-separable ones.

A standard convolution with ``M`` input and ``N`` output channels and a ``Dk x Dk`` kernel has
``Dk*Dk*M*N`` weights; its depthwise-separable factorisation (MobileNet, Xception) -- one
``Dk x Dk`` filter per input channel, then a 1x1 convolution mixing channels -- has
``Dk*Dk*M + M*N``, a ratio of ``1/N + 1/Dk^2`` (about 8-9x fewer for 3x3 kernels and wide
layers). MACs shrink by the same ratio, since both factors run at the output resolution.

:func:`to_depthwise_separable` applies this to any model (e.g. a VGG on CIFAR) and reports the
savings layer by layer, measured on the converted modules:

>>> model, report = to_depthwise_separable(create_model("squeezenet1_1"), input_size=(3, 224, 224))
>>> print(report.to_text())

The new layers are freshly initialised: the conversion changes the architecture, so the model
must be trained (or fine-tuned) afterwards. Grouped and depthwise convolutions, 1x1 and
non-square kernels, and transposed convolutions are left alone.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn

from cnnzoo.analysis.summary import summary
from cnnzoo.analysis.tables import check_format, csv_table, markdown_table, text_table
from cnnzoo.layers import SeparableConv2d

__all__ = [
    "ConvertedLayer",
    "SeparableConv2d",
    "SeparableReport",
    "convertible_convs",
    "to_depthwise_separable",
]


@dataclass
class ConvertedLayer:
    """One converted convolution: its name, shape, and costs before and after."""

    name: str
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    output_size: tuple[int, int]
    old_params: int
    new_params: int
    old_macs: int
    new_macs: int

    @property
    def param_ratio(self) -> float:
        return self.new_params / self.old_params

    @property
    def mac_ratio(self) -> float:
        return self.new_macs / self.old_macs if self.old_macs else float("nan")


@dataclass
class SeparableReport:
    """Per-layer and total savings of :func:`to_depthwise_separable`.

    ``layers`` cover only the converted convolutions; ``model_*`` are whole-model totals before
    and after (from :func:`cnnzoo.analysis.summary`, MACs at ``input_size``, batch 1).
    """

    input_size: tuple[int, int, int]
    layers: list[ConvertedLayer]
    model_params_before: int
    model_params_after: int
    model_macs_before: int
    model_macs_after: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """Conv2d layers left alone, with the reason (grouped, 1x1, excluded, ...)."""

    @property
    def old_params(self) -> int:
        return sum(layer.old_params for layer in self.layers)

    @property
    def new_params(self) -> int:
        return sum(layer.new_params for layer in self.layers)

    @property
    def old_macs(self) -> int:
        return sum(layer.old_macs for layer in self.layers)

    @property
    def new_macs(self) -> int:
        return sum(layer.new_macs for layer in self.layers)

    @property
    def param_ratio(self) -> float:
        """Model parameters after / before."""
        return self.model_params_after / self.model_params_before

    @property
    def mac_ratio(self) -> float:
        """Model MACs after / before."""
        return self.model_macs_after / self.model_macs_before

    def rows(self) -> tuple[list[str], list[list[str]]]:
        header = ["Layer", "M -> N", "Kernel/stride", "Output", "Params before", "after",
                  "MACs before", "after", "MAC ratio"]  # fmt: skip
        rows = [
            [
                layer.name,
                f"{layer.in_channels} -> {layer.out_channels}",
                f"{layer.kernel_size}x{layer.kernel_size}/{layer.stride}",
                "x".join(map(str, layer.output_size)),
                f"{layer.old_params:,}",
                f"{layer.new_params:,}",
                f"{layer.old_macs:,}",
                f"{layer.new_macs:,}",
                f"{layer.mac_ratio:.3f}",
            ]
            for layer in self.layers
        ]
        return header, rows

    def totals_lines(self) -> list[str]:
        size = "x".join(map(str, self.input_size))
        return [
            f"Converted {len(self.layers)} convolutions ({len(self.skipped)} left alone); "
            f"MACs at {size}, batch 1.",
            f"Converted layers: params {self.old_params:,} -> {self.new_params:,} "
            f"({self.old_params / max(1, self.new_params):.2f}x fewer), MACs "
            f"{self.old_macs:,} -> {self.new_macs:,} "
            f"({self.old_macs / max(1, self.new_macs):.2f}x fewer).",
            f"Whole model: params {self.model_params_before:,} -> {self.model_params_after:,} "
            f"(x{self.param_ratio:.3f}), MACs {self.model_macs_before:,} -> "
            f"{self.model_macs_after:,} (x{self.mac_ratio:.3f}).",
        ]

    def to_markdown(self) -> str:
        header, rows = self.rows()
        return markdown_table(header, rows, self.totals_lines())

    def to_text(self, width: int = 200) -> str:
        header, rows = self.rows()
        return text_table(header, rows, 4, self.totals_lines(), width)

    def to_csv(self) -> str:
        """One line per converted layer (the ``layers`` of :meth:`to_dict`)."""
        return csv_table(self.to_dict()["layers"])

    def render(self, fmt: str = "text") -> str:
        """The report as ``text``, ``md``, ``csv`` or ``json``."""
        renderers = {
            "text": self.to_text,
            "md": self.to_markdown,
            "csv": self.to_csv,
            "json": lambda: json.dumps(self.to_dict(), indent=2) + "\n",
        }
        return renderers[check_format(fmt)]()

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "layers": [
                {**layer.__dict__, "output_size": list(layer.output_size)} for layer in self.layers
            ],
            "skipped": [{"name": n, "reason": r} for n, r in self.skipped],
            "totals": {
                "old_params": self.old_params,
                "new_params": self.new_params,
                "old_macs": self.old_macs,
                "new_macs": self.new_macs,
                "model_params_before": self.model_params_before,
                "model_params_after": self.model_params_after,
                "model_macs_before": self.model_macs_before,
                "model_macs_after": self.model_macs_after,
            },
        }


def _skip_reason(
    name: str, conv: nn.Conv2d, kernel_sizes: Sequence[int], exclude: Sequence[str]
) -> str | None:
    if any(fnmatch.fnmatch(name, pattern) for pattern in exclude):
        return "excluded"
    if conv.groups != 1:
        return f"grouped (groups={conv.groups})"
    kh, kw = conv.kernel_size
    if kh != kw:
        return f"non-square kernel {kh}x{kw}"
    if kh not in kernel_sizes:
        return f"{kh}x{kw} kernel (converting {', '.join(f'{k}x{k}' for k in kernel_sizes)})"
    if conv.in_channels == 1:
        return "single input channel (already depthwise)"
    return None


def convertible_convs(
    model: nn.Module, kernel_sizes: Iterable[int] = (3,), exclude: Iterable[str] = ()
) -> tuple[list[str], list[tuple[str, str]]]:
    """Names of the ``nn.Conv2d`` layers :func:`to_depthwise_separable` would convert, and the
    skipped ones with the reason."""
    kernel_sizes, exclude = tuple(kernel_sizes), tuple(exclude)
    chosen, skipped = [], []
    for name, module in model.named_modules():
        if not isinstance(module, nn.Conv2d):
            continue
        if type(module) is not nn.Conv2d:
            # A subclass may carry behaviour (weight standardisation, ...) a plain pair would drop.
            skipped.append((name, f"subclass {type(module).__name__} of Conv2d"))
            continue
        reason = _skip_reason(name, module, kernel_sizes, exclude)
        if reason is None:
            chosen.append(name)
        else:
            skipped.append((name, reason))
    return chosen, skipped


def _resolve_input_size(model: nn.Module, input_size: Sequence[int] | None) -> tuple[int, int, int]:
    if input_size is not None:
        size = tuple(int(d) for d in input_size)
    else:
        card = getattr(model, "card", None)
        if card is None:
            raise ValueError(
                "to_depthwise_separable needs input_size=(C, H, W) to count MACs: the model has "
                "no card (models from cnnzoo.create_model carry one), e.g. input_size=(3, 32, 32)"
            )
        size = (getattr(model, "in_chans", card.input_size[0]), *card.input_size[1:])
    if len(size) != 3:
        raise ValueError(f"input_size must be (C, H, W), got {input_size!r}")
    return size  # type: ignore[return-value]


def _layer_costs(
    model: nn.Module, size: tuple[int, int, int]
) -> tuple[Any, dict[str, int], dict[str, tuple[int, ...]]]:
    """Summary of ``model`` (meta tensors, no compute), MACs per layer name (summed over
    repeated calls) and each layer's output shape at its first call."""
    result = summary(model, size)
    macs: dict[str, int] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for row in result.rows:
        base = row.name.split(" (call ")[0]
        macs[base] = macs.get(base, 0) + row.macs
        shapes.setdefault(base, row.output_shape)
    return result, macs, shapes


def to_depthwise_separable(
    model: nn.Module,
    input_size: Sequence[int] | None = None,
    kernel_sizes: Iterable[int] = (3,),
    norm_act: bool = False,
    exclude: Iterable[str] = (),
    inplace: bool = False,
) -> tuple[nn.Module, SeparableReport]:
    """Replace every standard ``KxK`` ``nn.Conv2d`` (K in ``kernel_sizes``) of ``model`` by a
    :class:`SeparableConv2d` and report the savings.

    Args:
        model: any module; registered models carry their default ``input_size``.
        input_size: ``(C, H, W)`` at which MACs are counted (defaults to the model card's).
        kernel_sizes: square kernel sizes to convert (1x1 is never converted: it is already
            pointwise).
        norm_act: put BatchNorm + ReLU between the depthwise and the pointwise convolution, as
            MobileNet does. Adds ``2 * M`` BN parameters per layer.
        exclude: ``fnmatch`` patterns of layer names to keep, e.g. ``["features.0"]`` to keep
            the first convolution standard, as MobileNet and Xception do.
        inplace: modify ``model`` itself instead of a deep copy.

    Returns:
        ``(converted_model, report)``. A copy keeps the model's ``card`` (default input size);
        its reference counts describe the original architecture, the report the new one. The report's per-layer counts are measured on the
        converted modules (parameters) and by :func:`cnnzoo.analysis.summary` (MACs), so they can
        be checked against the closed form ``Dk*Dk*M + M*N`` vs ``Dk*Dk*M*N``.
    """
    kernel_sizes, exclude = tuple(kernel_sizes), tuple(exclude)
    if any(k < 2 for k in kernel_sizes):
        raise ValueError(
            f"kernel_sizes must be >= 2 (a 1x1 is already pointwise), got {kernel_sizes}"
        )
    size = _resolve_input_size(model, input_size)
    names, skipped = convertible_convs(model, kernel_sizes, exclude)
    before, macs_before, shapes = _layer_costs(model, size)

    target = model if inplace else copy.deepcopy(model)
    modules = dict(target.named_modules())
    replaced: dict[str, tuple[nn.Conv2d, SeparableConv2d]] = {}
    for name in names:
        conv = modules[name]
        parent_name, _, child = name.rpartition(".")
        parent = modules[parent_name] if parent_name else target
        new = SeparableConv2d(conv, norm_act=norm_act)
        setattr(parent, child, new)
        replaced[name] = (conv, new)

    after, macs_after, _ = _layer_costs(target, size)
    layers = []
    for name, (conv, new) in replaced.items():
        new_macs = sum(macs_after.get(f"{name}.{part}", 0) for part in ("depthwise", "pointwise"))
        layers.append(
            ConvertedLayer(
                name=name,
                in_channels=conv.in_channels,
                out_channels=conv.out_channels,
                kernel_size=conv.kernel_size[0],
                stride=conv.stride[0],
                output_size=tuple(shapes.get(name, (0, 0, 0))[-2:]),  # type: ignore[arg-type]
                old_params=sum(p.numel() for p in conv.parameters()),
                new_params=sum(p.numel() for p in new.parameters()),
                old_macs=macs_before.get(name, 0),
                new_macs=new_macs,
            )
        )
    report = SeparableReport(
        input_size=size,
        layers=layers,
        model_params_before=before.total_params,
        model_params_after=after.total_params,
        model_macs_before=before.macs,
        model_macs_after=after.macs,
        skipped=skipped,
    )
    return target, report
