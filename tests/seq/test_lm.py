"""Character-level language models: the explicit LSTM cell, counts, the "hello" RNN, training,
resume, evaluation and sampling (tiny texts, a few steps)."""

from __future__ import annotations

import math
import pydoc_data.topics
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import cnnzoo.train.checkpoint as checkpoint
from cnnzoo import create_model, get_model_card
from cnnzoo.cli import main
from cnnzoo.models.rnn import HIDDEN, PARAM_BUDGET, CharRNN, ExplicitLSTMCell, lm_params
from cnnzoo.seq.lm import (
    LMConfig,
    Vocabulary,
    default_corpus,
    evaluate_lm,
    gradient_through_time,
    hello,
    load_lm,
    sample,
    split_by_position,
    train_lm,
)
from cnnzoo.train.checkpoint import load_state, read_metadata, verified_epoch
from cnnzoo.train.runs import RunFolder

PERIODIC = "abcd" * 600


def test_explicit_lstm_cell_equals_nn_lstmcell_with_the_same_weights() -> None:
    torch.manual_seed(0)
    reference = nn.LSTMCell(5, 7)
    cell = ExplicitLSTMCell(5, 7)
    cell.load_state_dict(reference.state_dict())
    x, h, c = torch.randn(3, 5), torch.randn(3, 7), torch.randn(3, 7)
    h_ref, c_ref = reference(x, (h, c))
    h_out, c_out = cell(x, (h, c))
    torch.testing.assert_close(h_out, h_ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(c_out, c_ref, rtol=0, atol=1e-6)
    h_out.sum().backward()
    h_ref.sum().backward()
    torch.testing.assert_close(cell.weight_hh.grad, reference.weight_hh.grad, rtol=0, atol=1e-6)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_parameter_formula_matches_the_modules(cell: str, layers: int) -> None:
    model = CharRNN(num_classes=11, cell=cell, hidden=9, layers=layers)
    assert sum(p.numel() for p in model.parameters()) == lm_params(cell, 11, 9, layers)


def test_registered_models_share_one_parameter_budget() -> None:
    assert HIDDEN == {"rnn": 275, "lstm": 128, "gru": 152}
    assert PARAM_BUDGET == 132_583
    for cell in ("rnn", "lstm", "gru"):
        card = get_model_card(f"char_{cell}")
        assert card.task == "lm"
        model = create_model(f"char_{cell}")
        assert sum(p.numel() for p in model.parameters()) == card.params
        assert abs(card.params - PARAM_BUDGET) / PARAM_BUDGET < 0.003


def test_default_corpus_is_pydoc_topics_in_key_order() -> None:
    text = default_corpus()
    topics = pydoc_data.topics.topics
    first = sorted(topics)[0]
    assert text.startswith(topics[first]) and len(text) == sum(map(len, topics.values()))
    assert len(text) > 300_000


def test_vocabulary_round_trip_and_unknown_characters() -> None:
    vocab = Vocabulary.from_text("hello")
    assert vocab.chars == ["e", "h", "l", "o"]
    assert vocab.decode(vocab.encode("hole")) == "hole"
    with pytest.raises(ValueError, match="'z' are not in the model's vocabulary of 4"):
        vocab.encode("hez")


def test_split_is_by_position() -> None:
    train, val = split_by_position(torch.arange(100), 0.1)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))


def test_hello_samples_hello_from_h() -> None:
    result = hello()
    assert result.vocab == ["h", "e", "l", "o"]
    assert result.sampled == "hello"
    assert result.losses[-1] < 0.01 < result.losses[0]
    # the two "l" inputs predict different letters: the hidden state remembers the position
    assert max(result.probabilities[2]) == result.probabilities[2][2]
    assert max(result.probabilities[3]) == result.probabilities[3][3]


def test_uniform_model_has_perplexity_equal_to_the_vocabulary() -> None:
    model = CharRNN(num_classes=4, cell="lstm", hidden=5)
    nn.init.zeros_(model.head.weight)
    nn.init.zeros_(model.head.bias)
    tokens = torch.randint(4, (401,), generator=torch.Generator().manual_seed(0))
    assert math.exp(evaluate_lm(model, tokens, seq_len=10, streams=4)) == pytest.approx(4.0)


def test_train_resume_and_sample(tmp_path) -> None:
    config = LMConfig(cell="lstm", hidden=16, seq_len=16, batch_size=4, lr=0.03, epochs=1)
    first = train_lm(config, PERIODIC, "abcd", tmp_path / "run")
    resumed = train_lm(LMConfig(epochs=2), PERIODIC, "abcd", tmp_path / "run", resume=True)
    straight = train_lm(
        LMConfig(**{**config.__dict__, "epochs": 2}), PERIODIC, "abcd", tmp_path / "straight"
    )
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    assert resumed.history[0] == first.history[0]
    assert resumed.history[1]["val_loss"] == pytest.approx(
        straight.history[1]["val_loss"], rel=1e-5
    )
    assert resumed.val_bpc < 0.2  # a period-4 text is almost deterministic
    model, vocab, config_saved = load_lm(tmp_path / "run")
    assert config_saved["lm"]["hidden"] == 16 and vocab.chars == ["a", "b", "c", "d"]
    assert sample(model, vocab, "ab", 6, temperature=0) == "abcdabcd"
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 3
    with pytest.raises(ValueError, match="already holds a run"):
        train_lm(config, PERIODIC, "abcd", tmp_path / "run")


class Killed(BaseException):
    """Stands for SIGKILL: nothing after the write it interrupts runs."""


def _kill_at(monkeypatch: pytest.MonkeyPatch, name: str, occurrence: int) -> None:
    """Kill the run at the ``occurrence``-th write of a file called ``name`` (before it)."""
    write, seen = checkpoint.atomic_write_bytes, []

    def killing(path: Path, data: bytes, **kwargs: bool) -> None:
        if Path(path).name == name:
            seen.append(path)
            if len(seen) == occurrence:
                raise Killed
        write(path, data, **kwargs)

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", killing)


@pytest.mark.parametrize(
    ("name", "occurrence", "on_disk"),
    [("optimizer.pt", 2, 1), ("best.safetensors", 2, 2)],
    ids=["kill-before-commit", "kill-after-commit"],
)
def test_best_checkpoint_belongs_to_an_epoch_of_the_history_after_a_kill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, occurrence: int, on_disk: int
) -> None:
    # optimizer.pt is the commit point of an epoch (as in the engine): a kill before it keeps
    # epoch 1 whole; a kill after it leaves best/last one epoch behind, which a resume rewrites.
    # lr 0.01: validation improves at epoch 2 (0.20 -> 0.06), so epoch 2 writes best too.
    config = LMConfig(cell="lstm", hidden=16, seq_len=16, batch_size=4, lr=0.01, epochs=2)
    _kill_at(monkeypatch, name, occurrence)
    with pytest.raises(Killed):
        train_lm(config, PERIODIC, "abcd", tmp_path / "run")
    monkeypatch.undo()
    run = RunFolder(tmp_path / "run")
    history = [int(r["epoch"]) for r in load_state(run.state)["history"]]
    assert history == list(range(1, on_disk + 1))
    assert read_metadata(run.best)["epoch"] == read_metadata(run.last)["epoch"] == 1
    result = train_lm(LMConfig(epochs=2), PERIODIC, "abcd", run.path, resume=True)
    assert [r["epoch"] for r in result.history] == [1, 2] and result.best_epoch == 2
    assert read_metadata(run.best)["epoch"] == read_metadata(run.last)["epoch"] == 2
    assert verified_epoch(run.best) == 2


def test_sample_rejects_negative_temperature_and_empty_prime() -> None:
    model, vocab = CharRNN(num_classes=4, hidden=3), Vocabulary(list("abcd"))
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        sample(model, vocab, "a", 3, temperature=-1)
    with pytest.raises(ValueError, match="needs a prime"):
        sample(model, vocab, "", 3)
    assert sample(model, vocab, "a", 5, 1.0, seed=3) == sample(model, vocab, "a", 5, 1.0, seed=3)


def test_gradient_vanishes_through_time_in_the_rnn_more_than_in_the_lstm() -> None:
    tokens = torch.randint(4, (41,), generator=torch.Generator().manual_seed(0))
    ratios = {}
    for cell in ("rnn", "lstm"):
        torch.manual_seed(0)
        norms = gradient_through_time(CharRNN(num_classes=4, cell=cell, hidden=32), tokens)
        assert len(norms) == 40
        ratios[cell] = norms[0] / norms[-1]  # 40 steps back vs at the loss
    assert ratios["rnn"] < 1e-3
    assert ratios["lstm"] > ratios["rnn"]


def test_cli_hello_and_bad_run(tmp_path, capsys) -> None:
    assert main(["lm", "hello"]) == 0
    assert "sampled from 'h': hello" in capsys.readouterr().out
    (tmp_path / "config.yaml").write_text("model: lenet5\n")
    assert main(["lm", "sample", str(tmp_path)]) == 2
    assert "is not a language-model run" in capsys.readouterr().err
