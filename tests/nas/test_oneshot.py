"""The one-shot supernet: a path computes what the stand-alone cell computes, the supernet
search resumes without retraining, and a changed supernet budget is refused."""

from __future__ import annotations

import random

import pytest
import torch

from cnnzoo.models.nascell import OPERATIONS
from cnnzoo.nas import SearchConfig, SuperNet, inherit, run_search, search_table
from cnnzoo.nas.search import random_cell


def test_supernet_edges_hold_every_operation_of_every_input() -> None:
    supernet = SuperNet(3, width=4)
    normal = supernet.cells[0]
    # blocks 0, 1, 2 read 2, 3, 4 states; two halves each; 13 operations per edge
    assert len(normal.edges) == 2 * (2 + 3 + 4)
    assert all(list(edge) == list(OPERATIONS) for edge in normal.edges.values())
    assert supernet.is_reduction == [False, True, False, True, False]
    with pytest.raises(ValueError, match="choose a path first"):
        supernet(torch.zeros(1, 1, 28, 28))


def test_a_path_equals_the_inherited_stand_alone_cell_net() -> None:
    torch.manual_seed(0)
    supernet = SuperNet(3, width=4)
    x = torch.randn(8, 1, 28, 28)
    rng = random.Random(3)
    for _ in range(2):
        genotype = random_cell(rng)
        supernet.set_path(genotype)
        supernet.train()
        supernet(x)  # non-trivial batch-norm statistics, shared with every path
        supernet.eval()
        net = inherit(supernet, genotype).eval()
        with torch.no_grad():
            torch.testing.assert_close(net(x), supernet(x), rtol=0, atol=1e-5)
    assert (
        sum(p.numel() for p in net.parameters())
        < sum(p.numel() for p in supernet.parameters()) / 10
    )


@pytest.mark.slow  # ~10 CPU-s: a supernet epoch and 4 candidates, each also counted by summary
def test_oneshot_search_resumes_without_retraining_the_supernet(tmp_path) -> None:
    config = SearchConfig(
        strategy="oneshot",
        trials=3,
        population=2,
        sample_size=2,
        supernet_images=48,
        supernet_epochs=1,
        score_images=20,
        data="digits",
    )
    study = run_search(config, tmp_path)
    trained = study.user_attrs["supernet_cpu_seconds"]
    assert (tmp_path / "supernet.pt").is_file() and not (tmp_path / "trials").exists()
    study = run_search(SearchConfig(**{**config.__dict__, "trials": 4}), tmp_path)
    assert study.user_attrs["supernet_cpu_seconds"] == trained  # loaded, not trained again
    rows = search_table(study)
    assert len(rows) == 4 and all(0 <= r["val_acc"] <= 100 for r in rows)
    params = {t.number: t.params for t in study.trials}
    # trial 2 on are evolved: one choice away from an earlier trial
    assert min(sum(params[3][k] != params[p][k] for k in params[3]) for p in (0, 1, 2)) == 1
    with pytest.raises(ValueError, match="trained 1 epochs; keep --supernet-epochs 1"):
        run_search(SearchConfig(**{**config.__dict__, "supernet_epochs": 2}), tmp_path)


def test_strategy_names_are_checked() -> None:
    with pytest.raises(ValueError, match="strategy must be one of random, evolution, oneshot"):
        SearchConfig(strategy="enas")
    with pytest.raises(ValueError, match="2 <= sample_size <= population"):
        SearchConfig(strategy="oneshot", population=2, sample_size=3)
