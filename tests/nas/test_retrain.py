"""The comparison: entries accumulate in results.json, a re-run trains only what is missing,
random cells are labelled by their seed, and bad entries are refused before any training."""

from __future__ import annotations

import json
import random

import pytest

from cnnzoo.nas import Entry, retrain
from cnnzoo.nas.retrain import random_entries
from cnnzoo.nas.search import random_cell
from cnnzoo.train import load_recipe

TINY = load_recipe("fashion-cnn").override(data="digits", epochs=1, limit=32, batch_size=16)


@pytest.mark.slow  # ~5 CPU-s: two tiny engine runs
def test_results_accumulate_and_a_rerun_trains_only_the_new_entry(tmp_path) -> None:
    lines: list[str] = []
    first = retrain([Entry("mlp", "lenet_300_100")], TINY, tmp_path, log=lines.append)
    assert first[0]["label"] == "mlp" and first[0]["params"] == 266_610
    assert first[0]["train_images"] == 32 and 0 <= first[0]["test_acc"] <= 100
    lines.clear()
    both = [Entry("mlp", "lenet_300_100"), Entry("caffe", "lenet5_caffe")]
    rows = retrain(both, TINY, tmp_path, log=lines.append)
    assert [r["label"] for r in rows] == ["mlp", "caffe"] and rows[0] == first[0]
    assert [line for line in lines if line.startswith("training")] == [
        "training caffe (lenet5_caffe) ..."
    ]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert {r["label"] for r in saved} == {"mlp", "caffe"}
    assert (tmp_path / "runs" / "caffe" / "checkpoints" / "best.safetensors").is_file()


def test_random_cells_are_labelled_by_their_seed() -> None:
    two = random_entries(2, 0, random_cell)
    assert [e.label for e in two] == ["random 0", "random 1"]
    assert random_entries(1, 1, random_cell)[0] == two[1]  # the same cell, run apart
    assert two[1].kwargs["genotype"] == random_cell(random.Random(1))


def test_an_unknown_model_is_refused_before_training(tmp_path) -> None:
    with pytest.raises(KeyError, match="'nas_nothing' is not a registered model"):
        retrain([Entry("mlp", "lenet_300_100"), Entry("x", "nas_nothing")], TINY, tmp_path)
    assert not (tmp_path / "results.json").exists()
