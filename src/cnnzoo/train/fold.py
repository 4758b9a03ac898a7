"""Batch norm folded into the convolution before it, for evaluation and inference.

In eval mode a batch-norm layer (Ioffe & Szegedy, "Batch Normalization: Accelerating Deep
Network Training by Reducing Internal Covariate Shift", 2015) is a fixed per-channel affine map,
``y = (x - mean) * gamma / sqrt(var + eps) + beta``. After a convolution it can be folded into
the convolution's weights and bias -- ``w' = w * s``, ``b' = (b - mean) * s + beta`` with
``s = gamma / sqrt(var + eps)`` -- which removes one pass over every activation it normalises.
The outputs are the same up to float rounding.

Two forms:

* :func:`fold_batchnorm` returns a *copy* with the folded weights baked in (``predict``,
  ``bench``, export): the fastest form, but a snapshot of the weights;
* :class:`FoldedConvBatchNorm` (what :func:`cnnzoo.train.fused.fuse` uses with
  ``training=False``) keeps the original convolution and batch norm and folds on each call, so
  the module stays in step with a model that is still training (validation after every epoch).
  The fold costs one pass over the weights, tiny next to a batch of activations.

Only a ``Conv2d`` whose output goes to nothing but a ``BatchNorm2d`` with running statistics is
folded; pre-activation layouts (BN -> ReLU -> conv: DenseNet, pre-activation ResNets) have no
convolution directly before their batch norms, and those stay as they are.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable

import torch
import torch.fx
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = [
    "FoldedConvBatchNorm",
    "fold_batchnorm",
    "fold_batchnorm_report",
    "fold_graph",
    "folded_scale_shift",
]


def folded_scale_shift(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-output-channel ``(scale, bias)`` of ``bn(conv(x))`` in eval mode:
    ``conv(x, w * scale) + bias`` computes the same."""
    assert bn.running_var is not None and bn.running_mean is not None  # callers check this
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    bias = -bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    if bn.bias is not None:
        bias = bias + bn.bias
    return scale, bias


class FoldedConvBatchNorm(nn.Module):
    """``bn(conv(x))`` for an eval-mode batch norm, computed as one convolution with the folded
    weights (recomputed on every call from the shared ``conv`` and ``bn``)."""

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        self.conv = conv
        self.bn = bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bn.training:  # batch statistics: nothing to fold
            return self.bn(self.conv(x))
        scale, bias = folded_scale_shift(self.conv, self.bn)
        weight = self.conv.weight * scale.view(-1, 1, 1, 1)
        return self.conv._conv_forward(x, weight, bias)


def _foldable(node: torch.fx.Node, modules: dict[str, nn.Module]) -> bool:
    """Whether ``node`` is a ``BatchNorm2d`` with running stats fed only by a ``Conv2d``."""
    if node.op != "call_module" or type(modules.get(str(node.target))) is not nn.BatchNorm2d:
        return False
    bn = modules[str(node.target)]
    source = node.args[0] if node.args else None
    return (
        bn.running_mean is not None
        and isinstance(source, torch.fx.Node)
        and source.op == "call_module"
        and type(modules.get(str(source.target))) is nn.Conv2d
        and len(source.users) == 1
        and len(node.args) == 1
        and not node.kwargs
    )


def fold_graph(
    graph_module: torch.fx.GraphModule,
    make: Callable[[nn.Conv2d, nn.BatchNorm2d], nn.Module],
    name: Callable[[str, str], str],
) -> list[str]:
    """Replace every foldable ``conv -> bn`` pair of ``graph_module`` by ``make(conv, bn)``,
    registered under ``name(conv_target, bn_target)``; returns one line per fold. The graph is
    left to the caller to lint and recompile."""
    modules = dict(graph_module.named_modules())
    graph = graph_module.graph
    calls = Counter(str(n.target) for n in graph.nodes if n.op == "call_module")
    folded = []
    for node in list(graph.nodes):
        if not _foldable(node, modules):
            continue
        conv_node = node.args[0]
        conv_name, bn_name = str(conv_node.target), str(node.target)
        if calls[conv_name] != 1 or calls[bn_name] != 1:  # a module called twice: leave it
            continue
        target = name(conv_name, bn_name)
        _set_submodule(graph_module, target, make(modules[conv_name], modules[bn_name]))
        with graph.inserting_before(node):
            fused = graph.call_module(target, conv_node.args, conv_node.kwargs)
        node.replace_all_uses_with(fused)
        graph.erase_node(node)
        graph.erase_node(conv_node)
        folded.append(f"{conv_name} + {bn_name} -> folded convolution")
    return folded


def _set_submodule(root: nn.Module, target: str, module: nn.Module) -> None:
    parent, _, leaf = target.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with every batch norm that directly follows a convolution
    folded into it (see the module docstring). The folded convolution keeps the convolution's
    name; the batch norm is gone (so is its ``state_dict`` entry). ``model`` itself is not
    changed. A model that ``torch.fx`` cannot trace comes back as a plain eval-mode copy."""
    return fold_batchnorm_report(model)[0]


def fold_batchnorm_report(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """:func:`fold_batchnorm`, and one line per fold (``conv + bn -> folded convolution``)."""
    clone = copy.deepcopy(model).eval()
    try:
        graph_module = torch.fx.symbolic_trace(clone)
    except Exception:  # any tracing failure means "evaluate it unfolded"
        return clone, []
    folded = fold_graph(graph_module, fuse_conv_bn_eval, lambda conv_name, bn_name: conv_name)
    if not folded:
        return clone, []
    graph_module.graph.lint()
    graph_module.recompile()
    graph_module.delete_all_unused_submodules()
    return graph_module.eval(), folded
