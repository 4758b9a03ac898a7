"""Rendering shared by every table cnnzoo prints: terminal (rich) and Markdown, plus the
number formats used in them."""

from __future__ import annotations

import io
from collections.abc import Sequence

__all__ = ["format_bytes", "format_count", "format_pct", "markdown_table", "text_table"]


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
    """A terminal table (rich, no colour): the first ``left_columns`` columns left-aligned,
    numbers right-aligned, nothing wrapped; then ``notes`` as plain lines."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, title in enumerate(header):
        table.add_column(title, justify="left" if i < left_columns else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console = Console(file=io.StringIO(), width=width, color_system=None, soft_wrap=True)
    console.print(table)
    for note in notes:
        console.print(note, highlight=False, markup=False)
    return console.file.getvalue()  # type: ignore[attr-defined]
