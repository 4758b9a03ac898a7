import pytest

from cnnzoo.analysis import (
    conv_macs,
    conv_output_size,
    conv_params,
    inception_module_cost,
    receptive_field,
    separable_conv_macs,
    separable_conv_params,
)


def test_alexnet_output_sizes() -> None:
    assert conv_output_size(227, 11, stride=4) == 55
    assert conv_output_size(55, 3, stride=2) == 27
    assert conv_output_size(27, 5, padding=2) == 27


def test_output_size_that_does_not_tile_is_an_error() -> None:
    # The famous 224-vs-227 AlexNet confusion: (224 - 11) / 4 + 1 = 54.25.
    with pytest.raises(ValueError, match=r"54.25 is not an integer"):
        conv_output_size(224, 11, stride=4)
    assert conv_output_size(224, 11, stride=4, strict=False) == 54


def test_window_larger_than_input_is_an_error() -> None:
    with pytest.raises(ValueError, match="does not fit a 4-wide input"):
        conv_output_size(4, 5)
    with pytest.raises(ValueError, match="stride must be an integer >= 1"):
        conv_output_size(32, 3, stride=0)


def test_dilation_widens_the_window() -> None:
    assert conv_output_size(32, 3, dilation=2) == 28


def test_three_3x3_convs_see_as_much_as_one_7x7() -> None:
    assert receptive_field([(3, 1)] * 3) == receptive_field([(7, 1)]) == (7, 1)
    # conv3 -> pool2/2 -> conv3: 3, then 4 with jump 2, then 4 + 2*2 = 8
    assert receptive_field([(3, 1), (2, 2), (3, 1)]) == (8, 2)
    assert receptive_field([(3, 1, 2)]) == (5, 1)


def test_three_3x3_have_fewer_params_than_one_7x7() -> None:
    c = 64
    assert 3 * conv_params(3, c, c) == 27 * c * c
    assert conv_params(7, c, c) == 49 * c * c


def test_depthwise_separable_lecture_example() -> None:
    # M = N = 128 channels, 3x3 kernel, 64x64 feature map.
    assert conv_params(3, 128, 128) == 147_456
    assert separable_conv_params(3, 128, 128) == 17_536
    assert conv_macs(3, 128, 128, 64) == 603_979_776  # about 604M
    assert separable_conv_macs(3, 128, 128, 64) == 71_827_456  # about 72M
    assert conv_params(3, 128, 128, bias=True) == 147_456 + 128


def test_inception_module_naive_vs_reduced() -> None:
    branches = [(1, 128), (3, 192), (5, 96)]
    naive = inception_module_cost(28, 28, 256, branches)
    assert naive.total == 854_196_224  # the lecture's "854M ops"
    reduced = inception_module_cost(28, 28, 256, branches, [None, 64, 64], pool_projection=64)
    assert reduced.terms == {
        "1x1@128": 25_690_112,
        "reduce 1x1@64 for 3x3": 12_845_056,
        "3x3@192": 86_704_128,
        "reduce 1x1@64 for 5x5": 12_845_056,
        "5x5@96": 120_422_400,
        "pool proj 1x1@64": 12_845_056,
    }
    assert reduced.total == 271_351_808
    # The lecture slide's "358M" is this total with the 3x3 term counted twice.
    assert reduced.total + reduced.terms["3x3@192"] == 358_055_936


def test_inception_mismatched_reductions() -> None:
    with pytest.raises(ValueError, match="3 branches but 2 reductions"):
        inception_module_cost(28, 28, 256, [(1, 1), (3, 1), (5, 1)], [None, 64])
