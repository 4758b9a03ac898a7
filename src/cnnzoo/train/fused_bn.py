"""Training-mode batch norm, the residual add and ReLU in one pass, forward and backward.

Batch norm (Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by
Reducing Internal Covariate Shift", 2015) sits between every convolution and its ReLU in the
CIFAR ResNets (He et al., "Deep Residual Learning for Image Recognition", 2015), VGG-BN,
Wide ResNets and DenseNets. In PyTorch's eager mode ``relu(bn(x) + shortcut)`` is three passes
over the activation forward (statistics and normalisation, the add, the ReLU) and three more
backward, each reading and writing a tensor the size of the layer's output; on a 2-core CPU
these memory-bound layers take about a third of a ResNet-20 training step.

:func:`batchnorm_act` does it in two sweeps each way, with numba kernels: forward, one sweep for
the per-channel statistics (float64 sums) and one that normalises, adds the shortcut and applies
the ReLU; backward, one sweep for the two per-channel sums batch norm's gradient needs and one
that writes the input gradient (and the shortcut's). The ReLU mask is recomputed from the saved
output, so nothing is stored that PyTorch's ops do not store (the batch norm's input and the
block's output). Running statistics follow ``nn.BatchNorm2d`` exactly: the unbiased variance,
``momentum`` or the cumulative average when ``momentum is None``, ``num_batches_tracked``.

:func:`fuse_batchnorm_graph` finds ``BatchNorm2d [-> add] -> ReLU`` in a traced training graph
and swaps in :class:`FusedBatchNormAct`; anything the kernels do not cover (other dtypes, bf16
autocast, mixed memory formats, eval-mode or affine-free batch norm) runs PyTorch's ops at run
time. NCHW tensors are swept per (image, channel) plane, channels_last ones per pixel row.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["FusedBatchNormAct", "batchnorm_act", "fuse_batchnorm_graph"]


def _reference(
    x: torch.Tensor, bn: nn.BatchNorm2d, residual: torch.Tensor | None, relu: bool
) -> torch.Tensor:
    y = bn(x)
    if residual is not None:
        y = y + residual
    return F.relu(y) if relu else y


def _update_running_stats(bn: nn.BatchNorm2d, mean: torch.Tensor, var: torch.Tensor, n: int):
    """What ``nn.BatchNorm2d`` does to its buffers in a training step."""
    assert bn.num_batches_tracked is not None and bn.running_mean is not None  # tracked stats
    assert bn.running_var is not None
    bn.num_batches_tracked.add_(1)
    momentum = bn.momentum
    if momentum is None:  # cumulative moving average
        momentum = 1.0 / float(bn.num_batches_tracked)
    with torch.no_grad():
        bn.running_mean.lerp_(mean.float(), momentum)
        bn.running_var.lerp_((var * (n / max(n - 1, 1))).float(), momentum)


def _flat(t: torch.Tensor, rows: bool) -> torch.Tensor:
    """A view of a (B, C, H, W) tensor as (B, C, H*W) (NCHW) or (B*H*W, C) (channels_last)."""
    t = t.detach()
    if rows:
        return t.permute(0, 2, 3, 1).view(-1, t.shape[1])
    return t.view(t.shape[0], t.shape[1], -1)


def _chunks(rows: int, kernels: Any) -> int:
    return max(1, min(rows, 4 * kernels.numba.get_num_threads()))


def _stats(flat: torch.Tensor, rows: bool, kernels: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and biased variance, float64."""
    channels = flat.shape[1]
    if not rows:
        mean = torch.empty(channels, dtype=torch.float64)
        var = torch.empty(channels, dtype=torch.float64)
        kernels.bn_stats(flat.numpy(), mean.numpy(), var.numpy())
        return mean, var
    sums = torch.zeros(_chunks(flat.shape[0], kernels), channels, dtype=torch.float64)
    squares = torch.zeros_like(sums)
    kernels.bn_stats_rows(flat.numpy(), sums.numpy(), squares.numpy())
    mean = sums.sum(0) / flat.shape[0]
    return mean, (squares.sum(0) / flat.shape[0] - mean * mean).clamp_min(0.0)


class _BatchNormAct(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x, weight, bias, residual, bn, relu, kernels):
        # channels_last unless every tensor is NCHW-contiguous (checked by _kernel_applies)
        rows = not all(t.is_contiguous() for t in (x, residual) if t is not None)
        flat = _flat(x, rows)
        mean, var = _stats(flat, rows, kernels)
        n = flat.numel() // flat.shape[1]
        if bn.track_running_stats and bn.running_mean is not None:
            _update_running_stats(bn, mean, var, n)
        invstd = torch.rsqrt(var + bn.eps)
        scale = (invstd * weight.detach().double()).float()
        shift = (bias.detach().double() - mean * invstd * weight.detach().double()).float()
        out = torch.empty_like(x)
        res = _flat(residual, rows) if residual is not None else flat
        forward = kernels.bn_act_forward_rows if rows else kernels.bn_act_forward
        forward(
            flat.numpy(), res.numpy(), _flat(out, rows).numpy(), scale.numpy(), shift.numpy(),
            residual is not None, relu,
        )  # fmt: skip
        ctx.save_for_backward(x, out, weight)
        ctx.stats = (mean, invstd, n)
        ctx.flags = (residual is not None, relu, rows)
        ctx.kernels = kernels
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor):
        x, out, weight = ctx.saved_tensors
        mean, invstd, n = ctx.stats
        has_res, relu, rows = ctx.flags
        kernels = ctx.kernels
        channels = x.shape[1]
        layout = torch.channels_last if rows else torch.contiguous_format
        grad = grad.contiguous(memory_format=layout)
        flat, flat_grad, flat_out = _flat(x, rows), _flat(grad, rows), _flat(out, rows)
        if rows:
            chunks = _chunks(flat.shape[0], kernels)
            sum_g = torch.zeros(chunks, channels, dtype=torch.float64)
            sum_gx = torch.zeros_like(sum_g)
            kernels.bn_act_backward_sums_rows(
                flat_grad.numpy(), flat_out.numpy(), flat.numpy(), mean.float().numpy(), relu,
                sum_g.numpy(), sum_gx.numpy(),
            )  # fmt: skip
            sum_g, sum_gx = sum_g.sum(0), sum_gx.sum(0)
        else:
            sum_g = torch.empty(channels, dtype=torch.float64)
            sum_gx = torch.empty(channels, dtype=torch.float64)
            kernels.bn_act_backward_sums(
                flat_grad.numpy(), flat_out.numpy(), flat.numpy(), mean.numpy(), relu,
                sum_g.numpy(), sum_gx.numpy(),
            )  # fmt: skip
        # grad_x = k * (g - sum_g / n - (x - mean) * invstd**2 * sum_gx / n), k = gamma * invstd
        k = weight.detach().double() * invstd
        coef_x = -k * invstd**2 * sum_gx / n
        coef_c = -k * sum_g / n - coef_x * mean
        grad_x = torch.empty_like(x)
        grad_res = torch.empty_like(x) if has_res else grad_x
        apply = kernels.bn_act_backward_apply_rows if rows else kernels.bn_act_backward_apply
        apply(
            flat_grad.numpy(), flat_out.numpy(), flat.numpy(), _flat(grad_x, rows).numpy(),
            _flat(grad_res, rows).numpy(), k.float().numpy(), coef_x.float().numpy(),
            coef_c.float().numpy(), has_res, relu,
        )  # fmt: skip
        grad_weight = (sum_gx * invstd).float()
        grad_bias = sum_g.float()
        return grad_x, grad_weight, grad_bias, grad_res if has_res else None, None, None, None


def _kernel_applies(x: torch.Tensor, bn: nn.BatchNorm2d, residual: torch.Tensor | None) -> bool:
    tensors = [x, bn.weight] + ([residual] if residual is not None else [])
    return (
        bn.training
        and bn.affine
        and x.dim() == 4
        and x.shape[0] * x.shape[2] * x.shape[3] > 1
        and not torch.is_autocast_enabled("cpu")
        and all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)
        and (residual is None or residual.shape == x.shape)
        and (
            all(t.is_contiguous() for t in (x, residual) if t is not None)
            or all(
                t.is_contiguous(memory_format=torch.channels_last)
                for t in (x, residual)
                if t is not None
            )
        )
    )


def batchnorm_act(
    x: torch.Tensor,
    bn: nn.BatchNorm2d,
    residual: torch.Tensor | None = None,
    relu: bool = True,
    kernels: Callable[[], Any] | None = None,
) -> torch.Tensor:
    """``relu(bn(x) + residual)`` (no add if ``residual`` is None, no ReLU if ``relu`` is
    False), fused when the kernels apply; ``kernels()`` returns :mod:`cnnzoo.train._kernels`
    with numba's threads set (:func:`cnnzoo.train.fused.ready_kernels`), or ``None``."""
    loaded = kernels() if kernels is not None and _kernel_applies(x, bn, residual) else None
    if loaded is None:
        return _reference(x, bn, residual, relu)
    return _BatchNormAct.apply(x, bn.weight, bn.bias, residual, bn, relu, loaded)


class FusedBatchNormAct(nn.Module):
    """``BatchNorm2d [-> + residual] [-> ReLU]`` in one pass; holds (and shares) the batch norm,
    so its parameters, buffers and ``train()`` / ``eval()`` mode are the model's."""

    def __init__(self, bn: nn.BatchNorm2d, relu: bool, kernels: Callable[[], Any]) -> None:
        super().__init__()
        self.bn = bn
        self.relu = relu
        self._kernels = kernels

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        return batchnorm_act(x, self.bn, residual, self.relu, self._kernels)

    def extra_repr(self) -> str:
        return f"relu={self.relu}"


def _single_user(node: torch.fx.Node) -> torch.fx.Node | None:
    return next(iter(node.users)) if len(node.users) == 1 else None


def _is_add(node: torch.fx.Node | None) -> bool:
    return (
        node is not None
        and node.op == "call_function"
        and node.target in (operator.add, torch.add)
        and len(node.args) == 2
        and not node.kwargs
        and all(isinstance(a, torch.fx.Node) for a in node.args)
    )


def fuse_batchnorm_graph(
    graph_module: torch.fx.GraphModule, is_relu: Callable[..., bool], kernels: Callable[[], Any]
) -> list[str]:
    """Swap every ``BatchNorm2d [-> add] -> ReLU`` of a training graph for
    :class:`FusedBatchNormAct`; ``is_relu(node, modules)`` says what counts as a (non-in-place)
    ReLU. Returns one line per rewrite; the caller lints and recompiles."""
    modules = dict(graph_module.named_modules())
    graph = graph_module.graph
    for node in list(graph.nodes):  # nn.Identity (e.g. stochastic depth 0) hides the add
        if node.op == "call_module" and type(modules.get(str(node.target))) is nn.Identity:
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
    done: list[str] = []
    for node in list(graph.nodes):
        if node.op != "call_module" or type(modules.get(str(node.target))) is not nn.BatchNorm2d:
            continue
        bn = modules[str(node.target)]
        if not bn.affine or len(node.args) != 1 or node.kwargs:
            continue
        user = _single_user(node)
        add = user if _is_add(user) else None
        residual = None
        if add is not None:
            residual = add.args[1] if add.args[0] is node else add.args[0]
            if residual is node:
                add = residual = None
        after = _single_user(add) if add is not None else user
        if after is None or not is_relu(after, modules):
            continue
        label = f"{node.target}{' + add' if add is not None else ''} + relu -> fused batch norm"
        name = f"fused_bn_{len(done)}"
        graph_module.add_submodule(name, FusedBatchNormAct(bn, True, kernels))
        args = (node.args[0],) if residual is None else (node.args[0], residual)
        with graph.inserting_before(after):
            fused = graph.call_module(name, args)
        after.replace_all_uses_with(fused)
        for dead in [after] + ([add] if add is not None else []) + [node]:
            graph.erase_node(dead)
        done.append(label)
    return done
