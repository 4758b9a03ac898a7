"""Embeddings, L2 neighbours, the k-NN classifier, and the transfer CLI commands."""

from __future__ import annotations

import pytest
import torch
from transfer_helpers import make_checkpoint

from cnnzoo import create_model
from cnnzoo.cli import main
from cnnzoo.data import TensorSplit
from cnnzoo.transfer import (
    FeatureSet,
    extract_features,
    knn_predict,
    load_features,
    nearest_neighbors,
    save_features,
)


def test_neighbors_and_knn_are_exact() -> None:
    bank = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
    labels = torch.tensor([0, 1, 1, 2])
    dist, idx = nearest_neighbors(torch.tensor([[0.9, 0.1], [4.0, 4.0]]), bank, k=2)
    assert idx.tolist() == [[1, 0], [3, 2]]
    torch.testing.assert_close(dist[0], torch.tensor([0.02**0.5, (0.81 + 0.01) ** 0.5]))
    # k=3 near the origin: labels 0, 1, 1 -> 1 wins the vote; k=2: a 0/1 tie goes to the nearest.
    q = torch.tensor([[0.1, 0.0]])
    assert knn_predict(q, bank, labels, k=3).tolist() == [1]
    assert knn_predict(q, bank, labels, k=2).tolist() == [0]
    with pytest.raises(ValueError, match="k must be between 1 and the bank's 4 samples"):
        nearest_neighbors(q, bank, k=5)


def test_features_of_any_layer_pooled_and_saved(tmp_path) -> None:
    model = create_model("resnet20", in_chans=1)
    split = TensorSplit(torch.randint(0, 256, (5, 1, 32, 32), dtype=torch.uint8), torch.arange(5))
    last = extract_features(model, split, mean=[0.5], std=[0.5])
    stage2 = extract_features(model, split, mean=[0.5], std=[0.5], layer="stage2")
    assert last.shape == (5, 64) and stage2.shape == (5, 32)
    x = (split.images.float() / 255 - 0.5) / 0.5
    with torch.no_grad():
        torch.testing.assert_close(last, model.eval().forward_features(x).mean((2, 3)))
    path = save_features(tmp_path / "f.safetensors", FeatureSet(last, split.labels, {"layer": "x"}))
    back = load_features(path)
    assert torch.equal(back.features, last) and back.labels.tolist() == [0, 1, 2, 3, 4]
    assert back.meta == {"layer": "x"}
    with pytest.raises(ValueError, match=r"no layer .stage9.; its stages are stem\.act, stage1"):
        extract_features(model, split, mean=[0.5], std=[0.5], layer="stage9")


def test_cli_features_and_neighbors(tmp_path, capsys) -> None:
    ckpt = make_checkpoint(tmp_path / "run" / "checkpoints" / "best.safetensors", "lenet5", 10)
    out = tmp_path / "f.safetensors"
    assert (
        main(
            [
                "features",
                str(ckpt.parent.parent),
                "--data",
                "digits",
                "--limit",
                "60",
                "--layer",
                "features.c5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert load_features(out).features.shape == (60, 120)
    png = tmp_path / "nn.png"
    assert (
        main(
            [
                "neighbors",
                str(ckpt),
                "--limit",
                "60",
                "--queries",
                "3",
                "--k",
                "4",
                "--out",
                str(png),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "60 test images of digits -> 120-d features of features.c5 (lenet5)" in text
    assert "4-NN on 120-d features of last feature map: test top-1" in text
    assert f"plot: {png}" in text and png.read_bytes()[:4] == b"\x89PNG"


def test_cli_finetune_resumes_and_refuses_bad_policies(tmp_path, capsys) -> None:
    ckpt = make_checkpoint(tmp_path / "src.safetensors", "lenet5", 7)
    run = tmp_path / "ft"
    args = [
        "finetune",
        str(ckpt),
        "--data",
        "digits",
        "--limit",
        "50",
        "--epochs",
        "1",
        "--freeze",
        "stages:2",
        "--head-lr-mult",
        "5",
        "--run-dir",
        str(run),
        "--quiet",
    ]
    assert main(args) == 0
    assert main(["finetune", "--resume", str(run), "--epochs", "2", "--quiet"]) == 0
    assert len((run / "metrics.csv").read_text().splitlines()) == 3  # header + 2 epochs
    assert main([*args[:-3], "--freeze", "stages:9", "--run-dir", str(tmp_path / "x")]) == 2
    assert "only 4 stages (feature_info); use stages:0 .. stages:4" in capsys.readouterr().err
