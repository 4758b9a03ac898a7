"""Look inside a network: activations, filters, activation maximisation, attributions
(saliency, deconvnet, guided backprop, integrated gradients, Grad-CAM), ZFNet's top patches,
gradient flow and loss landscapes. Every function returns tensors; ``plot_*`` return matplotlib
``Figure`` objects (save them with :func:`save_figure`).

>>> from cnnzoo.visualize import load_source, source_images, attribute, plot_attribution, save_figure
>>> src = load_source("runs/fashion_cnn-fashion_mnist-20260101-120000")
>>> images, labels, classes = source_images(src, indices=[0, 1], data_dir="data")
>>> maps = attribute(src.model, src.prepare(images), "guided-backprop")
>>> save_figure(plot_attribution(images, maps, "guided-backprop"), "guided.png")

The command line is ``cnnzoo visualize METHOD SOURCE``; see docs/visualize.md.
"""

from cnnzoo.visualize.activations import (
    activations,
    filters,
    first_conv,
    plot_activations,
    plot_filters,
)
from cnnzoo.visualize.attribution import (
    ATTRIBUTION_METHODS,
    IG_STEPS,
    CompletenessWarning,
    GradCamWarning,
    attribute,
    check_completeness,
    completeness_error,
    gradcam,
    plot_attribution,
    plot_gradcam,
    project_units,
    spatial_layers,
)
from cnnzoo.visualize.gradflow import (
    AuxHeadWarning,
    GradientFlow,
    aux_heads_fitting,
    gradient_flow,
    gradient_norms,
    plot_gradient_flow,
    weight_layers,
)
from cnnzoo.visualize.landscape import (
    Interpolation,
    Surface,
    filter_normalized_direction,
    interpolate,
    loss_and_accuracy,
    plot_contours,
    plot_interpolation,
    plot_surfaces,
    surface,
)
from cnnzoo.visualize.maximize import Regularization, maximize, plot_maximized
from cnnzoo.visualize.patches import (
    TopPatches,
    layer_geometry,
    plot_top_patches,
    strongest_units,
    top_patches,
)
from cnnzoo.visualize.plots import grid_figure, save_figure, to_display, unit_scale
from cnnzoo.visualize.source import (
    LayerModel,
    Source,
    VisualizeWarning,
    checkpoint_weights,
    default_layers,
    evaluating,
    find_layer,
    initial_weights,
    inspecting,
    layer_output,
    load_images,
    load_source,
    source_data,
    source_images,
)

__all__ = [
    "ATTRIBUTION_METHODS",
    "IG_STEPS",
    "AuxHeadWarning",
    "CompletenessWarning",
    "GradCamWarning",
    "GradientFlow",
    "Interpolation",
    "LayerModel",
    "Regularization",
    "Source",
    "Surface",
    "TopPatches",
    "VisualizeWarning",
    "activations",
    "attribute",
    "aux_heads_fitting",
    "check_completeness",
    "checkpoint_weights",
    "completeness_error",
    "default_layers",
    "evaluating",
    "filter_normalized_direction",
    "filters",
    "find_layer",
    "first_conv",
    "gradcam",
    "gradient_flow",
    "gradient_norms",
    "grid_figure",
    "initial_weights",
    "inspecting",
    "interpolate",
    "layer_geometry",
    "layer_output",
    "load_images",
    "load_source",
    "loss_and_accuracy",
    "maximize",
    "plot_activations",
    "plot_attribution",
    "plot_contours",
    "plot_filters",
    "plot_gradcam",
    "plot_gradient_flow",
    "plot_interpolation",
    "plot_maximized",
    "plot_surfaces",
    "plot_top_patches",
    "project_units",
    "save_figure",
    "source_data",
    "source_images",
    "spatial_layers",
    "strongest_units",
    "surface",
    "to_display",
    "top_patches",
    "unit_scale",
    "weight_layers",
]
