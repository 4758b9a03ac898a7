"""The plain-stack pattern builder: grammar, N/M/K builder, errors, registered stacks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnzoo import create_model, get_model_card
from cnnzoo.analysis import summary
from cnnzoo.models.pattern import (
    LayerSpec,
    PatternSpecError,
    build_pattern,
    from_spec,
    parse_spec,
    pattern_spec,
)


def test_parse_expands_repeats_and_reads_options() -> None:
    size, layers = parse_spec("1x28x28: [conv32-relu]x2-pool, conv64k5s2p0 -> avgpool3s1, fc10")
    assert size == (1, 28, 28)
    assert [str(layer) for layer in layers] == [
        "conv32",
        "relu",
        "conv32",
        "relu",
        "pool",
        "conv64k5s2p0",
        "avgpool3s1",
        "fc10",
    ]
    assert layers[0] == LayerSpec("conv", width=32, kernel=3, stride=1, padding=1)
    _, nested = parse_spec("[[conv8-relu]*2-pool]x3, DROP0.5, fc2")
    assert [str(layer) for layer in nested].count("conv8") == 6
    assert nested[-2] == LayerSpec("drop", rate=0.5)


def test_spec_reproduces_the_course_baseline() -> None:
    model = create_model("fashion_deeper_m1")
    baseline = summary("fashion_cnn")
    ours = summary(model, (1, 28, 28))
    assert ours.total_params == baseline.total_params == 693_962
    assert [r.params for r in ours.rows if r.params] == [320, 692_352, 1_290]
    shapes = [r.output_shape for r in ours.rows if r.type in ("Conv2d", "MaxPool2d", "Linear")]
    assert shapes == [(32, 26, 26), (32, 13, 13), (128,), (10,)]


def test_going_deeper_can_shrink_the_model() -> None:
    assert get_model_card("fashion_deeper_m2").params == 225_034  # flatten 1,600 instead of 5,408
    assert get_model_card("fashion_deeper_n2m2").params == 467_818


def test_n_m_k_builder_matches_the_lecture_stack() -> None:
    spec = pattern_spec(2, 3, 2, widths=(32, 64, 128), fc_widths=256)
    assert spec == (
        "3x32x32: [conv32-relu]x2-pool, [conv64-relu]x2-pool, [conv128-relu]x2-pool, "
        "fc256-relu, fc256-relu, fc10"
    )
    model = build_pattern(2, 3, 2, widths=(32, 64, 128), fc_widths=256)
    assert sum(p.numel() for p in model.parameters()) == get_model_card("pattern_n2m3k2").params
    assert [info["reduction"] for info in model.feature_info] == [2, 4, 8]
    assert [info["num_chs"] for info in model.feature_info] == [32, 64, 128]
    # N = M = K = 0 is a linear classifier on the pixels.
    linear = build_pattern(0, 0, 0, input_size=(1, 8, 8))
    assert sum(p.numel() for p in linear.parameters()) == 64 * 10 + 10


def test_overrides() -> None:
    model = from_spec("conv8-relu-pool, fc5", input_size=(3, 16, 16), num_classes=7, in_chans=1)
    assert model.num_classes == 7 and model.in_chans == 1
    assert model(torch.randn(2, 1, 16, 16)).shape == (2, 7)
    assert model.spec == "1x16x16: conv8-relu-pool-fc7"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("1x28x28: conv32-rleu, fc10", "unknown layer 'rleu'"),
        ("1x28x28: [conv32-relu]-pool, fc10", "repeat count such as x2"),
        ("1x28x28: [conv32-relu, fc10", "without a matching"),
        ("1x28x28: [conv32-relu x2, fc10", "unknown layer 'relux2'"),
        ("1x28x28: conv32], fc10", "unmatched"),
        ("1x28x28: conv32-relu, fc10, conv8", "comes after an fc layer"),
        ("1x28x28: conv32-relu-pool", "must end with the fc layer"),
        ("1x8x8: [conv8p0-relu]x4, fc10", "vanishes at features.stage1.conv4"),
        ("1x28x28: conv32-pool, drop1.5, fc10", "dropout rate"),
        ("1x28x28: conv0, fc10", "must be >= 1"),
        ("28x28: conv8, fc10", "is not CxHxW"),
        ("conv8, fc10", "has no input size"),
        ("", "non-empty"),
    ],
)
def test_bad_specs_are_explained(spec: str, message: str) -> None:
    with pytest.raises(PatternSpecError, match=message):
        from_spec(spec)


def test_bad_n_m_k() -> None:
    with pytest.raises(PatternSpecError, match="n must be a non-negative integer"):
        pattern_spec(-1, 1, 1)
    with pytest.raises(PatternSpecError, match="widths has 2 entries for m=3"):
        pattern_spec(1, 3, 1, widths=(8, 16))


def test_real_forward_and_backward() -> None:
    model = create_model("fashion_deeper_n2m2").train()
    out = model(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 10)
    F.cross_entropy(out, torch.tensor([2, 5])).backward()
    assert all(p.grad is not None for p in model.parameters())
