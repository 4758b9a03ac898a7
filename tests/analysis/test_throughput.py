import pytest
import torch

from cnnzoo import create_model
from cnnzoo.analysis.throughput import matmul_peak_gflops, measure_throughput
from cnnzoo.train.fused import fuse


@pytest.mark.parametrize("train", [False, True])
def test_measure_throughput_runs_the_model(train: bool) -> None:
    result = measure_throughput("lenet5", batch_size=4, steps=2, warmup=1, train=train)
    assert result.mode == ("train" if train else "inference")
    assert result.macs_per_image == 416_520
    assert result.seconds_per_step > 0
    assert result.images_per_second == pytest.approx(4 / result.seconds_per_step)
    passes = 3 if train else 1
    assert result.gflops == pytest.approx(2 * passes * 416_520 * result.images_per_second / 1e9)


def test_training_step_changes_the_weights() -> None:
    model = create_model("fashion_cnn")
    before = model.classifier.fc2.weight.detach().clone()
    measure_throughput(model, batch_size=2, steps=1, warmup=0, train=True, bf16=True)
    assert not torch.equal(before, model.classifier.fc2.weight)


def test_fused_training_step_updates_the_models_own_weights() -> None:
    model = create_model("fashion_cnn")
    before = model.features.conv1.weight.detach().clone()
    result = measure_throughput(
        model,
        batch_size=4,
        steps=1,
        warmup=0,
        train=True,
        prepare=lambda m: fuse(m, training=True)[0],
        label="fused",
    )
    assert result.mode == "train (fused)"
    assert result.gflops == pytest.approx(2 * 3 * 888_192 * result.images_per_second / 1e9)
    assert not torch.equal(before, model.features.conv1.weight)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="batch_size and steps must be >= 1"):
        measure_throughput("lenet5", batch_size=0)


def test_matmul_peak_is_positive() -> None:
    assert matmul_peak_gflops(size=64, repeats=1) > 0
