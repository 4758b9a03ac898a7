"""Character-level recurrent language models: vanilla RNN, LSTM and GRU.

* J. L. Elman. Finding Structure in Time. Cognitive Science, 1990 -- the recurrence
  ``h_t = tanh(W_hh h_{t-1} + W_xh x_t)``, ``y_t = W_hy h_t``.
* S. Hochreiter, J. Schmidhuber. Long Short-Term Memory. Neural Computation, 1997 -- the gates
  ``i, f, o, g`` and the cell path ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``.
* K. Cho et al. Learning Phrase Representations using RNN Encoder-Decoder. EMNLP, 2014 -- GRU.
* A. Karpathy. The Unreasonable Effectiveness of Recurrent Neural Networks, 2015 -- the
  character-level language model ("hello" on the vocabulary {h, e, l, o}).

The input is the one-hot character, exactly as in the seed (``W_xh x_t``), so the models have no
separate embedding table. Training uses PyTorch's fused ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``;
:class:`ExplicitLSTMCell` writes the LSTM equations out (tested equal to ``nn.LSTMCell`` with the
same weights) and is what the gradient-through-time study unrolls.

Cards: ``num_classes`` is the vocabulary (103 characters of the embedded corpus,
``pydoc_data.topics``); ``input_size`` is ``(1, 1, 100)``: one sequence of 100 characters.
The three builders have (almost) equal parameter counts, so they can be compared fairly.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnzoo.registry import Paper, register_model

__all__ = [
    "CELLS",
    "HIDDEN",
    "PARAM_BUDGET",
    "CharRNN",
    "ExplicitLSTMCell",
    "hidden_for_params",
    "lm_macs",
    "lm_params",
]

CELLS = ("rnn", "lstm", "gru")
_GATES = {"rnn": 1, "gru": 3, "lstm": 4}
DEFAULT_VOCAB = 103  # distinct characters of the embedded corpus (pydoc_data.topics)

ELMAN = Paper(
    authors="J. L. Elman",
    title="Finding Structure in Time",
    year=1990,
    venue="Cognitive Science 14(2)",
    url="https://doi.org/10.1207/s15516709cog1402_1",
)
HOCHREITER = Paper(
    authors="S. Hochreiter, J. Schmidhuber",
    title="Long Short-Term Memory",
    year=1997,
    venue="Neural Computation 9(8)",
    url="https://doi.org/10.1162/neco.1997.9.8.1735",
)
CHO = Paper(
    authors="K. Cho, B. van Merrienboer, C. Gulcehre, D. Bahdanau, F. Bougares, H. Schwenk, "
    "Y. Bengio",
    title="Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine "
    "Translation",
    year=2014,
    venue="EMNLP",
    url="https://arxiv.org/abs/1406.1078",
)


def lm_params(cell: str, vocab: int, hidden: int, layers: int = 1) -> int:
    """Parameters of :class:`CharRNN`: per layer ``gates * (H*(in + H) + 2H)``, plus the
    ``H -> vocab`` output layer."""
    gates = _GATES[_check_cell(cell)]
    total = 0
    for layer in range(layers):
        inputs = vocab if layer == 0 else hidden
        total += gates * (hidden * (inputs + hidden) + 2 * hidden)
    return total + hidden * vocab + vocab


def hidden_for_params(cell: str, vocab: int, params: int, layers: int = 1) -> int:
    """The hidden size whose :func:`lm_params` is closest to ``params`` (equal-budget tables)."""
    best = min(range(1, 4097), key=lambda h: abs(lm_params(cell, vocab, h, layers) - params))
    return best


def _check_cell(cell: str) -> str:
    if cell not in _GATES:
        raise ValueError(f"unknown cell {cell!r}; expected one of {', '.join(CELLS)}")
    return cell


class CharRNN(nn.Module):
    """One-hot characters -> ``layers`` recurrent layers of width ``hidden`` -> next-character
    logits. ``forward(tokens, state)`` returns ``(logits (N, T, vocab), state)``."""

    def __init__(
        self,
        num_classes: int = DEFAULT_VOCAB,
        in_chans: int = 1,
        cell: str = "lstm",
        hidden: int = 128,
        layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if in_chans != 1:
            raise ValueError(
                f"a language model reads one token stream (in_chans=1), got {in_chans}"
            )
        recurrent = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[_check_cell(cell)]
        self.num_classes = self.vocab_size = num_classes
        self.in_chans = 1
        self.cell, self.hidden, self.layers = cell, hidden, layers
        self.rnn = recurrent(
            num_classes, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        self.head = nn.Linear(hidden, num_classes)

    def forward(
        self,
        tokens: torch.Tensor,
        state: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        x = F.one_hot(tokens.long(), self.vocab_size).to(self.head.weight.dtype)
        out, state = self.rnn(x, state)
        return self.head(out), state


class ExplicitLSTMCell(nn.Module):
    """The LSTM cell written with the seed's equations (weights laid out like ``nn.LSTMCell``:
    rows ``[i, f, g, o]`` of ``weight_ih`` / ``weight_hh``)::

        i, f, g, o = sigma(.), sigma(.), tanh(.), sigma(.)   of  W_ih x + b_ih + W_hh h + b_hh
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
        bound = hidden_size**-0.5  # nn.LSTMCell's initialisation
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h_prev, c_prev = state
        z = x @ self.weight_ih.T + self.bias_ih + h_prev @ self.weight_hh.T + self.bias_hh
        zi, zf, zg, zo = z.chunk(4, dim=1)
        i, f, g, o = torch.sigmoid(zi), torch.sigmoid(zf), torch.tanh(zg), torch.sigmoid(zo)
        c = f * c_prev + i * g
        h = o * torch.tanh(c)
        return h, c


def lm_macs(cell: str, vocab: int, hidden: int, steps: int, layers: int = 1) -> int:
    """Multiply-accumulates of ``steps`` characters: per step and layer ``gates * H * (in + H)``
    (the one-hot input counted as a dense matmul, as ``nn.LSTM`` computes it) plus ``H * vocab``
    for the output layer; biases and element-wise gate arithmetic are not counted."""
    gates = _GATES[_check_cell(cell)]
    per_step = sum(
        gates * hidden * ((vocab if layer == 0 else hidden) + hidden) for layer in range(layers)
    )
    return steps * (per_step + hidden * vocab)


# Equal budgets: the LSTM with 128 units has 132,583 parameters on the 103-character corpus;
# the RNN and GRU get the hidden size that comes closest to it.
PARAM_BUDGET = lm_params("lstm", DEFAULT_VOCAB, 128)
HIDDEN = {cell: hidden_for_params(cell, DEFAULT_VOCAB, PARAM_BUDGET) for cell in CELLS}


def _lm_card(cell: str, paper: Paper):
    hidden = HIDDEN[cell]
    params = lm_params(cell, DEFAULT_VOCAB, hidden)
    return register_model(
        paper=paper,
        input_size=(1, 1, 100),
        num_classes=DEFAULT_VOCAB,
        family="rnn",
        task="lm",
        params=params,
        macs=lm_macs(cell, DEFAULT_VOCAB, hidden, 100),
        reported=f"Sized to the 128-unit LSTM's {PARAM_BUDGET:,} parameters ({hidden} units here).",
        no_figures="our own character model: no source trains or counts it",
        dataset="pydoc_data.topics (characters)",
        notes="one-hot characters in, next-character logits out; input_size (1, 1, 100) is one "
        "sequence of 100 characters, MACs are for those 100 steps",
    )


@_lm_card("rnn", ELMAN)
def char_rnn(num_classes: int = DEFAULT_VOCAB, in_chans: int = 1, **kwargs) -> CharRNN:
    """Elman RNN (tanh), one layer, sized to the LSTM's parameter budget."""
    kwargs.setdefault("hidden", HIDDEN["rnn"])
    return CharRNN(num_classes, in_chans, cell="rnn", **kwargs)


@_lm_card("lstm", HOCHREITER)
def char_lstm(num_classes: int = DEFAULT_VOCAB, in_chans: int = 1, **kwargs) -> CharRNN:
    """LSTM, one layer of 128 units."""
    kwargs.setdefault("hidden", HIDDEN["lstm"])
    return CharRNN(num_classes, in_chans, cell="lstm", **kwargs)


@_lm_card("gru", CHO)
def char_gru(num_classes: int = DEFAULT_VOCAB, in_chans: int = 1, **kwargs) -> CharRNN:
    """GRU, one layer, sized to the LSTM's parameter budget."""
    kwargs.setdefault("hidden", HIDDEN["gru"])
    return CharRNN(num_classes, in_chans, cell="gru", **kwargs)
