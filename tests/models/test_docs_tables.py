"""The per-family tables of docs/zoo-*.md agree with the model cards.

Every table row that starts with a backticked model name is checked: its "Params" and "MACs"
cells (exact, like 1,248,424, or rounded, like 818.9M) against ``card.params`` / ``card.macs``,
its "Top-1" cell against ``card.top1``. A doc that restates a figure by hand can then not drift
from the code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cnnzoo import get_model_card
from cnnzoo.registry import is_model

DOCS = sorted((Path(__file__).parents[2] / "docs").glob("zoo-*.md"))
EXACT = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d.])")
ROUNDED = re.compile(r"(?<![\d.,])(\d+(?:\.\d+)?)([KMG])(?![A-Za-z])")
SCALE = {"K": 1e3, "M": 1e6, "G": 1e9}


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _rows(path: Path) -> list[tuple[dict[str, str], int]]:
    """(column -> cell, line number) of every table row naming models."""
    rows, header = [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.startswith("|"):
            header = []
        elif not header:
            header = _cells(line)
        elif line.startswith("| `"):
            rows.append((dict(zip(header, _cells(line), strict=False)), number))
    return rows


def _names(cell: str) -> list[str]:
    names = re.findall(r"`([A-Za-z0-9_]+)`", cell)
    # "`vgg11_cifar` / `_bn_cifar`": a leading underscore continues the first name's stem.
    return [names[0].split("_")[0] + n if n.startswith("_") else n for n in names]


def _column(row: dict[str, str], prefix: str) -> str | None:
    return next((cell for key, cell in row.items() if key.startswith(prefix)), None)


def _agrees(cell: str, values: list[int]) -> None:
    exact = [int(n.replace(",", "")) for n in EXACT.findall(cell)]
    rounded = ROUNDED.findall(cell)
    if len(exact) == len(values) > 1:
        assert exact == values, cell
    elif exact:
        assert set(values) <= set(exact), f"{cell!r} does not state {values}"
    for digits, unit in rounded:
        decimals = len(digits.partition(".")[2])
        wanted = {f"{v / SCALE[unit]:.{decimals}f}" for v in values}
        assert digits in wanted, f"{cell!r}: {digits}{unit}, the card says {wanted}"


CASES = [
    pytest.param(row, id=f"{path.name}:{number}")
    for path in DOCS
    for row, number in _rows(path)
    if all(is_model(n) for n in _names(next(iter(row.values()))))
]


def test_the_docs_have_tables_to_check() -> None:
    assert len(CASES) >= 100


@pytest.mark.parametrize("row", CASES)
def test_table_row_matches_the_cards(row: dict[str, str]) -> None:
    cards = [get_model_card(n) for n in _names(next(iter(row.values())))]
    params, macs = _column(row, "Params"), _column(row, "MACs")
    if params is not None:
        _agrees(params, [c.params for c in cards])
    if macs is not None:
        _agrees(macs, [c.macs for c in cards])
    top1 = _column(row, "Top-1")
    if top1 is not None and len(cards) == 1:
        # "69.76 (tv)": the card's figure, rounded to the digits shown; "-" when it has none.
        stated = re.match(r"\d+(?:\.(\d+))?", top1)
        card_top1 = cards[0].top1
        shown = None if stated is None else stated.group(0)
        decimals = len(stated.group(1) or "") if stated else 0
        expected = None if card_top1 is None else f"{card_top1:.{decimals}f}"
        assert shown == expected, f"{cards[0].name}: top-1 {top1!r}, the card says {card_top1}"
