"""Depthwise-separable conversion: closed-form savings per layer, what is left alone, training."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from cnnzoo import create_model
from cnnzoo.analysis.formulas import (
    conv_macs,
    conv_params,
    separable_conv_macs,
    separable_conv_params,
)
from cnnzoo.compress import SeparableConv2d, to_depthwise_separable


def _toy() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),  # "0": standard 3x3 with bias
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False),  # "3": strided 3x3
        nn.Conv2d(32, 32, 1, bias=False),  # "4": pointwise
        nn.Conv2d(32, 32, 3, padding=1, groups=4, bias=False),  # "5": grouped
        nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False),  # "6": depthwise
        nn.Conv2d(32, 8, 5, padding=4, dilation=2, bias=False),  # "7": dilated 5x5
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 3),
    )


def _check_closed_form(report, bias_of: dict[str, bool]) -> None:
    for layer in report.layers:
        k, m, n = layer.kernel_size, layer.in_channels, layer.out_channels
        h, w = layer.output_size
        bias = n if bias_of[layer.name] else 0
        assert layer.old_params == conv_params(k, m, n) + bias == k * k * m * n + bias
        assert layer.new_params == separable_conv_params(k, m, n) + bias == k * k * m + m * n + bias
        assert layer.old_macs == conv_macs(k, m, n, h, w)
        assert layer.new_macs == separable_conv_macs(k, m, n, h, w)


def test_savings_match_the_closed_form_for_every_converted_layer() -> None:
    model = _toy()
    converted, report = to_depthwise_separable(model, input_size=(3, 16, 16))
    assert [layer.name for layer in report.layers] == ["0", "3"]
    assert [layer.output_size for layer in report.layers] == [(16, 16), (8, 8)]
    _check_closed_form(report, {"0": True, "3": False})
    # 3 -> 16 at 16x16: 27*16 + 16 = 448 weights vs 9*3 + 3*16 + 16 = 91.
    assert (report.layers[0].old_params, report.layers[0].new_params) == (448, 91)
    saved = sum(layer.old_params - layer.new_params for layer in report.layers)
    assert report.model_params_before - report.model_params_after == saved
    saved_macs = sum(layer.old_macs - layer.new_macs for layer in report.layers)
    assert report.model_macs_before - report.model_macs_after == saved_macs
    assert isinstance(converted[0], SeparableConv2d) and isinstance(converted[3], SeparableConv2d)


def test_grouped_pointwise_and_other_kernels_are_left_alone() -> None:
    converted, report = to_depthwise_separable(_toy(), input_size=(3, 16, 16))
    for index in (4, 5, 6, 7):
        assert type(converted[index]) is nn.Conv2d
    reasons = dict(report.skipped)
    assert reasons["4"].startswith("1x1")
    assert reasons["5"] == "grouped (groups=4)" and reasons["6"] == "grouped (groups=32)"
    assert reasons["7"].startswith("5x5")


def test_other_kernel_sizes_keep_stride_padding_and_dilation() -> None:
    converted, report = to_depthwise_separable(
        _toy(), input_size=(3, 16, 16), kernel_sizes=(3, 5), exclude=["0"]
    )
    assert [layer.name for layer in report.layers] == ["3", "7"]
    _check_closed_form(report, {"3": False, "7": False})
    depthwise = converted[7].depthwise
    assert (depthwise.kernel_size, depthwise.padding, depthwise.dilation) == (
        (5, 5),
        (4, 4),
        (2, 2),
    )
    assert converted[3].depthwise.stride == (2, 2) and converted[3].pointwise.stride == (1, 1)
    assert dict(report.skipped)["0"] == "excluded"


def test_norm_act_adds_bn_between_depthwise_and_pointwise() -> None:
    _, plain = to_depthwise_separable(_toy(), input_size=(3, 16, 16))
    converted, with_bn = to_depthwise_separable(_toy(), input_size=(3, 16, 16), norm_act=True)
    assert list(dict(converted[3].named_children())) == ["depthwise", "norm", "act", "pointwise"]
    for a, b in zip(plain.layers, with_bn.layers, strict=True):
        assert b.new_params - a.new_params == 2 * a.in_channels
        assert b.new_macs == a.new_macs


def test_copy_by_default_in_place_on_request() -> None:
    model = _toy()
    before = sum(p.numel() for p in model.parameters())
    to_depthwise_separable(model, input_size=(3, 16, 16))
    assert type(model[0]) is nn.Conv2d and sum(p.numel() for p in model.parameters()) == before
    same, _ = to_depthwise_separable(model, input_size=(3, 16, 16), inplace=True)
    assert same is model and isinstance(model[0], SeparableConv2d)


def test_converted_model_trains() -> None:
    model = _toy()
    converted, _ = to_depthwise_separable(model, input_size=(3, 16, 16), norm_act=True)
    x = torch.randn(2, 3, 16, 16)
    out = converted.train()(x)
    assert out.shape == model(x).shape == (2, 3)
    out.sum().backward()
    assert converted[0].depthwise.weight.grad.abs().sum() > 0
    assert converted[3].pointwise.weight.grad.abs().sum() > 0


def test_registered_model_uses_its_card_input_size() -> None:
    with torch.device("meta"):
        model = create_model("squeezenet1_1")
    _, report = to_depthwise_separable(model)
    assert report.input_size == (3, 224, 224)
    # conv1 and the eight expand3x3 convolutions; squeeze/expand1x1/conv10 are 1x1.
    assert len(report.layers) == 9
    _check_closed_form(report, {layer.name: True for layer in report.layers})
    assert "Whole model" in report.to_text() and report.to_markdown().startswith("| Layer")


def test_needs_an_input_size_for_plain_modules() -> None:
    with pytest.raises(ValueError, match="input_size"):
        to_depthwise_separable(_toy())


def test_vgg16_on_cifar_figures_of_the_docs() -> None:
    # docs/zoo-efficient.md: VGG-16 with BN on 32x32, first convolution kept standard.
    with torch.device("meta"):
        vgg = create_model("vgg16_bn_cifar")
    _, report = to_depthwise_separable(vgg, exclude=["features.stage1.conv1"])
    assert len(report.layers) == 12 and report.input_size == (3, 32, 32)
    assert (report.model_params_before, report.model_params_after) == (14_990_922, 1_949_898)
    assert (report.model_macs_before, report.model_macs_after) == (313_463_808, 38_280_192)
    assert (report.old_params, report.new_params) == (14_712_896, 1_671_872)
    _check_closed_form(report, {layer.name: True for layer in report.layers})


def test_conv2d_subclasses_are_reported_not_converted() -> None:
    class StandardizedConv(nn.Conv2d):
        pass

    model = nn.Sequential(StandardizedConv(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1))
    converted, report = to_depthwise_separable(model, input_size=(3, 8, 8))
    assert [layer.name for layer in report.layers] == ["1"]
    assert dict(report.skipped)["0"] == "subclass StandardizedConv of Conv2d"
    assert type(converted[0]) is StandardizedConv
