"""Checkpoints: atomic writes, corrupt files detected, mismatches explained, no code executed."""

import os
from pathlib import Path

import pytest
import torch

import cnnzoo.train.checkpoint as ckpt
from cnnzoo import create_model
from cnnzoo.train import (
    CheckpointError,
    load_checkpoint,
    load_state,
    load_weights,
    read_metadata,
    save_checkpoint,
)

META = {"model": "lenet5", "model_kwargs": {"num_classes": 10, "in_chans": 1}, "epoch": 4}


def test_round_trip_and_metadata_inside_the_weights_file(tmp_path: Path) -> None:
    model = create_model("lenet5")
    path = save_checkpoint(tmp_path / "best.safetensors", model, META)
    (tmp_path / "best.json").unlink()  # the weights file alone is enough
    loaded, meta = load_checkpoint(path)
    # Plus the sha256 of the tensor data, which loading verifies.
    assert meta == {**META, "sha256": meta["sha256"]} and not loaded.training
    assert len(meta["sha256"]) == 64
    for (name, a), (_, b) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_a_killed_write_leaves_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "last.safetensors"
    first = create_model("lenet5")
    save_checkpoint(path, first, {**META, "epoch": 1})

    def killed(*args: object) -> None:
        raise KeyboardInterrupt  # the process dies after writing the temp file, before the rename

    monkeypatch.setattr(ckpt.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, create_model("lenet5"), {**META, "epoch": 2})
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.json", "last.safetensors"]
    model, meta = load_checkpoint(path)
    assert meta["epoch"] == 1
    assert torch.equal(model.features.c1.weight, first.features.c1.weight)


def test_truncated_checkpoint_is_detected(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "w.safetensors", create_model("lenet5"), META)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        CheckpointError, match=r"not a readable safetensors checkpoint.*truncated or corrupt"
    ):
        load_weights(create_model("lenet5"), path)


def test_mismatched_tensors_are_listed(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "w.safetensors", create_model("lenet5"), META)
    with pytest.raises(
        CheckpointError,
        match=r"does not match model lenet5: different shapes: classifier\.output\.weight "
        r"\(checkpoint 10x84, model 5x84\), classifier\.output\.bias \(checkpoint 10, model 5\)\. "
        r"The checkpoint was saved from 'lenet5'",
    ):
        load_weights(create_model("lenet5", num_classes=5), path)
    with pytest.raises(
        CheckpointError, match=r"missing from the checkpoint: features\.conv1\.weight"
    ):
        load_weights(create_model("fashion_cnn"), path)


class _Exploit:
    def __reduce__(self) -> tuple:
        return (exec, ("import os; os.environ['CNNZOO_PWNED'] = '1'",))


def test_state_files_are_loaded_without_running_code(tmp_path: Path) -> None:
    path = tmp_path / "optimizer.pt"
    torch.save({"epoch": 1, "payload": _Exploit()}, path)
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        load_state(path)
    assert "CNNZOO_PWNED" not in os.environ
    ckpt.save_state(path, {"epoch": 3, "rng": torch.get_rng_state(), "history": [{"a": 1.0}]})
    assert load_state(path)["epoch"] == 3


def test_foreign_safetensors_without_metadata(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    model = create_model("lenet5")
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "x.safetensors")
    )
    assert read_metadata(tmp_path / "x.safetensors") == {}
    with pytest.raises(CheckpointError, match="no cnnzoo metadata naming its model"):
        load_checkpoint(tmp_path / "x.safetensors")
    fresh = create_model("lenet5")
    load_weights(fresh, tmp_path / "x.safetensors")
    assert torch.equal(fresh.features.c1.weight, model.features.c1.weight)
