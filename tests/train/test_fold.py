"""Batch norm folded into the convolution before it: same outputs, fewer layers, live refolding."""

import pytest
import torch
import torch.nn as nn

from cnnzoo import create_model
from cnnzoo.train.fold import FoldedConvBatchNorm, fold_batchnorm
from cnnzoo.train.fused import fuse, fusion_summary, inference_model


def _randomise_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Running statistics and affine parameters away from their identity defaults, so that a
    wrong fold shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.running_mean.copy_(torch.randn(c, generator=generator) * 0.5)
                module.running_var.copy_(torch.rand(c, generator=generator) * 2 + 0.2)
                module.weight.copy_(torch.randn(c, generator=generator))
                module.bias.copy_(torch.randn(c, generator=generator) * 0.5)
    return model.eval()


def _count(model: nn.Module, kind: type) -> int:
    return sum(type(m) is kind for m in model.modules())


@pytest.mark.parametrize(
    ("name", "input_size", "batchnorms", "left"),
    [
        ("resnet20", (3, 16, 16), 19, 0),  # conv-bn everywhere; option A shortcuts have no conv
        ("vgg11_bn_cifar", (3, 32, 32), 8, 0),
        ("densenet40_k12", (3, 8, 8), 39, 39),  # BN -> ReLU -> conv: nothing to fold
        ("mobilenet_v2", (3, 32, 32), 52, 0),
    ],
)
def test_fold_batchnorm_keeps_the_outputs(
    name: str, input_size: tuple[int, int, int], batchnorms: int, left: int
) -> None:
    torch.manual_seed(0)
    model = _randomise_batchnorm(create_model(name))
    x = torch.randn(2, *input_size)
    with torch.inference_mode():
        expected = model(x)
        folded = fold_batchnorm(model)
        got = folded(x)
    assert _count(model, nn.BatchNorm2d) == batchnorms  # the original is untouched
    assert _count(folded, nn.BatchNorm2d) == left
    assert not folded.training and model.training is False
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


def test_fold_batchnorm_makes_a_snapshot_and_handles_convs_without_bias() -> None:
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    model = _randomise_batchnorm(nn.Sequential(conv, nn.BatchNorm2d(4), nn.ReLU()))
    folded = fold_batchnorm(model)
    x = torch.randn(1, 3, 5, 5)
    torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)
    assert [type(m).__name__ for m in folded.children()] == ["Conv2d", "ReLU"]
    assert folded.get_submodule("0").bias is not None  # the shift became a bias
    with torch.no_grad():
        conv.weight.mul_(2)  # a snapshot: later changes of the model do not reach the copy
    assert not torch.allclose(folded(x), model(x))


def test_fuse_for_evaluation_folds_live_and_shares_the_parameters() -> None:
    torch.manual_seed(0)
    model = _randomise_batchnorm(create_model("resnet20"))
    evaluated, report = fuse(model, training=False)
    assert sum(isinstance(m, FoldedConvBatchNorm) for m in evaluated.modules()) == 19
    assert report.fused[0] == "stem.conv + stem.bn -> folded convolution"
    assert {id(p) for p in evaluated.parameters()} == {id(p) for p in model.parameters()}
    x = torch.randn(2, 3, 16, 16)
    with torch.inference_mode():
        torch.testing.assert_close(evaluated(x), model(x), rtol=1e-4, atol=1e-4)
    with torch.no_grad():  # a training step later: the fused module follows the model
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        model.stem.bn.running_var.mul_(3)
    with torch.inference_mode():
        torch.testing.assert_close(evaluated(x), model(x), rtol=1e-4, atol=1e-4)
    # Training mode is never folded (batch statistics).
    trained, _ = fuse(model, training=True)
    assert not any(isinstance(m, FoldedConvBatchNorm) for m in trained.modules())


def test_inference_model_folds_a_copy_and_keeps_the_outputs_and_attributes() -> None:
    torch.manual_seed(0)
    model = _randomise_batchnorm(create_model("resnet20"))
    x = torch.randn(3, 3, 16, 16)
    with torch.inference_mode():
        expected = model(x)
        fast, lines = inference_model(model)
        got = fast(x)
    assert fusion_summary(lines) == "19 folded convolution"
    assert _count(fast, nn.BatchNorm2d) == 0 and _count(model, nn.BatchNorm2d) == 19
    assert fast.num_classes == 10 and fast.card.name == "resnet20"  # what evaluate/predict read
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


def test_fusion_summary_counts_each_kind() -> None:
    lines = [
        "layer1.bn1 + relu -> fused batch norm",
        "layer1.bn2 + add + relu -> fused batch norm",
        "layer2.bn1 + relu -> fused batch norm",
        "c1 + act1 + s2 -> stem kernel",
    ]
    assert fusion_summary(lines) == "2 fused batch norm, 1 fused batch norm + add, 1 stem kernel"
    assert fusion_summary([]) == "none"
