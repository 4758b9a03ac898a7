"""Analysis: per-layer summaries on meta tensors, the lectures' formulas, model comparison.

``summary`` and ``compare`` here are the functions (their modules share their names), as in
the README's ``from cnnzoo.analysis import summary, compare``.
"""

from cnnzoo.analysis.compare import Comparison, ComparisonRow, compare
from cnnzoo.analysis.formulas import (
    InceptionCost,
    conv_macs,
    conv_output_size,
    conv_params,
    inception_module_cost,
    receptive_field,
    separable_conv_macs,
    separable_conv_params,
)
from cnnzoo.analysis.summary import (
    InputSizeError,
    LayerRow,
    ModelSummary,
    check_input,
    layer_kind,
    parse_input_size,
    summary,
)

__all__ = [
    "Comparison",
    "ComparisonRow",
    "InceptionCost",
    "InputSizeError",
    "LayerRow",
    "ModelSummary",
    "check_input",
    "compare",
    "conv_macs",
    "conv_output_size",
    "conv_params",
    "inception_module_cost",
    "layer_kind",
    "parse_input_size",
    "receptive_field",
    "separable_conv_macs",
    "separable_conv_params",
    "summary",
]
