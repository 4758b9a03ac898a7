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
