"""ZFNet: figure 3 geometry and the 512/1024/512 variant."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnnzoo.analysis import summary
from cnnzoo.models.alexnet import AlexNet
from cnnzoo.models.zfnet import zfnet_convs


def test_map_sizes_of_figure_3() -> None:
    s = summary("zfnet")
    shapes = {r.name: r.output_shape for r in s.rows}
    assert shapes["features.conv1"] == (96, 110, 110)
    assert shapes["features.pool1"] == (96, 55, 55)
    assert shapes["features.conv2"] == (256, 26, 26)
    assert shapes["features.pool2"] == (256, 13, 13)
    assert shapes["features.pool5"] == (256, 6, 6)
    names = [r.name for r in s.rows]
    # Figure 3 order: ReLU, pool, then contrast normalisation.
    assert names.index("features.pool1") < names.index("features.lrn1")
    assert s.total_params == 62_357_608


def test_wide_variant() -> None:
    s = summary("zfnet_512")
    widths = [
        r.output_shape[0] for r in s.rows if r.name in {f"features.conv{i}" for i in (3, 4, 5)}
    ]
    assert widths == [512, 1024, 512]
    fc6 = next(r for r in s.rows if r.name == "classifier.fc6")
    assert fc6.params == 6 * 6 * 512 * 4096 + 4096
    assert s.total_params == 107_627_624


def test_real_forward_and_backward_small() -> None:
    model = AlexNet(
        zfnet_convs(),
        num_classes=3,
        image_size=64,
        fc_width=32,
        norm_before_pool=False,
        ceil_mode=True,
    ).train()
    out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 3)
    F.cross_entropy(out, torch.tensor([0, 2])).backward()
    assert model.features.conv1.weight.grad.abs().sum() > 0
