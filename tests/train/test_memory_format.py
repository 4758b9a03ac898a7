"""The memory format is chosen for the model and input, recorded in config.yaml, and forceable."""

from pathlib import Path

import pytest
import torch
import torch.nn as nn

import cnnzoo.train.memory_format as memory_format
from cnnzoo import create_model
from cnnzoo.data import DataBundle
from cnnzoo.train import Recipe, build_model, fit
from cnnzoo.train.memory_format import choose_channels_last, wide_conv_share
from cnnzoo.train.runs import RunFolder

CPU = torch.device("cpu")


def _wide_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),  # 3 * 32 * 9 MACs per pixel: narrow
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1),  # 32 * 32 * 9 per pixel: wide
        nn.Flatten(),
        nn.Linear(32 * 8 * 8, 10),
    )


def test_wide_conv_share_weighs_convolutions_by_their_macs() -> None:
    assert wide_conv_share(_wide_net(), (3, 8, 8)) == pytest.approx(32 / 35)
    assert wide_conv_share(create_model("fashion_cnn"), (1, 28, 28)) < 0.5
    # lenet5: C5 holds most weights (16 inputs) but few MACs (a 1x1 output map)
    assert wide_conv_share(create_model("lenet5"), (1, 32, 32)) == pytest.approx(48_000 / 405_600)
    assert wide_conv_share(nn.Linear(4, 2), (4,)) == 0.0


def test_narrow_models_keep_nchw_by_rule_without_measuring(monkeypatch) -> None:
    monkeypatch.setattr(memory_format, "_measure", None)  # calling it would fail the test
    choice = choose_channels_last(create_model("lenet5"), (1, 32, 32), 128, device=CPU)
    assert not choice.channels_last and choice.reason.startswith("rule: 12% of the convolution")


@pytest.mark.parametrize(("nchw", "last", "chosen"), [(1.0, 0.5, True), (1.0, 0.97, False)])
def test_wide_models_are_measured_on_a_copy(monkeypatch, nchw, last, chosen) -> None:
    def fake(forward, params, x, y):
        forward(x)
        return last if x.is_contiguous(memory_format=torch.channels_last) else nchw

    monkeypatch.setattr(memory_format, "_step_seconds", fake)
    model = nn.Sequential(_wide_net()[:3], nn.BatchNorm2d(32), nn.Flatten(), nn.Linear(2048, 10))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    choice = choose_channels_last(model, (3, 8, 8), 64, device=CPU)
    assert choice.channels_last is chosen
    assert choice.reason == (
        f"measured: {1000 * nchw:.1f} ms NCHW vs {1000 * last:.1f} ms channels_last per "
        "training step (batch 16, CPU time)"
    )
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng)
    assert model[0][2].weight.is_contiguous()  # the model itself stays NCHW


@pytest.mark.parametrize(("run_steps", "measured"), [(299, False), (300, True), (None, True)])
def test_a_short_run_keeps_nchw_without_measuring(monkeypatch, run_steps, measured) -> None:
    calls = []
    monkeypatch.setattr(memory_format, "_measure", lambda *args: calls.append(1) or (1.0, 0.5))
    choice = choose_channels_last(_wide_net(), (3, 8, 8), 64, device=CPU, run_steps=run_steps)
    assert bool(calls) is measured and choice.channels_last is measured
    if not measured:
        assert choice.reason == (
            "rule: a short run (299 training steps < 300) does not repay the measurement"
        )


def test_a_slow_probe_falls_back_to_the_rule(monkeypatch) -> None:
    monkeypatch.setattr(memory_format, "_step_seconds", lambda *args: 3.0)
    choice = choose_channels_last(_wide_net(), (3, 8, 8), 64, device=CPU)
    assert choice.channels_last and choice.reason.startswith("rule: a probe step takes > 2 s")


@pytest.mark.parametrize(
    ("forced", "expected", "reason"),
    [
        (None, False, "rule: 12% of the convolution MACs"),
        (True, True, "set: channels_last true"),
        (False, False, "set: channels_last false"),
    ],
)
def test_fit_records_the_choice_and_obeys_a_forced_one(
    digits_small: DataBundle, tmp_path: Path, forced, expected, reason
) -> None:
    recipe = Recipe(name="t", batch_size=50, epochs=1, limit=100, channels_last=forced)
    seen = []
    model = build_model("lenet5", digits_small, recipe)
    original = model.forward

    def spy(x):
        if model.training:
            seen.append(model.features.c3.weight.is_contiguous(memory_format=torch.channels_last))
        return original(x)

    model.forward = spy
    fit(model, digits_small, recipe.override(fused=False), tmp_path / "run")
    config = RunFolder(tmp_path / "run").read_config()
    assert config["recipe"]["channels_last"] is expected
    assert config["memory_format"]["channels_last"] is expected
    assert config["memory_format"]["decided_by"].startswith(reason)
    assert set(seen) == {expected}  # the weights were in that format while training
