"""Search spaces for sweeps: ``field=log:1e-4:1e-1``, ``field=float:0:0.5``, ``field=int:1:8``
and ``field=choice:64,128,256``, where ``field`` is a :class:`~cnnzoo.train.Recipe` field.

Checked before any trial runs: an unknown field gets the closest recipe fields as a suggestion,
an empty or inverted range and a value the recipe would refuse are one-line errors.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import yaml

from cnnzoo.train import Recipe, RecipeError

__all__ = ["KINDS", "Param", "parse_space", "suggest"]

KINDS = ("log", "float", "int", "choice")
"""``log``: log-uniform float; ``float``/``int``: uniform; ``choice``: one of a list."""

# What a sweep may not vary: the names, and the data the trials are compared on.
_FIXED = (
    "name",
    "description",
    "source",
    "model",
    "data",
    "val_fraction",
    "limit",
    "seed",
    "image_size",
    "in_chans",
)


@dataclass(frozen=True)
class Param:
    """One dimension of a search space."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = ()

    def spec(self) -> str:
        """The ``--space`` text that gives this parameter (stored with the study)."""
        if self.kind == "choice":
            return f"{self.name}=choice:" + ",".join(map(str, self.choices))
        return f"{self.name}={self.kind}:{self.low:g}:{self.high:g}"


def _field_name(name: str, spec: str) -> str:
    fields = [f.name for f in dataclasses.fields(Recipe) if f.name not in _FIXED]
    if name in _FIXED:
        raise ValueError(
            f"--space {spec!r}: {name!r} is fixed for a whole sweep (trials are compared on the "
            f"same data); set it with --recipe or the sweep's options instead"
        )
    if name not in fields:
        close = difflib.get_close_matches(name, fields, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ValueError(
            f"--space {spec!r}: {name!r} is not a recipe field; {hint}recipe fields: "
            + ", ".join(fields)
        )
    return name


def _number(text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--space {spec!r}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"--space {spec!r}: the bounds must be finite numbers, got {text!r}")
    return value


def _parse_one(spec: str) -> Param:
    name, sep, rest = spec.partition("=")
    kind, sep2, values = rest.partition(":")
    if not sep or not sep2 or kind not in KINDS:
        raise ValueError(
            f"--space {spec!r}: expected FIELD=KIND:VALUES with KIND one of {', '.join(KINDS)}, "
            "e.g. lr=log:1e-4:1e-1 or batch_size=choice:64,128,256"
        )
    name = _field_name(name.strip(), spec)
    if kind == "choice":
        choices = tuple(yaml.safe_load(v) for v in values.split(",") if v.strip())
        if not choices:
            raise ValueError(f"--space {spec!r}: the choice list is empty; give values a,b,c")
        repeated = next((c for i, c in enumerate(choices) if c in choices[:i]), None)
        if repeated is not None:  # TPE would sample the repeated value twice as often
            raise ValueError(
                f"--space {spec!r}: the choice list gives {repeated!r} more than once; give each "
                "value once"
            )
        return Param(name, kind, choices=choices)
    bounds = values.split(":")
    if len(bounds) != 2:
        raise ValueError(f"--space {spec!r}: expected {kind}:LOW:HIGH, e.g. {name}={kind}:1:8")
    low, high = (_number(b, spec) for b in bounds)
    if not low < high:
        raise ValueError(
            f"--space {spec!r}: the range {low:g}..{high:g} is empty; LOW must be below HIGH"
        )
    if kind == "log" and low <= 0:
        raise ValueError(f"--space {spec!r}: a log range must be positive, got LOW {low:g}")
    if kind == "int" and (low != int(low) or high != int(high)):
        raise ValueError(f"--space {spec!r}: an int range needs whole-number bounds")
    return Param(name, kind, low, high)


def parse_space(specs: Sequence[str], base: Recipe) -> list[Param]:
    """The parameters ``specs`` describe, each checked against ``base`` (every bound and
    choice must make a valid recipe)."""
    if not specs:
        raise ValueError("a sweep needs at least one --space, e.g. --space lr=log:1e-4:1e-1")
    params = [_parse_one(spec) for spec in specs]
    names = [p.name for p in params]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"--space gives {', '.join(repeated)} more than once; give each once")
    for param in params:
        values = param.choices or (param.low, param.high)
        for value in values:
            if param.kind == "int":
                value = int(value)
            try:
                base.override(where=f"--space {param.spec()}", **{param.name: value})
            except RecipeError as error:
                raise ValueError(str(error)) from None
    return params


def suggest(trial: optuna.Trial, params: Sequence[Param]) -> dict[str, Any]:
    """The trial's values for ``params`` (the recipe overrides)."""
    values: dict[str, Any] = {}
    for p in params:
        if p.kind == "choice":
            values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        elif p.kind == "int":
            values[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high))
        else:
            values[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.kind == "log")
    return values
