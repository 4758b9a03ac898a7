import pytest
import torch.nn as nn

from cnnzoo import create_model, get_model_card, list_families, list_models


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
