"""Pretrained sources: torch hub's cache, cnnzoo checkpoints, .pth files, and the bad inputs."""

from __future__ import annotations

import pathlib

import pytest
import torch
import torchvision.models as tvm
from transfer_helpers import make_checkpoint, twin_pair

from cnnzoo import create_model
from cnnzoo.data import normalize
from cnnzoo.transfer.torchvision_twins import torchvision_preprocessing, weights_file


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> pathlib.Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


@pytest.fixture
def squeezenet_cached(torch_home) -> torch.nn.Module:
    """torchvision's SqueezeNet 1.1 with random weights, saved where torch hub caches its file."""
    torch.manual_seed(0)
    reference = tvm.squeezenet1_1().eval()
    path = weights_file("squeezenet1_1")
    assert path == torch_home / "hub" / "checkpoints" / "squeezenet1_1-b8a52dc0.pth"
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    return reference


def test_torchvision_weights_from_the_hub_cache(squeezenet_cached) -> None:
    model = create_model("squeezenet1_1", pretrained="torchvision").eval()
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(model(x), squeezenet_cached(x))
    pre = model.pretrained_cfg["preprocessing"]
    assert pre == {
        "input_size": [3, 224, 224],
        "resize": 256,
        "crop": 224,
        "interpolation": "bilinear",
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
    }


def test_new_classes_and_one_channel_keep_the_pretrained_function(squeezenet_cached) -> None:
    model = create_model("squeezenet1_1", pretrained="torchvision", num_classes=10, in_chans=1)
    model.eval()
    grey = torch.randn(2, 1, 48, 48)
    with torch.no_grad():
        # Summed RGB filters on a grey image = the RGB network on R = G = B.
        torch.testing.assert_close(
            model.forward_features(grey),
            squeezenet_cached.features(grey.expand(-1, 3, -1, -1)),
            rtol=1e-4,
            atol=1e-5,
        )
        assert model(grey).shape == (2, 10)
    notes = model.pretrained_cfg["notes"]
    assert "new head: 1000 -> 10 classes, freshly initialised (the rest pretrained)" in notes
    assert (
        "adapted features.conv1 from 3 to 1 input channel(s) by summing its 3 input filters"
        in notes
    )
    assert model.pretrained_cfg["preprocessing"]["input_size"] == [1, 224, 224]
    assert model.pretrained_cfg["preprocessing"]["mean"] == pytest.approx([0.449])


def test_offline_without_the_file_names_it_and_the_fix(torch_home) -> None:
    with pytest.raises(FileNotFoundError) as error:
        create_model("resnet18", pretrained="torchvision")
    message = str(error.value)
    assert str(torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert (
        "--download" in message
        and "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    )


def test_google_nets_expect_their_own_input_scaling() -> None:
    # torchvision's transform_input=True on ImageNet-normalised input == mean = std = 0.5.
    ours, theirs = twin_pair("googlenet_tv")
    pre = torchvision_preprocessing("googlenet")
    assert pre["mean"] == pre["std"] == [0.5, 0.5, 0.5]
    assert torchvision_preprocessing("inception_v3")["mean"] == [0.5, 0.5, 0.5]
    raw = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8)
    theirs.transform_input = True
    imagenet = normalize(raw, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    with torch.no_grad():
        expected = theirs.eval()(imagenet)
        mine = ours.eval()(normalize(raw, pre["mean"], pre["std"]))
        torch.testing.assert_close(mine, expected, rtol=1e-3, atol=1e-3)
        # Fed ImageNet-normalised input as other models are, ours would compute something else.
        assert (ours(imagenet) - expected).abs().max() > 0.1


def test_paper_resnet50_refuses_torchvisions_v1_5_weights() -> None:
    with pytest.raises(ValueError, match=r"shapes of torchvision's resnet50 .* use resnet50_v1_5"):
        create_model("resnet50", pretrained="torchvision")


def test_model_without_twin_lists_those_with_one() -> None:
    with pytest.raises(
        ValueError, match=r"lenet5 has no torchvision twin.*alexnet_tv, densenet121"
    ):
        create_model("lenet5", pretrained="torchvision")


def test_cnnzoo_checkpoint_and_run_folder(resnet20_source, tmp_path) -> None:
    model = create_model("resnet20", pretrained=resnet20_source.parent.parent, num_classes=3)
    assert model.num_classes == 3 and model.in_chans == 1
    pre = model.pretrained_cfg["preprocessing"]
    assert (pre["input_size"], pre["mean"], pre["std"]) == ([1, 32, 32], [0.3], [0.4])


def test_weights_of_another_architecture_name_the_model_they_fit(resnet20_source) -> None:
    with pytest.raises(ValueError) as error:
        create_model("resnet32", pretrained=resnet20_source)
    message = str(error.value)
    assert "holds weights of resnet20, not resnet32" in message
    assert "stage1.block4.conv1.conv.weight (absent in the file, 16x16x3x3 in resnet32)" in message
    assert "they fit create_model('resnet20', pretrained=...)" in message


def test_torchvision_file_of_another_model(squeezenet_cached, tmp_path) -> None:
    path = tmp_path / "sq.pth"
    torch.save(squeezenet_cached.state_dict(), path)
    with pytest.raises(
        ValueError, match=r"not a state dict of torchvision's mobilenet_v2.*fit squeezenet1_1"
    ):
        create_model("mobilenet_v2", pretrained=path)
    model = create_model("squeezenet1_1", pretrained=path).eval()  # the right model takes it
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(model(x), squeezenet_cached(x))


class _RunsCode:
    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_code_carrying_and_corrupt_pth_are_refused(tmp_path) -> None:
    marker = tmp_path / "executed"
    evil = tmp_path / "evil.pth"
    torch.save({"conv.weight": torch.zeros(1), "payload": _RunsCode(marker)}, evil)
    with pytest.raises(ValueError, match=r"refused .*evil.pth.*nothing from it was executed"):
        create_model("lenet5", pretrained=evil)
    assert not marker.exists()
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match=r"refused .*corrupt.pth"):
        create_model("lenet5", pretrained=corrupt)
    with pytest.raises(FileNotFoundError, match="neither a file nor a run folder"):
        create_model("lenet5", pretrained=tmp_path / "missing.pth")


def test_cnnzoo_key_state_dict_loads_by_name(tmp_path) -> None:
    source = create_model("lenet5")
    path = tmp_path / "lenet.pth"
    torch.save(source.state_dict(), path)
    model = create_model("lenet5", pretrained=path)
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), source.state_dict().values(), strict=True)
    )
    make_checkpoint(tmp_path / "c.safetensors", "lenet5", 10)  # the helper works for lenet5 too
