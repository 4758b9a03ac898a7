"""Fused kernels: the same values and gradients as PyTorch's ops, the graph rewrite, fallbacks."""

import subprocess
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnzoo import create_model
from cnnzoo.train.fused import (
    FusedConvReLUMaxPool,
    FusedConvTanhAvgPool,
    FusedDropout,
    conv_relu_maxpool,
    conv_tanh_avgpool,
    dropout,
    fuse,
    kernels_available,
)

pytestmark = pytest.mark.skipif(not kernels_available(), reason="numba is not installed")


def _reference(x: torch.Tensor, conv: nn.Conv2d, pool: nn.MaxPool2d) -> torch.Tensor:
    return pool(F.relu(conv(x)))


@pytest.mark.parametrize(
    ("in_chans", "out_chans", "kernel", "padding", "size"),
    [
        (1, 32, 3, 0, 28),  # the Fashion-MNIST CNN
        (1, 8, 5, 0, 32),  # 5x5, one vector of channels
        (3, 8, 5, 2, 15),  # RGB, padded, odd size: the last row and column are dropped
        (3, 64, 3, 1, 16),  # VGG's first block on CIFAR-sized input
    ],
)
def test_stem_matches_conv_relu_maxpool(
    in_chans: int, out_chans: int, kernel: int, padding: int, size: int
) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(in_chans, out_chans, kernel, padding=padding)
    pool = nn.MaxPool2d(2)
    x = torch.randn(5, in_chans, size, size)
    expected = _reference(x, conv, pool)
    grad = torch.randn_like(expected)
    ref_w, ref_b = torch.autograd.grad(expected, (conv.weight, conv.bias), grad)
    out = conv_relu_maxpool(x, conv, pool)
    assert out.grad_fn is not None and "ConvReLUMaxPool" in type(out.grad_fn).__name__
    assert out.shape == expected.shape and out.is_contiguous()
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    got_w, got_b = torch.autograd.grad(out, (conv.weight, conv.bias), grad)
    torch.testing.assert_close(got_w, ref_w, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got_b, ref_b, rtol=1e-4, atol=1e-4)


def test_frozen_stem_passes_no_gradient_to_its_weights() -> None:
    conv, pool = nn.Conv2d(1, 8, 3), nn.MaxPool2d(2)
    conv.requires_grad_(False)
    head = nn.Linear(8 * 4 * 4, 3)
    out = head(conv_relu_maxpool(torch.randn(2, 1, 10, 10), conv, pool).flatten(1))
    out.sum().backward()
    assert conv.weight.grad is None and head.weight.grad is not None


def test_stem_with_dropout_is_the_stem_then_dropout() -> None:
    torch.manual_seed(0)
    conv, pool = nn.Conv2d(1, 16, 3), nn.MaxPool2d(2)
    x = torch.randn(4, 1, 12, 12)
    torch.manual_seed(7)
    fused = conv_relu_maxpool(x, conv, pool, 0.3)
    torch.manual_seed(7)
    separate = dropout(conv_relu_maxpool(x, conv, pool), 0.3)
    assert torch.equal(fused, separate)
    grad = torch.randn_like(fused)
    expected = torch.autograd.grad(separate, (conv.weight, conv.bias), grad)
    got = torch.autograd.grad(fused, (conv.weight, conv.bias), grad)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)
    # The module form drops only in training mode.
    drop = nn.Dropout(0.3)
    module = FusedConvReLUMaxPool(conv, pool, drop)
    drop.eval()
    torch.testing.assert_close(module(x), _reference(x, conv, pool))


def test_stem_falls_back_where_the_kernel_does_not_apply() -> None:
    torch.manual_seed(0)
    conv, pool = nn.Conv2d(1, 8, 3), nn.MaxPool2d(2)
    # A gradient w.r.t. the input (saliency maps) is not computed by the kernel: PyTorch's ops.
    x = torch.randn(2, 1, 10, 10, requires_grad=True)
    out = conv_relu_maxpool(x, conv, pool)
    assert "ConvReLUMaxPool" not in type(out.grad_fn).__name__
    (grad_x,) = torch.autograd.grad(out.sum(), x)
    (ref_x,) = torch.autograd.grad(_reference(x, conv, pool).sum(), x)
    torch.testing.assert_close(grad_x, ref_x)
    # Under bf16 autocast the stem still runs fused, in fp32 (memory-bound; the next layers
    # autocast as usual).
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = conv_relu_maxpool(x.detach(), conv, pool)
    assert under_autocast.dtype == torch.float32
    assert "ConvReLUMaxPool" in type(under_autocast.grad_fn).__name__
    torch.testing.assert_close(under_autocast, _reference(x.detach(), conv, pool))
    # Other pooling shapes take PyTorch's path, with its results.
    wide = nn.MaxPool2d(3, 2)
    torch.testing.assert_close(
        conv_relu_maxpool(x.detach(), conv, wide), _reference(x.detach(), conv, wide)
    )
    # Too small an input still gets PyTorch's own error.
    with pytest.raises(RuntimeError):
        conv_relu_maxpool(torch.randn(1, 1, 3, 3), conv, pool)
    # ... also when the convolution pads (the input must not be padded twice on the way).
    padded = nn.Conv2d(1, 8, 3, padding=1)
    with pytest.raises(RuntimeError):
        conv_relu_maxpool(torch.randn(1, 1, 1, 1), padded, pool)


def test_dropout_keeps_one_minus_p_scaled_and_masks_the_gradient() -> None:
    x = torch.rand(1_000_000) + 1.0
    x.requires_grad_(True)
    torch.manual_seed(0)
    y = dropout(x, 0.2)
    kept = y != 0
    # 1M Bernoulli(0.8) draws: the standard deviation of the kept fraction is 0.0004.
    assert abs(kept.float().mean().item() - 0.8) < 0.002
    torch.testing.assert_close(y[kept], x.detach()[kept] / 0.8)
    (grad,) = torch.autograd.grad(y, x, torch.full_like(y, 3.0))
    assert torch.equal(grad != 0, kept)
    torch.testing.assert_close(grad[kept], torch.full_like(grad[kept], 3.0 / 0.8))
    # Masks of neighbouring elements are independent: P(both kept) = 0.64.
    both = (kept[:-1] & kept[1:]).float().mean().item()
    assert abs(both - 0.64) < 0.003


def test_dropout_follows_torch_manual_seed_and_the_module_mode() -> None:
    x = torch.ones(4096)
    torch.manual_seed(1)
    first = dropout(x, 0.5)
    torch.manual_seed(1)
    assert torch.equal(dropout(x, 0.5), first)
    assert not torch.equal(dropout(x, 0.5), first)
    assert dropout(x, 0.5, training=False) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    with pytest.raises(ValueError, match="between 0 and 1"):
        dropout(x, 1.5)
    module = FusedDropout(0.5)
    module.eval()
    assert module(x) is x


def test_fashion_cnn_is_fused_and_shares_its_parameters() -> None:
    torch.manual_seed(0)
    model = create_model("fashion_cnn")
    fused, report = fuse(model)
    assert report.fused == [
        "features.conv1 + features.act1 + features.pool1 + features.drop1 -> stem kernel"
    ]
    assert fused is not model and model.training
    assert {id(p) for p in fused.parameters()} == {id(p) for p in model.parameters()}
    assert any(isinstance(m, FusedConvReLUMaxPool) for m in fused.modules())
    # Without dropout (eval mode) the two compute the same function and gradients.
    x, labels = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    model.eval()
    fused.eval()
    torch.testing.assert_close(fused(x), model(x), rtol=1e-5, atol=1e-5)
    params = list(model.parameters())
    expected = torch.autograd.grad(F.cross_entropy(model(x), labels), params)
    got = torch.autograd.grad(F.cross_entropy(fused(x), labels), params)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-5)


def test_vgg_fuses_its_first_block_and_its_dropouts() -> None:
    torch.manual_seed(0)
    model = create_model("vgg11_cifar")
    fused, report = fuse(model)
    assert report.fused == [
        "features.stage1.conv1 + features.stage1.act1 + features.stage1.pool -> stem kernel",
        "classifier.drop1 -> counter-based dropout",
    ]
    # Deeper blocks have 64x3x3 = 576 taps and more: compute-bound, left to oneDNN.
    assert any("576 taps" in line for line in report.skipped)
    model.eval()
    fused.eval()
    x = torch.randn(2, *model.card.input_size)
    torch.testing.assert_close(fused(x), model(x), rtol=1e-4, atol=1e-5)


def test_models_without_patterns_or_untraceable_come_back_unchanged() -> None:
    model = create_model("lenet5_paper")  # scaled tanh, trainable subsampling: no pattern
    same, report = fuse(model)
    assert same is model and not report and report.error is None
    # LeNet-5 (modern): C1 has 6 channels (kernel slower than oneDNN), C3 6x5x5 = 150 taps.
    lenet = create_model("lenet5_modern")
    same, report = fuse(lenet)
    assert same is lenet and len(report.skipped) == 2
    assert "6 output channels are not a multiple of 8" in report.skipped[0]

    class DataDependent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.pool = nn.MaxPool2d(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:  # torch.fx cannot trace a branch on a tensor's value
                x = -x
            return self.pool(torch.relu(self.conv(x)))

    odd = DataDependent()
    same, report = fuse(odd)
    assert same is odd and "torch.fx cannot trace it" in str(report.error)


def test_kernels_keep_the_users_torch_thread_count() -> None:
    # In a fresh process: starting numba's thread pool must not change torch's thread count.
    code = (
        "import torch; torch.set_num_threads(1)\n"
        "from cnnzoo.train.fused import dropout, _kernels\n"
        "dropout(torch.ones(100_000), 0.5)\n"
        "assert torch.get_num_threads() == 1, torch.get_num_threads()\n"
        "assert _kernels().numba.get_num_threads() == 1\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("in_chans", "out_chans", "kernel", "padding", "size"),
    [
        (1, 6, 5, 0, 32),  # LeNet-5's C1 + S2
        (1, 6, 5, 2, 28),  # padded 28x28 MNIST
        (3, 5, 3, 1, 15),  # RGB, odd channels and size: the last row and column are dropped
    ],
)
def test_tanh_stem_matches_conv_tanh_avgpool(
    in_chans: int, out_chans: int, kernel: int, padding: int, size: int
) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(in_chans, out_chans, kernel, padding=padding)
    pool = nn.AvgPool2d(2)
    x = torch.randn(4, in_chans, size, size) * 3  # pre-activations well into tanh's tails
    expected = pool(torch.tanh(conv(x)))
    out = conv_tanh_avgpool(x, conv, pool)
    assert "ConvTanhAvgPool" in type(out.grad_fn).__name__ and out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    grad = torch.randn_like(expected)
    for got, ref in zip(
        torch.autograd.grad(out, (conv.weight, conv.bias), grad),
        torch.autograd.grad(expected, (conv.weight, conv.bias), grad),
        strict=True,
    ):
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)


def test_tanh_stem_falls_back_for_input_gradients_and_other_pools() -> None:
    conv, pool = nn.Conv2d(1, 6, 5), nn.AvgPool2d(2)
    x = torch.randn(2, 1, 12, 12, requires_grad=True)  # a saliency map needs d/dx
    out = conv_tanh_avgpool(x, conv, pool)
    assert "ConvTanhAvgPool" not in type(out.grad_fn).__name__
    torch.testing.assert_close(out, pool(torch.tanh(conv(x))))
    padded = nn.AvgPool2d(2, padding=1)
    model = nn.Sequential(nn.Conv2d(1, 6, 5), nn.Tanh(), padded)
    _, report = fuse(model)
    assert report.skipped == [
        "0 + 1 + 2: the pooling is padded, uses ceil_mode or overrides its divisor"
    ]


@pytest.mark.parametrize("name", ["lenet5", "lenet5_sparse"])
def test_lenet5_trains_the_same_through_the_tanh_stem(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name)
    fused, report = fuse(model)
    assert report.fused == ["features.c1 + features.act1 + features.s2 -> tanh stem kernel"]
    assert isinstance(fused.get_submodule("fused_tanh_stem_0"), FusedConvTanhAvgPool)
    x, y = torch.randn(16, 1, 32, 32), torch.randint(0, 10, (16,))
    losses = {}
    for label in ("torch", "fused"):
        torch.manual_seed(1)
        twin = create_model(name)
        twin.load_state_dict(model.state_dict())
        run = fuse(twin)[0] if label == "fused" else twin
        optimizer = torch.optim.SGD(twin.parameters(), lr=0.1)
        losses[label] = []
        for _ in range(3):
            loss = F.cross_entropy(run(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses[label].append(loss.item())
    assert losses["fused"] == pytest.approx(losses["torch"], rel=1e-5)
