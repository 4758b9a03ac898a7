"""ShuffleNet v1/v2: channel shuffle, group convolutions, paper complexity, torchvision parity."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision

from cnnzoo import create_model
from cnnzoo.analysis import summary
from cnnzoo.layers import channel_shuffle
from cnnzoo.models.shufflenet import ShuffleNetV1, ShuffleUnitV1, ShuffleUnitV2


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _channel_order(channels: int, groups: int) -> list[int]:
    x = torch.arange(channels, dtype=torch.float32).view(1, channels, 1, 1)
    return channel_shuffle(x, groups).flatten().long().tolist()


def test_channel_shuffle_is_the_transpose_permutation() -> None:
    # Two groups [0 1 2 | 3 4 5] interleave; three groups [0 1 | 2 3 | 4 5] too.
    assert _channel_order(6, 2) == [0, 3, 1, 4, 2, 5]
    assert _channel_order(6, 3) == [0, 2, 4, 1, 3, 5]
    assert _channel_order(12, 3) == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
    order = _channel_order(240, 3)
    assert sorted(order) == list(range(240)) and order != list(range(240))
    # Shuffling with C/g groups undoes a shuffle with g groups.
    x = torch.randn(2, 12, 3, 3)
    torch.testing.assert_close(channel_shuffle(channel_shuffle(x, 3), 4), x)
    with pytest.raises(ValueError, match="do not split"):
        channel_shuffle(x, 5)


def test_unit_group_convolution_counts() -> None:
    unit = ShuffleUnitV1(240, 240, stride=1, groups=3)
    # Bottleneck 240 / 4 = 60; each 1x1 group conv has (in / g) * out weights.
    assert unit.conv1.conv.weight.numel() == 240 // 3 * 60
    assert unit.conv2.conv.weight.numel() == 60 * 3 * 3  # depthwise
    assert unit.conv3.conv.weight.numel() == 60 // 3 * 240
    assert unit.conv1.conv.groups == unit.conv3.conv.groups == 3
    assert unit.conv2.conv.groups == 60


def test_first_pointwise_of_stage2_is_not_grouped() -> None:
    model = ShuffleNetV1(groups=8)
    first = model.stage2.unit1
    assert first.conv1.conv.groups == 1 and first.conv1.conv.weight.numel() == 24 * 96
    assert first.conv3.conv.groups == 8
    assert first.conv3.conv.out_channels == 384 - 24  # concatenated with the pooled input
    assert all(u.conv1.conv.groups == 8 for n, u in model.named_modules() if n.endswith("unit2"))


def test_stride2_unit_concatenates_the_pooled_input() -> None:
    unit = ShuffleUnitV1(24, 240, stride=2, groups=3, group_first_conv=False).eval()
    x = torch.randn(2, 24, 8, 8)
    out = unit(x)
    assert out.shape == (2, 240, 4, 4)
    torch.testing.assert_close(out[:, :24], F.relu(F.avg_pool2d(x, 3, 2, 1)))


# Paper Table 1 "Complexity" of ShuffleNet 1x per g, and Tables 2/5 for the g=3 scales
# (MFLOPs, which the paper counts as multiply-adds).
V1_PAPER_MFLOPS = {
    "shufflenet_v1_g1_1_0x": 143,
    "shufflenet_v1_g2_1_0x": 140,
    "shufflenet_v1_g3_1_0x": 137,
    "shufflenet_v1_g4_1_0x": 133,
    "shufflenet_v1_g8_1_0x": 137,
    "shufflenet_v1_g3_0_25x": 13,
    "shufflenet_v1_g3_0_5x": 38,
    "shufflenet_v1_g3_1_5x": 292,
    "shufflenet_v1_g3_2_0x": 524,
}


@pytest.mark.parametrize(("name", "mflops"), V1_PAPER_MFLOPS.items())
def test_v1_complexity_matches_paper(name: str, mflops: int) -> None:
    macs = summary(name).macs / 1e6
    # Rounding of the paper's figures, plus about 1% for g=2/4/8 (we do not know how the
    # paper rounded the bottleneck widths there).
    assert abs(macs - mflops) <= max(0.5, 0.011 * mflops), f"{name}: {macs:.2f}M vs {mflops}M"


def test_v1_1x_g3_is_about_140_mflops() -> None:
    assert 135e6 < summary("shufflenet_v1_g3_1_0x").macs < 141e6


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("shufflenet_v2_x0_5", 1_366_792),
        ("shufflenet_v2_x1_0", 2_278_604),
        ("shufflenet_v2_x1_5", 3_503_624),
        ("shufflenet_v2_x2_0", 7_393_996),
    ],
)
def test_v2_parameter_count_equals_torchvision(name: str, expected: int) -> None:
    with torch.device("meta"):
        ours = create_model(name)
        reference = getattr(torchvision.models, name)()
    assert _params(ours) == _params(reference) == expected


@pytest.mark.parametrize(
    ("name", "mflops"),
    [("shufflenet_v2_x0_5", 41), ("shufflenet_v2_x1_0", 146), ("shufflenet_v2_x1_5", 299),
     ("shufflenet_v2_x2_0", 591)],
)  # fmt: skip
def test_v2_complexity_close_to_paper(name: str, mflops: int) -> None:
    # Paper Table 5. Our count (conv + FC) is 1-1.5% lower; the paper does not say what else it
    # counts.
    macs = summary(name).macs / 1e6
    assert 0.98 * mflops < macs < mflops


def test_v2_stride1_unit_passes_half_the_channels_through() -> None:
    unit = ShuffleUnitV2(48, 48, stride=1).eval()
    x = torch.randn(2, 48, 6, 6)
    unshuffled = channel_shuffle(unit(x), 24)  # inverse of the 2-group shuffle
    torch.testing.assert_close(unshuffled[:, :24], x[:, :24])
    assert not torch.allclose(unshuffled[:, 24:], x[:, 24:])


def test_real_forward_and_backward_small_input() -> None:
    for name in ("shufflenet_v1_g3_0_5x", "shufflenet_v2_x0_5"):
        model = create_model(name, num_classes=3).train()
        logits = model(torch.randn(2, 3, 64, 64))
        assert logits.shape == (2, 3)
        logits.sum().backward()
        grad = model.stem.conv.weight.grad
        assert grad is not None and grad.abs().sum() > 0
