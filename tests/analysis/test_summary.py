import json
import time

import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from cnnzoo import create_model
from cnnzoo.analysis import InputSizeError, check_input, parse_input_size, summary


def test_fashion_cnn_reproduces_the_keras_table() -> None:
    s = summary("fashion_cnn")
    rows = {r.name: r for r in s.rows}
    # Keras prints (H, W, C); we print (C, H, W).
    assert rows["features.conv1"].output_shape == (32, 26, 26)
    assert rows["features.pool1"].output_shape == (32, 13, 13)
    assert rows["flatten"].output_shape == (5408,)
    assert rows["classifier.fc1"].output_shape == (128,)
    assert rows["classifier.fc2"].output_shape == (10,)
    assert [r.params for r in s.rows if r.params] == [320, 692_352, 1_290]
    assert s.total_params == s.trainable_params == 693_962
    assert s.macs == 26 * 26 * 32 * 9 + 5408 * 128 + 128 * 10


def test_lenet5_receptive_fields_and_jumps() -> None:
    rows = {r.name: r for r in summary("lenet5").rows}
    assert rows["features.c1"].receptive_field == (5, 5)
    assert rows["features.s2"].receptive_field == (6, 6) and rows["features.s2"].jump == (2, 2)
    assert rows["features.c3"].receptive_field == (14, 14)
    assert rows["features.c5"].receptive_field == (32, 32) and rows["features.c5"].jump == (4, 4)
    assert rows["classifier.f6"].receptive_field is None  # after flatten: the whole image


def test_receptive_field_takes_the_largest_branch_at_a_merge() -> None:
    class TwoBranches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.small = nn.Conv2d(1, 4, 1)
            self.large = nn.Conv2d(1, 4, (7, 3), padding=(3, 1))
            self.after = nn.Conv2d(4, 4, 3, stride=2, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.after(self.small(x) + self.large(x))

    rows = {r.name: r for r in summary(TwoBranches(), (1, 16, 16)).rows}
    assert rows["large"].receptive_field == (7, 3)
    assert rows["after"].receptive_field == (9, 5)
    assert rows["after"].jump == (2, 2)


def test_activation_memory_counts_new_tensors_only() -> None:
    s = summary("fashion_cnn")
    rows = {r.name: r for r in s.rows}
    assert rows["features.conv1"].activation_elements == 32 * 26 * 26
    assert rows["features.conv1"].activation_bytes == 32 * 26 * 26 * 4
    assert rows["flatten"].activation_elements == 0  # a view
    assert rows["features.drop1"].activation_elements == 0  # identity in eval
    assert s.activation_elements == 2 * 21_632 + 5408 + 2 * 128 + 10
    assert s.input_bytes == 28 * 28 * 4


def test_macs_agree_with_flop_counter_on_a_real_forward() -> None:
    model = create_model("lenet5").eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randn(1, 1, 32, 32))
    s = summary(model, (1, 32, 32))
    assert s.macs == counter.get_total_flops() // 2 == 416_520
    s.check()


def test_real_weights_are_not_touched() -> None:
    model = create_model("lenet5")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    summary(model, (1, 32, 32))
    assert model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]) and value.device.type == "cpu"


def test_no_weights_are_allocated() -> None:
    # 10 billion parameters would need 40 GB if they were real.
    with torch.device("meta"):
        huge = nn.Sequential(nn.Flatten(), nn.Linear(100_000, 100_000))
    start = time.perf_counter()
    s = summary(huge, (1, 1000, 100))
    assert s.total_params == 100_000 * 100_000 + 100_000
    assert s.macs == 10**10
    assert time.perf_counter() - start < 30  # generous: it must not compute


def test_frozen_parameters_are_reported() -> None:
    model = create_model("fashion_cnn")
    for p in model.features.parameters():
        p.requires_grad_(False)
    s = summary(model, (1, 28, 28))
    assert s.frozen_params == 320 and s.trainable_params == 693_962 - 320
    assert {r.name: r.frozen_params for r in s.rows}["features.conv1"] == 320
    assert "Frozen" in s.to_text()


def test_conv_fc_split() -> None:
    split = summary("lenet5").split()
    assert split["conv"]["params"] == 156 + 2416 + 48120
    assert split["fc"]["params"] == 10164 + 850
    assert split["conv"]["macs"] + split["fc"]["macs"] == 416_520
    assert round(split["conv"]["params_pct"] + split["fc"]["params_pct"], 6) == 100


def test_too_small_input_names_the_layer() -> None:
    with pytest.raises(InputSizeError) as info:
        summary("lenet5", (1, 2, 2))
    message = str(info.value)
    assert "input 1x2x2 does not fit lenet5" in message
    assert "'features.c1'" in message and "-2x-2" in message
    assert "default input of lenet5 is 1x32x32" in message


def test_wrong_channels_and_wrong_head_input() -> None:
    with pytest.raises(InputSizeError, match="expects 1 input channels but gets 3"):
        check_input(create_model("lenet5"), (3, 32, 32))
    with pytest.raises(InputSizeError, match=r"'classifier\.fc1'.*expects 5408 input features"):
        check_input("fashion_cnn", (1, 32, 32))
    check_input("fashion_cnn", (1, 28, 28))


def test_renderers() -> None:
    s = summary("lenet5")
    md = s.to_markdown()
    assert md.startswith("| Layer | Type | Output shape | Params |")
    assert "| features.c1 | Conv2d | 6x28x28 | 156 | 117,600 |" in md
    csv_text = s.to_csv().splitlines()
    assert csv_text[0].startswith("layer,type,kind,output_shape,params")
    assert csv_text[1].startswith("features.c1,Conv2d,conv,6x28x28,156,156,0,117600")
    data = json.loads(s.to_json())
    assert data["totals"]["params"] == 61_706 and data["totals"]["macs"] == 416_520
    assert data["layers"][0]["receptive_field"] == [5, 5]
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        s.render("xml")


def test_parse_input_size() -> None:
    assert parse_input_size("3x224x224") == (3, 224, 224)
    assert parse_input_size("1,28,28") == (1, 28, 28)
    for bad in ("224x224", "3xAx224", "0x2x2"):
        with pytest.raises(ValueError, match="CxHxW"):
            parse_input_size(bad)


def test_train_mode_includes_auxiliary_heads() -> None:
    # Inception v3's aux head ends in a 1x1 map with batch norm, which batch 1 cannot train.
    train = summary("inception_v3", train_mode=True)
    infer = summary("inception_v3")
    assert train.total_params == infer.total_params == 27_161_264
    assert any(r.name.startswith("AuxLogits") or "aux" in r.name.lower() for r in train.rows)
    assert not any("aux" in r.name.lower() for r in infer.rows)
    assert train.macs > infer.macs


def _flop_counter_macs(model: nn.Module, size: tuple[int, ...]) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.empty(1, *size, device="meta"))
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("builder", ["convnext_tiny", "vit_b_16"])
def test_rows_add_up_for_layers_with_parameters_and_children(builder: str) -> None:
    # ConvNeXt's blocks hold a layer-scale parameter, ViT holds its class token: their rows
    # used to repeat their sub-layers' MACs (convnext_tiny's rows summed to 8.72G, not 4.46G).
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        model = getattr(torchvision.models, builder)()
    s = summary(model, (3, 224, 224))
    expected = {"convnext_tiny": 4_455_531_264, "vit_b_16": 17_563_828_224}[builder]
    assert s.macs == _flop_counter_macs(model, (3, 224, 224)) == expected
    assert sum(r.macs for r in s.rows) == s.macs and s.unattributed_macs == 0
    assert s.used_params == s.total_params and s.notes == []
    s.check()
    split = s.split()
    assert split["conv"]["macs"] + split["fc"]["macs"] + split["other"]["macs"] == s.macs


def test_parameters_used_functionally_count_as_used() -> None:
    # nn.MultiheadAttention multiplies by out_proj.weight without calling out_proj.
    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.attn(x, x, x, need_weights=False)[0]

    s = summary(Attention(), (5, 8))
    assert s.total_params == s.used_params == 4 * (8 * 8 + 8)
    assert [r.name for r in s.rows] == ["attn"] and s.notes == []
    assert s.macs == 4 * 5 * 8 * 8 + 2 * 5 * 5 * 8  # projections + QK^T and AV


def test_half_precision_casts_the_stand_ins_and_says_so() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    s = summary(model, (1, 5, 5), dtype=torch.float16)
    assert s.rows[0].activation_bytes == 2 * 3 * 3 * 2 and s.input_bytes == 25 * 2
    assert s.param_bytes == 20 * 4  # the model's own float32 parameters
    assert any("float32 parameters and buffers were cast to float16" in n for n in s.notes)
    assert model[0].weight.dtype == torch.float32 and model[0].weight.device.type == "cpu"
    with pytest.raises(ValueError, match="floating-point"):
        summary(model, (1, 5, 5), dtype=torch.int64)


def test_shortcuts_keep_errors_and_in_place_semantics() -> None:
    # The meta shortcuts for batch norm, ReLU and addition must not hide a mismatch.
    bad = nn.Sequential(nn.Conv2d(1, 4, 1), nn.BatchNorm2d(3))
    with pytest.raises(InputSizeError, match="at layer '1'"):
        summary(bad, (1, 4, 4))
    inplace = nn.Sequential(nn.Conv2d(1, 4, 1), nn.ReLU(inplace=True))
    rows = summary(inplace, (1, 4, 4)).rows
    assert [r.activation_elements for r in rows] == [64, 0]

    class OneValuePerChannel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.bn(x[:1])  # one image of 1x1: batch norm refuses it in training

    with pytest.raises(InputSizeError, match="Expected more than 1 value per channel"):
        summary(OneValuePerChannel(), (4, 1, 1), train_mode=True)
