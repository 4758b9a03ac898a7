"""Compression: make a trained or untrained model smaller and cheaper.

So far: converting standard convolutions into depthwise-separable ones
(:func:`to_depthwise_separable`), with a per-layer report of the savings.
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
