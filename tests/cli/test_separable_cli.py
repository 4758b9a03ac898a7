"""``cnnzoo separable`` prints the conversion report."""

import json

import pytest

from cnnzoo.cli import main


def test_separable_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["separable", "squeezenet1_1"]) == 0
    out = capsys.readouterr().out
    # conv1 (3 -> 64, 3x3/2 at 111x111): 1,792 params before, 27 + 192 + 64 bias = 283 after.
    assert "features.conv1" in out and "1,792" in out and "283" in out
    assert "Converted 9 convolutions" in out

    assert (
        main(["separable", "squeezenet1_1", "--exclude", "features.conv1", "--format", "json"]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert len(report["layers"]) == 8
    assert {"name": "features.conv1", "reason": "excluded"} in report["skipped"]
    layer = report["layers"][0]
    k, m, n = layer["kernel_size"], layer["in_channels"], layer["out_channels"]
    assert layer["new_params"] == k * k * m + m * n + n  # the expand3x3 bias moves to pointwise
