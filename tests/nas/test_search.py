"""NAS: the operation list, genotypes, the cell network's card, mutation, and a tiny resumable
evolution on the embedded digits."""

from __future__ import annotations

import random

import pytest
import torch

from cnnzoo import create_model, get_model_card
from cnnzoo.analysis import summary
from cnnzoo.cli import main
from cnnzoo.models.nascell import OPERATIONS, REFERENCE, CellNet, parse_genotype
from cnnzoo.nas import SearchConfig, mutate, random_genotype, run_search, search_table


def test_the_seeds_thirteen_operations_keep_or_halve_the_grid() -> None:
    assert len(OPERATIONS) == 13
    x = torch.randn(2, 4, 8, 8)
    for name, build in OPERATIONS.items():
        assert build(4, 1)(x).shape == (2, 4, 8, 8), name
        assert build(4, 2)(x).shape == (2, 4, 4, 4), name


def test_genotype_text_round_trip_and_errors() -> None:
    normal, reduction = parse_genotype(REFERENCE)
    assert normal[0] == ("sep_conv_3x3", 1, "identity", 1) and len(reduction) == 3
    with pytest.raises(ValueError, match="unknown operation 'conv_9x9'"):
        parse_genotype("conv_9x9@0+identity@1/identity@0+identity@1")
    with pytest.raises(ValueError, match=r"block 0 reads input 2; it can read 0\.\.1"):
        parse_genotype("identity@2+identity@1/identity@0+identity@1")


def test_registered_cell_card_and_shapes() -> None:
    card = get_model_card("nas_cell")
    s = summary("nas_cell")
    assert (s.total_params, s.macs) == (card.params, card.macs) == (48_194, 5_253_120)
    model = create_model("nas_cell", num_classes=5)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 5)
    assert [i["num_chs"] for i in model.feature_info] == [8, 16, 32]
    assert isinstance(CellNet(REFERENCE, width=4, cells=2), CellNet)


def test_mutation_changes_exactly_one_choice() -> None:
    rng = random.Random(0)
    parent = random_genotype(rng)
    for _ in range(20):
        child = mutate(parent, rng)
        assert sum(child[k] != parent[k] for k in parent) == 1


def test_tiny_evolution_resumes_and_children_descend_from_parents(tmp_path) -> None:
    config = SearchConfig(
        strategy="evolution",
        trials=3,
        population=2,
        sample_size=2,
        proxy_images=48,
        proxy_epochs=1,
        data="digits",
    )
    run_search(config, tmp_path)
    study = run_search(SearchConfig(**{**config.__dict__, "trials": 3}), tmp_path)
    rows = search_table(study)
    assert len(rows) == 3 and rows[0]["val_acc"] >= rows[-1]["val_acc"]
    trials = {t.number: t.params for t in study.trials}
    # trial 2 is evolved: one choice away from one of the two random trials before it
    assert min(sum(trials[2][k] != trials[p][k] for k in trials[2]) for p in (0, 1)) == 1
    assert (
        run_search(SearchConfig(**{**config.__dict__, "budget_minutes": 0}), tmp_path)
        .trials[-1]
        .number
        == 2
    )


def test_cli_show_names_a_missing_study(tmp_path, capsys) -> None:
    assert main(["nas", "show", str(tmp_path)]) == 2
    assert "study.db does not exist" in capsys.readouterr().err
