"""Data parallel on torch.distributed: the shards of a global batch; 2 processes (gloo, through
`cnnzoo train --nproc 2`, i.e. torchrun's launcher), two "nodes" on 127.0.0.1, and runs resumed
with another number of processes, all against 1 process with the same global batch; a rank
killed mid-epoch; SyncBatchNorm; and the launch options' bad input."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
import yaml
from safetensors.torch import load_file

import cnnzoo.train.engine as engine
from cnnzoo import create_model
from cnnzoo.cli import main
from cnnzoo.train import LostRankError, build_model, fit, load_data_for, load_recipe
from cnnzoo.train.distributed import (
    FAULT_ENV,
    SyncBatchNorm2d,
    convert_sync_batchnorm,
    shard,
    sum_gradients,
)

SRC = Path(__file__).resolve().parents[2] / "src"
# LeNet-5 has neither batch norm nor dropout: the ranks' summed gradients are the gradient of
# the global batch, so only float summation order differs from one process.
ARGS = ["train", "lenet5", "--epochs", "2", "--limit", "100", "--batch-size", "50"]
ARGS += ["--threads", "1", "--quiet"]


def _cnnzoo(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cnnzoo", *args],
        env={**os.environ, "PYTHONPATH": str(SRC), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Exit status and stderr; a hang fails the test instead of blocking it."""
    _, err = process.communicate(timeout=300)
    return process.returncode, err


def _assert_same_weights(run: Path, reference: Path, atol: float = 1e-5) -> None:
    mine = load_file(run / "checkpoints" / "last.safetensors")
    theirs = load_file(reference / "checkpoints" / "last.safetensors")
    assert mine.keys() == theirs.keys()
    for name in mine:
        torch.testing.assert_close(mine[name], theirs[name], rtol=0, atol=atol)


def _config(run: Path) -> dict[str, object]:
    return yaml.safe_load((run / "config.yaml").read_text())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: 2 epochs of LeNet-5 in 1 process."""
    run = tmp_path_factory.mktemp("one") / "run"
    assert main([*ARGS, "--run-dir", str(run)]) == 0
    return run


def test_shards_cover_a_batch_once_in_order() -> None:
    images, labels = torch.arange(7).view(7, 1, 1, 1), torch.arange(7)
    parts = [shard(images, labels, rank, 3)[1].tolist() for rank in range(3)]
    assert parts == [[0, 1, 2], [3, 4], [5, 6]]


@pytest.mark.parametrize("rank", [0, 1])
def test_shard_of_an_even_batch_is_half(rank: int) -> None:
    images, labels = torch.zeros(4, 1, 1, 1), torch.arange(4)
    assert shard(images, labels, rank, 2)[1].tolist() == [2 * rank, 2 * rank + 1]


@pytest.mark.slow
def test_two_processes_train_the_weights_one_process_trains(
    one_process: Path, tmp_path: Path
) -> None:
    code, err = _finish(_cnnzoo(*ARGS, "--run-dir", str(tmp_path / "two"), "--nproc", "2"))
    assert code == 0, err[-2000:]
    _assert_same_weights(tmp_path / "two", one_process)
    assert _config(tmp_path / "two")["processes"] == 2
    rows = [
        (r / "metrics.csv").read_text().splitlines()[1:] for r in (one_process, tmp_path / "two")
    ]
    val_acc = [[row.split(",")[5] for row in run] for run in rows]
    assert val_acc[0] == val_acc[1]  # the same evaluation of nearly equal weights


@pytest.mark.slow
def test_two_nodes_on_loopback_train_the_weights_one_process_trains(
    one_process: Path, tmp_path: Path
) -> None:
    # Two launches as two machines would start them: one rank each, meeting at node 0's port.
    nodes = ["--nnodes", "2", "--rdzv-endpoint", f"127.0.0.1:{_free_port()}"]
    run = ["--run-dir", str(tmp_path / "nodes")]
    node0 = _cnnzoo(*ARGS, *run, *nodes, "--node-rank", "0")
    node1 = _cnnzoo(*ARGS, *run, *nodes, "--node-rank", "1")
    (code0, err0), (code1, err1) = _finish(node0), _finish(node1)
    assert (code0, code1) == (0, 0), err0[-1500:] + err1[-1500:]
    _assert_same_weights(tmp_path / "nodes", one_process)
    assert _config(tmp_path / "nodes")["processes"] == 2


@pytest.mark.slow
def test_a_killed_rank_stops_the_other_in_one_line_and_the_run_resumes_with_one(
    one_process: Path, tmp_path: Path
) -> None:
    run = tmp_path / "killed"
    # Rank 1 is SIGKILLed as epoch 2 starts: rank 0 is left waiting in the all-reduce.
    process = _cnnzoo(*ARGS, "--run-dir", str(run), "--nproc", "2", env={FAULT_ENV: "1:2:1"})
    code, err = _finish(process)
    assert code == 1
    assert re.fullmatch(
        r"error: rank 1 of 2 \(pid \d+\) was killed by SIGKILL; the other ranks were stopped\. "
        rf"The run folder keeps its last completed epoch: continue with cnnzoo train --resume "
        rf"{re.escape(str(run))} \(any --nproc\)\n",
        err,
    ), err
    assert main(["train", "--resume", str(run), "--threads", "1", "--quiet"]) == 0
    assert _config(run)["resumed_from_epoch"] == 1 and _config(run)["processes"] == 1
    _assert_same_weights(run, one_process)


@pytest.mark.slow
def test_a_one_process_run_resumes_with_two(one_process: Path, tmp_path: Path) -> None:
    recipe = load_recipe("lenet5-digits").override(epochs=2, limit=100, batch_size=50)
    data = load_data_for("lenet5", recipe)

    def stop_after_first(row: dict[str, float]) -> None:
        raise KeyboardInterrupt  # the run keeps epoch 1, as after Ctrl-C

    with pytest.raises(KeyboardInterrupt):
        fit(build_model("lenet5", data, recipe), data, recipe, tmp_path / "run",
            on_epoch_end=stop_after_first, log=lambda text: None, model_name="lenet5")  # fmt: skip
    resumed = _cnnzoo("train", "--resume", str(tmp_path / "run"), "--nproc", "2", "--quiet")
    code, err = _finish(resumed)
    assert code == 0, err[-2000:]
    assert _config(tmp_path / "run")["processes"] == 2
    _assert_same_weights(tmp_path / "run", one_process)


# -- SyncBatchNorm -----------------------------------------------------------------------------


def _loss_and_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, weight: float) -> None:
    model.zero_grad()
    (F.cross_entropy(model(x), y) * weight).backward()


def _sync_bn_rank(rank: int, port: int, sync: bool, result: dict[str, float]) -> None:
    """One of 2 ranks: ResNet-20's gradient on its half of 10 images, summed over the ranks,
    against one process's on all 10 (float64: only rounding may differ)."""
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        torch.manual_seed(0)
        model = create_model("resnet20").double()
        if sync:
            assert convert_sync_batchnorm(model) == 19
        generator = torch.Generator().manual_seed(1)
        x = torch.randn(10, 3, 32, 32, generator=generator, dtype=torch.float64)
        y = torch.randint(0, 10, (10,), generator=generator)
        xs, ys = shard(x, y, rank, 2)
        _loss_and_grads(model, xs, ys, xs.shape[0] / 10)
        sum_gradients(model)
        if rank == 0:
            torch.manual_seed(0)
            ref = create_model("resnet20").double()
            _loss_and_grads(ref, x, y, 1.0)
            pairs = zip(model.parameters(), ref.parameters(), strict=True)
            result["grad"] = max(float((p.grad - q.grad).abs().max()) for p, q in pairs)  # type: ignore[operator]
            stats = zip(model.buffers(), ref.buffers(), strict=True)
            result["stats"] = max(float((a - b).abs().max()) for a, b in stats)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("sync", [True, False])
def test_sync_batchnorm_gives_two_ranks_the_gradient_of_the_whole_batch(sync: bool) -> None:
    result = mp.Manager().dict()
    mp.spawn(_sync_bn_rank, args=(_free_port(), sync, result), nprocs=2)
    if sync:  # exact up to float64 rounding: statistics and gradients of all 10 images
        assert result["grad"] < 1e-12 and result["stats"] < 1e-12
    else:  # each rank's batch norm saw 5 images: visibly another gradient
        assert result["grad"] > 1e-2 and result["stats"] > 1e-2


def test_sync_batchnorm_in_one_process_group_is_batchnorm() -> None:
    torch.manual_seed(0)
    plain = nn.BatchNorm2d(3)
    synced = nn.BatchNorm2d(3)
    assert convert_sync_batchnorm(nn.Sequential(synced)) == 1 and type(synced) is SyncBatchNorm2d
    x = torch.randn(4, 3, 5, 5, requires_grad=True)
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        out = synced(x)
        grad = torch.autograd.grad(out.square().sum(), x)[0]
    finally:
        dist.destroy_process_group()
    expected = plain(x)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(grad, torch.autograd.grad(expected.square().sum(), x)[0])
    torch.testing.assert_close(synced.running_var, plain.running_var)
    assert synced.state_dict().keys() == plain.state_dict().keys()


# -- bad input ---------------------------------------------------------------------------------


def test_more_processes_than_cores_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    cores = os.cpu_count() or 1
    assert main(["train", "lenet5", "--nproc", str(cores + 1)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: --nproc {cores + 1} is more than this machine's {cores} cores; give at most "
        f"{cores}\n"
    )


def test_a_port_in_use_on_node_0_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        endpoint = ["--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint", f"127.0.0.1:{port}"]
        assert main(["train", "lenet5", *endpoint]) == 2
    assert capsys.readouterr().err == (
        f"error: port {port} on this machine (node 0, --rdzv-endpoint 127.0.0.1:{port}) is "
        "already in use, by another run or program; give a free port, e.g. --rdzv-endpoint "
        f"127.0.0.1:{port + 1} (the same on every node), or stop what listens on {port}\n"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--nnodes", "2"], "--nnodes 2 needs --rdzv-endpoint HOST:PORT, the address of node 0"),
        (
            ["--nnodes", "2", "--node-rank", "2", "--rdzv-endpoint", "127.0.0.1:29500"],
            "--node-rank 2 is not one of the 2 nodes; give 0 to 1",
        ),
        (
            ["--nnodes", "2", "--node-rank", "1", "--rdzv-endpoint", "node0"],
            "--rdzv-endpoint 'node0': expected HOST:PORT of node 0",
        ),
        (["--rdzv-endpoint", "127.0.0.1:29500"], "give --nnodes N (N > 1) with it"),
        (["--nproc", "0"], "at least 1, got --nproc 0 --nnodes 1"),
    ],
)
def test_bad_launch_options_are_one_line(
    options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "lenet5", *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_launch_options_under_torchrun_are_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")  # what torchrun sets for its ranks
    assert main(["train", "lenet5", "--nproc", "2"]) == 2
    assert "under torchrun leave them out" in capsys.readouterr().err


def test_a_failed_collective_is_one_error_that_says_how_to_go_on(tmp_path: Path) -> None:
    run = SimpleNamespace(
        world=2, rank=0, step=3, start_epoch=1, history=[{"epoch": 1.0}], folder=SimpleNamespace(path=tmp_path)
    )  # fmt: skip

    def peer_gone() -> None:
        raise RuntimeError(
            "[/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:545] Read error "
            "[127.0.0.1]:38815: Connection reset by peer. This is typically caused by ..."
        )

    with pytest.raises(LostRankError) as info:
        engine._collective(run, peer_gone)  # type: ignore[arg-type]
    assert str(info.value) == (
        "rank 0 of 2 lost contact with the other processes in epoch 2, step 3 (Read error "
        "[127.0.0.1]:38815: Connection reset by peer): another rank died, hung for longer than "
        "$CNNZOO_DIST_TIMEOUT seconds, or the network failed; the run folder keeps epoch 1: "
        f"continue with cnnzoo train --resume {tmp_path} (any --nproc)"
    )
    with pytest.raises(ValueError, match="not a collective"):  # other errors pass through
        engine._collective(run, lambda: (_ for _ in ()).throw(ValueError("not a collective")))
