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
