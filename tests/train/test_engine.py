"""The engine: losses, evaluation, ensembles, fit's run folder, resume, and its safety checks."""

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnzoo import create_model
from cnnzoo.analysis import InputSizeError
from cnnzoo.data import DataBundle, TensorSplit, load_data
from cnnzoo.train import (
    NonFiniteLossError,
    Recipe,
    build_model,
    compute_loss,
    evaluate,
    fit,
    load_checkpoint,
    load_weights,
    read_metadata,
)
from cnnzoo.train.runs import METRIC_COLUMNS, RunFolder

FAST = Recipe(name="test", optimizer="adam", lr=2e-3, batch_size=32, epochs=3, eval_batch_size=100)


def test_aux_losses_are_weighted() -> None:
    torch.manual_seed(0)
    main, aux1, aux2 = (torch.randn(6, 5) for _ in range(3))
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    loss, logits = compute_loss((main, aux1, aux2), labels, aux_weight=0.3)
    expected = F.cross_entropy(main, labels) + 0.3 * (
        F.cross_entropy(aux1, labels) + F.cross_entropy(aux2, labels)
    )
    assert logits is main
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    smooth, _ = compute_loss(main, labels, label_smoothing=0.1)
    assert smooth.item() == pytest.approx(
        F.cross_entropy(main, labels, label_smoothing=0.1).item(), rel=1e-6
    )


class Oracle(nn.Module):
    """Predicts the class written into the image's pixel value (value / 10), with confidence."""

    def __init__(self, num_classes: int, confidence: float = 4.0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.confidence = confidence

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        predicted = x.mean((1, 2, 3)) / 10
        return -self.confidence * (torch.arange(self.num_classes) - predicted[:, None]).abs()


def _coded_split(predicted: list[int], labels: list[int]) -> TensorSplit:
    images = (torch.tensor(predicted, dtype=torch.uint8) * 10).view(-1, 1, 1, 1).expand(-1, 1, 2, 2)
    return TensorSplit(images.contiguous(), torch.tensor(labels))


def test_evaluate_counts_exactly() -> None:
    # mean 0, std 1/255: normalisation gives back the raw pixel values.
    split = _coded_split([0, 1, 2, 2, 1, 0], [0, 1, 2, 1, 1, 2])
    metrics = evaluate(Oracle(3), split, mean=(0.0,), std=(1 / 255,), batch_size=4)
    assert metrics.count == 6
    assert metrics.top1 == pytest.approx(100 * 4 / 6)
    assert metrics.top5 == 100.0  # 3 classes: top-5 covers all of them
    assert metrics.confusion.tolist() == [[1, 0, 0], [0, 2, 1], [1, 0, 1]]
    assert metrics.per_class_accuracy() == pytest.approx([100.0, 200 / 3, 50.0])
    logits = Oracle(3)(split.images.float())
    assert metrics.loss == pytest.approx(F.cross_entropy(logits, split.labels).item(), rel=1e-5)


def test_ensemble_averages_softmax() -> None:
    split = _coded_split([0, 0, 0, 0], [1, 1, 1, 0])

    class Fixed(nn.Module):
        def __init__(self, probs: list[float]) -> None:
            super().__init__()
            self.num_classes = 2
            self.logits = torch.tensor(probs).log()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.logits.expand(x.shape[0], -1)

    sure_of_0, surer_of_1 = Fixed([0.6, 0.4]), Fixed([0.1, 0.9])
    kwargs = {"mean": (0.0,), "std": (1.0,)}
    assert evaluate(sure_of_0, split, **kwargs).top1 == 25.0
    both = evaluate([sure_of_0, surer_of_1], split, **kwargs)
    assert both.top1 == 75.0  # average (0.35, 0.65) votes for class 1
    expected = -(3 * math.log(0.65) + math.log(0.35)) / 4
    assert both.loss == pytest.approx(expected, rel=1e-5)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def _without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if "second" not in k} for r in rows]


def test_fit_writes_a_complete_run(digits_small: DataBundle, tmp_path: Path) -> None:
    model = build_model("lenet5", digits_small, FAST)
    result = fit(model, digits_small, FAST, tmp_path / "run")
    run = result.run_dir
    for name in (
        "config.yaml",
        "metrics.csv",
        "metrics.jsonl",
        "curves.png",
        "optimizer.pt",
        "report.md",
        "checkpoints/best.safetensors",
        "checkpoints/best.json",
        "checkpoints/last.safetensors",
        "checkpoints/last.json",
    ):
        assert (run / name).is_file(), name
    assert list(run.glob("events.out.tfevents.*")), "TensorBoard events missing"
    assert not list(run.rglob("*.tmp")), "temporary files left behind"
    assert (run / "metrics.csv").read_text().splitlines()[0] == ",".join(METRIC_COLUMNS)
    rows = _rows(run)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    # The best epoch is picked on validation accuracy (first of ties), never on test.
    best = max(rows, key=lambda r: (r["val_acc"], -r["epoch"]))
    assert (
        result.best_epoch == best["epoch"]
        and read_metadata(result.best_checkpoint)["epoch"] == best["epoch"]
    )
    meta = read_metadata(result.last_checkpoint)
    assert meta["model"] == "lenet5" and meta["epoch"] == 3
    assert meta["model_kwargs"] == {"num_classes": 10, "in_chans": 1}
    assert meta["data"]["name"] == "digits" and meta["data"]["split_seed"] == 0
    assert meta["recipe"]["lr"] == 2e-3
    assert result.test is not None and result.test.count == 200 and result.test.top1 > 50
    assert f"top-1 **{result.test.top1:.2f}%**" in (run / "report.md").read_text()
    # The best checkpoint alone rebuilds the model and gives the same test metrics.
    loaded, _ = load_checkpoint(run)
    again = evaluate(loaded, digits_small.test, mean=digits_small.mean, std=digits_small.std)
    assert again.top1 == result.test.top1 and again.loss == pytest.approx(
        result.test.loss, rel=1e-6
    )


def test_resume_after_a_kill_repeats_the_uninterrupted_run(
    digits_small: DataBundle, tmp_path: Path
) -> None:
    recipe = FAST.override(schedule="cosine", augment="fashion", model_kwargs={"image_size": 32})
    # Dropout and augmentation both draw random numbers: their states must be restored too.
    fit(
        build_model("fashion_cnn", digits_small, recipe),
        digits_small,
        recipe,
        tmp_path / "full",
        evaluate_test=False,
    )

    def kill_after_epoch_2(row: dict) -> None:
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        fit(
            build_model("fashion_cnn", digits_small, recipe),
            digits_small,
            recipe,
            killed,
            on_epoch_end=kill_after_epoch_2,
        )
    assert [r["epoch"] for r in _rows(killed)] == [1, 2]
    # A fresh model object, as after a restart: everything comes from the run folder.
    fresh = create_model("fashion_cnn", image_size=32)
    fit(fresh, digits_small, recipe, killed, resume=True, evaluate_test=False)
    assert _without_timing(_rows(killed)) == _without_timing(_rows(tmp_path / "full"))


def test_fused_and_plain_engines_train_the_same_model(
    digits_small: DataBundle, tmp_path: Path
) -> None:
    # No dropout, so that both runs draw the same random numbers: the fused kernels then change
    # only the rounding order, and the two runs' metrics agree closely.
    recipe = FAST.override(epochs=2, model_kwargs={"image_size": 32, "drop_rate": 0.0})
    runs = {}
    for fused in (True, False):
        r = recipe.override(fused=fused)
        runs[fused] = fit(
            build_model("fashion_cnn", digits_small, r), digits_small, r, tmp_path / str(fused)
        )
    for a, b in zip(runs[True].history, runs[False].history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-3)
        assert abs(a["val_acc"] - b["val_acc"]) <= 1.0  # at most 2 of 200 images
    assert runs[True].test.loss == pytest.approx(runs[False].test.loss, rel=1e-3)
    fused_config = RunFolder(runs[True].run_dir).read_config()
    assert fused_config["fused_layers"] == [
        "features.conv1 + features.act1 + features.pool1 + features.drop1 -> stem kernel"
    ]
    assert "fused_layers" not in RunFolder(runs[False].run_dir).read_config()


class NaNAfter(nn.Module):
    """LeNet-5 whose output turns NaN from the ``after``-th training forward on."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.net = create_model("lenet5")
        self.num_classes, self.in_chans = 10, 1
        self.calls, self.after = 0, after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.after:
                out = out * float("nan")
        return out


def test_nan_loss_stops_with_epoch_and_step_and_keeps_last_good(
    digits_small: DataBundle, tmp_path: Path
) -> None:
    steps_per_epoch = math.ceil(len(digits_small.train) / FAST.batch_size)  # 7
    model = NaNAfter(after=steps_per_epoch + 3)
    with pytest.raises(
        NonFiniteLossError, match=r"loss became nan at epoch 2, step 3 of 7"
    ) as info:
        # Plain ops: the fused stem traces the model, which would bake in its call counter.
        recipe = FAST.override(channels_last=False, fused=False)
        fit(model, digits_small, recipe, tmp_path / "run", model_name="lenet5")
    assert "last good checkpoint (epoch 1)" in str(info.value)
    assert read_metadata(tmp_path / "run/checkpoints/last.safetensors")["epoch"] == 1
    good = NaNAfter(after=10**9)
    load_weights(good, tmp_path / "run/checkpoints/last.safetensors")
    assert all(torch.isfinite(p).all() for p in good.parameters())
    assert "failed: loss became nan" in (tmp_path / "run/report.md").read_text()


def test_incompatible_input_is_refused_before_training(tmp_path: Path) -> None:
    tiny = load_data("digits", image_size=8, limit=50)
    with pytest.raises(
        InputSizeError, match=r"input 1x8x8 does not fit lenet5: at layer 'features"
    ):
        fit(create_model("lenet5"), tiny, FAST, tmp_path / "a")
    assert not (tmp_path / "a").exists()
    data = load_data("digits", limit=50)
    with pytest.raises(
        ValueError, match=r"lenet5 takes 3-channel images but digits is loaded with 1"
    ):
        fit(create_model("lenet5", in_chans=3), data, FAST, tmp_path / "b")
    with pytest.raises(ValueError, match=r"lenet5 has 7 outputs but digits has 10 classes"):
        fit(create_model("lenet5", num_classes=7), data, FAST, tmp_path / "c")


def test_bf16_training_keeps_accuracy(digits_small: DataBundle, tmp_path: Path) -> None:
    fp32 = fit(build_model("lenet5", digits_small, FAST), digits_small, FAST, tmp_path / "fp32")
    bf16_recipe = FAST.override(bf16=True, channels_last=True)
    bf16 = fit(
        build_model("lenet5", digits_small, bf16_recipe),
        digits_small,
        bf16_recipe,
        tmp_path / "bf16",
    )
    assert abs(bf16.test.top1 - fp32.test.top1) <= 5.0


def test_early_stopping(digits_small: DataBundle, tmp_path: Path) -> None:
    # A vanishing learning rate: validation accuracy cannot improve after epoch 1.
    recipe = FAST.override(lr=1e-12, epochs=10, early_stopping=2)
    result = fit(build_model("lenet5", digits_small, recipe), digits_small, recipe, tmp_path / "r")
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    assert result.best_epoch == 1
    assert result.stop_reason == "early stopping: val_acc did not improve for 2 epochs"
