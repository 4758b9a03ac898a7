"""Found cells as models: the committed nas_fashion_a (summary, train, export), and cells
registered from a JSON file (data only, checked) by `cnnzoo nas register` and $CNNZOO_CELLS."""

from __future__ import annotations

import json

import pytest
import torch

from cnnzoo import create_model, get_model_card, registry
from cnnzoo.analysis import summary
from cnnzoo.cli import main
from cnnzoo.models.nascell import FOUND, REFERENCE, parse_genotype, register_cells


@pytest.fixture
def scratch_registry(monkeypatch):
    """Cells registered by a test stay out of every other test's registry."""
    monkeypatch.setattr(registry, "_BUILDERS", dict(registry._BUILDERS))
    monkeypatch.setattr(registry, "_CARDS", dict(registry._CARDS))


def test_found_cell_is_a_model_with_an_exact_card() -> None:
    card = get_model_card("nas_fashion_a")
    parse_genotype(FOUND["nas_fashion_a"])
    s = summary("nas_fashion_a")
    assert (s.total_params, s.macs) == (card.params, card.macs)
    assert card.task == "classify" and card.family == "nas"
    model = create_model("nas_fashion_a", num_classes=3)
    assert model.genotype == FOUND["nas_fashion_a"]
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 3)


@pytest.mark.slow  # ~6 CPU-s: a training step, the dynamo ONNX export and onnxruntime
def test_found_cell_summary_train_export(tmp_path, capsys) -> None:
    assert main(["summary", "nas_fashion_a", "--format", "md"]) == 0
    assert f"{get_model_card('nas_fashion_a').macs:,}" in capsys.readouterr().out
    run = tmp_path / "run"
    args = ["train", "nas_fashion_a", "--epochs", "1", "--limit", "16", "--run-dir", str(run)]
    assert main([*args, "--batch-size", "16", "--quiet"]) == 0
    assert (run / "checkpoints" / "best.safetensors").is_file()
    capsys.readouterr()
    assert main(["export", str(run), "--images", "8"]) == 0
    assert (run / "model.onnx").is_file() and "max abs" in capsys.readouterr().out.lower()


def _write(path, cells) -> str:
    path.write_text(json.dumps({"cells": cells}))
    return str(path)


def test_cells_file_registers_models(tmp_path, scratch_registry) -> None:
    path = _write(tmp_path / "cells.json", {"nas_mine": {"genotype": REFERENCE, "width": 4}})
    assert register_cells(path) == ["nas_mine"]
    assert register_cells(path) == ["nas_mine"]  # the same file again is harmless
    model = create_model("nas_mine")
    assert model.genotype == REFERENCE and model.stem[0].out_channels == 4
    card = get_model_card("nas_mine")
    assert card.params == sum(p.numel() for p in model.parameters()) and card.task == "classify"
    other = _write(tmp_path / "other.json", {"nas_mine": {"genotype": FOUND["nas_fashion_a"]}})
    with pytest.raises(ValueError, match="'nas_mine' is already a model with another cell"):
        register_cells(other)


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({"lenet5": {"genotype": REFERENCE}}, "must look like nas_lower_case"),
        ({"nas_x": {"genotype": REFERENCE, "code": "__import__('os')"}}, "must be an object with"),
        (
            {"nas_x": {"genotype": "conv_9x9@0+identity@1/identity@0+identity@1"}},
            "unknown operation 'conv_9x9'",
        ),
        ({"nas_x": {"genotype": REFERENCE, "width": "8"}}, "width must be a whole number"),
    ],
)
def test_cells_file_errors_name_the_problem(tmp_path, scratch_registry, cells, message) -> None:
    with pytest.raises(ValueError, match=message):
        register_cells(_write(tmp_path / "cells.json", cells))


def test_cells_file_that_is_not_json(tmp_path) -> None:
    (tmp_path / "cells.json").write_text("import os\n")
    with pytest.raises(ValueError, match="is not a JSON file"):
        register_cells(tmp_path / "cells.json")


@pytest.mark.slow  # ~5 CPU-s: a 2-trial search on 32 digits
def test_cli_register_then_summary_through_the_environment(
    tmp_path, capsys, monkeypatch, scratch_registry
) -> None:
    search = tmp_path / "search"
    argv = ["nas", "search", "--strategy", "random", "--out", str(search), "--trials", "2"]
    assert main([*argv, "--data", "digits", "--proxy-images", "32", "--proxy-epochs", "1"]) == 0
    cells = tmp_path / "cells.json"
    argv = ["nas", "register", str(search), "--strategy", "random", "--name", "nas_mine"]
    assert main([*argv, "--cells", str(cells)]) == 0
    record = json.loads(cells.read_text())["cells"]["nas_mine"]
    assert "random trial" in record["source"] and record["width"] == 8
    capsys.readouterr()
    monkeypatch.setenv("CNNZOO_CELLS", str(cells))
    assert main(["summary", "nas_mine"]) == 0
    assert "Conv vs FC" in capsys.readouterr().out
    assert main([*argv[:-2], "--name", "mine", "--cells", str(cells)]) == 2
    assert "must look like nas_lower_case" in capsys.readouterr().err
