"""Compression: make a trained or untrained model smaller and cheaper.

Here: converting standard convolutions into depthwise-separable ones
(:func:`to_depthwise_separable`), with a per-layer report of the savings. The other tools are
submodules, imported on their own because they load Torch-Pruning, torchao and onnx:
:mod:`~cnnzoo.compress.pruning` (magnitude pruning, schedules, sensitivity),
:mod:`~cnnzoo.compress.structured` (channel pruning), :mod:`~cnnzoo.compress.deep` (weight
sharing, Huffman, storage), :mod:`~cnnzoo.compress.pipeline` (Deep Compression),
:mod:`~cnnzoo.compress.quantize` (int8), :mod:`~cnnzoo.compress.export` (ONNX) and
:mod:`~cnnzoo.compress.tools` (the CLI workflows). See docs/compression.md.
"""

from cnnzoo.compress.separable import (
    ConvertedLayer,
    SeparableConv2d,
    SeparableReport,
    convertible_convs,
    to_depthwise_separable,
)

__all__ = [
    "ConvertedLayer",
    "SeparableConv2d",
    "SeparableReport",
    "convertible_convs",
    "to_depthwise_separable",
]
