"""VGG: torchvision parity, Table 1/2 of the paper, the VGG-16 figures of the course."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from cnnzoo import create_model
from cnnzoo.analysis import summary
from cnnzoo.layers import LRN


def _meta_params(build) -> int:
    with torch.device("meta"):
        model = build()
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name", ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
)
def test_parameter_counts_equal_torchvision(name: str) -> None:
    ours = _meta_params(lambda: create_model(name))
    theirs = _meta_params(getattr(torchvision.models, name))
    assert ours == theirs


def test_paper_table_2_in_millions() -> None:
    names = ["vgg11", "vgg11_lrn", "vgg13", "vgg16_c", "vgg16", "vgg19"]
    millions = [round(_meta_params(lambda n=n: create_model(n)) / 1e6) for n in names]
    assert millions == [133, 133, 133, 134, 138, 144]


def test_vgg16_figures() -> None:
    s = summary("vgg16")
    assert s.total_params == 138_357_544
    assert s.macs == 15_470_264_320  # "about 15.5 GMACs" (torchvision: 15.47 "GFLOPS")
    # Every layer output counted once (conv, ReLU, pool, adaptive pool, FC), fp32, batch 1.
    assert s.activation_elements == 28_667_880
    assert s.activation_bytes == 114_671_520
    by_type: dict[str, int] = {}
    for row in s.rows:
        by_type[row.type] = by_type.get(row.type, 0) + row.activation_elements
    assert by_type["Conv2d"] == 13_547_520 and by_type["ReLU"] == 13_555_712
    # The slide's way (input + conv + pool + FC outputs, ReLU in place): 15.2M, not 24M.
    slide = 3 * 224 * 224 + by_type["Conv2d"] + by_type["MaxPool2d"] + by_type["Linear"]
    assert slide == 15_237_608
    assert s.split()["fc"]["params"] == 123_642_856  # 89% of the parameters in three layers


def test_course_table_total_is_off_by_a_pooling_row() -> None:
    s = summary("vgg16")
    assert sum(r.params for r in s.rows if r.type == "MaxPool2d") == 0
    assert 138_423_208 - s.total_params == 65_664


def test_configuration_c_and_lrn() -> None:
    with torch.device("meta"):
        c = create_model("vgg16_c")
        a_lrn = create_model("vgg11_lrn")
    kernels = [c.features.get_submodule(f"stage{i}.conv3").kernel_size for i in (3, 4, 5)]
    assert kernels == [(1, 1)] * 3
    assert c.features.stage3.conv2.kernel_size == (3, 3)
    assert isinstance(a_lrn.features.stage1.lrn, LRN)
    names = list(a_lrn.features.stage1._modules)
    assert names == ["conv1", "act1", "lrn", "pool"]


def test_other_input_sizes() -> None:
    with torch.device("meta"):
        model = create_model("vgg16").eval()
    assert model(torch.empty(1, 3, 64, 64, device="meta")).shape == (1, 1000)
    cifar = summary("vgg16_cifar")
    assert cifar.total_params == 14_714_688 + 512 * 512 + 512 + 512 * 10 + 10
    assert next(r for r in cifar.rows if r.name == "features.stage5.pool").output_shape == (
        512,
        1,
        1,
    )


def test_real_forward_and_backward_cifar() -> None:
    model = create_model("vgg11_bn_cifar", num_classes=4).train()
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 4)
    F.cross_entropy(out, torch.tensor([1, 3])).backward()
    assert all(p.grad is not None for p in model.parameters())
    assert isinstance(model.features.stage1.bn1, nn.BatchNorm2d)
