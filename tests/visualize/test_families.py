"""Every visualisation runs on one small model of every family, at its smallest input."""

import warnings

import pytest
import torch

from cnnzoo.registry import create_model, get_model_card, list_models
from cnnzoo.visualize import (
    AuxHeadWarning,
    GradCamWarning,
    Regularization,
    activations,
    attribute,
    default_layers,
    filters,
    gradcam,
    gradient_norms,
    interpolate,
    maximize,
    surface,
    top_patches,
    weight_layers,
)

# (model, input side): the family's cheapest variant at the smallest input it accepts.
SAMPLES = {
    "alexnet": ("alexnet_tv", 64),
    "course": ("fashion_cnn", 28),
    "densenet": ("densenet40_k12", 8),
    "nas": ("nas_cell", 28),
    "googlenet": ("googlenet", 32),
    "inception_v2": ("bn_inception", 8),
    "inception_v3": ("inception_v3", 75),
    "inception_v4": ("inception_v4", 75),
    "lenet": ("lenet5", 32),
    "mobilenet": ("mobilenet_v2", 8),
    "nin": ("nin_cifar", 8),
    "pattern": ("pattern_n1m1k0", 32),
    "pyramidnet": ("pyramidnet110_a48", 8),
    "resnet": ("resnet20", 8),
    "resnext": ("resnext50_32x4d", 8),
    "shufflenet": ("shufflenet_v1_g3_0_25x", 8),
    "speednet": ("speednet", 28),
    "squeezenet": ("squeezenet1_1", 24),
    "vgg": ("vgg11_bn_cifar", 32),
    "wide_resnet": ("wrn16_4", 8),
    "xception": ("xception", 8),
    "zfnet": ("zfnet", 224),
}
# The methods that add nothing model-specific beyond a forward/backward pass run on a subset that
# still covers ReLU6 (MobileNet v2), the channel shuffle, concatenations and auxiliary heads.
DEEP = {"course", "densenet", "googlenet", "lenet", "mobilenet", "resnet", "shufflenet"}


def test_every_family_has_a_sample() -> None:
    # Classifier families only: language models, GANs and captioners take no image batch.
    names = list_models()
    classifiers = {get_model_card(n).family for n in names if get_model_card(n).task == "classify"}
    assert sorted(SAMPLES) == sorted(classifiers)


@pytest.mark.parametrize("family", sorted(SAMPLES))
def test_every_method_runs(family: str) -> None:
    name, side = SAMPLES[family]
    model = create_model(name, num_classes=3).eval()
    chans = model.in_chans
    x = torch.randn(2, chans, side, side)
    stages = default_layers(model)
    maps = activations(model, x, stages)
    assert [m.shape[0] for m in maps.values()] == [2] * len(stages)
    assert filters(model).dim() == 4
    assert attribute(model, x, "guided-backprop", target=1).shape == x.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradCamWarning)  # tiny inputs end in 1x1 maps
        assert gradcam(model, x, stages[-1], alternatives=stages).shape == (2, side, side)
    # Training mode returns the auxiliary heads too (the loss adds them), but they need about
    # 224 (GoogLeNet) / 299 (Inception v3) pixels: at these tiny inputs they are skipped, warned.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AuxHeadWarning)
        norms = gradient_norms(model, x, torch.tensor([0, 1]))
    assert len(norms) == len(weight_layers(model)) and max(norms) > 0
    skipped = getattr(model, "aux_logits", False)
    assert [w.category for w in caught if w.category is AuxHeadWarning] == [
        AuxHeadWarning
    ] * skipped
    model.eval()
    if family in DEEP:
        _remaining_methods(model, x, stages)


def _remaining_methods(model: torch.nn.Module, x: torch.Tensor, stages: list[str]) -> None:
    chans, side = x.shape[1], x.shape[-1]
    for method in ("saliency", "deconvnet", "integrated-gradients"):
        assert attribute(model, x, method, target=1, steps=2).shape == x.shape
    reg = Regularization(steps=1)
    mean, std = (0.5,) * chans, (0.25,) * chans
    optimised = maximize(model, stages[0], [0], (chans, side, side), mean, std, regularization=reg)
    assert optimised.shape == (1, chans, side, side)
    images = torch.randint(0, 256, (3, chans, side, side), dtype=torch.uint8)
    result = top_patches(model, images, lambda u: u.float() / 255, stages[0], [0, 1], k=2)
    assert result.patches.shape[:2] == (2, 2) and result.projections.shape == result.patches.shape
    batches = [(x, torch.tensor([0, 2]))]
    state = model.state_dict()
    assert len(interpolate(model, state, state, batches, alphas=[0.0]).losses) == 1
    assert surface(model, batches, steps=2).losses.shape == (2, 2)


def _assert_as_handed_over(model: torch.nn.Module) -> None:
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert all(p.is_contiguous() for p in model.parameters())


def test_aux_head_models_in_train_mode_are_looked_into_as_they_predict() -> None:
    # torchvision's GoogLeNet variant: adaptive-pool auxiliary heads that run at 32x32, so in
    # train mode the model really returns (logits, aux1, aux2).
    torch.manual_seed(0)
    model = create_model("googlenet_tv", num_classes=3).train()
    x = torch.randn(2, 3, 32, 32)
    assert isinstance(model(x), tuple)
    stages = default_layers(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradCamWarning)
        training = {
            "guided": attribute(model, x, "guided-backprop", target=1),
            "ig": attribute(model, x, "integrated-gradients", target=1, steps=2),
            "cam": gradcam(model, x, stages[-2], target=1),
            "act": activations(model, x, stages[-1:])[stages[-1]],
        }
        _assert_as_handed_over(model)
        model.eval()
        evaluated = {
            "guided": attribute(model, x, "guided-backprop", target=1),
            "ig": attribute(model, x, "integrated-gradients", target=1, steps=2),
            "cam": gradcam(model, x, stages[-2], target=1),
            "act": activations(model, x, stages[-1:])[stages[-1]],
        }
    for key, value in training.items():
        torch.testing.assert_close(value, evaluated[key], msg=key)
    model.train()
    reg = Regularization(steps=1)
    assert maximize(
        model, None, [2], (3, 32, 32), (0.5,) * 3, (0.25,) * 3, unit="class", regularization=reg
    ).shape == (1, 3, 32, 32)
    batches = [(x, torch.tensor([0, 2]))]
    assert surface(model, batches, steps=2).losses.shape == (2, 2)
    _assert_as_handed_over(model)
    # The paper's heads (5x5/3 pool) do not fit 32x32: gradient norms skip them, with a warning,
    # and leave them on.
    paper = create_model("googlenet", num_classes=3).train()
    with pytest.warns(AuxHeadWarning, match=r"GoogLeNet's auxiliary heads need a larger input"):
        norms = gradient_norms(paper, x, torch.tensor([0, 1]))
    norms = dict(zip(weight_layers(paper), norms, strict=True))
    assert norms["aux1.fc2"] == 0.0 and norms["classifier"] > 0 and paper.aux_logits is True
