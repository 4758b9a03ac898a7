"""Channel pruning: fewer MACs, a checkpoint that rebuilds safely, the untraceable layer named."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from cnnzoo import create_model
from cnnzoo.compress.common import module_structure
from cnnzoo.compress.structured import channel_prune, check_traceable, count_macs_params
from cnnzoo.train import load_checkpoint, save_checkpoint


def test_channel_pruning_shrinks_macs_and_round_trips(tmp_path) -> None:
    torch.manual_seed(0)
    model = create_model("lenet5_caffe").eval()
    x = torch.randn(2, 1, 28, 28)
    macs_before, _ = count_macs_params(model, x[:1])
    channel_prune(model, x[:1], 0.5)
    assert (model.features.conv1.out_channels, model.features.conv2.out_channels) == (10, 25)
    assert model.classifier.ip2.out_features == 10  # the classifier keeps its classes
    macs_after, _ = count_macs_params(model, x[:1])
    assert macs_after < 0.5 * macs_before
    structure = module_structure(model, create_model("lenet5_caffe"))
    assert structure["features.conv2"] == {"in_channels": 10, "out_channels": 25, "groups": 1}
    meta = {"model": "lenet5_caffe", "model_kwargs": {}, "structure": structure}
    path = save_checkpoint(tmp_path / "best.safetensors", model, meta)
    loaded, _ = load_checkpoint(path)
    assert torch.equal(loaded(x), model(x))


def test_bad_ratio_and_untraceable_layer_are_named() -> None:
    model = create_model("lenet5_caffe")
    with pytest.raises(ValueError, match="channel pruning ratio"):
        channel_prune(model, torch.zeros(1, 1, 28, 28), 1.0)
    resnet = create_model("resnet20", in_chans=1).eval()  # option-A zero-padding shortcuts
    with pytest.raises(ValueError, match=r"stage2\.block1\.shortcut \(ZeroPadShortcut: 16 -> 32\)"):
        check_traceable(resnet, torch.zeros(1, 1, 28, 28))


def test_structure_record_cannot_name_foreign_attributes(tmp_path) -> None:
    model = nn.Sequential(nn.Linear(3, 2))
    meta = {"model": "lenet_300_100", "structure": {"classifier": {"forward": 1}}}
    path = save_checkpoint(tmp_path / "x.safetensors", model, meta)
    with pytest.raises(ValueError, match="was not written by cnnzoo prune"):
        load_checkpoint(path)
