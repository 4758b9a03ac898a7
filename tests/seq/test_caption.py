"""Captioning digit strips: the strips, BLEU on hand-computed cases, attention, greedy vs beam,
and a tiny resumable training run on the embedded digits."""

from __future__ import annotations

import math

import pytest
import torch

from cnnzoo import create_model, get_model_card
from cnnzoo.analysis import summary
from cnnzoo.cli import main
from cnnzoo.data.core import TensorSplit
from cnnzoo.models.caption import END, START
from cnnzoo.seq.caption import (
    CaptionConfig,
    beam_search,
    bleu,
    decode_words,
    greedy_decode,
    make_strips,
    train_captioner,
)


def _digits_split() -> TensorSplit:
    labels = torch.arange(10)
    images = (labels * 20 + 10).to(torch.uint8).view(10, 1, 1, 1).expand(10, 1, 28, 28)
    return TensorSplit(images.contiguous(), labels)


def test_strips_hold_the_digits_their_captions_name() -> None:
    strips = make_strips(_digits_split(), 50, seed=0)
    assert strips.images.shape == (50, 1, 28, 112) and strips.captions.shape == (50, 6)
    for image, caption in zip(strips.images, strips.captions, strict=True):
        words = decode_words(caption[1:])
        assert caption[0] == START and caption[len(words) + 1] == END and 2 <= len(words) <= 4
        for slot, word in enumerate(words):
            digit = int(image[0, 0, 28 * slot]) // 20  # the constant pixel value names the digit
            assert (
                word
                == ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"][
                    digit
                ]
            )
        assert int(image[:, :, 28 * len(words) :].sum()) == 0  # the rest of the canvas is black


def test_bleu_on_hand_computed_cases() -> None:
    same = [["one", "two", "three", "four"]]
    assert bleu(same, same) == pytest.approx(1.0)
    short = bleu([["one", "two"]], [["one", "two", "three"]], max_n=2)
    assert short == pytest.approx(math.exp(1 - 3 / 2))  # precisions 1, brevity penalty only
    wrong = bleu([["one", "two", "four"]], [["one", "two", "three"]], max_n=2)
    assert wrong == pytest.approx(math.sqrt(2 / 3 * 1 / 2))
    assert bleu([["one", "two", "four"]], [["one", "two", "three"]], max_n=4) == 0.0


def test_card_counts_and_attention_is_a_distribution() -> None:
    card = get_model_card("caption_attention_lstm")
    s = summary("caption_attention_lstm")
    assert card.task == "caption" and (s.total_params, s.macs) == (card.params, card.macs)
    torch.manual_seed(0)
    model = create_model("caption_attention_lstm").eval()
    captions = torch.tensor([[START, 5, 6, END, 0, 0]])
    logits, alphas = model(torch.rand(1, 1, 28, 112), captions)
    assert logits.shape == (1, 5, 13) and alphas.shape == (1, 5, 22)  # 22 window places
    torch.testing.assert_close(alphas.sum(2), torch.ones(1, 5))


def test_beam_of_one_is_greedy() -> None:
    torch.manual_seed(1)
    model = create_model("caption_attention_lstm").eval()
    images = (torch.rand(3, 1, 28, 112) * 255).to(torch.uint8)
    tokens, _ = greedy_decode(model, images)
    for image, greedy in zip(images, tokens.tolist(), strict=True):
        cut = greedy.index(END) + 1 if END in greedy else len(greedy)
        assert beam_search(model, image, beam=1) == greedy[:cut]
        assert len(beam_search(model, image, beam=3)) <= 5


def test_tiny_run_resumes(tmp_path) -> None:
    config = CaptionConfig(
        epochs=1, batch_size=16, train_strips=48, val_strips=16, test_strips=16, data="digits"
    )
    train_captioner(config, run_dir=tmp_path / "run")
    resumed = train_captioner(
        CaptionConfig(epochs=2, data="digits"), run_dir=tmp_path / "run", resume=True
    )
    straight = train_captioner(
        CaptionConfig(**{**config.__dict__, "epochs": 2}), run_dir=tmp_path / "b"
    )
    a = resumed.metrics_csv.read_text().splitlines()
    b = straight.metrics_csv.read_text().splitlines()
    columns = [0, 1, 4]  # epoch, train_loss, val_loss (not the seconds)
    assert len(a) == 3
    assert [[r.split(",")[i] for i in columns] for r in a] == [
        [r.split(",")[i] for i in columns] for r in b
    ]


def test_cli_refuses_a_folder_that_is_not_a_caption_run(tmp_path, capsys) -> None:
    (tmp_path / "config.yaml").write_text("model: lenet5\n")
    assert main(["caption", "evaluate", str(tmp_path)]) == 2
    assert "is not a captioning run" in capsys.readouterr().err
