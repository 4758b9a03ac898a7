"""Counting multiply-accumulates with ``torch.utils.flop_counter``'s formulas, quickly.

:class:`MacCounter` uses the same per-operator formulas as ``FlopCounterMode`` (the registry
of ``torch.utils.flop_counter``), so its totals agree with it exactly. ``FlopCounterMode``
decomposes every operator it has no formula for, on every call, to find matrix products
hidden inside; on meta tensors that decomposition (batch norm into elementwise primitives)
takes most of a summary's time. This counter decomposes each such operator once: if the
decomposition holds no counted operator, later calls of that operator run directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["MacCounter"]


class MacCounter(TorchDispatchMode):
    """``with MacCounter() as counter: model(x)``, then ``counter.macs`` (= FLOPs / 2)."""

    def __init__(self) -> None:
        super().__init__()
        # start-up: torch.utils.flop_counter imports triton, 0.3 s CPU of every `cnnzoo` command
        # (cnnzoo --help included) that only a count needs (benchmarks/startup.py).
        from torch.utils.flop_counter import flop_registry

        self._formulas: dict[Any, Any] = flop_registry
        self.flops = 0
        self._without_flops: set[Any] = set()

    @property
    def macs(self) -> int:
        return self.flops // 2

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # TorchDispatchMode wraps a subclass's __torch_dispatch__ in torch._disable_dynamo,
        # whose first call imports torch._dynamo: about 1 s CPU of every `cnnzoo summary`
        # (vgg16's whole command took 2.5 s). Counting on meta tensors never runs under
        # torch.compile, so there is nothing for dynamo to skip; False keeps the method as is.
        return False

    def __torch_dispatch__(
        self,
        func: Any,
        types: Sequence[type],
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        formula = self._formulas.get(func._overloadpacket)
        if formula is None and func not in self._without_flops:
            before = self.flops
            with self:
                result = func.decompose(*args, **kwargs)
            if result is not NotImplemented:
                if self.flops == before:
                    self._without_flops.add(func)
                return result
            self._without_flops.add(func)
        out = func(*args, **kwargs)
        if formula is not None:
            self.flops += int(formula(*args, **kwargs, out_val=out))
        return out
