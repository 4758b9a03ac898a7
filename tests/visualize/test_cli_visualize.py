"""``cnnzoo visualize``: files written, paths printed, one-line errors."""

from pathlib import Path

import pytest

from cnnzoo.cli import build_parser, main
from cnnzoo.registry import create_model
from cnnzoo.train import save_checkpoint
from cnnzoo.visualize import IG_STEPS


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _run_folder(root: Path) -> Path:
    model = create_model("lenet5")
    meta = {
        "model": "lenet5",
        "model_kwargs": {"num_classes": 10, "in_chans": 1},
        "data": {
            "name": "digits",
            "split_seed": 0,
            "classes": [str(i) for i in range(10)],
            "input_size": [1, 32, 32],
            "mean": [0.2],
            "std": [0.3],
        },
        "recipe": {"val_fraction": 0.2, "seed": 0},
    }
    save_checkpoint(root / "checkpoints" / "best.safetensors", model, meta)
    return root


def test_run_folder_writes_into_the_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run_dir = _run_folder(tmp_path / "run")
    code, out, _ = run(capsys, "visualize", "guided-backprop", str(run_dir), "--index", "0", "1")
    assert code == 0
    assert out.strip() == str(run_dir / "visualize" / "guided-backprop-test-0-1.png")
    assert Path(out.strip()).stat().st_size > 1000
    code, out, _ = run(
        capsys,
        "visualize",
        "landscape",
        str(run_dir),
        "--grid",
        "2",
        "--limit",
        "8",
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 0 and [Path(p).name for p in out.split()] == [
        "landscape-1d-lenet5.png",
        "landscape-contour-lenet5.png",
        "landscape-surface-lenet5.png",
    ]


def test_gradcam_warns_and_filters_of_a_model_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_dir = str(tmp_path)
    code, out, _ = run(capsys, "visualize", "filters", "lenet5", "--out", out_dir)
    assert code == 0 and out == f"{tmp_path / 'filters-features.c1.png'}\n"
    code, out, _ = run(
        capsys,
        "visualize",
        "gradcam",
        "lenet5",
        "--data",
        "digits",
        "--layer",
        "features.act5",
        "--out",
        out_dir,
    )
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("warning: Grad-CAM layer 'features.act5' has a 1x1")
    assert "use --layer features.s4 (5x5)" in lines[0]
    assert lines[1] == str(tmp_path / "gradcam-features.act5-test-0.png")


def test_bad_input_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "visualize", "activations", "lenet5", "--data", "digits", "--layer", "features.c33"
    )
    assert code == 2 and err == (
        "error: LeNet5 has no layer 'features.c33'; did you mean features.c3, features.act3, features.c5?\n"
    )
    code, _, err = run(capsys, "visualize", "saliency", "lenet5")
    assert code == 2 and "bare model name: give the images with --image FILE" in err
    code, _, err = run(capsys, "visualize", "saliency", "lenet55")
    assert code == 2 and "lenet5" in err


def test_cli_integration_steps_are_the_library_default() -> None:
    args = build_parser().parse_args(["visualize", "integrated-gradients", "lenet5"])
    assert args.steps == IG_STEPS


def test_integrated_gradients_report_their_completeness(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["visualize", "integrated-gradients", "lenet5", "--data", "digits", "--index", "0", "1"]
    code, out, _ = run(capsys, *argv, "--out", str(tmp_path))
    lines = out.splitlines()
    assert (
        code == 0
        and lines[0].startswith("completeness error: 0.0")
        and f"({IG_STEPS} steps)" in lines[0]
    )
    assert lines[1:] == [str(tmp_path / "integrated-gradients-test-0-1.png")]
    code, out, _ = run(capsys, *argv, "--steps", "1", "--out", str(tmp_path))
    assert code == 0 and out.splitlines()[1] == (
        "warning: integrated gradients with 1 steps miss completeness by 22.4% (over 5%); "
        "give more --steps, e.g. 2"
    )
