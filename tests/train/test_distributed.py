"""Data parallel on torch.distributed: the shards of a global batch, and 2 processes (gloo,
through `cnnzoo train --nproc 2`, i.e. torchrun) against 1 with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cnnzoo.cli import main
from cnnzoo.train.distributed import shard

SRC = Path(__file__).resolve().parents[2] / "src"


def test_shards_cover_a_batch_once_in_order() -> None:
    images, labels = torch.arange(7).view(7, 1, 1, 1), torch.arange(7)
    parts = [shard(images, labels, rank, 3)[1].tolist() for rank in range(3)]
    assert parts == [[0, 1, 2], [3, 4], [5, 6]]


def test_two_processes_train_the_weights_one_process_trains(tmp_path: Path) -> None:
    # LeNet-5 has neither batch norm nor dropout: the ranks' averaged gradients are the
    # gradient of the global batch, so only float summation order differs.
    args = ["train", "lenet5", "--epochs", "1", "--limit", "100", "--batch-size", "50"]
    args += ["--threads", "1", "--quiet"]
    assert main([*args, "--run-dir", str(tmp_path / "one")]) == 0
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    two = subprocess.run(
        [sys.executable, "-m", "cnnzoo", *args, "--run-dir", str(tmp_path / "two"), "--nproc", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert two.returncode == 0, two.stderr[-2000:]
    one_w = load_file(tmp_path / "one" / "checkpoints" / "last.safetensors")
    two_w = load_file(tmp_path / "two" / "checkpoints" / "last.safetensors")
    assert one_w.keys() == two_w.keys()
    for name in one_w:
        torch.testing.assert_close(two_w[name], one_w[name], rtol=0, atol=1e-5)
    assert "processes: 2" in (tmp_path / "two" / "config.yaml").read_text()
    rows = [(tmp_path / r / "metrics.csv").read_text().splitlines()[1] for r in ("one", "two")]
    val = [
        row.split(",")[5] for row in rows
    ]  # val_acc: the same evaluation of nearly equal weights
    assert val[0] == val[1]


@pytest.mark.parametrize("rank", [0, 1])
def test_shard_of_an_even_batch_is_half(rank: int) -> None:
    images, labels = torch.zeros(4, 1, 1, 1), torch.arange(4)
    assert shard(images, labels, rank, 2)[1].tolist() == [2 * rank, 2 * rank + 1]


def test_more_processes_than_cores_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    cores = os.cpu_count() or 1
    assert main(["train", "lenet5", "--nproc", str(cores + 1)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: --nproc {cores + 1} is more than this machine's {cores} cores; give at most "
        f"{cores}\n"
    )
