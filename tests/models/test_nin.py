"""Network in Network: mlpconv blocks and global average pooling."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnnzoo import create_model
from cnnzoo.analysis import summary


def test_counts_and_no_fully_connected_layer() -> None:
    s = summary("nin_cifar")
    assert s.total_params == 966_986
    assert s.split()["fc"]["params"] == 0 and s.split()["conv"]["params_pct"] == 100.0
    shapes = {r.name: r.output_shape for r in s.rows}
    assert shapes["features.pool1"] == (96, 16, 16)
    assert shapes["features.pool2"] == (192, 8, 8)
    assert shapes["classifier.conv"] == (10, 8, 8)
    imagenet = summary("nin_imagenet")
    assert imagenet.total_params == 7_595_176
    shapes = {r.name: r.output_shape for r in imagenet.rows}
    assert shapes["features.mlpconv1.conv"] == (96, 54, 54)
    assert shapes["features.pool3"] == (384, 6, 6)
    assert shapes["classifier.conv"] == (1000, 6, 6)


def test_logits_are_the_average_of_the_class_maps() -> None:
    model = create_model("nin_cifar").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        maps, logits = model.class_maps(x), model(x)
    assert maps.shape == (2, 10, 8, 8)
    torch.testing.assert_close(logits, maps.mean(dim=(2, 3)))
    assert (logits >= 0).all()  # ReLU on the class maps, as in the released models


def test_reset_classifier_keeps_the_global_pooling() -> None:
    model = create_model("nin_cifar")
    model.reset_classifier(100)
    assert model.get_classifier().out_channels == 100
    assert summary(model, (3, 32, 32)).total_params == 966_986 - 1_930 + 192 * 100 + 100


def test_real_forward_and_backward() -> None:
    model = create_model("nin_cifar").train()
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    F.cross_entropy(out, torch.tensor([0, 9])).backward()
    assert all(p.grad is not None for p in model.parameters())
