"""cnnzoo.analysis.published: the docs' published-figures tables, rewritten from the cards."""

from __future__ import annotations

from cnnzoo.analysis.published import figure_rows, main, refresh
from cnnzoo.registry import get_model_card

PAGE = "Intro.\n\n<!-- published: resnet20 plain20 -->\n| stale |\n<!-- /published -->\n\nEnd.\n"


def test_rows_are_the_cards_figures_or_none_published() -> None:
    assert figure_rows(get_model_card("resnet20")) == [
        ["`resnet20`", "He et al. 2015, Table 6", "CIFAR-10", "0.27M", "-", "8.75% error", "-", "-"]
    ]
    ((name, source, *_, why),) = figure_rows(get_model_card("plain20"))
    assert (name, source) == ("`plain20`", "none published")
    assert why == get_model_card("plain20").no_figures


def test_refresh_rewrites_only_the_blocks() -> None:
    text = refresh(PAGE)
    assert text.startswith("Intro.\n\n<!-- published: resnet20 plain20 -->\n| Model | Source |")
    assert "| stale |" not in text and text.endswith("<!-- /published -->\n\nEnd.\n")
    assert "| `resnet20` | He et al. 2015, Table 6 | CIFAR-10 | 0.27M |" in text
    assert refresh(text) == text


def test_check_reports_a_stale_page_and_the_rewrite_fixes_it(tmp_path, capsys) -> None:
    page = tmp_path / "zoo-test.md"
    page.write_text(PAGE)
    assert main(["--check", str(page)]) == 1
    assert page.read_text() == PAGE
    assert "published figures are stale" in capsys.readouterr().out
    assert main([str(page)]) == 0
    assert main(["--check", str(page)]) == 0
    assert "| `plain20` | none published |" in page.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["zoo-test.md"]  # no temporary file left
