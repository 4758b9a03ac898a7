"""Side-by-side comparison of registered models, computed on meta tensors.

Besides size and cost it gives an efficiency view: *accuracy density* (reported top-1 per
million parameters, from the model cards) and MACs per parameter (how much compute each weight
is reused for: high for convolutions, 1 for fully connected layers).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cnnzoo.analysis.summary import parse_input_size, summary
from cnnzoo.analysis.tables import (
    check_format,
    csv_table,
    format_bytes,
    format_count,
    format_pct,
    markdown_table,
    text_table,
)
from cnnzoo.registry import get_model_card

__all__ = ["Comparison", "ComparisonRow", "compare"]


@dataclass
class ComparisonRow:
    name: str
    family: str
    year: int
    input_size: tuple[int, ...]
    params: int
    """Parameters used at inference (auxiliary training heads excluded)."""
    macs: int
    activation_bytes: int
    conv_params_pct: float
    conv_macs_pct: float
    top1: float | None
    dataset: str

    @property
    def accuracy_density(self) -> float | None:
        """Reported top-1 (%) per million parameters."""
        return None if self.top1 is None else self.top1 / (self.params / 1e6)

    @property
    def macs_per_param(self) -> float:
        return self.macs / max(1, self.params)


@dataclass
class Comparison:
    rows: list[ComparisonRow]

    HEADER = (
        "Model",
        "Year",
        "Input",
        "Params",
        "MACs",
        "Act. memory",
        "Conv params",
        "Conv MACs",
        "Top-1 (reported)",
        "Top-1 / M params",
        "MACs / param",
    )

    def table_rows(self) -> list[list[str]]:
        out = []
        for r in self.rows:
            out.append(
                [
                    r.name,
                    str(r.year),
                    "x".join(map(str, r.input_size)),
                    f"{r.params:,}",
                    format_count(r.macs),
                    format_bytes(r.activation_bytes),
                    format_pct(r.conv_params_pct),
                    format_pct(r.conv_macs_pct),
                    f"{r.top1:.1f}% {r.dataset}" if r.top1 is not None else "-",
                    f"{r.accuracy_density:.2f}" if r.accuracy_density is not None else "-",
                    f"{r.macs_per_param:.1f}",
                ]
            )
        return out

    def to_dict(self) -> list[dict[str, Any]]:
        rows = []
        for r in self.rows:
            row = asdict(r)
            row["input_size"] = list(r.input_size)
            row["accuracy_density"] = r.accuracy_density
            row["macs_per_param"] = r.macs_per_param
            rows.append(row)
        return rows

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_csv(self) -> str:
        return csv_table(self.to_dict())

    def to_markdown(self) -> str:
        return markdown_table(self.HEADER, self.table_rows())

    def to_text(self, width: int = 200) -> str:
        return text_table(self.HEADER, self.table_rows(), 1, width=width)

    def render(self, fmt: str = "text") -> str:
        """The table as ``text``, ``md``, ``csv`` or ``json``."""
        renderers = {
            "text": self.to_text,
            "md": self.to_markdown,
            "csv": self.to_csv,
            "json": self.to_json,
        }
        return renderers[check_format(fmt)]()


def compare(names: Sequence[str], input_size: Sequence[int] | str | None = None) -> Comparison:
    """Compare registered models, each at ``input_size`` or, by default, its card's input."""
    if not names:
        raise ValueError("compare needs at least one model name")
    size = parse_input_size(input_size) if isinstance(input_size, str) else input_size
    rows = []
    for name in names:
        card = get_model_card(name)
        kwargs: dict[str, Any] = {"in_chans": size[0]} if size is not None else {}
        s = summary(name, size, **kwargs)
        split = s.split()
        rows.append(
            ComparisonRow(
                name=name,
                family=card.family,
                year=card.year,
                input_size=s.input_size,
                params=s.used_params,
                macs=s.macs,
                activation_bytes=s.activation_bytes,
                conv_params_pct=split["conv"]["params_pct"],
                conv_macs_pct=split["conv"]["macs_pct"],
                top1=card.top1,
                dataset=card.dataset,
            )
        )
    return Comparison(rows)
