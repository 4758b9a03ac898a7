"""int8 post-training quantization for x86 CPUs, and a safe way to save the result.

B. Jacob, S. Kligys, B. Chen, M. Zhu, M. Tang, A. Howard, H. Adam, D. Kalenichenko.
Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference.
CVPR 2018 (affine uint8/int8 quantization with per-tensor activation and per-channel weight
scales, calibrated on a few hundred images).

Two paths, both measured in docs/compression.md:

* ``pt2e`` (the current one): ``torch.export`` -> ``torchao.quantization.pt2e.prepare_pt2e``
  with the ``X86InductorQuantizer`` -> calibration -> ``convert_pt2e``; the speed-up comes only
  from ``torch.compile`` with inductor *freezing*, which folds the int8 weights into oneDNN
  int8 kernels (it needs a C compiler: gcc).
* ``fx`` (deprecated in torch 2.14, still working): ``prepare_fx``/``convert_fx`` with the
  ``x86`` qconfig, which runs int8 kernels eagerly.

Saving: ``torch.export.load`` may fall back to unpickling, so a quantized model is never stored
as a program. :func:`quantized_state` records what calibration decided (the converted graph's
int8 weights, per-channel scales and the activation scales/zero points, as plain tensors), and
:func:`rebuild_quantized` re-runs export/prepare/convert on the float model and writes those
values back, giving the same int8 model without the calibration data.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch._inductor.config as inductor_config
import torch.nn as nn
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

# torchao 0.18 registers an Enum with torch's pytree on import, and torch 2.14 logs a
# deprecation warning for it on every command; keep that line out of our users' output.
_pytree_log = logging.getLogger("torch.utils._pytree")
_level = _pytree_log.level
_pytree_log.setLevel(logging.ERROR)
import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as x86q  # noqa: E402
from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e  # noqa: E402

_pytree_log.setLevel(_level)

__all__ = [
    "QuantizationError",
    "compile_int8",
    "fx_weight_bytes",
    "int8_weight_bytes",
    "quantize_fx",
    "quantize_pt2e",
    "quantized_state",
    "rebuild_quantized",
]

_QDQ = ("quantize_per_tensor", "dequantize_per_tensor")


class QuantizationError(ValueError):
    """The model could not be exported or quantized; the message names the failing op."""


def _failing_call(text: str) -> str:
    """`` at FILE:LINE (CODE)`` from torch.export's "The following call raised this error"
    section: the user's line that could not be traced (the first line often names only a
    symbolic expression)."""
    match = re.search(
        r'The following call raised this error:\s*\n\s*File "([^"]+)", line (\d+), in (\w+)'
        r"\s*\n\s*(.+)",
        text,
    )
    if match is None:
        return ""
    file, line, function, code = match.groups()
    return f" at {Path(file).name}:{line} in {function} ({code.strip()})"


def _explain(stage: str, model: nn.Module, error: Exception) -> QuantizationError:
    name = getattr(getattr(model, "card", None), "name", type(model).__name__)
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return QuantizationError(
        f"quantizing {name} failed in {stage}{_failing_call(text)}: {first.rstrip('.')}. "
        "pt2e needs a model torch.export can "
        "trace (no data-dependent Python control flow, one activation module per use); try "
        "--method fx, or fix that op"
    )


def _export(model: nn.Module, example: torch.Tensor) -> nn.Module:
    # Batch 2, not 1: export specialises a size-1 dimension and the batch would be frozen.
    x = example[:2] if example.shape[0] >= 2 else example.repeat(2, *([1] * (example.ndim - 1)))
    try:
        program = torch.export.export(
            model.eval(), (x,), dynamic_shapes=({0: torch.export.Dim("batch")},), strict=False
        )
    except Exception as error:  # torch.export raises many types; all mean "cannot trace"
        raise _explain("torch.export", model, error) from None
    return program.module()


def _prepared(model: nn.Module, example: torch.Tensor) -> nn.Module:
    quantizer = x86q.X86InductorQuantizer()
    quantizer.set_global(x86q.get_default_x86_inductor_quantization_config())
    graph = _export(model, example)
    try:
        return prepare_pt2e(graph, quantizer)
    except Exception as error:
        raise _explain("prepare_pt2e", model, error) from None


def quantize_pt2e(model: nn.Module, calibration: torch.Tensor, batch_size: int = 128) -> nn.Module:
    """The int8 graph of ``model`` calibrated on ``calibration`` (normalised inputs)."""
    prepared = _prepared(model, calibration)
    with torch.no_grad():
        for start in range(0, calibration.shape[0], batch_size):
            prepared(calibration[start : start + batch_size])
    try:
        return convert_pt2e(prepared)
    except Exception as error:
        raise _explain("convert_pt2e", model, error) from None


def _qdq_nodes(graph_module: nn.Module) -> list[Any]:
    return [
        n
        for n in graph_module.graph.nodes
        if n.op == "call_function" and any(q in str(n.target) for q in _QDQ)
    ]


def quantized_state(converted: nn.Module) -> dict[str, torch.Tensor]:
    """Everything calibration decided, as tensors: the converted graph's state (int8 weights,
    per-channel scales) and, per quantize/dequantize node in graph order, its scale and zero
    point (``qdq.scale`` / ``qdq.zero_point``)."""
    used = _used_tensors(converted)
    state = {f"graph.{k}": v.detach().clone() for k, v in used.items()}
    nodes = _qdq_nodes(converted)
    state["qdq.scale"] = torch.tensor([float(n.args[1]) for n in nodes], dtype=torch.float64)
    state["qdq.zero_point"] = torch.tensor([int(n.args[2]) for n in nodes], dtype=torch.int64)
    return state


def rebuild_quantized(
    model: nn.Module, state: dict[str, torch.Tensor], example: torch.Tensor
) -> nn.Module:
    """The int8 graph that :func:`quantized_state` described, rebuilt from the float model."""
    prepared = _prepared(model, example)
    with torch.no_grad():
        prepared(example)  # observers need one batch; the values are overwritten below
    converted = convert_pt2e(prepared)
    nodes = _qdq_nodes(converted)
    scales, points = state["qdq.scale"].tolist(), state["qdq.zero_point"].tolist()
    if len(nodes) != len(scales):
        raise QuantizationError(
            f"the saved int8 model has {len(scales)} quantize/dequantize steps but this torch "
            f"builds {len(nodes)}; re-run cnnzoo quantize with this version"
        )
    for node, scale, point in zip(nodes, scales, points, strict=True):
        node.args = (node.args[0], scale, point, *node.args[3:])
    converted.recompile()
    graph_state = {k[len("graph.") :]: v for k, v in state.items() if k.startswith("graph.")}
    converted.load_state_dict(graph_state, strict=False)
    missing = set(_used_tensors(converted)) - set(graph_state)
    if missing:
        raise QuantizationError(f"the saved int8 model lacks {sorted(missing)[:3]}; re-quantize")
    return converted


def compile_int8(converted: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``torch.compile`` with inductor freezing: the int8 weights become oneDNN int8 kernels."""
    with inductor_config.patch(freezing=True):
        compiled = torch.compile(converted, dynamic=False)

    def run(x: torch.Tensor) -> torch.Tensor:
        with inductor_config.patch(freezing=True), torch.no_grad():
            return compiled(x)

    return run


def _used_tensors(converted: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors the int8 graph reads (convert_pt2e leaves the unused float weights in the
    module's state dict)."""
    state = converted.state_dict()
    used = {str(n.target) for n in converted.graph.nodes if n.op == "get_attr"}
    return {k: v for k, v in state.items() if k in used}


def int8_weight_bytes(converted: nn.Module) -> int:
    """Bytes of the tensors the int8 graph reads: int8 weights, their per-channel scales and
    zero points, float biases -- what the int8 model stores."""
    return sum(v.numel() * v.element_size() for v in _used_tensors(converted).values())


def fx_weight_bytes(converted: nn.Module) -> int:
    """Bytes an FX-quantized model stores: each quantized layer's int8 weight with its scales
    and zero points (per channel or per tensor) and float bias, plus the other tensors of its
    state dict (activation scales/zero points, float layers). Linear layers keep their weights
    in TorchScript packed params, which ``state_dict()`` does not list as tensors."""
    total, packed = 0, set()
    for name, module in converted.named_modules():
        weight = getattr(module, "weight", None)
        if not callable(weight) or not hasattr(module, "_packed_params"):
            continue
        packed.add(name)
        w = weight()
        total += w.int_repr().numel() * w.int_repr().element_size()
        if w.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            total += 4 * 2 * w.q_per_channel_scales().numel()  # float32 scale + int32 zero point
        else:
            total += 4 * 2
        bias = module.bias() if callable(getattr(module, "bias", None)) else None
        total += 0 if bias is None else bias.numel() * bias.element_size()
    for key, value in converted.state_dict().items():
        owner, _, leaf = key.rpartition(".")
        if torch.is_tensor(value) and not (owner in packed and leaf in ("weight", "bias")):
            total += value.numel() * value.element_size()
    return total


def quantize_fx(model: nn.Module, calibration: torch.Tensor, batch_size: int = 128) -> nn.Module:
    """The deprecated FX graph-mode path (eager int8 kernels, ``x86`` qconfig)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            prepared = prepare_fx(
                model.eval(), get_default_qconfig_mapping("x86"), (calibration[:1],)
            )
        except Exception as error:
            raise _explain("prepare_fx (symbolic tracing)", model, error) from None
        with torch.no_grad():
            for start in range(0, calibration.shape[0], batch_size):
                prepared(calibration[start : start + batch_size])
        return convert_fx(prepared)
