"""The per-family tables of docs/zoo-*.md agree with the model cards.

Two kinds of tables:

* Published figures are generated from the cards' structured ``figures`` between
  ``<!-- published: NAMES -->`` and ``<!-- /published -->`` (``cnnzoo.analysis.published``);
  a page whose blocks differ from the cards fails, so a wrong or stale published number cannot
  stay in a page. Every classifier of the zoo appears in one of them.
* Hand-written tables hold only our own counts and the card's top-1: every row that starts with
  a backticked model name is checked, its "Params" and "MACs" cells (exact, like 1,248,424, or
  rounded, like 818.9M) against ``card.params`` / ``card.macs``, its "Top-1" cell against
  ``card.top1``; their columns are limited to those, so no published figure is restated by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cnnzoo import get_model_card, list_models
from cnnzoo.analysis.published import BLOCK, figures_table, refresh
from cnnzoo.registry import is_model

DOCS = sorted((Path(__file__).parents[2] / "docs").glob("zoo-*.md"))
EXACT = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d.])")
ROUNDED = re.compile(r"(?<![\d.,])(\d+(?:\.\d+)?)([KMG])(?![A-Za-z])")
SCALE = {"K": 1e3, "M": 1e6, "G": 1e9}


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _hand_written(text: str) -> str:
    """``text`` with the generated blocks blanked out (line numbers kept)."""
    return BLOCK.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def _rows(path: Path, text: str | None = None) -> list[tuple[dict[str, str], int]]:
    """(column -> cell, line number) of every hand-written table row naming models."""
    rows, header = [], []
    text = path.read_text() if text is None else text
    for number, line in enumerate(_hand_written(text).splitlines(), start=1):
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


def _model_rows(path: Path, text: str | None = None) -> list[tuple[dict[str, str], int]]:
    named = [(row, number, _names(next(iter(row.values())))) for row, number in _rows(path, text)]
    return [(row, number) for row, number, names in named if names and all(map(is_model, names))]


CASES = [
    pytest.param(row, id=f"{path.name}:{number}")
    for path in DOCS
    for row, number in _model_rows(path)
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


# Our own counts, the card's top-1 and what the row is; published figures go in the generated
# tables ("Paper" names the paper, without figures).
HAND_COLUMNS = re.compile(r"(Name|Model|Input|Params|MACs|Top-1|Output width|Paper)\b")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_published_tables_are_generated_from_the_cards(path: Path) -> None:
    text = path.read_text()
    assert BLOCK.search(text), f"{path.name} has no published-figures table"
    assert refresh(text) == text, (
        f"{path.name}: the published figures differ from the cards; run "
        "`PYTHONPATH=src python -m cnnzoo.analysis.published docs/zoo-*.md`"
    )


def test_every_zoo_classifier_has_published_figures_in_the_docs() -> None:
    listed = {
        name
        for path in DOCS
        for match in BLOCK.finditer(path.read_text())
        for pattern in match.group(2).split()
        for name in list_models(pattern)
    }
    # The NAS cells are points of the search space (or found by our search) that docs/nas.md
    # describes; no paper reports them. Nor does any paper report speednet, the network of the
    # time-to-accuracy records (docs/training.md).
    zoo = {n for n in list_models() if get_model_card(n).task == "classify"}
    assert zoo - listed - set(list_models("nas_*")) - {"speednet"} == set()


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_hand_written_tables_restate_no_published_figure(path: Path) -> None:
    for row, number in _model_rows(path):
        extra = [key for key in row if not HAND_COLUMNS.match(key)]
        assert not extra, f"{path.name}:{number}: column {extra} belongs in a published table"
        paper = _column(row, "Paper") or ""
        assert not re.search(r"\d", re.sub(r"\b(19|20)\d\d\b", "", paper)), (
            f"{path.name}:{number}: {paper!r} states a figure"
        )


def test_a_wrong_published_figure_in_a_page_fails() -> None:
    text = (DOCS[0].parent / "zoo-residual.md").read_text()
    assert "| 0.27M | - | 8.75% error |" in text
    assert refresh(text.replace("8.75% error", "8.57% error", 1)) != text.replace(
        "8.75% error", "8.57% error", 1
    )
    # A row added by hand inside a block is dropped by the generator, so it fails as well.
    forged = text.replace(
        "<!-- /published -->", "| `resnet20` | me | CIFAR-10 | 1M |\n<!-- /published -->", 1
    )
    assert refresh(forged) != forged


def test_a_wrong_count_in_a_hand_written_table_fails() -> None:
    path = DOCS[0].parent / "zoo-residual.md"
    wrong = path.read_text().replace("| `resnet20` | 269,722 |", "| `resnet20` | 269,723 |")
    (row,) = [row for row, _ in _model_rows(path, wrong) if row.get("Name") == "`resnet20`"]
    with pytest.raises(AssertionError):
        test_table_row_matches_the_cards(row)


def test_a_published_table_naming_no_model_is_refused() -> None:
    with pytest.raises(ValueError, match="'resnet2O' names no model"):
        figures_table("resnet20 resnet2O")
