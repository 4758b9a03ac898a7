"""DCGAN: the nets and their cards, the Frechet distance and classifier scores on constructed
cases, and a tiny resumable training run on the embedded digits."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from cnnzoo import create_model, get_model_card
from cnnzoo.analysis import summary
from cnnzoo.cli import main
from cnnzoo.gen import (
    GANConfig,
    frechet_distance,
    interpolation_grid,
    load_generator,
    score_images,
    train_gan,
)


@pytest.mark.parametrize("name", ["dcgan28_generator", "dcgan28_discriminator"])
def test_cards_match_the_implementation(name: str) -> None:
    card = get_model_card(name)
    s = summary(name)
    assert card.task == "gan"
    assert (s.total_params, s.macs) == (card.params, card.macs)


def test_shapes_range_and_paper_initialisation() -> None:
    torch.manual_seed(0)
    gen, disc = create_model("dcgan28_generator"), create_model("dcgan28_discriminator")
    images = gen(torch.randn(4, 100))
    assert images.shape == (4, 1, 28, 28) and images.abs().max() <= 1
    assert disc(images).shape == (4,)
    assert gen.net.up2.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert not any(isinstance(m, nn.MaxPool2d) for m in disc.modules())  # strided convs only


def test_conditional_nets_need_labels() -> None:
    gen = create_model("dcgan28_generator", conditional=True)
    disc = create_model("dcgan28_discriminator", conditional=True)
    labels = torch.tensor([3, 7])
    assert disc(gen(torch.randn(2, 100), labels), labels).shape == (2,)
    with pytest.raises(ValueError, match="conditional generator needs labels"):
        gen(torch.randn(2, 100))


def test_frechet_distance_of_translated_and_scaled_features() -> None:
    a = torch.randn(500, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    shift = torch.tensor([1.0, -2.0, 0.0, 0.5, 0.0, 3.0], dtype=torch.float64)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift.square().sum()), rel=1e-8)
    # b = 2a: ||mu||^2 + tr(S) + 4 tr(S) - 2 * 2 tr(S) = ||mu||^2 + tr(S)
    expected = float(a.mean(0).square().sum() + torch.cov(a.T).trace())
    assert frechet_distance(a, 2 * a) == pytest.approx(expected, rel=1e-8)


class _PixelClassifier(nn.Module):
    """Class k <=> pixel k is on (or uniform predictions with ``uniform=True``)."""

    def __init__(self, uniform: bool) -> None:
        super().__init__()
        self.flatten = nn.Flatten(1)
        self.head = nn.Linear(784, 10)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.zero_()
            if not uniform:
                self.head.weight[:, :10] = 100 * torch.eye(10)

    def get_classifier(self) -> nn.Module:
        return self.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.flatten(x))


def test_classifier_scores_of_certain_and_of_uniform_predictions() -> None:
    images = torch.zeros(20, 1, 28, 28)
    images.view(20, -1)[torch.arange(20), torch.arange(20) % 10] = 1.0
    sharp = score_images(
        images, images, _PixelClassifier(False), [0.0], [1.0], torch.arange(20) % 10
    )
    assert sharp.confidence == pytest.approx(1.0, abs=1e-6)
    assert sharp.classifier_score == pytest.approx(10.0, rel=1e-4)
    assert sharp.class_shares == [0.1] * 10 and sharp.label_accuracy == 1.0
    assert sharp.frechet_distance == pytest.approx(0.0, abs=1e-6)
    flat = score_images(images, images, _PixelClassifier(True), [0.0], [1.0])
    assert flat.confidence == pytest.approx(0.1) and flat.classifier_score == pytest.approx(1.0)


def test_tiny_run_resumes_exactly_and_draws_grids(tmp_path) -> None:
    config = GANConfig(data="digits", epochs=1, batch_size=32, limit=96)
    train_gan(config, run_dir=tmp_path / "run")
    resumed = train_gan(GANConfig(data="digits", epochs=2), run_dir=tmp_path / "run", resume=True)
    straight = train_gan(
        GANConfig(**{**config.__dict__, "epochs": 2}), run_dir=tmp_path / "straight"
    )
    rows = [line.split(",")[:4] for line in resumed.metrics_csv.read_text().splitlines()]
    assert rows == [line.split(",")[:4] for line in straight.metrics_csv.read_text().splitlines()]
    assert len(rows) == 3
    assert sorted(p.name for p in (resumed.path / "samples").iterdir()) == [
        "epoch_001.png",
        "epoch_002.png",
    ]
    gen, saved = load_generator(tmp_path / "run")
    assert saved["gan"]["limit"] == 96
    assert interpolation_grid(gen, rows=2, steps=5).shape == (10, 1, 28, 28)


def test_cli_refuses_a_folder_that_is_not_a_gan_run(tmp_path, capsys) -> None:
    (tmp_path / "config.yaml").write_text("model: lenet5\n")
    assert main(["gan", "sample", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2
    assert "is not a DCGAN run" in capsys.readouterr().err
