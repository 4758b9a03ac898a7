"""The compression commands' bad input: one line, exit 2, before any data is loaded."""

from __future__ import annotations

import pytest

from cnnzoo.cli import main
from cnnzoo.cli.compress import parse_per_layer


def test_per_layer_values() -> None:
    assert parse_per_layer("0.9") == 0.9
    assert parse_per_layer("*=5,features.*=8", int) == {"*": 5, "features.*": 8}
    with pytest.raises(ValueError, match="LAYER=VALUE"):
        parse_per_layer("fc1=lots")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["prune", "nowhere", "--sparsity", "1.2"], "fraction in [0, 1)"),
        (["prune", "nowhere", "--sparsity", "0.5"], "does not exist"),
        (["export", "nowhere"], "does not exist"),
    ],
)
def test_bad_input_is_one_line(argv, message, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_separable_finetune_trains_the_converted_model(tmp_path, capsys) -> None:
    argv = [
        "separable",
        "lenet5_modern",
        "--kernel",
        "5",
        "--finetune",
        "--epochs",
        "1",
        "--limit",
        "60",
        "--run-dir",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Converted 2 convolutions (1 left alone)" in out
    assert "fine-tuned 1 epochs on digits: test top-1" in out
    assert (tmp_path / "run" / "checkpoints" / "best.safetensors").is_file()
