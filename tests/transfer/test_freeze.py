"""Freeze policies by feature_info stage, frozen batch norm over a fine-tuning run, head rates."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from cnnzoo import create_model
from cnnzoo.train import Recipe, load_state
from cnnzoo.transfer import finetune, finetune_param_groups, freeze, unfreeze


def _resnet20() -> torch.nn.Module:
    return create_model("resnet20", in_chans=1)


def test_policies_cut_at_the_stages_of_feature_info() -> None:
    model = _resnet20()
    everything = [n for n, _ in model.named_parameters()]
    assert freeze(model, "head") == ["classifier.weight", "classifier.bias"]
    # resnet20's last stage feeds the head directly: all-but-head is the head alone.
    assert freeze(model, "all-but-head") == ["classifier.weight", "classifier.bias"]
    trainable = freeze(model, "stages:2")  # stem and stage1 frozen
    assert trainable[0] == "stage2.block1.conv1.conv.weight"
    assert not any(n.startswith(("stem.", "stage1.")) for n in trainable)
    assert len(trainable) == len(everything) - 3 - 3 * 6  # stem conv+bn, 3 blocks of 2 conv+bn
    assert all(p.requires_grad == (n in trainable) for n, p in model.named_parameters())
    assert freeze(model, "stages:0") == freeze(model, "none") == everything
    course = create_model("fashion_cnn")
    assert freeze(course, "head") == ["classifier.fc2.weight", "classifier.fc2.bias"]
    assert freeze(course, "all-but-head") == [
        "classifier.fc1.weight",
        "classifier.fc1.bias",
        "classifier.fc2.weight",
        "classifier.fc2.bias",
    ]


def test_bad_policies_say_what_to_do() -> None:
    model = _resnet20()
    with pytest.raises(ValueError, match="nothing left to train"):
        freeze(model, "all")
    with pytest.raises(ValueError, match=r"only 4 stages .* stages:0 \.\. stages:4"):
        freeze(model, "stages:5")
    with pytest.raises(ValueError, match="unknown freeze policy 'top'; expected one of head"):
        freeze(model, "top")
    model.classifier = torch.nn.Identity()  # a model whose head has no parameters
    model.get_classifier = lambda: model.classifier
    with pytest.raises(ValueError, match="nothing left to train"):
        freeze(model, "head")


def test_frozen_bn_stays_in_eval_mode_through_train_calls() -> None:
    model = _resnet20()
    freeze(model, "stages:2")
    model.train()
    before = model.stem.bn.running_mean.clone()
    model(torch.randn(4, 1, 32, 32) * 3 + 1)
    assert torch.equal(model.stem.bn.running_mean, before)
    assert not model.stem.bn.training and model.stage2.block1.conv1.bn.training
    unfreeze(model)
    model.train()
    model(torch.randn(4, 1, 32, 32) * 3 + 1)
    assert not torch.equal(model.stem.bn.running_mean, before)


def test_param_groups_leave_frozen_out_and_scale_the_head() -> None:
    model = _resnet20()
    trainable = freeze(model, "stages:3")
    groups = finetune_param_groups(model, 1e-4, head_lr_mult=10.0)
    ids = {id(p) for g in groups for p in g["params"]}
    assert ids == {id(p) for n, p in model.named_parameters() if n in trainable}
    assert [(g["lr_scale"], g["weight_decay"], len(g["params"])) for g in groups] == [
        (1.0, 1e-4, 6),
        (1.0, 0.0, 12),
        (10.0, 1e-4, 1),
        (10.0, 0.0, 1),
    ]


def test_frozen_bn_statistics_do_not_change_over_a_finetuning_epoch(
    resnet20_source, digits_small, tmp_path
) -> None:
    source = load_file(str(resnet20_source))
    model = create_model("resnet20", pretrained=resnet20_source)
    recipe = Recipe(optimizer="adam", lr=1e-3, epochs=1, batch_size=25, data="digits")
    result = finetune(
        model, digits_small, recipe, tmp_path / "run", policy="stages:2", head_lr_mult=10.0
    )
    last = load_file(str(result.last_checkpoint))
    frozen = [k for k in source if k.startswith(("stem.", "stage1."))]
    assert any(k.endswith("running_var") for k in frozen)
    for key in frozen:  # weights and BN statistics (running mean/var, batch count) unchanged
        assert torch.equal(last[key], source[key]), key
    assert not torch.equal(
        last["stage2.block1.conv1.bn.running_mean"], source["stage2.block1.conv1.bn.running_mean"]
    )
    assert not torch.equal(
        last["stage3.block3.conv2.conv.weight"], source["stage3.block3.conv2.conv.weight"]
    )
    assert last["classifier.weight"].shape == (10, 64)  # new head for digits' 10 classes
    state = load_state(result.run_dir / "optimizer.pt")
    groups = state["optimizer"]["param_groups"]
    assert sum(len(g["params"]) for g in groups) == len(freeze(model, "stages:2"))
    assert [g["lr"] for g in groups] == [1e-3, 1e-3, 1e-2, 1e-2]
    config = (result.run_dir / "config.yaml").read_text()
    assert f"source: {resnet20_source}" in config and "policy: stages:2" in config
    assert "new head: 7 -> 10 classes" in config


def test_unfreeze_at_trains_everything_from_that_epoch(resnet20_source, digits_small, tmp_path):
    source = load_file(str(resnet20_source))
    model = create_model("resnet20", pretrained=resnet20_source)
    recipe = Recipe(optimizer="sgd", lr=0.05, epochs=2, batch_size=50, data="digits")
    result = finetune(model, digits_small, recipe, tmp_path / "run", policy="head", unfreeze_at=2)
    first = load_file(str(result.run_dir / "checkpoints" / "best.safetensors"))
    last = load_file(str(result.last_checkpoint))
    assert len(result.history) == 2
    assert not torch.equal(last["stem.conv.weight"], source["stem.conv.weight"])
    assert not torch.equal(last["stem.bn.running_mean"], source["stem.bn.running_mean"])
    if result.best_epoch == 1:  # after epoch 1 only the head had moved
        assert torch.equal(first["stem.conv.weight"], source["stem.conv.weight"])
