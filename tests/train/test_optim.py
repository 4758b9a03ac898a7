"""Learning-rate schedules give the rates their definitions say, at exact iterations."""

import math

import pytest
import torch
import torch.nn as nn

from cnnzoo.train import LRSchedule, Recipe, build_optimizer


def _schedule(steps_per_epoch: int = 10, **fields) -> LRSchedule:
    model = nn.Linear(2, 2)
    recipe = Recipe(**fields)
    return LRSchedule(build_optimizer(model, recipe), recipe, steps_per_epoch)


def _lr_at(schedule: LRSchedule, iteration: int) -> float:
    while schedule.iteration < iteration:
        schedule.step_iteration()
    return schedule.current_lr()


def test_step_schedule_in_epochs() -> None:
    s = _schedule(lr=0.1, schedule="step", step_size=2, gamma=0.5, epochs=10)
    assert _lr_at(s, 19) == pytest.approx(0.1)
    assert _lr_at(s, 20) == pytest.approx(0.05)
    assert _lr_at(s, 40) == pytest.approx(0.025)


def test_resnet_cifar_milestones_in_iterations() -> None:
    s = _schedule(
        steps_per_epoch=352,
        lr=0.1,
        schedule="multistep",
        schedule_unit="iteration",
        milestones=[32000, 48000],
        epochs=182,
    )
    assert _lr_at(s, 31999) == pytest.approx(0.1)
    assert _lr_at(s, 32000) == pytest.approx(0.01)
    assert _lr_at(s, 47999) == pytest.approx(0.01)
    assert _lr_at(s, 48000) == pytest.approx(0.001)


def test_cosine_and_warmup() -> None:
    s = _schedule(lr=0.2, schedule="cosine", epochs=10, warmup=1)
    assert _lr_at(s, 0) == pytest.approx(0.002)  # warm-up starts at lr/100
    assert _lr_at(s, 5) == pytest.approx(
        0.2 * (0.01 + 0.99 * 0.5) * 0.5 * (1 + math.cos(math.pi * 0.05))
    )
    assert _lr_at(s, 50) == pytest.approx(0.1)  # half way: half the rate
    assert _lr_at(s, 100) == pytest.approx(0.0, abs=1e-12)


def test_onecycle_shape() -> None:
    s = _schedule(lr=1.0, schedule="onecycle", epochs=10)
    assert _lr_at(s, 0) == pytest.approx(1 / 25)
    assert _lr_at(s, 30) == pytest.approx(1.0)
    assert _lr_at(s, 100) == pytest.approx(1 / 25 / 1e4)


def test_plateau_divides_by_ten_after_patience_and_round_trips() -> None:
    s = _schedule(lr=0.01, schedule="plateau", patience=2, gamma=0.1, monitor="val_acc")
    assert [s.step_epoch(v) for v in (50.0, 60.0, 60.0, 59.0)] == [False, False, False, False]
    assert s.current_lr() == pytest.approx(0.01)
    assert s.step_epoch(60.0) is True  # third epoch without improvement
    assert s.current_lr() == pytest.approx(0.001)
    state = s.state_dict()
    fresh = _schedule(lr=0.01, schedule="plateau", patience=2, gamma=0.1)
    fresh.load_state_dict(state)
    assert fresh.current_lr() == pytest.approx(0.001) and fresh.plateau_best == 60.0


def test_optimizers() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    sgd = build_optimizer(model, Recipe(optimizer="sgd", nesterov=True, weight_decay=1e-4))
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["nesterov"] is True
    # Decay only on conv/linear weights: biases and BN parameters are left alone.
    assert [g["weight_decay"] for g in sgd.param_groups] == [1e-4, 0.0]
    assert [len(g["params"]) for g in sgd.param_groups] == [1, 3]
    rms = build_optimizer(model, Recipe(optimizer="rmsprop", alpha=0.9, eps=1.0, lr=0.045))
    assert isinstance(rms, torch.optim.RMSprop) and rms.defaults["alpha"] == 0.9
    assert isinstance(build_optimizer(model, Recipe(optimizer="adamw")), torch.optim.AdamW)
    assert isinstance(build_optimizer(model, Recipe(optimizer="adam")), torch.optim.Adam)


def test_sgd_steps_when_stochastic_depth_dropped_a_block_before() -> None:
    """A block dropped in step 1 has no gradient and no momentum buffer; in step 2 it has a
    gradient while the others have buffers. Fused SGD raised a TypeError there."""
    import cnnzoo  # noqa: F401  (registers the models)
    from cnnzoo import create_model

    model = create_model("resnet20", drop_path_rate=0.5)
    sgd = build_optimizer(model, Recipe(optimizer="sgd", momentum=0.9, lr=0.1))
    params = list(model.parameters())
    for p in params[: len(params) // 2]:
        p.grad = torch.ones_like(p)
    sgd.step()
    for p in params:
        p.grad = torch.ones_like(p)
    before = params[-1].detach().clone()
    sgd.step()
    assert not sgd.defaults.get("fused")
    assert torch.allclose(params[-1].detach(), before - 0.1)
