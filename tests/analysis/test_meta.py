"""meta_model: a registered model on meta tensors, built without its weight initialisation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode

from cnnzoo import create_model
from cnnzoo.analysis.meta import SkipMetaInit, meta_model


class _AtenOps(TorchDispatchMode):
    """Records the name of every ATen operator dispatched inside the block."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(
        self,
        func: Any,
        types: Sequence[type],
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        self.names.append(func._overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def _fills(names: list[str]) -> list[str]:
    return [n for n in names if n in {"normal_", "uniform_", "fill_", "zero_", "erfinv_"}]


@pytest.mark.parametrize(
    "name", ["resnet20", "densenet121", "vgg11", "mobilenet_v1_1_0_224", "squeezenet1_0"]
)
def test_meta_model_runs_no_weight_fill_and_keeps_every_shape(name: str) -> None:
    with _AtenOps() as plain_ops, torch.device("meta"):
        plain = create_model(name)
    with _AtenOps() as ops:
        model = meta_model(name)
    assert _fills(plain_ops.names), "the plain meta build does initialise (what this skips)"
    assert _fills(ops.names) == []
    assert {k: (v.shape, v.dtype, v.device.type) for k, v in model.state_dict().items()} == {
        k: (v.shape, v.dtype, v.device.type) for k, v in plain.state_dict().items()
    }
    assert model.card is plain.card  # type: ignore[attr-defined]


def test_real_tensors_built_under_the_mode_are_initialised_as_usual() -> None:
    torch.manual_seed(0)
    with SkipMetaInit():
        conv = nn.Conv2d(3, 8, 3)
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    torch.manual_seed(0)
    reference = nn.Conv2d(3, 8, 3)
    nn.init.kaiming_normal_(reference.weight, mode="fan_out", nonlinearity="relu")
    assert torch.equal(conv.weight, reference.weight) and torch.equal(conv.bias, reference.bias)
    assert conv.bias.abs().sum() > 0


def test_a_meta_build_leaves_the_random_state_as_a_plain_meta_build() -> None:
    torch.manual_seed(1)
    state = torch.random.get_rng_state()
    meta_model("resnet20")
    assert torch.equal(torch.random.get_rng_state(), state)


def test_metadata_changing_in_place_ops_still_run_on_meta() -> None:
    with torch.device("meta"), SkipMetaInit():
        x = torch.empty(2, 3)
        x.t_()
        x.unsqueeze_(0)
        x.fill_(1.0)
    assert x.shape == (1, 3, 2)
