"""Analysis: per-layer summaries on meta tensors, the lectures' formulas, model comparison."""

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
    "InceptionCost",
    "InputSizeError",
    "LayerRow",
    "ModelSummary",
    "check_input",
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
