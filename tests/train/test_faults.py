"""Faults a trial of issue 11 found in the engine, checkpoints and recipes: each one now stops
with a message naming the file or field, or repairs itself, instead of serving wrong results."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import cnnzoo.train.checkpoint as checkpoint
from cnnzoo import create_model
from cnnzoo.data import DataBundle
from cnnzoo.train import (
    CheckpointError,
    DiskFullError,
    NonFiniteLossError,
    Recipe,
    RecipeError,
    build_model,
    build_optimizer,
    fit,
    load_recipe,
    load_state,
    load_weights,
    read_metadata,
    recipe_from_dict,
)
from cnnzoo.train.optim import LRSchedule
from cnnzoo.train.runs import RunFolder

FAST = Recipe(name="test", lr=2e-3, batch_size=32, epochs=3, eval_batch_size=100)


class Scaled(nn.Module):
    """LeNet-5 whose logits are multiplied by ``train`` in training and ``val`` in evaluation."""

    def __init__(self, train: float = 1.0, val: float = 1.0) -> None:
        super().__init__()
        self.net = create_model("lenet5")
        self.num_classes, self.in_chans = 10, 1
        self.train_scale, self.val_scale = train, val

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * (self.train_scale if self.training else self.val_scale)


def test_non_finite_validation_loss_stops_and_never_becomes_best(
    digits_small: DataBundle, tmp_path: Path
) -> None:
    recipe = FAST.override(fused=False)
    with pytest.raises(NonFiniteLossError) as info:
        fit(Scaled(val=float("nan")), digits_small, recipe, tmp_path / "r", model_name="lenet5")
    message = str(info.value)
    assert message.startswith("validation loss became nan at epoch 1 (learning rate 0.002)")
    assert "No checkpoint had been written yet." in message
    # An fp32 run is not told to use fp32; the suggestions fit the run.
    assert "bf16" not in message and "--grad-clip 1" in message
    assert not (tmp_path / "r/checkpoints/best.safetensors").exists()
    assert not (tmp_path / "r/optimizer.pt").exists()
    assert "failed: validation loss became nan" in (tmp_path / "r/report.md").read_text()


def test_nan_message_suggests_fp32_only_under_bf16(
    digits_small: DataBundle, tmp_path: Path
) -> None:
    recipe = FAST.override(bf16=True, fused=False, grad_clip=5.0)
    with pytest.raises(NonFiniteLossError) as info:
        fit(Scaled(train=float("inf")), digits_small, recipe, tmp_path / "r", model_name="lenet5")
    assert str(info.value).endswith(
        "Try a lower learning rate, a smaller --grad-clip or fp32 instead of bf16 (leave out --bf16)."
    )


def test_exploding_training_loss_warns(digits_small: DataBundle, tmp_path: Path) -> None:
    recipe = FAST.override(epochs=2, fused=False)
    with pytest.warns(RuntimeWarning, match=r"at epoch 1 is over 230 \(100 x ln 10") as record:
        fit(Scaled(train=1e5), digits_small, recipe, tmp_path / "r", model_name="lenet5")
    assert len([w for w in record if "exploding" in str(w.message)]) == 1  # once per run


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"lr": float("nan")}, "lr"),
        ({"momentum": float("inf")}, "momentum"),
        ({"betas": [0.9, float("nan")]}, "betas"),
        ({"lr": "nan"}, "lr"),
    ],
)
def test_recipe_refuses_nan_and_inf(values: dict, field: str) -> None:
    with pytest.raises(RecipeError, match=rf"where: field '{field}' is .*it must be a finite"):
        recipe_from_dict(values, where="where")


def test_recipe_file_with_inf_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("lr: .inf\n")
    with pytest.raises(RecipeError, match=rf"^{path}: field 'lr' is inf; it must be a finite"):
        load_recipe(path)
    with pytest.raises(RecipeError, match=r"^command line: field 'lr' is nan"):
        FAST.override(where="command line", lr=float("nan"))


def test_empty_recipe_file_is_the_no_recipe_default(tmp_path: Path) -> None:
    from cnnzoo.cli.train import _default_recipe

    path = tmp_path / "empty.yaml"
    path.write_text("")
    empty, none = load_recipe(path).to_dict(), _default_recipe("resnet20", None).to_dict()
    assert (empty["optimizer"], empty["lr"], empty["batch_size"]) == ("adam", 1e-3, 128)
    for key in ("name", "description"):
        empty.pop(key), none.pop(key)
    assert empty == none


def _flip(path: Path, at: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0xFF
    path.write_bytes(bytes(data))


def test_checksums_refuse_flipped_bytes(digits_small: DataBundle, tmp_path: Path) -> None:
    recipe = FAST.override(epochs=1)
    result = fit(build_model("lenet5", digits_small, recipe), digits_small, recipe, tmp_path / "r")
    run = RunFolder(result.run_dir)
    assert len(read_metadata(run.best)["sha256"]) == 64
    _flip(run.best, 0.9)  # inside the tensor data
    with pytest.raises(CheckpointError) as info:
        load_weights(create_model("lenet5"), run.best)
    assert str(info.value).startswith(f"{run.best} is corrupt: the sha256 of its tensors differs")
    assert "e.g. last.safetensors" in str(info.value)
    load_state(run.state)  # whole: loads
    _flip(run.state)
    with pytest.raises(CheckpointError, match=rf"^{run.state} is corrupt: the sha256"):
        load_state(run.state)


def test_best_checkpoint_always_belongs_to_a_committed_epoch(
    digits_small: DataBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = FAST.override(monitor="val_loss")
    save_state = checkpoint.save_state

    def killed_in_epoch_3(path: Path, state: dict) -> None:
        if state["epoch"] == 3:
            raise KeyboardInterrupt  # a kill at epoch 3's commit point
        save_state(path, state)

    monkeypatch.setattr(checkpoint, "save_state", killed_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        fit(build_model("lenet5", digits_small, recipe), digits_small, recipe, tmp_path / "r")
    monkeypatch.setattr(checkpoint, "save_state", save_state)
    run = RunFolder(tmp_path / "r")
    assert read_metadata(run.best)["epoch"] in (1, 2)
    result = fit(
        create_model("lenet5"), digits_small, recipe.override(epochs=2), run.path, resume=True
    )
    assert [r["epoch"] for r in result.history] == [1, 2]
    assert read_metadata(run.best)["epoch"] == result.best_epoch == 2


def test_resume_rewrites_checkpoints_a_kill_left_one_epoch_behind(
    digits_small: DataBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_checkpoint = checkpoint.save_checkpoint

    def killed_after_commit(path: Path, model: nn.Module, meta: dict) -> Path:
        if meta["epoch"] == 2:
            raise KeyboardInterrupt  # optimizer.pt of epoch 2 is written, last/best are not
        return save_checkpoint(path, model, meta)

    monkeypatch.setattr(checkpoint, "save_checkpoint", killed_after_commit)
    with pytest.raises(KeyboardInterrupt):
        fit(build_model("lenet5", digits_small, FAST), digits_small, FAST, tmp_path / "r")
    monkeypatch.setattr(checkpoint, "save_checkpoint", save_checkpoint)
    run = RunFolder(tmp_path / "r")
    assert read_metadata(run.last)["epoch"] == 1
    result = fit(
        create_model("lenet5"), digits_small, FAST.override(epochs=2), run.path, resume=True
    )
    assert read_metadata(run.last)["epoch"] == 2
    assert read_metadata(run.best)["epoch"] == result.best_epoch


def test_killed_in_epoch_1_resumes_from_the_beginning_and_cleans_up(
    digits_small: DataBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def killed(path: Path, state: dict) -> None:
        raise KeyboardInterrupt

    recipe = FAST.override(epochs=2)
    monkeypatch.setattr(checkpoint, "save_state", killed)
    with pytest.raises(KeyboardInterrupt):
        fit(build_model("lenet5", digits_small, recipe), digits_small, recipe, tmp_path / "r")
    monkeypatch.undo()
    leftover = tmp_path / "r" / ".optimizer.pt.x1y2.tmp"
    leftover.write_bytes(b"half")
    lines: list[str] = []
    result = fit(
        create_model("lenet5"), digits_small, recipe, tmp_path / "r", resume=True, log=lines.append
    )
    assert f"{tmp_path / 'r'} has no completed epoch: starting it from the beginning" in lines
    assert [r["epoch"] for r in result.history] == [1, 2] and not leftover.exists()


def test_resuming_a_completed_run_restores_its_final_files(
    digits_small: DataBundle, tmp_path: Path
) -> None:
    recipe = FAST.override(epochs=1)
    result = fit(build_model("lenet5", digits_small, recipe), digits_small, recipe, tmp_path / "r")
    result.curves.unlink()
    result.report.write_text("stale")
    again = fit(create_model("lenet5"), digits_small, recipe, tmp_path / "r", resume=True)
    assert again.curves.is_file() and again.history == result.history
    assert f"top-1 **{again.test.top1:.2f}%**" in again.report.read_text()


def test_resume_rules_hold_for_the_python_api(digits_small: DataBundle, tmp_path: Path) -> None:
    recipe = FAST.override(epochs=1)
    fit(build_model("lenet5", digits_small, recipe), digits_small, recipe, tmp_path / "r")
    with pytest.raises(ValueError, match=r"when resuming only --epochs.*got --lr \(0\.1; the run"):
        fit(
            create_model("lenet5"),
            digits_small,
            recipe.override(lr=0.1),
            tmp_path / "r",
            resume=True,
        )
    with pytest.raises(ValueError, match=r"trained 'lenet5', not 'Scaled'"):
        fit(Scaled(), digits_small, recipe, tmp_path / "r", resume=True)


def test_truncated_best_checkpoint_fails_the_run_and_its_report(
    digits_small: DataBundle, tmp_path: Path
) -> None:
    recipe = FAST.override(epochs=1)

    def truncate(row: dict) -> None:
        best = tmp_path / "r/checkpoints/best.safetensors"
        best.write_bytes(best.read_bytes()[:1000])

    with pytest.raises(CheckpointError) as info:
        fit(
            build_model("lenet5", digits_small, recipe),
            digits_small,
            recipe,
            tmp_path / "r",
            on_epoch_end=truncate,
        )
    assert "Use another checkpoint (e.g. last.safetensors)" in str(info.value)
    assert "- Status: failed: " in (tmp_path / "r/report.md").read_text()


def test_a_checkpoint_not_written_whole_stops_the_epoch_and_the_report_says_so(
    digits_small: DataBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A write that reports success but leaves a short file (a failing disk or network share):
    # found before the file becomes best.safetensors, not when it is loaded after training.
    recipe = FAST.override(epochs=2)
    fsync = os.fsync

    def short_best(fd: int) -> None:
        if ".best.safetensors." in os.readlink(f"/proc/self/fd/{fd}"):
            os.ftruncate(fd, 1000)
        fsync(fd)

    monkeypatch.setattr(os, "fsync", short_best)
    ended: list[dict] = []
    with pytest.raises(CheckpointError) as info:
        fit(
            build_model("lenet5", digits_small, recipe),
            digits_small,
            recipe,
            tmp_path / "r",
            on_epoch_end=ended.append,
        )
    monkeypatch.undo()
    run = RunFolder(tmp_path / "r")
    message = str(info.value)
    assert message.startswith(f"{run.best} was not written whole: 1,000 of its ")
    assert " bytes reached the disk; nothing was written. Check the disk" in message
    assert ended == [] and not run.best.exists()
    assert not list(run.best.parent.glob(".*.tmp"))
    assert f"- Status: failed: {message}" in run.report.read_text()
    # optimizer.pt of epoch 1 was committed: a resume writes the missing best checkpoint.
    result = fit(create_model("lenet5"), digits_small, recipe, run.path, resume=True)
    assert [r["epoch"] for r in result.history] == [1, 2]
    assert read_metadata(run.best)["epoch"] == result.best_epoch


def test_broken_metadata_and_config_name_the_file(tmp_path: Path) -> None:
    path = checkpoint.save_checkpoint(tmp_path / "best.safetensors", create_model("lenet5"), {})
    side = tmp_path / "best.json"
    side.write_text("")
    with pytest.raises(CheckpointError, match=rf"^{side} is empty; .*delete it to use that one"):
        read_metadata(path)
    side.write_text("{")
    with pytest.raises(CheckpointError, match=rf"^{side} is not valid JSON \("):
        read_metadata(path)
    run = RunFolder(tmp_path)
    run.config.write_text("model: [")
    with pytest.raises(ValueError, match=rf"^{run.config} is not valid YAML \("):
        run.read_config()
    run.config.write_text("")
    with pytest.raises(ValueError, match=rf"^{run.config} is empty; it is written by"):
        run.read_config()


def test_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        checkpoint.atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640


def test_full_disk_names_the_path_and_the_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.os, "fsync", full)
    with pytest.raises(DiskFullError) as info:
        checkpoint.atomic_write_bytes(tmp_path / "big.bin", b"x" * 1234)
    assert str(info.value).startswith(
        f"[Errno 28] no space left on the device to write {tmp_path / 'big.bin'} (1,234 bytes needed"
    )
    assert not list(tmp_path.iterdir())


def test_param_groups_scale_their_rate() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    recipe = Recipe(lr=0.1, schedule="step", step_size=1, gamma=0.5)
    groups = [{"params": model[0].parameters(), "lr_scale": 0.1}, {"params": model[1].parameters()}]
    optimizer = build_optimizer(model, recipe, groups)
    schedule = LRSchedule(optimizer, recipe, steps_per_epoch=1)
    schedule.step_iteration()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.005, 0.05])
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.0, 0.0]
