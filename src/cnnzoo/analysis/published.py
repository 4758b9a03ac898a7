"""The published figures of the model cards as Markdown tables, generated into docs/zoo-*.md.

A family page marks where a table goes and which models it lists (exact names or shell-style
patterns, natural order)::

    <!-- published: resnet20 resnet32 plain* -->
    | Model | Source | Data | Params | MACs | Top-1 | Top-5 | Note |
    ...
    <!-- /published -->

Everything between the two markers is rewritten from the cards' ``figures`` (one row per
:class:`~cnnzoo.registry.Reported`) and ``no_figures`` (one "none published" row), so no page
restates a published figure by hand::

    python -m cnnzoo.analysis.published docs/zoo-*.md           # rewrite the blocks
    python -m cnnzoo.analysis.published --check docs/zoo-*.md   # exit 1 if one is stale

``tests/models/test_docs_tables.py`` runs the check.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from cnnzoo.analysis.tables import markdown_table
from cnnzoo.registry import ModelCard, Reported, get_model_card, list_models, published_count

__all__ = ["BLOCK", "HEADER", "figure_rows", "figures_table", "refresh", "stale_pages"]

HEADER = ("Model", "Source", "Data", "Params", "MACs", "Top-1", "Top-5", "Note")
BLOCK = re.compile(r"(<!-- published: ([^>]*?) -->\n)(.*?)(<!-- /published -->)", re.DOTALL)


def _rate(accuracy: float | None, error: float | None) -> str:
    if accuracy is not None:
        return f"{accuracy}%"
    return "-" if error is None else f"{error}% error"


def _count(n: int | None) -> str:
    return "-" if n is None else published_count(n)


def _row(name: str, figure: Reported) -> list[str]:
    return [
        f"`{name}`",
        figure.source,
        figure.dataset,
        _count(figure.params),
        _count(figure.macs),
        _rate(figure.top1, figure.top1_error),
        _rate(figure.top5, figure.top5_error),
        figure.note or "-",
    ]


def figure_rows(card: ModelCard) -> list[list[str]]:
    """One row per published figure set of ``card``, or one "none published" row."""
    if not card.figures:
        return [[f"`{card.name}`", "none published", "-", "-", "-", "-", "-", card.no_figures]]
    return [_row(card.name, figure) for figure in card.figures]


def _names(patterns: str) -> list[str]:
    names: list[str] = []
    for pattern in patterns.split():
        matched = list_models(pattern)
        if not matched:
            raise ValueError(f"'<!-- published: {patterns} -->': {pattern!r} names no model")
        names += [n for n in matched if n not in names]
    return names


def figures_table(patterns: str) -> str:
    """The Markdown table of every model ``patterns`` names (space-separated)."""
    rows = [row for name in _names(patterns) for row in figure_rows(get_model_card(name))]
    return markdown_table(HEADER, [[cell.replace("|", "/") for cell in row] for row in rows])


def refresh(text: str) -> str:
    """``text`` with every published block rewritten from the cards."""
    return BLOCK.sub(lambda m: m.group(1) + figures_table(m.group(2)) + m.group(4), text)


def stale_pages(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The pages whose published blocks differ from what the cards give now."""
    return [Path(p) for p in paths if refresh(Path(p).read_text()) != Path(p).read_text()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cnnzoo.analysis.published",
        description="Rewrite the published-figures tables of docs pages from the model cards.",
        epilog="example: python -m cnnzoo.analysis.published --check docs/zoo-*.md",
    )
    parser.add_argument("pages", nargs="+", help="Markdown pages with <!-- published: ... -->")
    parser.add_argument("--check", action="store_true", help="only report stale pages (exit 1)")
    args = parser.parse_args(argv)
    stale = stale_pages(args.pages)
    for path in stale:
        if args.check:
            print(f"{path}: published figures are stale; run without --check to rewrite them")
            continue
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(refresh(path.read_text()))
        os.replace(tmp, path)  # atomic: an interrupted run never leaves half a page
        print(f"{path}: rewritten")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
