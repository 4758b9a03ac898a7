"""The cards' published figures: structured, consistent with the card, and shown to the user.

The figures themselves come from the papers and the authors' releases (each ``Reported`` names
its table); these tests check what can be checked without the papers: every card has figures
or says why not, the card's ``top1`` is one of its figures, the numbers are plausible for the
implementation they describe (a slipped digit fails), and the docstring shows them.
"""

from __future__ import annotations

import re

import pytest

from cnnzoo import get_model_card, list_models
from cnnzoo.models.resnet import plain20, resnet20
from cnnzoo.registry import Reported, published_count

ALL_MODELS = list_models()


@pytest.mark.parametrize("name", ALL_MODELS)
def test_card_has_figures_or_says_why_not(name: str) -> None:
    card = get_model_card(name)
    assert bool(card.figures) != bool(card.no_figures), name
    for figure in card.figures:
        numbers = (figure.params, figure.macs, figure.top1, figure.top5)
        errors = (figure.top1_error, figure.top5_error)
        assert any(n is not None for n in numbers + errors), f"{name}: {figure} states nothing"
        assert figure.source and figure.dataset, name


@pytest.mark.parametrize("name", ALL_MODELS)
def test_figures_are_plausible_for_the_implementation(name: str) -> None:
    # Published counts round (0.27M for 269,722) or count another variant of the same network
    # (the two-tower AlexNet, BN-Inception's 13.6M for our 11.3M), but never by a factor of 2:
    # a slipped digit or unit fails here.
    card = get_model_card(name)
    for figure in card.figures:
        for published, ours in ((figure.params, card.params), (figure.macs, card.macs)):
            if published is not None and ours:
                assert 0.5 < published / ours < 2, f"{name}: {figure} vs ours {ours:,}"
        for rate in (figure.top1, figure.top5, figure.top1_error, figure.top5_error):
            assert rate is None or 0 < rate < 100, f"{name}: {figure}"
        assert figure.top1 is None or figure.top1_error is None, f"{name}: accuracy or error"
        if figure.top1 is not None and figure.top5 is not None:
            assert figure.top5 > figure.top1, f"{name}: {figure}"
        if figure.top1_error is not None and figure.top5_error is not None:
            assert figure.top5_error < figure.top1_error, f"{name}: {figure}"


@pytest.mark.parametrize("name", [n for n in ALL_MODELS if get_model_card(n).top1 is not None])
def test_card_top1_is_one_of_its_figures(name: str) -> None:
    # card.top1 feeds `cnnzoo compare` and the efficiency plot; it must be a published figure
    # on the card's data set (accuracy, or 100 minus the published error).
    card = get_model_card(name)
    accuracies = [f.accuracy for f in card.figures if f.dataset == card.dataset]
    assert card.top1 in accuracies, f"{name}: top1 {card.top1} not in {accuracies}"


@pytest.mark.parametrize("name", ALL_MODELS)
def test_prose_keeps_no_percentages(name: str) -> None:
    # Accuracies and errors live in the structured figures; `reported` is context only.
    assert not re.search(r"\d%", get_model_card(name).reported), name


def test_published_counts_render_at_the_sources_rounding() -> None:
    assert published_count(270_000) == "0.27M"
    assert published_count(19_400_000) == "19.4M"
    assert published_count(1_814_000_000) == "1.814G"
    assert published_count(60_000) == "60,000"
    assert published_count(1_248_424) == "1,248,424"
    assert published_count(569_000_000) == "569M"


def test_errors_and_accuracies_render_as_published() -> None:
    figure = Reported("He et al. 2015, Table 6", "CIFAR-10", params=270_000, top1_error=8.75)
    assert str(figure) == "He et al. 2015, Table 6, CIFAR-10: 0.27M params, 8.75% top-1 error"
    assert figure.accuracy == 91.25
    assert Reported("x", top1=70.6).accuracy == 70.6
    assert Reported("x", params=1).accuracy is None


def test_resnet20_card_states_table_6() -> None:
    (figure,) = get_model_card("resnet20").figures
    assert (figure.source, figure.dataset) == ("He et al. 2015, Table 6", "CIFAR-10")
    assert (figure.params, figure.top1_error) == (270_000, 8.75)


def test_docstrings_show_the_structured_figures() -> None:
    assert "Reported by He et al. 2015, Table 6, CIFAR-10: 0.27M params, 8.75% top-1 error." in (
        resnet20.__doc__ or ""
    )
    assert "No published figures: the paper shows plain nets only" in (plain20.__doc__ or "")
    assert get_model_card("plain20").as_dict()["no_figures"].startswith("the paper shows")
