"""`cnnzoo train / evaluate / predict / demo / recipes` end to end on tiny runs."""

from pathlib import Path

import pytest
import yaml

from cnnzoo.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torchvision.io.write_png
def test_train_evaluate_predict_resume(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    code, out, err = run(
        capsys,
        "train",
        "lenet5",
        "--limit",
        "100",
        "--epochs",
        "1",
        "--lr",
        "0.002",
        "--augment",
        "fashion",
        "--quiet",
        "--run-dir",
        str(run_dir),
    )
    assert code == 0, err
    assert f"checkpoint: {run_dir / 'checkpoints' / 'best.safetensors'}" in out
    assert "test top-1 " in out and f"curves:     {run_dir / 'curves.png'}" in out
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    # lenet5 on digits picks the lenet5-digits recipe; flags override its fields.
    assert config["recipe"]["name"] == "lenet5-digits"
    assert (config["recipe"]["lr"], config["recipe"]["epochs"], config["recipe"]["limit"]) == (
        0.002,
        1,
        100,
    )
    assert config["recipe"]["augment"] == "fashion" and config["model"] == "lenet5"

    code, _, err = run(capsys, "train", "lenet5", "--limit", "100", "--run-dir", str(run_dir))
    assert code == 2 and f"{run_dir} already holds a run; continue it with" in err
    code, out, err = run(capsys, "train", "--resume", str(run_dir), "--epochs", "2", "--quiet")
    assert code == 0, err
    assert (run_dir / "metrics.csv").read_text().count("\n") == 3  # header + 2 epochs
    code, _, err = run(capsys, "train", "--resume", str(run_dir), "--lr", "0.1")
    assert code == 2 and "when resuming only --epochs" in err

    code, out, err = run(
        capsys,
        "evaluate",
        str(run_dir),
        "--ensemble",
        str(run_dir / "checkpoints" / "last.safetensors"),
        "--split",
        "val",
    )
    assert code == 0, err
    assert "ensemble of 2 checkpoints on digits val" in out and "top-1 " in out
    assert "confusion matrix (rows: true, columns: predicted)" in out

    from PIL import Image

    from cnnzoo.data import load_data

    image = load_data("digits", limit=20).test.images[0]
    Image.fromarray(image[0].numpy()).save(tmp_path / "digit.png")
    code, out, err = run(capsys, "predict", str(run_dir), str(tmp_path / "digit.png"), "--top", "3")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{tmp_path / 'digit.png'}:" and len(lines) == 4 and lines[1].endswith("%")
    code, _, err = run(capsys, "predict", str(run_dir), str(tmp_path))
    assert code == 2 and f"error: {tmp_path} is a directory; give image files (e.g." in err


def test_cli_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "train", "lenett5")
    assert code == 2 and "unknown model 'lenett5'" in err and "lenet5" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: 0.1\n")
    code, _, err = run(capsys, "train", "lenet5", "--recipe", str(bad))
    assert code == 2 and f"error: {bad}: unknown field 'learning_rate'" in err
    code, _, err = run(capsys, "train", "lenet5", "--epochs", "0")
    assert code == 2 and "field 'epochs' is 0; it must be >= 1" in err
    code, _, err = run(
        capsys,
        "train",
        "lenet5",
        "--image-size",
        "8",
        "--limit",
        "20",
        "--quiet",
        "--run-dir",
        str(tmp_path / "small"),
    )
    assert code == 2 and "input 1x8x8 does not fit lenet5" in err
    code, _, err = run(capsys, "evaluate", str(tmp_path / "nowhere"))
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "predict", str(tmp_path / "nowhere.safetensors"), "x.png")
    assert code == 2 and "does not exist" in err


def test_demo_and_recipes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(
        capsys, "demo", "--epochs", "1", "--quiet", "--run-dir", str(tmp_path / "d")
    )
    assert code == 0, err
    assert "cnnzoo demo: LeNet-5" in out
    assert "features.c1" in out and "Params: 61,706" in out  # the per-layer summary
    assert "test top-1 " in out and str(tmp_path / "d" / "curves.png") in out
    code, out, _ = run(capsys, "recipes")
    assert code == 0 and "resnet-cifar " in out and "fashion-cnn " in out
    code, out, _ = run(capsys, "recipes", "alexnet")
    assert code == 0 and "lr: 0.01\n" in out and "weight_decay: 0.0005\n" in out


def test_bad_numbers_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for threads in ("-1", "0"):
        code, _, err = run(capsys, "train", "lenet5", "--threads", threads)
        assert code == 2 and err.startswith("error: --threads must be at least 1 (torch's")
    code, _, err = run(capsys, "demo", "--threads", "0")
    assert code == 2 and "--threads must be at least 1" in err
    code, _, err = run(capsys, "predict", str(tmp_path), "x.png", "--top", "-2")
    assert (
        code == 2 and err == "error: --top must be at least 1 (how many classes to show), got -2\n"
    )
    for value in ("nan", "inf"):
        code, _, err = run(
            capsys, "train", "lenet5", "--lr", value, "--run-dir", str(tmp_path / value)
        )
        assert (
            code == 2 and f"error: command line: field 'lr' is {value}; it must be a finite" in err
        )
        assert not (tmp_path / value).exists()  # refused before training: no run folder


def test_broken_run_files_are_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("model: lenet5\nrecipe: {lr: [\n")
    code, _, err = run(capsys, "train", "--resume", str(run_dir))
    assert code == 2 and err.startswith(f"error: {run_dir / 'config.yaml'} is not valid YAML (")
    (run_dir / "config.yaml").write_text("")
    code, _, err = run(capsys, "train", "--resume", str(run_dir))
    assert code == 2 and f"{run_dir / 'config.yaml'} is empty; it is written by" in err
    code, _, err = run(capsys, "predict", str(tmp_path / "nowhere"), str(tmp_path))
    assert code == 2 and "checkpoint" in err and "does not exist" in err


def _write_idx_set(root: Path, folder: str, n_train: int = 50, n_test: int = 20) -> None:
    """A tiny MNIST-format set (random pixels, balanced labels) under root/folder/raw."""
    import gzip

    import numpy as np

    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        for kind, array in (
            ("images-idx3", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
            ("labels-idx1", np.arange(n, dtype=np.uint8) % 10),
        ):
            header = bytes([0, 0, 8, array.ndim]) + b"".join(
                int(d).to_bytes(4, "big") for d in array.shape
            )
            (raw / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(header + array.tobytes()))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_runs_keep_their_data_settings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_idx_set(tmp_path / "sets", "MNIST")
    _write_idx_set(tmp_path / "sets", "FashionMNIST")
    monkeypatch.chdir(tmp_path)
    argv = ["train", "lenet5", "--data", "mnist", "--data-dir", "sets", "--epochs", "1"]
    code, _, err = run(capsys, *argv, "--quiet", "--run-dir", "run")
    assert code == 0, err
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["data_dir"] == str(tmp_path / "sets")  # absolute, not "sets"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = run(capsys, "evaluate", str(tmp_path / "run"))  # the run's own data
    assert code == 0, err
    assert out.startswith(f"{tmp_path / 'run'} on mnist test (20 images)") and err == ""
    code, out, err = run(
        capsys,
        "evaluate",
        str(tmp_path / "run"),
        "--data",
        "fashion_mnist",
        "--data-dir",
        str(tmp_path / "sets"),
    )
    assert code == 0, err
    assert err == (
        f"warning: {tmp_path / 'run'} was trained on mnist, not fashion_mnist; its classes "
        "(0, 1, 2, 3, ...) are not fashion_mnist's (T-shirt/top, Trouser, Pullover, Dress, ...): "
        "predictions are scored by class index only\n"
    )


def test_sigterm_stops_like_ctrl_c(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal

    import cnnzoo.cli.train as cli_train

    fit = cli_train.fit

    def fit_then_sigterm(*args, **kwargs):
        def terminate(row: dict) -> None:
            if row["epoch"] == 1:
                os.kill(os.getpid(), signal.SIGTERM)  # what a job scheduler sends

        return fit(*args, on_epoch_end=terminate, **kwargs)

    monkeypatch.setattr(cli_train, "fit", fit_then_sigterm)
    run_dir = tmp_path / "run"
    argv = ["train", "lenet5", "--limit", "100", "--epochs", "2", "--quiet"]
    code, _, err = run(capsys, *argv, "--run-dir", str(run_dir))
    assert code == 143
    assert f"interrupted; continue with: cnnzoo train --resume {run_dir}" in err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is put back
    monkeypatch.setattr(cli_train, "fit", fit)
    code, _, err = run(capsys, "train", "--resume", str(run_dir), "--quiet")
    assert code == 0, err
    assert (run_dir / "metrics.csv").read_text().count("\n") == 3  # header + 2 epochs


def test_evaluate_and_predict_run_the_folded_model(tmp_path: Path) -> None:
    import torch

    from cnnzoo import create_model
    from cnnzoo.cli.train import _load_any
    from cnnzoo.train import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model = create_model("resnet20", num_classes=10)
    with torch.no_grad():  # statistics away from the identity, so a wrong fold shows
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
    save_checkpoint(tmp_path / "m.safetensors", model, {"model": "resnet20", "model_kwargs": {}})
    loaded, _ = _load_any(str(tmp_path / "m.safetensors"), load_checkpoint)
    plain, _ = load_checkpoint(tmp_path / "m.safetensors")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.modules())
    assert loaded.num_classes == 10
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), plain(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("flag", "expected"), [("--channels-last", True), ("--no-channels-last", False)]
)
def test_memory_format_flags_force_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str, expected: bool
) -> None:
    args = ("train", "lenet5", "--limit", "100", "--epochs", "1", "--quiet", flag)
    code, _, err = run(capsys, *args, "--run-dir", str(tmp_path / "run"))
    assert code == 0, err
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["memory_format"] == {
        "channels_last": expected,
        "decided_by": f"set: channels_last {str(expected).lower()}",
    }
