import pytest
import torch
import torch.nn as nn
import torchvision

from cnnzoo import create_model, get_model_card, list_families, list_models
from cnnzoo.models.mobilenet import mobilenet_v1_0_5_160
from cnnzoo.models.resnet import resnet18


def test_list_models_pattern_and_family() -> None:
    assert "lenet5" in list_models()
    assert list_models("lenet*") == [n for n in list_models() if n.startswith("lenet")]
    assert list_models(family="course") == ["fashion_cnn"]
    assert list_models("no-such-*") == []
    assert {"lenet", "course"} <= set(list_families())


def test_create_model_defaults_and_overrides() -> None:
    model = create_model("lenet5")
    assert isinstance(model, nn.Module) and model.card.name == "lenet5"
    assert model.num_classes == 10 and model.in_chans == 1
    model = create_model("lenet5", num_classes=26, in_chans=3)
    assert model.num_classes == 26 and model.in_chans == 3
    assert model.get_classifier().out_features == 26


def test_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(KeyError, match="Did you mean: lenet5"):
        create_model("lenet6")
    with pytest.raises(KeyError, match="unknown model 'zzz'"):
        get_model_card("zzz")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        create_model("lenet5", num_classes=0)
    with pytest.raises(ValueError, match="in_chans must be a positive integer"):
        create_model("lenet5", in_chans=-1)
    with pytest.raises(ValueError, match="no pretrained weights"):
        create_model("lenet5", pretrained=True)


def test_card_as_dict() -> None:
    card = get_model_card("lenet5").as_dict()
    assert card["year"] == 1998 and card["input_size"] == [1, 32, 32]
    assert card["params"] == 61_706 and "LeCun" in card["paper"]


TORCHVISION_TWINS = {
    "alexnet_tv": "alexnet",
    "googlenet_tv": "googlenet",
    "inception_v3": "inception_v3",
    "mobilenet_v2": "mobilenet_v2",
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50_v1_5": "resnet50",
    "resnet101_v1_5": "resnet101",
    "resnet152_v1_5": "resnet152",
    **{n: n for n in ("densenet121", "densenet161", "densenet169", "densenet201")},
    **{n: n for n in ("resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d")},
    **{f"shufflenet_v2_{w}": f"shufflenet_v2_{w}" for w in ("x0_5", "x1_0", "x1_5", "x2_0")},
    **{n: n for n in ("squeezenet1_0", "squeezenet1_1", "wide_resnet50_2", "wide_resnet101_2")},
    **{f"vgg{d}{bn}": f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")},
}


def test_torchvision_twins_are_declared_on_exactly_these_cards() -> None:
    # Not twins: the paper's resnet50/101/152 (stride 2 in the 1x1 conv, torchvision's v1.5 has
    # it in the 3x3), squeezenet1_0_bypass (adds skips) and vgg11_lrn (adds LRN): same tensors,
    # another function.
    declared = {n: get_model_card(n).torchvision for n in list_models()}
    assert {n: tv for n, tv in declared.items() if tv} == TORCHVISION_TWINS
    assert len(TORCHVISION_TWINS) == 32


@pytest.mark.parametrize("name", list(TORCHVISION_TWINS))
def test_torchvision_twin_has_the_same_tensors_in_the_same_order(name: str) -> None:
    extra = {"init_weights": False} if name in ("googlenet_tv", "inception_v3") else {}
    with torch.device("meta"):
        ours = create_model(name)
        theirs = getattr(torchvision.models, get_model_card(name).torchvision)(**extra)
    shapes = [tuple(v.shape) for v in ours.state_dict().values()]
    assert shapes == [tuple(v.shape) for v in theirs.state_dict().values()]


def test_every_card_has_a_known_task() -> None:
    assert {get_model_card(n).task for n in list_models()} <= {"classify", "lm", "caption", "gan"}
    assert get_model_card("lenet5").as_dict()["task"] == "classify"
    assert get_model_card("resnet50_v1_5").as_dict()["torchvision"] == "resnet50"
    assert get_model_card("resnet50").as_dict()["torchvision"] is None


def test_builders_carry_their_card_as_docstring() -> None:
    doc = resnet18.__doc__
    assert doc.startswith("resnet18 (resnet): K. He, X. Zhang, S. Ren, J. Sun.")
    assert "11,689,512 parameters, 1,814,073,344 MACs" in doc
    assert "Same tensors and function as torchvision.models.resnet18." in doc
    assert "Default input 3x160x160" in mobilenet_v1_0_5_160.__doc__


@pytest.mark.parametrize("name", list(TORCHVISION_TWINS))
def test_twin_cards_state_torchvisions_published_figures(name: str) -> None:
    card = get_model_card(name)
    meta = torchvision.models.get_model_weights(card.torchvision).IMAGENET1K_V1.meta
    (figure,) = [f for f in card.figures if f.source.startswith("torchvision")]
    assert figure.source == "torchvision (IMAGENET1K_V1 weights)" and figure.dataset == "ImageNet"
    assert figure.top1 == meta["_metrics"]["ImageNet-1K"]["acc@1"]
    assert figure.top5 == meta["_metrics"]["ImageNet-1K"]["acc@5"]
    assert figure.params == meta["num_params"]
    assert figure.macs == round(meta["_ops"] * 1e9)


def test_reported_figures_render_and_serialise() -> None:
    card = get_model_card("resnet18")
    assert str(card.figures[-1]) == (
        "torchvision (IMAGENET1K_V1 weights), ImageNet: 11,689,512 params, 1.814G MACs, "
        "69.758% top-1, 89.078% top-5"
    )
    assert card.as_dict()["figures"][-1]["top5"] == 89.078
    assert "Reported by torchvision (IMAGENET1K_V1 weights)" in resnet18.__doc__
