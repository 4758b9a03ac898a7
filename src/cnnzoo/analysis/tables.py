"""Rendering shared by every table cnnzoo prints: terminal (rich) and Markdown, plus the
number formats used in them."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

__all__ = [
    "FORMATS",
    "check_format",
    "csv_table",
    "format_bytes",
    "format_count",
    "format_pct",
    "markdown_table",
    "text_table",
]

FORMATS = ("text", "md", "csv", "json")
"""The formats every table of cnnzoo renders to (``--format`` on every command that prints one)."""


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def csv_table(rows: Sequence[dict[str, Any]]) -> str:
    """CSV with a header row from the keys of the first row."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def format_pct(value: float) -> str:
    """Percent with one decimal, but small non-zero shares stay visible (0.05% not 0.0%)."""
    if 0 < value < 0.1:
        return f"{value:.2g}%"
    return f"{value:.1f}%"


def format_count(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


def format_bytes(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], notes: Sequence[str] = ()
) -> str:
    """A Markdown table, then ``notes`` as a bullet list after a blank line."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if notes:
        lines.append("")
        lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def text_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    left_columns: int = 1,
    notes: Sequence[str] = (),
    width: int = 200,
) -> str:
    """A terminal table: the first ``left_columns`` columns left-aligned, the others (numbers)
    right-aligned, three spaces between columns, a rule under the header, nothing wrapped or cut;
    then ``notes`` as plain lines.

    Written by hand rather than with rich, whose layout it reproduces (``box.SIMPLE_HEAD``
    without edges): rich took 40% of ``cnnzoo summary resnet1202`` for its 4,806 rows.
    ``width`` is accepted for compatibility and ignored, since nothing is wrapped.
    """
    del width
    widths = [len(title) for title in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(w) if i < left_columns else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "   ".join(padded)

    lines = [line(header), "\u2500" * len(line(header))]
    lines += [line(row) for row in rows]
    lines += notes
    return "\n".join(lines) + "\n"
