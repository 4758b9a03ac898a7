"""MobileNet v1 against the paper's tables, MobileNet v2 against torchvision."""

from __future__ import annotations

import pytest
import torch
import torchvision

from cnnzoo import create_model, get_model_card, list_models
from cnnzoo.analysis import summary
from cnnzoo.models.mobilenet import InvertedResidual, MobileNetV1


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_all_sixteen_v1_variants_are_registered() -> None:
    names = list_models("mobilenet_v1_*")
    assert len(names) == 16
    card = get_model_card("mobilenet_v1_0_5_160")
    assert card.input_size == (3, 160, 160)


# Paper Table 6 (width), Table 7 (resolution) and the 0.50 MobileNet-160 of Tables 9/10:
# (million parameters or None, million mult-adds).
PAPER = {
    "mobilenet_v1_1_0_224": (4.2, 569),
    "mobilenet_v1_0_75_224": (2.6, 325),
    "mobilenet_v1_0_5_224": (1.3, 149),
    "mobilenet_v1_0_25_224": (0.5, 41),
    "mobilenet_v1_1_0_192": (4.2, 418),
    "mobilenet_v1_1_0_160": (4.2, 290),
    "mobilenet_v1_1_0_128": (4.2, 186),
    "mobilenet_v1_0_5_160": (1.32, 76),
}


@pytest.mark.parametrize(("name", "paper"), PAPER.items())
def test_v1_matches_paper_tables(name: str, paper: tuple[float, int]) -> None:
    params_m, madds_m = paper
    s = summary(name)
    # Within the paper's rounding; 1.0-160 (290.7M) and 0.5-160 (76.5M) sit on the rounding edge
    # (the authors' TF-slim table says 291 and 77).
    assert abs(s.macs / 1e6 - madds_m) < 1.0, f"{name}: {s.macs / 1e6:.2f}M mult-adds"
    assert abs(s.total_params / 1e6 - params_m) <= 0.05, f"{name}: {s.total_params:,} params"


def test_v1_paper_counts_include_the_fc_layer() -> None:
    s = summary("mobilenet_v1_1_0_224")
    fc = 1024 * 1000
    assert round(s.macs / 1e6) == 569 and round((s.macs - fc) / 1e6) == 568
    assert s.split()["fc"]["params"] == fc + 1000


def test_v1_body_is_table1() -> None:
    model = MobileNetV1()
    blocks = list(model.blocks.children())
    assert len(blocks) == 13
    for block in blocks:
        depthwise = block.depthwise.conv
        assert depthwise.groups == depthwise.in_channels == depthwise.out_channels
        assert depthwise.kernel_size == (3, 3) and block.pointwise.conv.kernel_size == (1, 1)
    five_512 = [b for b in blocks if b.in_channels == b.out_channels == 512]
    assert len(five_512) == 5
    with torch.no_grad():
        features = model.eval().forward_features(torch.randn(1, 3, 224, 224))
    assert features.shape == (1, 1024, 7, 7)


def test_v1_width_multiplier_thins_every_layer() -> None:
    model = MobileNetV1(width_mult=0.25)
    assert model.stem.conv.out_channels == 8 and model.classifier.in_features == 256


def test_v2_parameter_count_equals_torchvision() -> None:
    with torch.device("meta"):
        ours = create_model("mobilenet_v2")
        reference = torchvision.models.mobilenet_v2()
    assert _params(ours) == _params(reference) == 3_504_872
    assert round(summary("mobilenet_v2").macs / 1e6) == 301  # paper: 300M, torchvision 0.30G


def test_v2_blocks_follow_table2() -> None:
    with torch.device("meta"):
        model = create_model("mobilenet_v2")
    blocks = [m for m in model.modules() if isinstance(m, InvertedResidual)]
    assert len(blocks) == 17
    assert sum(b.use_residual for b in blocks) == 10
    # Linear bottleneck: the projection has BN but no activation.
    assert all(not hasattr(b.project, "act") for b in blocks)
    assert not hasattr(blocks[0], "expand")  # t = 1 in the first row
    assert blocks[1].expand.conv.out_channels == 16 * 6


def test_v2_width_1_4_matches_reference_code() -> None:
    s = summary("mobilenet_v2_1_4")
    assert round(s.macs / 1e6) == 582  # TF-slim mobilenet_v2_1.4_224: 582M MACs
    assert abs(s.total_params / 1e6 - 6.06) < 0.06  # TF-slim: 6.06M (paper: 6.9M)


def test_real_forward_and_backward_small_input() -> None:
    for name in ("mobilenet_v1_0_25_128", "mobilenet_v2"):
        model = create_model(name, num_classes=4).train()
        logits = model(torch.randn(2, 3, 64, 64))
        assert logits.shape == (2, 4)
        logits.sum().backward()
        grad = model.stem.conv.weight.grad
        assert grad is not None and grad.abs().sum() > 0
