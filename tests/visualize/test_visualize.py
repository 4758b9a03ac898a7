"""cnnzoo.visualize: each method's numbers, on tiny models and inputs."""

import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnzoo.data import TensorSplit
from cnnzoo.registry import create_model
from cnnzoo.visualize import (
    CompletenessWarning,
    GradCamWarning,
    Regularization,
    activations,
    attribute,
    check_completeness,
    completeness_error,
    filter_normalized_direction,
    filters,
    find_layer,
    gradcam,
    gradient_flow,
    interpolate,
    layer_geometry,
    layer_output,
    loss_and_accuracy,
    maximize,
    plot_attribution,
    plot_filters,
    surface,
    top_patches,
    weight_layers,
)


def test_find_layer_suggests_close_names() -> None:
    model = create_model("lenet5")
    assert find_layer(model, "features.c3") is model.features.c3
    with pytest.raises(KeyError, match=r"did you mean features\.c3"):
        find_layer(model, "features.c33")


def test_layer_output_stops_at_the_layer() -> None:
    model = create_model("lenet5").eval()
    calls = []
    model.classifier.register_forward_hook(lambda *a: calls.append(1))
    out = layer_output(model, torch.randn(2, 1, 32, 32), "features.s4")
    assert out.shape == (2, 16, 5, 5) and out.requires_grad and calls == []


def test_activations_and_filters_are_the_layers_own() -> None:
    model = create_model("lenet5").eval()
    x = torch.randn(1, 1, 32, 32)
    maps = activations(model, x, ["features.c1", "features.s2"])
    assert maps["features.c1"].shape == (1, 6, 28, 28)
    assert torch.allclose(maps["features.c1"], model.features.c1(x))
    assert torch.equal(filters(model), model.features.c1.weight)
    with pytest.raises(
        ValueError, match=r"AvgPool2d, not a Conv2d; .*\(the first is 'features\.c1'\)"
    ):
        filters(model, "features.s2")


class _Relu6Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.act = nn.ReLU6()
        self.fc = nn.Linear(2 * 4 * 4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.act(self.conv(x)).flatten(1))


def test_deconvnet_rectifies_relu6_and_ignores_the_forward_mask() -> None:
    model = _Relu6Net().eval()
    x = torch.randn(1, 1, 6, 6)
    # Deconvnet: dL/dy = fc row 0, rectified, then through the transposed convolution.
    grad_out = F.relu(model.fc.weight[0].view(1, 2, 4, 4))
    expected = F.conv_transpose2d(grad_out, model.conv.weight)
    for sign in (1, -1):  # the forward mask must not matter
        got = attribute(model, sign * x, "deconvnet", target=0)
        assert torch.allclose(got, expected, atol=1e-6)
    guided = attribute(model, x, "guided-backprop", target=0)
    plain = torch.autograd.functional.jacobian(lambda t: model(t)[0, 0], x)
    mask = ((model.conv(x) > 0) & (model.conv(x) < 6)).float()
    guided_ref = F.conv_transpose2d(grad_out * mask, model.conv.weight)
    assert torch.allclose(guided, guided_ref, atol=1e-6)
    assert torch.allclose(attribute(model, x, "saliency", target=0), plain.abs(), atol=1e-6)


def test_integrated_gradients_complete_the_difference() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    x = torch.randn(1, 1, 4, 4)
    ig = attribute(model, x, "integrated-gradients", target=2, steps=4)
    # A linear model: attributions sum exactly to f(x) - f(0).
    diff = model(x)[0, 2] - model(torch.zeros_like(x))[0, 2]
    assert torch.allclose(ig.sum(), diff, atol=1e-5)


def test_gradcam_warns_on_a_one_by_one_layer_and_names_a_better_one() -> None:
    model = create_model("lenet5").eval()
    x = torch.randn(2, 1, 32, 32)
    stages = ["features.act1", "features.s2", "features.s4", "features.act5"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cam = gradcam(model, x, "features.act5", alternatives=stages)
    assert cam.shape == (2, 32, 32)
    messages = [str(w.message) for w in caught if w.category is GradCamWarning]
    assert messages and "1x1 map" in messages[0] and "--layer features.s4 (5x5)" in messages[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradCamWarning)
        assert gradcam(model, x, "features.s4", target=1).min() >= 0


def test_maximize_raises_the_channel_and_stays_in_range() -> None:
    torch.manual_seed(0)
    model = create_model("lenet5").eval()
    mean, std = (0.5,), (0.25,)
    kwargs = dict(input_size=(1, 32, 32), mean=mean, std=std)

    def score(images: torch.Tensor) -> torch.Tensor:
        out = layer_output(model, (images - 0.5) / 0.25, "features.act1")
        return out[torch.arange(2), torch.tensor([0, 3])].mean((1, 2))

    start = maximize(
        model, "features.act1", [0, 3], **kwargs, regularization=Regularization(steps=0)
    )
    for parameterization in ("pixel", "fourier"):
        reg = Regularization(steps=20, lr=0.05, parameterization=parameterization)
        images = maximize(model, "features.act1", [0, 3], **kwargs, regularization=reg)
        assert images.shape == (2, 1, 32, 32) and images.min() >= 0 and images.max() <= 1
        assert (score(images) > score(start) + 0.05).all()
    assert all(p.requires_grad for p in model.parameters())


def test_top_patches_finds_the_bright_spot_and_crops_its_field() -> None:
    # One 3x3 all-ones filter: the strongest unit sits on the brightest 3x3 window.
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.ReLU()).eval()
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].bias.zero_()
    images = torch.zeros(5, 1, 8, 8, dtype=torch.uint8)
    images[3, 0, 2, 5] = 255
    images[1, 0, 6, 1] = 100
    result = top_patches(model, images, lambda u: u.float() / 255, "1", [0], k=2)
    assert result.indices.tolist() == [[3, 1]]
    assert result.receptive_field == 3 and result.jump == 1
    # The argmax of the spot's 3x3 neighbourhood is its top-left unit (first maximum).
    assert result.units[0, 0].tolist() == [1, 4]
    assert result.boxes[0, 0].tolist() == [0, 3, 3, 6]
    assert torch.equal(result.patches[0, 0], images[3, :, 0:3, 3:6])
    # d unit / d pixel is the all-ones kernel over the field, with either projection.
    assert torch.equal(result.projections[0, 0], torch.ones(1, 3, 3))
    guided = top_patches(
        model, images, lambda u: u.float() / 255, "1", [0], k=1, projection="guided-backprop"
    )
    assert torch.equal(guided.projections[0, 0], torch.ones(1, 3, 3))
    assert layer_geometry(create_model("fashion_cnn"), (1, 28, 28), "features.pool1") == (4, 2)


def test_filter_normalized_direction_matches_filter_norms() -> None:
    model = create_model("resnet20", num_classes=3)
    d = filter_normalized_direction(model, torch.Generator().manual_seed(0))
    w = model.stem.conv.weight
    assert torch.allclose(d["stem.conv.weight"].flatten(1).norm(dim=1), w.flatten(1).norm(dim=1))
    assert not d["stem.bn.weight"].any() and not d["classifier.bias"].any()


def test_landscape_endpoints_and_centre_are_the_models_losses() -> None:
    torch.manual_seed(0)
    model = create_model("lenet5", num_classes=3).eval()
    other = create_model("lenet5", num_classes=3).eval()
    batches = [(torch.randn(6, 1, 32, 32), torch.tensor([0, 1, 2, 0, 1, 2]))]
    with torch.no_grad():
        own = F.cross_entropy(model(batches[0][0]), batches[0][1]).item()
        theirs = F.cross_entropy(other(batches[0][0]), batches[0][1]).item()
    curve = interpolate(model, other.state_dict(), model.state_dict(), batches, alphas=[0, 1])
    assert curve.losses == pytest.approx([theirs, own], rel=1e-5)
    grid = surface(model, batches, steps=3, span=0.5)
    assert grid.losses.shape == (3, 3) and grid.losses[1, 1] == pytest.approx(own, rel=1e-5)
    assert grid.xs == [-0.5, 0.0, 0.5] and grid.images == 6
    tensors = dict(model.named_parameters()) | dict(model.named_buffers())
    assert loss_and_accuracy(model, tensors, batches)[0] == pytest.approx(own, rel=1e-5)


def test_gradient_flow_records_every_weight_layer() -> None:
    model = create_model("plain20", num_classes=3)
    assert len(weight_layers(model)) == 20  # 19 convolutions and the classifier
    split = TensorSplit(
        torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8), torch.arange(16) % 3
    )
    flow = gradient_flow(model, split, (0.5,) * 3, (0.25,) * 3, steps=3, batch_size=8)
    assert sorted(flow.norms) == [0, 3] and len(flow.losses) == 3
    assert all(len(n) == 20 and min(n) > 0 for n in flow.norms.values())
    assert flow.norms[0] != flow.norms[3]


def test_completeness_error_is_exact_for_linear_models_and_shrinks_with_steps() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 1, 4, 4)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    attr = attribute(linear, x, "integrated-gradients", target=1, steps=1)
    assert float(completeness_error(linear, x, attr, 1).max()) < 1e-5
    curved = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Softplus(beta=4), nn.Linear(8, 3))
    errors = {
        steps: completeness_error(
            curved, x, attribute(curved, x, "integrated-gradients", target=2, steps=steps), 2
        ).max()
        for steps in (1, 4, 32)
    }
    assert errors[1] > 0.05 > errors[4] > errors[32] and errors[32] < 1e-3
    with pytest.warns(CompletenessWarning, match=r"with 1 steps miss completeness by .*--steps"):
        assert check_completeness(torch.tensor([0.01, errors[1]]), 1) == pytest.approx(errors[1])


def test_completeness_error_takes_known_logits_and_a_shared_baseline() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 1, 4, 4)
    curved = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Softplus(beta=4), nn.Linear(8, 3))
    black = torch.full((1, 1, 4, 4), -0.5)
    attr = attribute(curved, x, "integrated-gradients", steps=4, baseline=black)
    per_image = completeness_error(curved, x, attr, None, black.expand_as(x).clone())
    with torch.no_grad():
        logits = curved(x)
    assert torch.allclose(
        completeness_error(curved, x, attr, None, black, logits=logits), per_image
    )
    assert torch.allclose(completeness_error(curved, x, attr, None, black), per_image)


def test_grey_pictures_are_drawn_on_one_fixed_scale() -> None:
    """matplotlib stretches a one-channel array to its own range unless told otherwise: the
    filters' shared scale and the zero-is-grey of deconvnet maps depend on vmin/vmax."""
    weight = torch.zeros(2, 1, 3, 3)
    weight[0, 0, 0, 0], weight[1, 0, 0, 0] = 1.0, 0.1  # filter 1 is ten times weaker
    fig = plot_filters(weight, "conv")
    shown = [ax.images[0] for ax in fig.axes if ax.images]
    assert all(image.norm.vmin == 0 and image.norm.vmax == 1 for image in shown)
    assert shown[1].get_array().max() == pytest.approx(0.55)
    images = torch.full((1, 1, 4, 4), 200, dtype=torch.uint8)
    fig = plot_attribution(images, torch.randn(1, 1, 4, 4), "deconvnet")
    assert all(ax.images[0].norm.vmax == 1 for ax in fig.axes if ax.images)
