"""Fused CPU kernels for the memory-bound layers of small CNNs, and the graph rewrite that uses them.

On a CPU the convolutions of the course's CNNs are cheap; what costs is walking big activation
tensors again and again. The Fashion-MNIST baseline's first block, ``Conv2d(1, 32, 3) -> ReLU ->
MaxPool2d(2) -> Dropout``, spends ~75% of a PyTorch training step in four passes over a
256x32x26x26 tensor (NCHW max-pooling with indices alone ~17 ms, dropout's ``bernoulli_``
~12 ms). Two kernels, compiled with numba, remove those passes:

* :func:`conv_relu_maxpool`, a *stem* kernel: a stride-1 convolution with few input taps
  (``in_chans * k * k <= 75``: first layers; output channels a multiple of 8), its bias, ReLU
  and a 2x2/2 max-pool in one pass that writes only the pooled map (and a 1-byte argmax for the
  backward pass). ReLU is applied after the max -- the two commute exactly, because ReLU is
  monotonic -- so the full-size map is never stored. The backward pass computes the weight and
  bias gradients straight from the input; ``grad_input`` is not computed, so an input that needs
  a gradient (saliency maps, any layer but the first) takes the ordinary PyTorch path.
* :func:`dropout`, a counter-based dropout (folded into the stem kernel when it follows one):
  each element's keep/drop decision is a SplitMix64 hash of ``(seed, index)``, so the mask is
  never stored (the backward pass recomputes it), costs one pass, runs on every core, and is
  reproducible -- the seed is drawn from PyTorch's default generator, so ``torch.manual_seed``
  and the engine's saved random states govern it. The keep
  probability is ``1 - p`` to within 2**-32.

For batch-norm networks :func:`fuse` also swaps every training-mode ``BatchNorm2d [-> add] ->
ReLU`` for :mod:`cnnzoo.train.fused_bn`'s one-pass kernels, and, for evaluation, folds every
batch norm that follows a convolution into it (:mod:`cnnzoo.train.fold`).

:func:`fuse` traces a model with ``torch.fx`` and swaps those patterns for the fused modules,
sharing the model's parameters: train (or evaluate) the returned module, save the original.
Anything the kernels do not cover (other dtypes, gradients w.r.t. the input, big convolutions)
falls back to the PyTorch ops at run time, so the rewrite never changes what is computed, only
how (up to float rounding order). Without numba everything falls back.
"""

from __future__ import annotations

import copy
import functools
import itertools
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.utils import _pair

from cnnzoo.train.fold import (
    FoldedConvBatchNorm,
    fold_batchnorm,
    fold_batchnorm_report,
    fold_graph,
)
from cnnzoo.train.fused_bn import FusedBatchNormAct, batchnorm_act, fuse_batchnorm_graph

__all__ = [
    "FusedBatchNormAct",
    "FusedConvReLUMaxPool",
    "FusedConvTanhAvgPool",
    "FusedDropout",
    "FusionReport",
    "batchnorm_act",
    "conv_relu_maxpool",
    "conv_tanh_avgpool",
    "dropout",
    "fold_batchnorm",
    "fuse",
    "fusion_summary",
    "inference_model",
    "kernels_available",
    "ready_kernels",
]

log = logging.getLogger(__name__)

MAX_STEM_TAPS = 75
"""Largest ``in_chans * k * k`` the stem kernel takes (RGB 5x5); bigger convolutions are
compute-bound and oneDNN does them better."""


# -- kernels -----------------------------------------------------------------------------------


@functools.cache
def _kernels() -> Any:
    """The compiled kernels (loaded from numba's cache after the first run); ``None`` without
    numba."""
    try:
        # start-up: numba and compiling (or loading) its kernels cost about 1 s; only a model
        # that runs a fused kernel needs them.
        from cnnzoo.train import _kernels as kernels
    except ImportError:
        return None
    # Starting numba's OpenMP pool sets the process-wide OpenMP thread count to numba's own
    # (all cores), which PyTorch reads as its intra-op thread count: start it now, and give
    # PyTorch back the count the user chose (``torch.set_num_threads`` / ``--threads``).
    threads = torch.get_num_threads()
    kernels.numba.set_num_threads(kernels.numba.get_num_threads())
    torch.set_num_threads(threads)
    return kernels


def kernels_available() -> bool:
    """Whether numba is installed, so the fused kernels can run."""
    return _kernels() is not None


def _set_threads(kernels: Any) -> None:
    threads = max(1, min(torch.get_num_threads(), kernels.numba.config.NUMBA_NUM_THREADS))
    if kernels.numba.get_num_threads() != threads:
        kernels.numba.set_num_threads(threads)


def ready_kernels() -> Any:
    """The kernels with numba's thread count set to torch's (``None`` without numba)."""
    kernels = _kernels()
    if kernels is not None:
        _set_threads(kernels)
    return kernels


def _plain_float32(*tensors: torch.Tensor) -> bool:
    return all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


# -- fused conv + bias + ReLU + max-pool -------------------------------------------------------


def _check_probability(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _dropout_args(p: float) -> tuple[int, int, float]:
    """``(seed, threshold, scale)`` for the kernels: a fresh seed from PyTorch's default
    generator, and ``threshold = 0`` when nothing is dropped."""
    if p == 0.0:
        return 0, 0, 1.0
    seed = int(torch.randint(0, 2**63 - 1, (1,), dtype=torch.int64))
    return seed, min(2**32, round(p * 2**32)), 1.0 / (1.0 - p)


class _ConvReLUMaxPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, p: float):
        kernels = _kernels()
        _set_threads(kernels)
        batch, _, height, width = x.shape
        c_out, _, k, _ = weight.shape
        ho, wo = (height - k + 1) // 2, (width - k + 1) // 2
        x = x.detach().contiguous()
        taps = weight.detach().permute(1, 2, 3, 0).contiguous()
        out = torch.empty(batch, c_out, ho, wo)
        arg = torch.empty(batch, ho, wo, c_out, dtype=torch.uint8)
        seed, threshold, scale = _dropout_args(p)
        kernels.stem_forward(
            x.numpy(),
            taps.numpy(),
            bias.detach().contiguous().numpy(),
            out.numpy(),
            arg.numpy(),
            seed,
            threshold,
            scale,
        )
        ctx.save_for_backward(x, out, arg)
        ctx.k, ctx.scale = k, scale
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor):
        x, out, arg = ctx.saved_tensors
        kernels = _kernels()
        _set_threads(kernels)
        c_in, c_out = x.shape[1], out.shape[1]
        chunks = min(x.shape[0], 4 * kernels.numba.get_num_threads())
        grad_w = torch.zeros(chunks, c_in, ctx.k, ctx.k, c_out)
        grad_b = torch.zeros(chunks, c_out)
        kernels.stem_backward(
            x.numpy(),
            grad.contiguous().numpy(),
            out.numpy(),
            arg.numpy(),
            ctx.k,
            ctx.scale,
            grad_w.numpy(),
            grad_b.numpy(),
        )
        return None, grad_w.sum(0).permute(3, 0, 1, 2).contiguous(), grad_b.sum(0), None


def _conv_unsupported(conv: nn.Conv2d) -> str | None:
    """Why ``conv`` cannot be a stem kernel's convolution, or ``None`` if it can."""
    k = conv.kernel_size
    if k[0] != k[1] or conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1:
        return "the convolution is not a square, stride-1, undilated, ungrouped one"
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        return "the convolution pads other than with explicit zeros"
    if conv.bias is None:
        return "the convolution has no bias"
    if conv.in_channels * k[0] * k[1] > MAX_STEM_TAPS:
        return f"the convolution has {conv.in_channels * k[0] * k[1]} taps (> {MAX_STEM_TAPS})"
    return None


def _stem_supported(conv: nn.Conv2d, pool: nn.MaxPool2d) -> str | None:
    """Why ``conv -> ReLU -> pool`` cannot use the stem kernel, or ``None`` if it can."""
    reason = _conv_unsupported(conv)
    if reason:
        return reason
    if conv.out_channels % 8:
        return f"{conv.out_channels} output channels are not a multiple of 8 (vector width)"
    # nn.MaxPool2d keeps ints or pairs as given, and its stride defaults to the window.
    if _pair(pool.kernel_size) != (2, 2) or _pair(pool.stride) != (2, 2):
        return "the pooling is not 2x2 with stride 2"
    if _pair(pool.padding) != (0, 0) or _pair(pool.dilation) != (1, 1):
        return "the pooling is padded or dilated"
    if pool.ceil_mode or pool.return_indices:
        return "the pooling uses ceil_mode or returns indices"
    return None


def conv_relu_maxpool(
    x: torch.Tensor, conv: nn.Conv2d, pool: nn.MaxPool2d, p: float = 0.0
) -> torch.Tensor:
    """``dropout(pool(relu(conv(x))), p)``, fused when the stem kernel applies (see the module
    docstring); ``p = 0`` for no dropout. The dropout mask is :func:`dropout`'s. Under bf16
    autocast the fused stem still computes in fp32 (it is memory-bound; the layers after it
    autocast as usual)."""
    _check_probability(p)
    pad_h, pad_w = conv.padding if not isinstance(conv.padding, str) else (0, 0)
    if (
        _kernels() is None
        or p == 1.0
        or x.dim() != 4
        or x.requires_grad
        or not _plain_float32(x, conv.weight)
        or _stem_supported(conv, pool) is not None
        # Too small for one pooled output: PyTorch's ops raise their usual size error.
        or min(x.shape[2] + 2 * pad_h, x.shape[3] + 2 * pad_w) - conv.kernel_size[0] + 1 < 2
    ):
        return dropout(pool(F.relu(conv(x))), p, training=p > 0)
    if pad_h or pad_w:
        x = F.pad(x, (pad_w, pad_w, pad_h, pad_h))
    return _ConvReLUMaxPool.apply(x, conv.weight, conv.bias, p)


class FusedConvReLUMaxPool(nn.Module):
    """``Conv2d -> ReLU -> MaxPool2d [-> Dropout]`` in one pass; holds (and shares) the original
    modules, so the dropout follows its own ``train()`` / ``eval()`` mode."""

    def __init__(
        self, conv: nn.Conv2d, pool: nn.MaxPool2d, dropout: nn.Dropout | None = None
    ) -> None:
        super().__init__()
        self.conv = conv
        self.pool = pool
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        drop = self.dropout
        p = drop.p if drop is not None and drop.training else 0.0
        return conv_relu_maxpool(x, self.conv, self.pool, p)


# -- fused conv + bias + tanh + average pooling (LeNet-5's C1 + S2) ----------------------------


class _ConvTanhAvgPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor):
        kernels = _kernels()
        _set_threads(kernels)
        batch, _, height, width = x.shape
        c_out, _, k, _ = weight.shape
        x = x.detach().contiguous()
        taps = weight.detach().permute(1, 2, 3, 0).contiguous()
        bias = bias.detach().contiguous()
        out = torch.empty(batch, c_out, (height - k + 1) // 2, (width - k + 1) // 2)
        kernels.tanh_stem_forward(x.numpy(), taps.numpy(), bias.numpy(), out.numpy())
        ctx.save_for_backward(x, taps, bias)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor):
        x, taps, bias = ctx.saved_tensors
        kernels = _kernels()
        _set_threads(kernels)
        c_in, k, _, c_out = taps.shape
        chunks = min(x.shape[0], 4 * kernels.numba.get_num_threads())
        grad_w = torch.zeros(chunks, c_in, k, k, c_out)
        grad_b = torch.zeros(chunks, c_out)
        kernels.tanh_stem_backward(
            x.numpy(),
            taps.numpy(),
            bias.numpy(),
            grad.contiguous().numpy(),
            grad_w.numpy(),
            grad_b.numpy(),
        )
        return None, grad_w.sum(0).permute(3, 0, 1, 2).contiguous(), grad_b.sum(0)


def _tanh_stem_supported(conv: nn.Conv2d, pool: nn.AvgPool2d) -> str | None:
    """Why ``conv -> tanh -> pool`` cannot use the tanh stem kernel, or ``None`` if it can."""
    reason = _conv_unsupported(conv)
    if reason:
        return reason
    if _pair(pool.kernel_size) != (2, 2) or _pair(pool.stride) != (2, 2):
        return "the pooling is not 2x2 with stride 2"
    if _pair(pool.padding) != (0, 0) or pool.ceil_mode or pool.divisor_override is not None:
        return "the pooling is padded, uses ceil_mode or overrides its divisor"
    return None


def conv_tanh_avgpool(x: torch.Tensor, conv: nn.Conv2d, pool: nn.AvgPool2d) -> torch.Tensor:
    """``pool(tanh(conv(x)))`` in one pass when the tanh stem kernel applies (LeNet-5's C1 and
    S2: any number of output channels; see the module docstring for the other conditions)."""
    pad_h, pad_w = conv.padding if not isinstance(conv.padding, str) else (0, 0)
    if (
        _kernels() is None
        or x.dim() != 4
        or x.requires_grad
        or not _plain_float32(x, conv.weight)
        or _tanh_stem_supported(conv, pool) is not None
        or min(x.shape[2] + 2 * pad_h, x.shape[3] + 2 * pad_w) - conv.kernel_size[0] + 1 < 2
    ):
        return pool(torch.tanh(conv(x)))
    if pad_h or pad_w:
        x = F.pad(x, (pad_w, pad_w, pad_h, pad_h))
    return _ConvTanhAvgPool.apply(x, conv.weight, conv.bias)


class FusedConvTanhAvgPool(nn.Module):
    """``Conv2d -> tanh -> AvgPool2d`` in one pass; holds (and shares) the original modules."""

    def __init__(self, conv: nn.Conv2d, pool: nn.AvgPool2d) -> None:
        super().__init__()
        self.conv = conv
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_tanh_avgpool(x, self.conv, self.pool)


# -- dropout -----------------------------------------------------------------------------------


class _Dropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, p: float):
        kernels = _kernels()
        _set_threads(kernels)
        seed, threshold, scale = _dropout_args(p)
        src = x.detach().contiguous()
        out = torch.empty_like(src)
        kernels.dropout_apply(src.view(-1).numpy(), out.view(-1).numpy(), seed, threshold, scale)
        ctx.args = (seed, threshold, scale)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor):
        kernels = _kernels()
        _set_threads(kernels)
        grad = grad.contiguous()
        grad_in = torch.empty_like(grad)
        kernels.dropout_apply(grad.view(-1).numpy(), grad_in.view(-1).numpy(), *ctx.args)
        return grad_in, None


def dropout(x: torch.Tensor, p: float = 0.5, training: bool = True) -> torch.Tensor:
    """``F.dropout`` with a counter-based mask (see the module docstring); same distribution."""
    _check_probability(p)
    if not training or p == 0.0:
        return x
    if p == 1.0 or _kernels() is None or not _plain_float32(x):
        return F.dropout(x, p, training)
    return _Dropout.apply(x, p)


class FusedDropout(nn.Module):
    """Drop-in for ``nn.Dropout`` (not in-place) using :func:`dropout`."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


# -- graph rewrite -----------------------------------------------------------------------------


@dataclass
class FusionReport:
    """What :func:`fuse` did."""

    fused: list[str] = field(default_factory=list)
    """One line per rewrite, e.g. ``features.conv1 + act1 + pool1 -> stem kernel``."""
    skipped: list[str] = field(default_factory=list)
    """Candidates left alone, with the reason."""
    error: str | None = None
    """Why the model could not be traced, if it could not."""

    def __bool__(self) -> bool:
        return bool(self.fused)


def _is_relu(node: torch.fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return _module(node, modules, nn.ReLU) is not None
    if node.op == "call_function" and node.target in (F.relu, torch.relu):
        return not node.kwargs.get("inplace", False) and len(node.args) == 1
    return node.op == "call_method" and node.target == "relu"


def _module(node: torch.fx.Node, modules: dict[str, nn.Module], kind: type) -> Any:
    if node.op != "call_module":
        return None
    module = modules.get(str(node.target))
    return module if type(module) is kind else None


def _trace(model: nn.Module, training: bool) -> torch.fx.Graph:
    """``model``'s graph in training or eval mode, traced on a copy whose tensors are meta
    stand-ins, so that whatever its ``forward`` does besides computing (counters, caches) happens
    to the copy."""
    memo: dict[int, Any] = {}
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        stand_in = torch.empty_like(tensor, device="meta")
        if isinstance(tensor, nn.Parameter):
            stand_in = nn.Parameter(stand_in, requires_grad=tensor.requires_grad)
        memo[id(tensor)] = stand_in
    shadow = copy.deepcopy(model, memo)
    shadow.train(training)
    return _Tracer().trace(shadow)


class _Tracer(torch.fx.Tracer):
    """torch.fx's tracer, keeping modules that ask for it (``fx_leaf = True``) as one call."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return getattr(m, "fx_leaf", False) or super().is_leaf_module(m, module_qualified_name)


def fuse(model: nn.Module, training: bool = True) -> tuple[nn.Module, FusionReport]:
    """A module that computes ``model``'s forward with the fused kernels.

    Returns ``(module, report)``. The module shares every parameter and buffer with ``model``
    (optimise ``model.parameters()``, save ``model.state_dict()``). It is traced in training mode
    (``training=True``: the graph for training steps, with auxiliary heads and stochastic depth as
    in ``model.train()``) or in eval mode (for evaluation, where every batch norm right after a
    convolution is also folded into it: :class:`cnnzoo.train.fold.FoldedConvBatchNorm`, which
    refolds on each call, so the module follows the training model); use it in that mode only. When nothing can be fused, or the model cannot be
    traced, ``model`` itself comes back and the report says why. A traced module runs the graph, not ``forward``: Python side effects of ``forward`` (a
    counter, a print) do not happen in it; train with ``fused=False`` where they matter.
    """
    report = FusionReport()
    try:
        graph_module = torch.fx.GraphModule(model, _trace(model, training))
    except Exception as exc:  # any tracing failure means "run it unfused"
        report.error = f"torch.fx cannot trace it ({type(exc).__name__}: {exc})"
        return model, report
    if kernels_available():
        _fuse_kernels(graph_module, report)
        if training:
            report.fused += fuse_batchnorm_graph(graph_module, _is_relu, ready_kernels)
    else:
        report.error = "numba is not installed"
    if not training:
        report.fused += fold_graph(
            graph_module, FoldedConvBatchNorm, lambda conv, bn: f"folded_{conv.replace('.', '_')}"
        )
    if not report.fused:
        return model, report
    graph_module.graph.lint()
    graph_module.recompile()
    graph_module.train(training)
    log.debug("fused %s: %s", type(model).__name__, report.fused)
    return graph_module, report


def inference_model(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """The fastest eval-mode module computing ``model``'s outputs, and what was done to it.

    Every batch norm right after a convolution is folded into a *copy* of it
    (:func:`cnnzoo.train.fold.fold_batchnorm`: a snapshot of the weights, for ``predict``,
    ``evaluate`` and ``bench``; ``model`` is not changed), then the stem kernels are swapped in
    where they fit (:func:`fuse` with ``training=False``). Outputs equal ``model.eval()``'s up to
    float rounding."""
    folded, lines = fold_batchnorm_report(model)
    fused, report = fuse(folded, training=False)
    for name in ("num_classes", "in_chans", "card"):  # a traced module keeps only modules
        if hasattr(model, name) and not hasattr(fused, name):
            setattr(fused, name, getattr(model, name))
    return fused, lines + report.fused


def fusion_summary(lines: list[str]) -> str:
    """``lines`` of a :class:`FusionReport` (or :func:`inference_model`) counted by kind, e.g.
    ``"9 fused batch norm, 10 fused batch norm + add"``; ``"none"`` when empty."""
    kinds: Counter[str] = Counter()
    for line in lines:
        source, _, kind = line.rpartition(" -> ")
        if kind == "fused batch norm" and "+ add" in source:
            kind = "fused batch norm + add"
        kinds[kind] += 1
    return ", ".join(f"{count} {kind}" for kind, count in kinds.items()) or "none"


def _conv_act_pool(
    node: torch.fx.Node,
    modules: dict[str, nn.Module],
    is_act: Callable[[torch.fx.Node, dict[str, nn.Module]], bool],
    pool_kind: type,
    act_name: str,
) -> tuple[nn.Conv2d, torch.fx.Node, torch.fx.Node, Any, str] | None:
    """``(conv, activation node, pool node, pool, label)`` if ``node`` starts a
    ``Conv2d -> activation -> pool_kind`` chain in which each feeds only the next."""
    conv = _module(node, modules, nn.Conv2d)
    if conv is None or len(node.users) != 1:
        return None
    act = next(iter(node.users))
    if not is_act(act, modules) or len(act.users) != 1:
        return None
    pool_node = next(iter(act.users))
    pool = _module(pool_node, modules, pool_kind)
    if pool is None:
        return None
    label = f"{node.target} + {act.target if act.op == 'call_module' else act_name} + "
    return conv, act, pool_node, pool, label + str(pool_node.target)


def _fuse_kernels(graph_module: torch.fx.GraphModule, report: FusionReport) -> None:
    """Swap the stem and dropout patterns of ``graph_module`` for the numba-kernel modules."""
    modules = dict(graph_module.named_modules())
    graph = graph_module.graph
    for node in list(graph.nodes):
        chain = _conv_act_pool(node, modules, _is_relu, nn.MaxPool2d, "relu")
        if chain is None:
            continue
        conv, relu, pool_node, pool, label = chain
        reason = _stem_supported(conv, pool)
        if reason:
            report.skipped.append(f"{label}: {reason}")
            continue
        last, drop = pool_node, None
        if len(pool_node.users) == 1:
            after = next(iter(pool_node.users))
            drop = _module(after, modules, nn.Dropout)
            if drop is not None and not drop.inplace:
                last = after
                label += f" + {after.target}"
            else:
                drop = None
        name = f"fused_stem_{len(report.fused)}"
        graph_module.add_submodule(name, FusedConvReLUMaxPool(conv, pool, drop))
        with graph.inserting_before(last):
            fused = graph.call_module(name, (node.args[0],))
        last.replace_all_uses_with(fused)
        for dead in dict.fromkeys((last, pool_node, relu, node)):
            graph.erase_node(dead)
        report.fused.append(f"{label} -> stem kernel")
    _fuse_tanh_stems(graph_module, modules, report)
    for node in list(graph.nodes):
        drop = _module(node, modules, nn.Dropout)
        if drop is None or drop.inplace or drop.p == 0.0:
            continue
        name = f"fused_dropout_{len(report.fused)}"
        graph_module.add_submodule(name, FusedDropout(drop.p))
        report.fused.append(f"{node.target} -> counter-based dropout")
        node.target = name


def _is_tanh(node: torch.fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return _module(node, modules, nn.Tanh) is not None
    if node.op == "call_function" and node.target in (torch.tanh, F.tanh):
        return len(node.args) == 1 and not node.kwargs
    return node.op == "call_method" and node.target == "tanh" and len(node.args) == 1


def _fuse_tanh_stems(
    graph_module: torch.fx.GraphModule, modules: dict[str, nn.Module], report: FusionReport
) -> None:
    """Swap every ``Conv2d -> tanh -> AvgPool2d`` for :class:`FusedConvTanhAvgPool`."""
    graph = graph_module.graph
    for node in list(graph.nodes):
        chain = _conv_act_pool(node, modules, _is_tanh, nn.AvgPool2d, "tanh")
        if chain is None:
            continue
        conv, act, pool_node, pool, label = chain
        reason = _tanh_stem_supported(conv, pool)
        if reason:
            report.skipped.append(f"{label}: {reason}")
            continue
        name = f"fused_tanh_stem_{len(report.fused)}"
        graph_module.add_submodule(name, FusedConvTanhAvgPool(conv, pool))
        with graph.inserting_before(pool_node):
            fused = graph.call_module(name, (node.args[0],))
        pool_node.replace_all_uses_with(fused)
        for dead in (pool_node, act, node):
            graph.erase_node(dead)
        report.fused.append(f"{label} -> tanh stem kernel")
