"""The plain-stack pattern as a model builder.

Most classic CNNs follow the layer pattern of the CS231n notes (Karpathy et al., "ConvNet
architectures: layer patterns"):

    INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC

This module builds such a network from N, M, K and the widths (:func:`pattern_spec`,
:func:`build_pattern`) or from a short spec string (:func:`from_spec`), and registers the notes'
example stacks and "going deeper" versions of the course's Fashion-MNIST CNN.

Spec grammar (whitespace and case are ignored)::

    spec   := [C "x" H "x" W ":"] items              input size, e.g. 1x28x28 (or pass input_size=)
    items  := item (sep item)*                      sep is "," or "-" or "->" (all the same)
    item   := "[" items "]" ("x" | "*") N            the bracketed items, N times in a row
            | "conv" W ["k" K] ["s" S] ["p" P]      KxK convolution to W maps (K=3, S=1,
                                                    P=K//2 i.e. "same"; p0 is Keras' "valid")
            | "relu" | "tanh"                       activation
            | ["max" | "avg"] "pool" [K] ["s" S]    KxK pooling, stride S (K=2, S=K); max by default
            | "bn"                                  batch norm (2-D before the first fc, else 1-D)
            | "drop" R                              dropout with rate R, e.g. drop0.25
            | "fc" W                                fully connected to W units

Every convolution and pooling comes before the first ``fc`` (a flatten is inserted there), and
the spec ends with the ``fc`` that produces the logits; ``num_classes`` replaces its width.
Example: ``"1x28x28: [conv32-relu]x2-pool, [conv64-relu]x2-pool, fc128-relu, fc10"``.

Module names: ``features.stage{i}`` holds the layers up to and including a pool (and the dropout
or activation right after it), numbered per kind (``conv1``, ``act1``, ``conv2``, ..., ``pool``);
``classifier`` holds ``fc1``, ``act1``, ... in order, the last ``fc`` being the head. The FC sizes
follow from the input size, so a model takes only the H x W it was built for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from cnnzoo.layers import conv_output_size
from cnnzoo.models._base import Classifier
from cnnzoo.registry import Paper, Reported, register_model

__all__ = [
    "LayerSpec",
    "PatternNet",
    "PatternSpecError",
    "build_pattern",
    "from_spec",
    "parse_spec",
    "pattern_spec",
]

CS231N_NOTES = Paper(
    authors="A. Karpathy, J. Johnson, F.-F. Li",
    title="CS231n Convolutional Neural Networks for Visual Recognition, course notes: "
    "ConvNet architectures, layer patterns",
    year=2015,
    venue="Stanford University",
    url="https://cs231n.github.io/convolutional-networks/#layerpat",
)
FASHION_MNIST = Paper(
    authors="H. Xiao, K. Rasul, R. Vollgraf",
    title="Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning Algorithms",
    year=2017,
    venue="arXiv:1708.07747",
    url="https://arxiv.org/abs/1708.07747",
)

_LAYER_HELP = (
    "conv<W>[k<K>][s<S>][p<P>], relu, tanh, [max|avg]pool[<K>][s<S>], bn, drop<R>, fc<W>, "
    "or [ ... ]x<N>"
)


class PatternSpecError(ValueError):
    """A spec string (or N/M/K arguments) that does not describe a valid plain stack."""


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a plain stack, as parsed from a spec."""

    kind: str  # conv, relu, tanh, maxpool, avgpool, bn, drop, fc
    width: int = 0
    kernel: int = 0
    stride: int = 1
    padding: int = 0
    rate: float = 0.0

    def __str__(self) -> str:
        if self.kind == "conv":
            text = f"conv{self.width}"
            text += "" if self.kernel == 3 else f"k{self.kernel}"
            text += "" if self.stride == 1 else f"s{self.stride}"
            return text + ("" if self.padding == self.kernel // 2 else f"p{self.padding}")
        if self.kind in ("maxpool", "avgpool"):
            text = ("pool" if self.kind == "maxpool" else "avgpool") + (
                "" if self.kernel == 2 else str(self.kernel)
            )
            return text + ("" if self.stride == self.kernel else f"s{self.stride}")
        if self.kind == "drop":
            return f"drop{self.rate:g}"
        if self.kind == "fc":
            return f"fc{self.width}"
        return self.kind


_CONV = re.compile(r"conv(\d+)(?:k(\d+))?(?:s(\d+))?(?:p(\d+))?")
_POOL = re.compile(r"(max|avg)?pool(\d+)?(?:s(\d+))?")
_FC = re.compile(r"fc(\d+)")
_DROP = re.compile(r"drop(?:out)?(\d*\.?\d+)")


def _parse_layer(word: str, spec: str) -> LayerSpec:
    def positive(text: str | None, default: int, what: str) -> int:
        value = default if text is None else int(text)
        if value < 1:
            raise PatternSpecError(f"pattern spec {spec!r}: {what} in {word!r} must be >= 1")
        return value

    if word in ("relu", "tanh", "bn"):
        return LayerSpec(word)
    if m := _CONV.fullmatch(word):
        kernel = positive(m.group(2), 3, "the kernel size")
        padding = kernel // 2 if m.group(4) is None else int(m.group(4))
        return LayerSpec(
            "conv",
            width=positive(m.group(1), 0, "the number of maps"),
            kernel=kernel,
            stride=positive(m.group(3), 1, "the stride"),
            padding=padding,
        )
    if m := _POOL.fullmatch(word):
        kernel = positive(m.group(2), 2, "the pool size")
        kind = "avgpool" if m.group(1) == "avg" else "maxpool"
        return LayerSpec(kind, kernel=kernel, stride=positive(m.group(3), kernel, "the stride"))
    if m := _FC.fullmatch(word):
        return LayerSpec("fc", width=positive(m.group(1), 0, "the number of units"))
    if m := _DROP.fullmatch(word):
        rate = float(m.group(1))
        if not 0.0 <= rate < 1.0:
            raise PatternSpecError(
                f"pattern spec {spec!r}: dropout rate in {word!r} must be in [0, 1)"
            )
        return LayerSpec("drop", rate=rate)
    raise PatternSpecError(
        f"pattern spec {spec!r}: unknown layer {word!r}; expected one of {_LAYER_HELP}"
    )


def parse_spec(spec: str) -> tuple[tuple[int, int, int] | None, list[LayerSpec]]:
    """``"1x28x28: conv32-relu-pool, fc10"`` -> ``((1, 28, 28), [LayerSpec, ...])``.

    Repeats are expanded; the input size is ``None`` when the spec has none.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise PatternSpecError(f"pattern spec must be a non-empty string, got {spec!r}")
    text = re.sub(r"\s+", "", spec.lower()).replace("->", ",")
    input_size = None
    if ":" in text:
        head, text = text.split(":", 1)
        m = re.fullmatch(r"(\d+)x(\d+)x(\d+)", head)
        if not m or any(int(g) < 1 for g in m.groups()):
            raise PatternSpecError(
                f"pattern spec {spec!r}: input size {head!r} is not CxHxW with positive "
                "integers, e.g. 1x28x28"
            )
        input_size = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    layers, pos = _parse_items(text, 0, spec, depth=0)
    if pos != len(text):  # only a stray "]" stops the top level early
        raise PatternSpecError(f"pattern spec {spec!r}: unmatched ']' at {text[pos:]!r}")
    if not layers:
        raise PatternSpecError(f"pattern spec {spec!r} has no layers")
    return input_size, layers


def _parse_items(text: str, pos: int, spec: str, depth: int) -> tuple[list[LayerSpec], int]:
    layers: list[LayerSpec] = []
    while pos < len(text):
        char = text[pos]
        if char in ",-":
            pos += 1
        elif char == "[":
            inner, pos = _parse_items(text, pos + 1, spec, depth + 1)
            if pos >= len(text) or text[pos] != "]":
                raise PatternSpecError(f"pattern spec {spec!r}: '[' without a matching ']'")
            m = re.match(r"[x*](\d+)", text[pos + 1 :])
            if not m:
                raise PatternSpecError(
                    f"pattern spec {spec!r}: ']' must be followed by a repeat count such as "
                    f"x2 (at {text[pos:]!r})"
                )
            count = int(m.group(1))
            if count < 1:
                raise PatternSpecError(f"pattern spec {spec!r}: repeat count must be >= 1")
            if not inner:
                raise PatternSpecError(f"pattern spec {spec!r}: empty brackets []")
            layers += inner * count
            pos += 1 + m.end()
        elif char == "]":
            return layers, pos  # the caller checks that it closes a "["
        else:
            m = re.match(r"[a-z]+[a-z0-9.]*", text[pos:])
            if not m:
                raise PatternSpecError(
                    f"pattern spec {spec!r}: unexpected {text[pos:]!r}; expected one of {_LAYER_HELP}"
                )
            layers.append(_parse_layer(m.group(0), spec))
            pos += m.end()
    return layers, pos


def pattern_spec(
    n: int,
    m: int,
    k: int,
    widths: int | Sequence[int] = 32,
    fc_widths: int | Sequence[int] = 128,
    num_classes: int = 10,
    kernel_size: int = 3,
    pool: bool = True,
    input_size: Sequence[int] = (3, 32, 32),
) -> str:
    """The spec of ``INPUT -> [[CONV -> RELU]*n -> POOL?]*m -> [FC -> RELU]*k -> FC``.

    ``widths`` gives the maps of each of the ``m`` stages (one int for all), ``fc_widths`` the
    units of each of the ``k`` hidden FC layers; convolutions are ``kernel_size`` "same".
    """
    for label, value in (("n", n), ("m", m), ("k", k)):
        if not isinstance(value, int) or value < 0:
            raise PatternSpecError(f"{label} must be a non-negative integer, got {value!r}")
    stage_widths = [widths] * m if isinstance(widths, int) else list(widths)
    hidden = [fc_widths] * k if isinstance(fc_widths, int) else list(fc_widths)
    if len(stage_widths) != m:
        raise PatternSpecError(f"widths has {len(stage_widths)} entries for m={m} stages")
    if len(hidden) != k:
        raise PatternSpecError(f"fc_widths has {len(hidden)} entries for k={k} hidden FC layers")
    kernel = "" if kernel_size == 3 else f"k{kernel_size}"
    items = []
    for width in stage_widths:
        stage = [f"[conv{width}{kernel}-relu]x{n}"] if n else []
        items.append("-".join(stage + (["pool"] if pool else [])))
    items += [f"fc{width}-relu" for width in hidden]
    items.append(f"fc{num_classes}")
    size = "x".join(str(int(d)) for d in input_size)
    return f"{size}: " + ", ".join(item for item in items if item)


class PatternNet(Classifier):
    """A plain stack built from parsed layers (see the module docstring for names)."""

    def __init__(
        self,
        layers: Sequence[LayerSpec],
        input_size: Sequence[int],
        num_classes: int | None = None,
        in_chans: int | None = None,
        spec: str = "",
    ) -> None:
        layers = list(layers)
        label = spec or " ".join(map(str, layers))
        first_fc = next((i for i, layer in enumerate(layers) if layer.kind == "fc"), len(layers))
        for layer in layers[first_fc:]:
            if layer.kind in ("conv", "maxpool", "avgpool"):
                raise PatternSpecError(
                    f"pattern {label!r}: {layer} comes after an fc layer; convolutions and pooling "
                    "come first (INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC)"
                )
        if not layers or layers[-1].kind != "fc":
            raise PatternSpecError(
                f"pattern {label!r} must end with the fc layer that produces the logits, e.g. fc10"
            )
        if num_classes is not None:
            layers[-1] = replace(layers[-1], width=num_classes)
        c, h, w = (int(d) for d in input_size)
        c = in_chans or c
        super().__init__(layers[-1].width, c)
        self.input_size = (c, h, w)
        self.layers = tuple(layers)
        self.spec = f"{c}x{h}x{w}: " + "-".join(map(str, layers))
        self.features = nn.Sequential()

        stage: nn.Sequential | None = None
        counts: dict[str, int] = {}
        chs, reduction = c, 1
        for layer in layers[:first_fc]:
            if stage is None or (layer.kind == "conv" and "pool" in stage._modules):
                stage, counts = nn.Sequential(), {}
                self.features.add_module(f"stage{len(self.features) + 1}", stage)
            where = f"features.stage{len(self.features)}"
            if layer.kind == "conv":
                name = _next_name(counts, "conv")
                stage.add_module(
                    name, nn.Conv2d(chs, layer.width, layer.kernel, layer.stride, layer.padding)
                )
                chs = layer.width
                h, w = (_fit(s, layer, f"{where}.{name}", label, self.spec) for s in (h, w))
                reduction *= layer.stride
            elif layer.kind in ("maxpool", "avgpool"):
                if "pool" in stage._modules:
                    stage, counts = nn.Sequential(), {}
                    self.features.add_module(f"stage{len(self.features) + 1}", stage)
                    where = f"features.stage{len(self.features)}"
                pool_cls = nn.MaxPool2d if layer.kind == "maxpool" else nn.AvgPool2d
                stage.add_module("pool", pool_cls(layer.kernel, layer.stride))
                h, w = (_fit(s, layer, f"{where}.pool", label, self.spec) for s in (h, w))
                reduction *= layer.stride
            else:
                stage.add_module(*_plain_layer(layer, counts, chs, two_d=True))
            self._record_stage(chs, reduction)

        self.flatten = nn.Flatten(1)
        self.classifier = nn.Sequential()
        features = chs * h * w
        counts = {}
        for layer in layers[first_fc:]:
            if layer.kind == "fc":
                name = _next_name(counts, "fc")
                self.classifier.add_module(name, nn.Linear(features, layer.width))
                features = layer.width
            else:
                self.classifier.add_module(*_plain_layer(layer, counts, features, two_d=False))
        self.head_path = f"classifier.fc{counts['fc']}"

    def _record_stage(self, chs: int, reduction: int) -> None:
        info = {
            "module": f"features.stage{len(self.features)}",
            "num_chs": chs,
            "reduction": reduction,
        }
        if self.feature_info and self.feature_info[-1]["module"] == info["module"]:
            self.feature_info[-1] = info
        else:
            self.feature_info.append(info)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(x))

    def extra_repr(self) -> str:
        return f"spec={self.spec!r}"


def _next_name(counts: dict[str, int], kind: str) -> str:
    counts[kind] = counts.get(kind, 0) + 1
    return f"{kind}{counts[kind]}"


def _plain_layer(
    layer: LayerSpec, counts: dict[str, int], width: int, two_d: bool
) -> tuple[str, nn.Module]:
    if layer.kind == "relu":
        return _next_name(counts, "act"), nn.ReLU()
    if layer.kind == "tanh":
        return _next_name(counts, "act"), nn.Tanh()
    if layer.kind == "bn":
        return _next_name(counts, "bn"), (nn.BatchNorm2d if two_d else nn.BatchNorm1d)(width)
    return _next_name(counts, "drop"), nn.Dropout(layer.rate)


def _fit(size: int, layer: LayerSpec, where: str, label: str, spec: str) -> int:
    try:
        return conv_output_size(size, layer.kernel, layer.stride, layer.padding, strict=False)
    except ValueError:
        raise PatternSpecError(
            f"pattern {label!r}: the feature map vanishes at {where} ({layer}): its "
            f"{layer.kernel}x{layer.kernel} window (padding {layer.padding}) does not fit the "
            f"{size}-pixel-wide map it gets. Use a larger input, padding (e.g. p1 for 3x3), or "
            f"fewer pools. Built so far: {spec}"
        ) from None


def from_spec(
    spec: str,
    num_classes: int | None = None,
    in_chans: int | None = None,
    input_size: Sequence[int] | None = None,
) -> PatternNet:
    """Build a :class:`PatternNet` from a spec string; ``input_size`` (C, H, W) is needed when
    the spec does not start with one, and overrides it otherwise."""
    size, layers = parse_spec(spec)
    if input_size is not None:
        size = tuple(int(d) for d in input_size)  # type: ignore[assignment]
    if size is None:
        raise PatternSpecError(
            f"pattern spec {spec!r} has no input size: start it with CxHxW: (e.g. '1x28x28: ...') "
            "or pass input_size=(C, H, W)"
        )
    if len(size) != 3 or any(d < 1 for d in size):
        raise PatternSpecError(f"input_size must be three positive integers (C, H, W), got {size}")
    return PatternNet(layers, size, num_classes=num_classes, in_chans=in_chans, spec=spec)


def build_pattern(
    n: int,
    m: int,
    k: int,
    widths: int | Sequence[int] = 32,
    fc_widths: int | Sequence[int] = 128,
    num_classes: int = 10,
    kernel_size: int = 3,
    pool: bool = True,
    input_size: Sequence[int] = (3, 32, 32),
) -> PatternNet:
    """``INPUT -> [[CONV -> RELU]*n -> POOL?]*m -> [FC -> RELU]*k -> FC`` as a model."""
    return from_spec(
        pattern_spec(n, m, k, widths, fc_widths, num_classes, kernel_size, pool, input_size)
    )


# -- registered stacks --------------------------------------------------------------------------


@register_model(
    paper=CS231N_NOTES,
    input_size=(3, 32, 32),
    num_classes=10,
    params=328_586,
    macs=1_212_416,
    dataset="CIFAR-10",
    notes="INPUT -> CONV -> RELU -> FC (N=1, M=1 without pool, K=0): '3x32x32: conv32-relu, fc10'.",
    no_figures="the CS231n notes give the pattern only, no widths or counts (the widths are ours)",
)
def pattern_n1m1k0(**kwargs) -> PatternNet:
    return from_spec("3x32x32: conv32-relu, fc10", **kwargs)


@register_model(
    paper=CS231N_NOTES,
    input_size=(3, 32, 32),
    num_classes=10,
    params=545_098,
    macs=6_128_896,
    dataset="CIFAR-10",
    notes="INPUT -> [CONV -> RELU -> POOL]*2 -> FC -> RELU -> FC (N=1, M=2, K=1): "
    "'3x32x32: conv32-relu-pool, conv64-relu-pool, fc128-relu, fc10'.",
    no_figures="the CS231n notes give the pattern only, no widths or counts (the widths are ours)",
)
def pattern_n1m2k1(**kwargs) -> PatternNet:
    return from_spec("3x32x32: conv32-relu-pool, conv64-relu-pool, fc128-relu, fc10", **kwargs)


@register_model(
    paper=CS231N_NOTES,
    input_size=(3, 32, 32),
    num_classes=10,
    params=879_914,
    macs=39_225_856,
    dataset="CIFAR-10",
    notes="INPUT -> [CONV -> RELU -> CONV -> RELU -> POOL]*3 -> [FC -> RELU]*2 -> FC (N=2, M=3, "
    "K=2): '3x32x32: [conv32-relu]x2-pool, [conv64-relu]x2-pool, [conv128-relu]x2-pool, "
    "[fc256-relu]x2, fc10'.",
    no_figures="the CS231n notes give the pattern only, no widths or counts (the widths are ours)",
)
def pattern_n2m3k2(**kwargs) -> PatternNet:
    return from_spec(
        "3x32x32: [conv32-relu]x2-pool, [conv64-relu]x2-pool, [conv128-relu]x2-pool, "
        "[fc256-relu]x2, fc10",
        **kwargs,
    )


@register_model(
    paper=FASHION_MNIST,
    input_size=(1, 28, 28),
    num_classes=10,
    params=693_962,
    macs=888_192,
    dataset="Fashion-MNIST",
    notes="The course's baseline as a pattern (N=1, M=1, K=1), 'valid' 3x3 convolution: "
    "'1x28x28: conv32p0-relu-pool-drop0.2, fc128-relu, fc10'.",
    figures=(
        Reported(
            "course Keras notebook",
            "Fashion-MNIST",
            params=693_962,
            note="the course's baseline CNN, the same layers as fashion_cnn",
        ),
    ),
)
def fashion_deeper_m1(**kwargs) -> PatternNet:
    return from_spec("1x28x28: conv32p0-relu-pool-drop0.2, fc128-relu, fc10", **kwargs)


@register_model(
    paper=FASHION_MNIST,
    input_size=(1, 28, 28),
    num_classes=10,
    params=225_034,
    macs=2_631_040,
    dataset="Fashion-MNIST",
    notes="One more conv-pool stage (M=2): '1x28x28: conv32p0-relu-pool-drop0.2, "
    "conv64p0-relu-pool-drop0.2, fc128-relu, fc10'. Deeper but smaller: the flatten shrinks "
    "from 13x13x32 = 5,408 to 5x5x64 = 1,600 features.",
    no_figures="our second step of the course's 'going deeper' exercise",
)
def fashion_deeper_m2(**kwargs) -> PatternNet:
    return from_spec(
        "1x28x28: conv32p0-relu-pool-drop0.2, conv64p0-relu-pool-drop0.2, fc128-relu, fc10",
        **kwargs,
    )


@register_model(
    paper=FASHION_MNIST,
    input_size=(1, 28, 28),
    num_classes=10,
    params=467_818,
    macs=18_691_840,
    dataset="Fashion-MNIST",
    notes="Two 'same' convolutions per stage (N=2, M=2), VGG style: '1x28x28: "
    "[conv32-relu]x2-pool-drop0.25, [conv64-relu]x2-pool-drop0.25, fc128-relu-drop0.5, fc10'.",
    no_figures="our third step of the course's 'going deeper' exercise",
)
def fashion_deeper_n2m2(**kwargs) -> PatternNet:
    return from_spec(
        "1x28x28: [conv32-relu]x2-pool-drop0.25, [conv64-relu]x2-pool-drop0.25, "
        "fc128-relu-drop0.5, fc10",
        **kwargs,
    )
