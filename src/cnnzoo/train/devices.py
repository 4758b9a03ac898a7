"""Which device computes: ``auto`` (CUDA, else Apple's MPS, else the CPU), ``cpu``, ``cuda``
(``cuda:N``) or ``mps``; a device that is not there is refused in one line saying what was found.
"""

from __future__ import annotations

import torch

__all__ = ["DEVICES", "describe_devices", "resolve_device"]

DEVICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def describe_devices() -> str:
    """What this machine offers, for error messages: torch's CUDA build, GPUs, MPS."""
    cuda = (
        f"{torch.cuda.device_count()} CUDA device(s)"
        if torch.cuda.is_available()
        else (
            f"no CUDA device (torch {torch.__version__} built "
            + (f"with CUDA {torch.version.cuda}" if torch.version.cuda else "without CUDA")
            + ")"
        )
    )
    return f"{cuda}, {'MPS' if _mps_available() else 'no MPS'}"


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """The ``torch.device`` for ``name``; ``ValueError`` if it is not on this machine."""
    text = str(name or "auto")
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    kind = text.split(":")[0]
    if kind not in DEVICES:
        raise ValueError(f"unknown device {text!r}; choose one of {', '.join(DEVICES)}")
    device = torch.device(text)
    if kind == "cuda" and (
        not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()
    ):
        raise ValueError(
            f"--device {text}: this machine has {describe_devices()}; use --device cpu (or auto)"
        )
    if kind == "mps" and not _mps_available():
        raise ValueError(
            f"--device mps: this machine has {describe_devices()}; use --device cpu (or auto)"
        )
    return device
