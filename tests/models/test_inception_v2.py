"""BN-Inception (Inception v2 of Ioffe & Szegedy): Figure 5's widths and a real training step."""

from __future__ import annotations

import torch

from cnnzoo import create_model, get_model_card
from cnnzoo.analysis import summary


def test_module_widths_follow_figure_5() -> None:
    with torch.device("meta"):
        model = create_model("bn_inception")
    widths = {
        key: getattr(model, f"inception{key}").out_channels
        for key in ("3a", "3b", "3c", "4a", "4b", "4c", "4d", "4e", "5a", "5b")
    }
    assert widths == {
        "3a": 256,
        "3b": 320,
        "3c": 576,
        "4a": 576,
        "4b": 576,
        "4c": 608,
        "4d": 608,
        "4e": 1056,
        "5a": 1024,
        "5b": 1024,
    }
    # The 5x5 of GoogLeNet is gone: every spatial kernel is 3x3 except the 7x7 stem.
    kernels = {m.kernel_size for m in model.modules() if isinstance(m, torch.nn.Conv2d)}
    assert kernels == {(7, 7), (3, 3), (1, 1)}
    assert not any(isinstance(m, torch.nn.LocalResponseNorm) for m in model.modules())


def test_counts_and_grid_sizes() -> None:
    s = summary("bn_inception")
    assert s.total_params == 11_285_224
    assert s.macs == 2_032_600_064
    shapes = {r.name: r.output_shape for r in s.rows}
    assert shapes["inception3c.branch3x3.conv.conv"] == (160, 14, 14)
    assert shapes["inception4e.branch3x3dbl.conv2.conv"] == (256, 7, 7)
    assert "Inception v2" in get_model_card("bn_inception").notes


def test_real_forward_backward_small_input() -> None:
    model = create_model("bn_inception", num_classes=3, in_chans=1).train()
    logits = model(torch.randn(2, 1, 64, 64))
    assert logits.shape == (2, 3)
    logits.logsumexp(1).sum().backward()
    assert torch.isfinite(model.stem.conv1.conv.weight.grad).all()
