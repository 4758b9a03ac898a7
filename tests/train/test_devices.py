"""Devices: what auto picks, the one-line refusal of a missing GPU (this machine has none), the
device recorded in config.yaml with the CPU path's fused kernels (which step aside elsewhere),
--amp refused off CUDA, and --sync-bn's swap of the batch-norm layers."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

import cnnzoo.train.engine as engine
from cnnzoo import create_model
from cnnzoo.cli import main
from cnnzoo.data import load_data
from cnnzoo.train import Recipe, build_model, fit
from cnnzoo.train.devices import resolve_device
from cnnzoo.train.distributed import SyncBatchNorm2d

ONE_EPOCH = Recipe(name="test", batch_size=50, epochs=1, eval_batch_size=100)


def _no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_auto_is_the_cpu_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_gpu(monkeypatch)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["cuda", "cuda:1", "mps"])
def test_a_missing_device_is_refused_in_one_line(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_gpu(monkeypatch)
    with pytest.raises(ValueError, match=rf"^--device {name}: this machine has no CUDA device"):
        resolve_device(name)
    assert main(["train", "lenet5", "--device", name, "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("no MPS; use --device cpu (or auto)\n")


def test_unknown_device_names_the_choices() -> None:
    with pytest.raises(
        ValueError, match="unknown device 'tpu'; choose one of auto, cpu, cuda, mps"
    ):
        resolve_device("tpu")


def test_cpu_run_records_its_device_and_keeps_the_fused_path(tmp_path: Path) -> None:
    data = load_data("digits", limit=100, image_size=28)  # fashion_cnn's input: it fuses
    model = build_model("fashion_cnn", data, ONE_EPOCH)
    fit(model, data, ONE_EPOCH, tmp_path / "run", evaluate_test=False, device="cpu")
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["device"] == "cpu"
    assert config["fused_layers"]  # the numba kernels run on the CPU path


def test_amp_is_refused_off_cuda_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "lenet5", "--amp", "--epochs", "1", "--limit", "20"]) == 2
    assert capsys.readouterr().err == (
        "error: --amp is CUDA's fp16 mixed precision (autocast and a gradient scaler) and this "
        "run is on cpu; leave out --amp, or use --bf16 (bf16 autocast, no scaler needed)\n"
    )


def test_the_fused_kernels_step_aside_off_the_cpu() -> None:
    # No GPU here: the choice itself is checked on a stand-in run "on" CUDA.
    model = create_model("fashion_cnn")
    run = SimpleNamespace(
        recipe=ONE_EPOCH, device=torch.device("cuda"), model=model, forward=model,
        evaluated=model, say=print,
    )  # fmt: skip
    config: dict[str, object] = {}
    engine._speed_up(run, config)  # type: ignore[arg-type]
    assert run.forward is model and run.evaluated is model and "fused_layers" not in config
    run.device = torch.device("cpu")
    engine._speed_up(run, config)  # type: ignore[arg-type]
    assert run.forward is not model and config["fused_layers"]


def test_sync_bn_in_one_process_swaps_batch_norm_and_skips_the_fused_kernels(
    tmp_path: Path,
) -> None:
    data = load_data("digits", limit=40, image_size=32, in_chans=3)
    model = build_model("resnet20", data, ONE_EPOCH)
    fit(model, data, ONE_EPOCH, tmp_path / "run", evaluate_test=False, sync_bn=True)
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["sync_bn"] is True and "fused_layers" not in config
    assert sum(type(m) is SyncBatchNorm2d for m in model.modules()) == 19
