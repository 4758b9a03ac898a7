"""LeNet-5.

Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-Based Learning Applied to Document
Recognition. Proceedings of the IEEE 86(11), 1998.

C1 6@5x5 -> S2 2x2 subsampling -> C3 16@5x5 -> S4 -> C5 120@5x5 -> F6 84 -> output, with tanh,
on a 32x32 input (the paper pads 28x28 MNIST digits into a 32x32 field).

Variants:

* ``lenet5``: C3 sees all six S2 maps. Deliberate deviations: S2/S4 are plain average pooling
  (the paper's subsampling layers also have one trainable coefficient and bias per map), the
  activation is plain tanh (the paper uses the scaled 1.7159 tanh(2x/3)) and the output is a
  linear layer (the paper uses Euclidean RBF units with fixed weights).
* ``lenet5_sparse``: as ``lenet5`` but with the paper's C3 connection table (Table I): C3 maps
  0-5 see 3 contiguous S2 maps, 6-11 see 4 contiguous ones, 12-14 see 4 non-contiguous ones and
  15 sees all six; 60 connections of 5x5 kernels = 1,500 weights + 16 biases = 1,516 parameters,
  as the paper states. The table is a real sparse layer (:class:`SparseConv2d`): each run of C3
  maps with the same fan-in is one grouped convolution over its gathered input maps, so there
  are no dead (masked) weights.
* ``lenet5_paper``: ``lenet5_sparse`` plus the paper's trainable subsampling (4 inputs summed,
  times a trainable coefficient, plus a trainable bias, per map) followed by its own squashing,
  and the scaled tanh 1.7159 tanh(2x/3) (Appendix A). Its layers up to F6 hold exactly the
  paper's 60,000 trainable parameters; only the output differs (linear instead of RBF).
* ``lenet5_modern``: ``lenet5`` with ReLU and 2x2 max-pooling, the usual modern rewrite.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnzoo.models._base import Classifier
from cnnzoo.registry import Paper, Reported, register_model

__all__ = ["C3_TABLE", "LeNet5", "ScaledTanh", "SparseConv2d", "Subsampling"]

LECUN_1998 = Paper(
    authors="Y. LeCun, L. Bottou, Y. Bengio, P. Haffner",
    title="Gradient-Based Learning Applied to Document Recognition",
    year=1998,
    venue="Proceedings of the IEEE 86(11)",
    url="http://yann.lecun.com/exdb/publis/pdf/lecun-01a.pdf",
)


# Table I of the paper: the S2 maps each C3 map is connected to.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    *((i, (i + 1) % 6, (i + 2) % 6) for i in range(6)),
    *((i, (i + 1) % 6, (i + 2) % 6, (i + 3) % 6) for i in range(6)),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


class SparseConv2d(nn.Module):
    """A convolution in which output map ``o`` sees only the input maps ``table[o]``.

    Consecutive output maps with the same fan-in form one run; a run gathers its input maps
    (``x[:, indices]``) and applies one grouped convolution (one group per output map). Only the
    connected kernels exist as parameters (``weight{r}`` of shape ``(maps, fan_in, k, k)`` per
    run, and one ``bias``), so the parameter count is ``k*k*sum(len(t) for t in table) +
    len(table)``. ``layer_kind = "conv"`` puts it on the conv side of ``summary().split()``.
    """

    layer_kind = "conv"
    fx_leaf = True
    """Graph rewrites (``cnnzoo.train.fused``) keep it as one call: its forward checks shapes."""

    def __init__(self, in_channels: int, table: Sequence[Sequence[int]], kernel_size: int) -> None:
        super().__init__()
        if not table:
            raise ValueError("SparseConv2d needs a connection table with at least one output map")
        for o, maps in enumerate(table):
            if (
                not maps
                or any(not 0 <= i < in_channels for i in maps)
                or len(set(maps)) != len(maps)
            ):
                raise ValueError(
                    f"connection table row {o} = {tuple(maps)} must list distinct input maps in "
                    f"0..{in_channels - 1}"
                )
        self.in_channels = in_channels
        self.out_channels = len(table)
        self.kernel_size = kernel_size
        self.table = tuple(tuple(int(i) for i in maps) for maps in table)
        self.runs: list[tuple[int, int, list[int]]] = []  # (first map, maps in run, gather index)
        start = 0
        while start < len(self.table):
            end = start
            while end < len(self.table) and len(self.table[end]) == len(self.table[start]):
                end += 1
            index = [i for maps in self.table[start:end] for i in maps]
            self.runs.append((start, end - start, index))
            fan_in = len(self.table[start])
            weight = torch.empty(end - start, fan_in, kernel_size, kernel_size)
            self.register_parameter(f"weight{len(self.runs) - 1}", nn.Parameter(weight))
            start = end
        self.bias = nn.Parameter(torch.empty(self.out_channels))
        self.reset_parameters()

    @property
    def connections(self) -> int:
        """Input-map-to-output-map connections (60 for LeNet-5's C3)."""
        return sum(len(maps) for maps in self.table)

    def reset_parameters(self) -> None:
        # Uniform in +-2.4 / fan_in, the paper's initialisation (Appendix A).
        for r, (first, _, _) in enumerate(self.runs):
            weight = getattr(self, f"weight{r}")
            fan_in = len(self.table[first]) * self.kernel_size**2
            nn.init.uniform_(weight, -2.4 / fan_in, 2.4 / fan_in)
        nn.init.uniform_(self.bias, -2.4 / self.kernel_size**2, 2.4 / self.kernel_size**2)

    def dense_weight(self) -> torch.Tensor:
        """The equivalent full ``(out, in, k, k)`` kernel, zero where the table has no link."""
        k = self.kernel_size
        dense = self.bias.new_zeros(self.out_channels, self.in_channels, k, k)
        for r, (first, count, _) in enumerate(self.runs):
            weight = getattr(self, f"weight{r}")
            for o in range(count):
                dense[first + o, list(self.table[first + o])] = weight[o]
        return dense

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"SparseConv2d expects {self.in_channels} input maps, got {x.shape[1]}"
            )
        outputs = []
        for r, (first, count, index) in enumerate(self.runs):
            bias = self.bias[first : first + count]
            outputs.append(F.conv2d(x[:, index], getattr(self, f"weight{r}"), bias, groups=count))
        return torch.cat(outputs, dim=1)

    def extra_repr(self) -> str:
        fan_ins = "/".join(str(len(self.table[first])) for first, _, _ in self.runs)
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"connections={self.connections}, fan_in={fan_ins}"
        )


class Subsampling(nn.Module):
    """The paper's S layers: per map, the sum of each 2x2 block times a trainable coefficient,
    plus a trainable bias (2 parameters per map)."""

    def __init__(self, channels: int, kernel_size: int = 2) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        area = self.kernel_size**2
        summed = F.avg_pool2d(x, self.kernel_size) * area
        return summed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, kernel_size={self.kernel_size}"


class ScaledTanh(nn.Module):
    """``A tanh(S a)`` with A = 1.7159 and S = 2/3 (Appendix A): f(1) = 1 and f(-1) = -1."""

    amplitude = 1.7159
    slope = 2.0 / 3.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplitude * torch.tanh(self.slope * x)


_ACTIVATIONS = {"tanh": nn.Tanh, "scaled_tanh": ScaledTanh, "relu": nn.ReLU}


class LeNet5(Classifier):
    """LeNet-5 with the paper's layer names (``features.c1`` ... ``classifier.output``)."""

    head_path = "classifier.output"

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        sparse_c3: bool = False,
        act: str = "tanh",
        pool: str = "avg",
    ) -> None:
        """``sparse_c3`` uses the paper's C3 table; ``act`` is ``tanh``, ``scaled_tanh`` or
        ``relu``; ``pool`` is ``avg``, ``max`` or ``trainable`` (the paper's subsampling, each
        followed by its own activation ``act2`` / ``act4``)."""
        super().__init__(num_classes, in_chans)
        if act not in _ACTIVATIONS:
            raise ValueError(f"act must be one of {', '.join(_ACTIVATIONS)}, got {act!r}")
        if pool not in ("avg", "max", "trainable"):
            raise ValueError(f"pool must be 'avg', 'max' or 'trainable', got {pool!r}")
        act_layer = _ACTIVATIONS[act]

        def subsample(channels: int) -> nn.Module:
            if pool == "trainable":
                return Subsampling(channels)
            return nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2)

        self.features = nn.Sequential()
        self.features.add_module("c1", nn.Conv2d(in_chans, 6, 5))
        self.features.add_module("act1", act_layer())
        self.features.add_module("s2", subsample(6))
        if pool == "trainable":
            self.features.add_module("act2", act_layer())
        c3 = SparseConv2d(6, C3_TABLE, 5) if sparse_c3 else nn.Conv2d(6, 16, 5)
        self.features.add_module("c3", c3)
        self.features.add_module("act3", act_layer())
        self.features.add_module("s4", subsample(16))
        if pool == "trainable":
            self.features.add_module("act4", act_layer())
        self.features.add_module("c5", nn.Conv2d(16, 120, 5))
        self.features.add_module("act5", act_layer())
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Sequential()
        self.classifier.add_module("f6", nn.Linear(120, 84))
        self.classifier.add_module("act6", act_layer())
        self.classifier.add_module("output", nn.Linear(84, num_classes))
        self.feature_info = [
            {"module": "features.act1", "num_chs": 6, "reduction": 1},
            {"module": "features.s2", "num_chs": 6, "reduction": 2},
            {"module": "features.s4", "num_chs": 16, "reduction": 4},
            {"module": "features.act5", "num_chs": 120, "reduction": 4},
        ]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(x))


# The paper's figures are for its LeNet-5 (sparse C3, trainable subsampling, RBF outputs);
# every variant here restates them as the reference it is measured against.
LECUN_FIGURES = (
    Reported(
        "LeCun et al. 1998, sections II.B and III.C",
        "MNIST",
        params=60_000,
        top1_error=0.95,
        note="the paper's LeNet-5: sparse C3, trainable subsampling, RBF outputs; no distortions",
    ),
    Reported(
        "LeCun et al. 1998, section III.C",
        "MNIST",
        top1_error=0.8,
        note="the same net trained on distorted images",
    ),
)


@register_model(
    paper=LECUN_1998,
    input_size=(1, 32, 32),
    num_classes=10,
    params=61_706,
    macs=416_520,
    dataset="MNIST",
    notes="C3 fully connected to S2 (2,416 weights instead of the paper's 1,516); average pooling "
    "without trainable coefficients; linear output layer. Needs a 32x32 input: pad or resize MNIST.",
    figures=LECUN_FIGURES,
)
def lenet5(**kwargs) -> LeNet5:
    return LeNet5(**kwargs)


@register_model(
    paper=LECUN_1998,
    input_size=(1, 32, 32),
    num_classes=10,
    params=60_806,
    macs=326_520,
    dataset="MNIST",
    notes="C3 with the paper's Table I: 6 maps x 3 inputs + 9 x 4 + 1 x 6 = 60 connections, "
    "60 x 25 weights + 16 biases = 1,516 parameters (full C3: 16 x 6 x 25 + 16 = 2,416). Total "
    "60,806 = C1 156 + C3 1,516 + C5 48,120 + F6 10,164 + linear output 850. Average pooling "
    "without trainable coefficients; plain tanh.",
    figures=LECUN_FIGURES,
)
def lenet5_sparse(**kwargs) -> LeNet5:
    return LeNet5(sparse_c3=True, **kwargs)


@register_model(
    paper=LECUN_1998,
    input_size=(1, 32, 32),
    num_classes=10,
    params=60_850,
    macs=326_520,
    dataset="MNIST",
    notes="Sparse C3, trainable subsampling (coefficient + bias per map, then 1.7159 tanh(2x/3)) "
    "and the scaled tanh everywhere: 60,000 parameters up to F6, as in the paper, + 850 for a "
    "linear output layer in place of the fixed Euclidean RBF units.",
    figures=LECUN_FIGURES,
)
def lenet5_paper(**kwargs) -> LeNet5:
    return LeNet5(sparse_c3=True, act="scaled_tanh", pool="trainable", **kwargs)


@register_model(
    paper=LECUN_1998,
    input_size=(1, 32, 32),
    num_classes=10,
    params=61_706,
    macs=416_520,
    dataset="MNIST",
    notes="Modern rewrite: ReLU instead of tanh, 2x2 max-pooling instead of subsampling, full C3.",
    no_figures="a modern rewrite of LeNet-5 (ReLU, max-pooling, full C3) that no source trains or counts",
)
def lenet5_modern(**kwargs) -> LeNet5:
    return LeNet5(act="relu", pool="max", **kwargs)
