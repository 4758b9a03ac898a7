"""Character-level language models: the seed's "hello" RNN, training on real text, perplexity and
bits per character, sampling, and the gradient that flows back through time.

After A. Karpathy, "The Unreasonable Effectiveness of Recurrent Neural Networks" (2015) and
the LSTM of S. Hochreiter and J. Schmidhuber, "Long Short-Term Memory" (1997); the vanishing
gradient of plain RNNs is the analysis of Y. Bengio, P. Simard and P. Frasconi, "Learning
Long-Term Dependencies with Gradient Descent is Difficult" (1994).

The embedded corpus is Python's own documentation, ``pydoc_data.topics`` (464,970 characters,
103 distinct), joined in key order so it is the same text on every machine with the same
Python. The split is by position: the first 90% trains, the last 10% validates, so no
validation character was ever seen inside a training window.
"""

from __future__ import annotations

import math
import pydoc_data.topics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib.figure import Figure

from cnnzoo.models.rnn import CELLS, CharRNN, ExplicitLSTMCell
from cnnzoo.registry import create_model
from cnnzoo.seq.loop import commit_epoch, open_run, plot_history, restore, rng_state
from cnnzoo.train.checkpoint import atomic_write_text, atomic_write_with, load_weights
from cnnzoo.train.runs import RunFolder

__all__ = [
    "HelloResult",
    "LMConfig",
    "LMResult",
    "Vocabulary",
    "compare_cells",
    "default_corpus",
    "evaluate_lm",
    "gradient_curves",
    "gradient_through_time",
    "hello",
    "load_corpus",
    "load_lm",
    "plot_gradient_through_time",
    "sample",
    "split_by_position",
    "train_lm",
]

MODEL_FOR_CELL = {"rnn": "char_rnn", "lstm": "char_lstm", "gru": "char_gru"}


# -- text ------------------------------------------------------------------------------------


class Vocabulary:
    """Characters <-> indices, in sorted order (so the same text gives the same indices)."""

    def __init__(self, chars: Sequence[str]) -> None:
        self.chars = list(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        unknown = sorted(set(text) - set(self.index))
        if unknown:
            shown = "".join(unknown[:10])
            raise ValueError(
                f"characters {shown!r} are not in the model's vocabulary of {len(self)} "
                "characters; use only characters of the training text"
            )
        return torch.tensor([self.index[c] for c in text], dtype=torch.long)

    def decode(self, tokens: Sequence[int] | torch.Tensor) -> str:
        return "".join(self.chars[int(t)] for t in tokens)


def default_corpus() -> str:
    """Python's ``pydoc_data.topics`` texts, concatenated in key order."""
    topics = pydoc_data.topics.topics
    return "".join(topics[key] for key in sorted(topics))


def load_corpus(text_file: str | Path | None = None) -> tuple[str, str]:
    """``(name, text)``: the embedded corpus, or a UTF-8 text file."""
    if text_file is None:
        return "pydoc_topics", default_corpus()
    path = Path(text_file)
    if not path.is_file():
        raise FileNotFoundError(f"text file {path} does not exist; give a UTF-8 text file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not UTF-8 text ({error.reason} at byte {error.start}); convert it first"
        ) from None
    if len(text) < 1000:
        raise ValueError(
            f"{path} has {len(text)} characters; a language model needs at least 1,000 "
            "(a book has about a million)"
        )
    return path.stem, text


def split_by_position(
    tokens: torch.Tensor, val_fraction: float
) -> tuple[torch.Tensor, torch.Tensor]:
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    cut = int(len(tokens) * (1 - val_fraction))
    return tokens[:cut], tokens[cut:]


# -- training --------------------------------------------------------------------------------


@dataclass
class LMConfig:
    """Hyper-parameters of a character-level run (truncated backpropagation through time over
    windows of ``seq_len`` characters; Adam with gradient-norm clipping, as Karpathy's char-rnn)."""

    cell: str = "lstm"
    hidden: int | None = None  # None: the registered model's (equal parameter budgets)
    layers: int = 1
    seq_len: int = 100
    batch_size: int = 64
    lr: float = 2e-3
    epochs: int = 3
    grad_clip: float = 5.0
    val_fraction: float = 0.1
    seed: int = 0
    max_steps: int | None = None  # per epoch; None = one pass over the training text

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}; expected one of {', '.join(CELLS)}")
        for name in ("layers", "seq_len", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass
class LMResult:
    run_dir: Path
    history: list[dict[str, float]]
    best_epoch: int
    val_loss: float
    params: int
    seconds: float

    @property
    def val_bpc(self) -> float:
        return self.val_loss / math.log(2)

    @property
    def val_perplexity(self) -> float:
        return math.exp(self.val_loss)


def _windows(tokens: torch.Tensor, seq_len: int, offset: int) -> torch.Tensor:
    """Non-overlapping windows of ``seq_len + 1`` tokens (input + shifted target) from ``offset``."""
    usable = (len(tokens) - 1 - offset) // seq_len
    idx = offset + torch.arange(usable)[:, None] * seq_len + torch.arange(seq_len + 1)[None, :]
    return tokens[idx]


@torch.inference_mode()
def evaluate_lm(
    model: CharRNN, tokens: torch.Tensor, seq_len: int = 100, streams: int = 16
) -> float:
    """Mean cross-entropy (nats per character) of ``tokens``, read as ``streams`` contiguous
    pieces whose hidden state is carried from window to window, so every character but the
    first of each piece is predicted with all the text before it."""
    model.eval()
    length = (len(tokens) - 1) // streams
    if length < 1:
        raise ValueError(
            f"the validation text has {len(tokens)} characters; it needs {streams + 1}"
        )
    inputs = tokens[: streams * length].view(streams, length)
    targets = tokens[1 : streams * length + 1].view(streams, length)
    state, total = None, 0.0
    for start in range(0, length, seq_len):
        logits, state = model(inputs[:, start : start + seq_len], state)
        total += float(
            F.cross_entropy(
                logits.flatten(0, 1), targets[:, start : start + seq_len].flatten(), reduction="sum"
            )
        )
    return total / inputs.numel()


def train_lm(
    config: LMConfig,
    text: str,
    corpus_name: str = "pydoc_topics",
    run_dir: str | Path | None = None,
    *,
    resume: bool = False,
    log: Callable[[str], None] | None = None,
) -> LMResult:
    """Train (or, with ``resume``, continue) a character-level model in a run folder."""
    say = log or (lambda line: None)
    name = MODEL_FOR_CELL[config.cell]
    run, state = open_run(run_dir, (name, corpus_name), resume)
    if state is not None:
        # The saved hyper-parameters win, except the number of epochs: resuming is "train on".
        config = LMConfig(**{**run.read_config(required=())["lm"], "epochs": config.epochs})
    vocab = Vocabulary.from_text(text)
    train, val = split_by_position(vocab.encode(text), config.val_fraction)
    model, kwargs = _build_model(name, config, len(vocab))
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    parts = {"model": model, "optimizer": optimizer}
    history, best, start = restore(state, parts, generator, say, run)
    corpus = {"name": corpus_name, "characters": len(text), "train": len(train), "val": len(val)}
    run.write_config(
        {"model": name, "model_kwargs": kwargs, "params": params, "lm": asdict(config)}
        | {"corpus": corpus, "vocab": "".join(vocab.chars), "torch": str(torch.__version__)}
    )
    meta = {"model": name, "model_kwargs": kwargs, "vocab": "".join(vocab.chars)}
    started = time.perf_counter()
    for epoch in range(start, config.epochs + 1):
        row = _train_epoch(model, optimizer, train, config, generator, epoch)
        _add_validation(row, model, val, config.seq_len)
        history.append(row)
        is_best = row["val_loss"] < best
        best = min(best, row["val_loss"])
        saved = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
        saved.update(rng=rng_state(generator), best=best)
        epoch_meta = {**meta, "epoch": epoch, "metrics": row}
        commit_epoch(run, {"model": model}, epoch_meta, {"epoch": epoch, **saved}, history, is_best)
        say(_epoch_line(row, epoch, config.epochs, is_best))
    best_row = min(history, key=lambda r: r["val_loss"])
    plot_history(
        run.curves,
        history,
        {"bits per character": ("train_bpc", "val_bpc")},
        f"{name} on {corpus_name}",
    )
    _write_report(run, name, corpus_name, params, history, best_row, model, vocab)
    seconds = time.perf_counter() - started
    return LMResult(
        run.path, history, int(best_row["epoch"]), best_row["val_loss"], params, seconds
    )


def _build_model(name: str, config: LMConfig, vocab_size: int) -> tuple[CharRNN, dict[str, Any]]:
    """The seeded model and the keyword arguments that rebuild it (its hidden size included)."""
    kwargs: dict[str, Any] = {"num_classes": vocab_size, "layers": config.layers}
    if config.hidden is not None:
        kwargs["hidden"] = config.hidden
    torch.manual_seed(config.seed)
    model = create_model(name, **kwargs)
    kwargs["hidden"] = model.hidden
    return model, kwargs


def _add_validation(row: dict[str, float], model: CharRNN, val: torch.Tensor, seq_len: int) -> None:
    row["val_loss"] = evaluate_lm(model, val, seq_len)
    row["val_bpc"] = row["val_loss"] / math.log(2)
    row["val_perplexity"] = math.exp(row["val_loss"])


def _epoch_line(row: dict[str, float], epoch: int, epochs: int, is_best: bool) -> str:
    return (
        f"epoch {epoch}/{epochs}  train {row['train_bpc']:.3f} bpc  val {row['val_bpc']:.3f} bpc "
        f"(perplexity {row['val_perplexity']:.2f})  {row['seconds']:.1f}s ({row['chars_per_second']:,.0f} chars/s)"
        + ("  *" if is_best else "")
    )


def _train_epoch(
    model: CharRNN,
    optimizer: torch.optim.Optimizer,
    train: torch.Tensor,
    config: LMConfig,
    generator: torch.Generator,
    epoch: int,
) -> dict[str, float]:
    """One pass over the training text: windows from a random offset, shuffled, no state carried
    between windows (each window starts from h_0 = 0)."""
    model.train()
    offset = int(torch.randint(config.seq_len, (1,), generator=generator))
    windows = _windows(train, config.seq_len, offset)
    windows = windows[torch.randperm(len(windows), generator=generator)]
    batches = windows.split(config.batch_size)[: config.max_steps]
    total, count, t0 = 0.0, 0, time.perf_counter()
    for batch in batches:
        logits, _ = model(batch[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"loss became {value} at epoch {epoch}; try a lower --lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        total += value * batch[:, 1:].numel()
        count += batch[:, 1:].numel()
    seconds = time.perf_counter() - t0
    loss = total / count
    return {
        "epoch": epoch,
        "lr": config.lr,
        "train_loss": loss,
        "train_bpc": loss / math.log(2),
        "seconds": seconds,
        "chars_per_second": count / seconds,
    }


def _write_report(
    run: RunFolder,
    name: str,
    corpus: str,
    params: int,
    history: list[dict[str, float]],
    best: dict[str, float],
    model: CharRNN,
    vocab: Vocabulary,
) -> None:
    load_weights(model, run.best, name=name)
    prime = "The " if set("The ") <= set(vocab.chars) else vocab.chars[0]
    text = sample(model, vocab, prime=prime, length=300, temperature=0.8, seed=0)
    lines = [
        f"# {name} on {corpus}",
        "",
        f"{params:,} parameters; {len(history)} epochs; best epoch {int(best['epoch'])}.",
        "",
        f"Validation (last 10% of the text): {best['val_loss']:.4f} nats/char = {best['val_bpc']:.3f} bits per character, perplexity {best['val_perplexity']:.2f}.",
        "",
        f"Sample (best checkpoint, prime {prime!r}, temperature 0.8, seed 0):",
        "",
        "```",
        text,
        "```",
        "",
    ]
    atomic_write_text(run.report, "\n".join(lines))


def load_lm(run_dir: str | Path, which: str = "best") -> tuple[CharRNN, Vocabulary, dict[str, Any]]:
    """The model of a run (``best`` or ``last`` checkpoint), its vocabulary and its config."""
    run = RunFolder(run_dir)
    config = run.read_config(required=())
    if "lm" not in config:
        raise ValueError(
            f"{run.path} is not a language-model run (its config has no 'lm' section); give a folder made by `cnnzoo lm train`"
        )
    model = create_model(config["model"], **config["model_kwargs"])
    load_weights(model, run.best if which == "best" else run.last, name=config["model"])
    return model.eval(), Vocabulary(list(config["vocab"])), config


def compare_cells(
    text: str,
    corpus_name: str,
    out_dir: str | Path,
    config: LMConfig,
    cells: Sequence[str] = CELLS,
    log: Callable[[str], None] | None = None,
) -> list[LMResult]:
    """Train one model per cell at the registered (equal) parameter budgets, each in
    ``out_dir/<cell>``; a folder that already holds a run is resumed (finished ones return at
    once), so an interrupted comparison continues where it stopped."""
    results = []
    for cell in cells:
        run_dir = Path(out_dir) / cell
        resume = (run_dir / "optimizer.pt").is_file()
        cell_config = LMConfig(**{**asdict(config), "cell": cell, "hidden": None})
        results.append(train_lm(cell_config, text, corpus_name, run_dir, resume=resume, log=log))
    return results


# -- sampling --------------------------------------------------------------------------------


@torch.inference_mode()
def sample(
    model: CharRNN,
    vocab: Vocabulary,
    prime: str = "",
    length: int = 200,
    temperature: float = 1.0,
    seed: int = 0,
) -> str:
    """``prime`` followed by ``length`` characters, each drawn from ``softmax(logits / T)`` and
    fed back as the next input; ``temperature`` 0 takes the most likely one (greedy)."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if not prime:
        raise ValueError("sampling needs a prime of at least one character, e.g. --prime 'The '")
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    tokens = vocab.encode(prime)
    logits, state = model(tokens[None], None)
    out: list[int] = []
    for _ in range(length):
        last = logits[0, -1]
        if temperature == 0:
            token = int(last.argmax())
        else:
            probs = torch.softmax(last / temperature, dim=0)
            token = int(torch.multinomial(probs, 1, generator=generator))
        out.append(token)
        logits, state = model(torch.tensor([[token]]), state)
    return prime + vocab.decode(out)


# -- the seed's "hello" ----------------------------------------------------------------------


@dataclass
class HelloResult:
    vocab: list[str]
    hidden: int
    steps: int
    losses: list[float]
    sampled: str
    probabilities: list[list[float]]  # per generated step, over the vocabulary


def hello(hidden: int = 3, steps: int = 300, lr: float = 0.05, seed: int = 0) -> HelloResult:
    """The seed's example: vocabulary [h, e, l, o], train on "hello" (inputs h e l l, targets
    e l l o) with a ``hidden``-unit tanh RNN, then sample greedily from "h" for 4 characters."""
    vocab = Vocabulary(["h", "e", "l", "o"])
    tokens = vocab.encode("hello")
    torch.manual_seed(seed)
    model = CharRNN(num_classes=4, cell="rnn", hidden=hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        logits, _ = model(tokens[None, :-1])
        loss = F.cross_entropy(logits[0], tokens[1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    probabilities: list[list[float]] = []
    with torch.inference_mode():
        token, state, out = tokens[:1], None, ["h"]
        for _ in range(4):
            logits, state = model(token[None], state)
            probs = torch.softmax(logits[0, -1], 0)
            probabilities.append([round(float(p), 4) for p in probs])
            token = probs.argmax()[None]
            out.append(vocab.chars[int(token)])
    return HelloResult(vocab.chars, hidden, steps, losses, "".join(out), probabilities)


# -- gradient through time -------------------------------------------------------------------


def gradient_through_time(model: CharRNN, tokens: torch.Tensor) -> list[float]:
    """``||dL_T / dh_t||`` for t = 1..T: how much of the loss at the last character reaches the
    hidden state t steps earlier. The model's first layer is unrolled step by step (the LSTM
    through :class:`ExplicitLSTMCell` with the trained weights), batch of one sequence."""
    if model.cell not in ("rnn", "lstm"):
        raise ValueError(f"gradient_through_time unrolls rnn and lstm models, got {model.cell!r}")
    rnn = model.rnn
    x = F.one_hot(tokens[:-1].long(), model.vocab_size).float()[None]
    h = torch.zeros(1, model.hidden)
    c = torch.zeros(1, model.hidden)
    cell = None
    if model.cell == "lstm":
        cell = ExplicitLSTMCell(model.vocab_size, model.hidden)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data.copy_(getattr(rnn, f"{name}_l0").detach())
    states = []
    for t in range(x.shape[1]):
        if cell is None:
            h = torch.tanh(
                x[:, t] @ rnn.weight_ih_l0.T
                + rnn.bias_ih_l0
                + h @ rnn.weight_hh_l0.T
                + rnn.bias_hh_l0
            )
        else:
            h, c = cell(x[:, t], (h, c))
        h.retain_grad()
        states.append(h)
    loss = F.cross_entropy(model.head(states[-1]), tokens[-1:].long())
    loss.backward()
    return [float(s.grad.norm()) for s in states]


def gradient_curves(
    run_dirs: dict[str, Path], text: str, seq_len: int = 100
) -> dict[str, list[float]]:
    """Gradient-through-time curves of trained RNN/LSTM runs and of the same models at their
    seeded initialisation, on the first ``seq_len + 1`` characters of the validation text."""
    curves = {}
    for run_dir in run_dirs:
        model, vocab, config = load_lm(run_dir)
        _, val = split_by_position(vocab.encode(text), config["lm"]["val_fraction"])
        window = val[: seq_len + 1]
        torch.manual_seed(config["lm"]["seed"])
        initial = create_model(config["model"], **config["model_kwargs"])
        curves[f"{config['model']} at initialisation"] = gradient_through_time(initial, window)
        curves[f"{config['model']} trained"] = gradient_through_time(model, window)
    return curves


def plot_gradient_through_time(
    path: str | Path, curves: dict[str, list[float]], title: str
) -> Path:
    """Gradient norm against distance from the loss (log scale), one line per model."""
    fig = Figure(figsize=(6.5, 4))
    ax = fig.add_subplot(1, 1, 1)
    for label, norms in curves.items():
        distance = list(range(len(norms) - 1, -1, -1))
        ax.semilogy(distance, norms, label=label)
    ax.set_xlabel("steps back from the predicted character (T - t)")
    ax.set_ylabel("||dL_T / dh_t||")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    atomic_write_with(path, lambda buffer: fig.savefig(buffer, format="png", dpi=90))
    return path
