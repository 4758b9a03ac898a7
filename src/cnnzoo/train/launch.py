"""Start the ranks of a data-parallel run with torch.distributed's elastic launcher, the engine
of torchrun, inside this process: ``nproc`` ranks on this machine (``--standalone``), or
``nproc`` ranks on each of ``nnodes`` machines that meet at node 0's ``HOST:PORT`` (torchrun's
static rendezvous: node 0 hosts the store there). Bad input is refused before anything starts,
and a failed run ends in one line that says which rank failed and how to continue.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from cnnzoo.train import distributed

__all__ = ["LAUNCH_OPTIONS", "Launch", "check_launch", "parse_endpoint", "run_ranks"]

LAUNCH_OPTIONS = ("--nproc", "--nnodes", "--node-rank", "--rdzv-endpoint")
"""The command-line options that start ranks: the ranks themselves run without them."""


@dataclass(frozen=True)
class Launch:
    """Where the ranks of a run go."""

    nproc: int = 1
    """Ranks on this machine."""
    nnodes: int = 1
    node_rank: int = 0
    endpoint: str | None = None
    """``HOST:PORT`` of node 0 (several nodes only)."""

    @property
    def world(self) -> int:
        return self.nproc * self.nnodes

    @property
    def needed(self) -> bool:
        """Whether the command asks for ranks (more than this one process, or bad counts)."""
        return (self.nproc, self.nnodes, self.node_rank, self.endpoint) != (1, 1, 0, None)


def parse_endpoint(text: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT``; ``ValueError`` naming what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"--rdzv-endpoint {text!r}: expected HOST:PORT of node 0 with a port from 1 to "
            "65535, e.g. --rdzv-endpoint 10.0.0.1:29500"
        )
    return host.strip("[]"), int(port)


def check_launch(launch: Launch, device: torch.device) -> None:
    """Refuse, in one line each, what cannot start: counts out of range, more ranks than
    cores (CPU) or GPUs, several nodes without a meeting point, a port node 0 cannot take."""
    if launch.nproc < 1 or launch.nnodes < 1:
        raise ValueError(
            f"--nproc and --nnodes count processes and machines: at least 1, got "
            f"--nproc {launch.nproc} --nnodes {launch.nnodes}"
        )
    _check_local_ranks(launch.nproc, device)
    if not 0 <= launch.node_rank < launch.nnodes:
        raise ValueError(
            f"--node-rank {launch.node_rank} is not one of the {launch.nnodes} nodes; give "
            f"0 to {launch.nnodes - 1} (0 on the machine of --rdzv-endpoint)"
        )
    if launch.nnodes > 1 and not launch.endpoint:
        raise ValueError(
            f"--nnodes {launch.nnodes} needs --rdzv-endpoint HOST:PORT, the address of node 0 "
            "where the nodes meet (the same on every node), e.g. --rdzv-endpoint 10.0.0.1:29500"
        )
    if launch.endpoint and launch.nnodes == 1:
        raise ValueError(
            "--rdzv-endpoint is where several nodes meet; give --nnodes N (N > 1) with it, or "
            "leave it out on one machine (--nproc picks a free port itself)"
        )
    if launch.endpoint:
        host, port = parse_endpoint(launch.endpoint)
        if launch.node_rank == 0:
            _check_port_free(host, port)


def _check_local_ranks(nproc: int, device: torch.device) -> None:
    if device.type == "cuda":
        gpus = torch.cuda.device_count()
        if nproc > gpus:
            raise ValueError(
                f"--nproc {nproc} is more than this machine's {gpus} CUDA device(s): one rank "
                f"per GPU; give at most {gpus}"
            )
        return
    cores = os.cpu_count() or 1
    if nproc > cores:
        raise ValueError(
            f"--nproc {nproc} is more than this machine's {cores} cores; give at most {cores}"
        )


def _check_port_free(host: str, port: int) -> None:
    """Node 0 listens on ``port`` (on every interface, as torch's TCPStore does): is it free?"""
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    # As TCPStore does: a port a finished run left in TIME_WAIT is free, a listener is not.
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("", port))
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        raise ValueError(
            f"port {port} on this machine (node 0, --rdzv-endpoint {host}:{port}) is already "
            "in use, by another run or program; give a free port, e.g. --rdzv-endpoint "
            f"{host}:{port + 1} (the same on every node), or stop what listens on {port}"
        ) from None
    finally:
        probe.close()


def _torchrun_args(launch: Launch) -> list[str]:
    if launch.nnodes == 1:
        return ["--standalone", f"--nproc-per-node={launch.nproc}"]
    host, port = parse_endpoint(str(launch.endpoint))
    return [
        f"--nnodes={launch.nnodes}",
        f"--node-rank={launch.node_rank}",
        f"--nproc-per-node={launch.nproc}",
        f"--master-addr={host}",
        f"--master-port={port}",
    ]


@contextlib.contextmanager
def _launcher_environment() -> Iterator[None]:
    """The ranks' environment (they inherit this process's), and torchrun's log lines off:
    a failure is reported in one line by :func:`run_ranks` instead."""
    saved = {key: os.environ.get(key) for key in ("OMP_NUM_THREADS", distributed.LAUNCHER_ENV)}
    # torchrun's own default (one thread per rank), set here so it does not warn about it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ[distributed.LAUNCHER_ENV] = "1"
    logger = logging.getLogger("torch.distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_ranks(launch: Launch, argv: Sequence[str], run_dir: str | Path) -> int:
    """Run ``python -m cnnzoo ARGV`` as this node's ranks; the exit status (0: trained).

    ``argv`` is the command without :data:`LAUNCH_OPTIONS`; ``run_dir`` is the run's folder
    (rank 0's), named in the line that says how to continue after a failure.
    """
    # start-up: torchrun's modules (0.2 s after torch) load only when ranks are launched
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError  # start-up
    from torch.distributed.run import parse_args, run  # start-up: as above

    command = [*_torchrun_args(launch), "-m", "cnnzoo", *argv]
    resume = f"cnnzoo train --resume {run_dir} (any --nproc)"
    with _launcher_environment():
        try:
            run(parse_args(command))
        except ChildFailedError as error:
            return _report_failure(launch, error.failures, resume)
        except SignalException as stop:
            print(f"\ninterrupted; continue with: {resume}", file=sys.stderr, flush=True)
            return 130 if stop.sigval == signal.SIGINT else 143
    return 0


def _report_failure(launch: Launch, failures: Mapping[int, object], resume: str) -> int:
    """One line for the failure that caused the others: a rank killed by a signal, or ranks
    that lost contact with another node's; a rank that exited with an error has said why."""
    stopped = (signal.SIGTERM, -signal.SIGTERM, 128 + signal.SIGTERM, distributed.LOST_RANK_EXIT)
    items = sorted(failures.items(), key=lambda item: getattr(item[1], "timestamp", 0))
    causes = [(rank, f) for rank, f in items if getattr(f, "exitcode", 1) not in stopped]
    rank, failure = (causes or items)[0]
    code = int(getattr(failure, "exitcode", 1))
    where = f" on node {launch.node_rank}" if launch.nnodes > 1 else ""
    if code < 0:
        name = signal.Signals(-code).name
        print(
            f"error: rank {rank} of {launch.world}{where} (pid {getattr(failure, 'pid', '?')}) "
            f"was killed by {name}; the other ranks were stopped. The run folder keeps its last "
            f"completed epoch: continue with {resume}",
            file=sys.stderr,
            flush=True,
        )
        return 1
    if code == distributed.LOST_RANK_EXIT:
        print(
            f"error: the ranks{where} lost contact with the other processes (a rank on another "
            f"node died or hung, or the network failed: that node's output says which); the "
            f"run folder keeps its last completed epoch: continue with {resume}",
            file=sys.stderr,
            flush=True,
        )
        return 1
    return code
