"""Captioning strips of MNIST digits with soft attention: the data set, training, greedy and
beam decoding, BLEU and exact match, and the attention map of every generated word.

K. Xu et al. Show, Attend and Tell: Neural Image Caption Generation with Visual Attention. ICML,
2015 (the model: :mod:`cnnzoo.models.caption`). BLEU: K. Papineni, S. Roukos, T. Ward, W.-J. Zhu.
BLEU: a Method for Automatic Evaluation of Machine Translation. ACL, 2002 (corpus-level, clipped
n-gram precisions, geometric mean of 1..n, brevity penalty; one reference per strip).

The caption set is built from real images, honestly split: a strip is 2-4 MNIST digits side by
side on a 28x112 canvas (left-aligned, the rest black), captioned with their words ("seven two
nine"). Training strips draw digits from the MNIST training split only (cnnzoo's 80% part),
validation strips from its held-out 20%, test strips from the MNIST test set.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from cnnzoo.data import load_data
from cnnzoo.data.core import TensorSplit
from cnnzoo.models.caption import (
    CAPTION_WORDS,
    END,
    PAD,
    START,
    ShowAttendTell,
    caption_loss,
    window_from_linear,
)
from cnnzoo.registry import create_model
from cnnzoo.seq.loop import (
    commit_epoch,
    open_run,
    plot_history,
    restore,
    rng_state,
    train_classifier,
)
from cnnzoo.train.checkpoint import (
    atomic_write_text,
    atomic_write_with,
    load_checkpoint,
    load_weights,
)
from cnnzoo.train.runs import RunFolder

__all__ = [
    "CaptionConfig",
    "Strips",
    "beam_search",
    "bleu",
    "decode_words",
    "evaluate_captions",
    "greedy_decode",
    "load_captioner",
    "make_strips",
    "plot_attention",
    "pretrain_encoder",
    "strip_splits",
    "train_captioner",
    "write_evaluation",
]

MAX_DIGITS = 4
MODEL = "caption_attention_lstm"  # the registered captioner these functions train
WIDTH = 28 * MAX_DIGITS


@dataclass
class Strips:
    """``images`` uint8 (N, 1, 28, 112); ``captions`` int64 (N, 6): <start> words <end> <pad>..."""

    images: torch.Tensor
    captions: torch.Tensor

    def __len__(self) -> int:
        return len(self.images)


def make_strips(split: TensorSplit, n: int, seed: int, lengths: tuple[int, int] = (2, 4)) -> Strips:
    """``n`` strips of ``lengths[0]..lengths[1]`` digits drawn (with replacement) from ``split``."""
    low, high = lengths
    if not 1 <= low <= high <= MAX_DIGITS:
        raise ValueError(
            f"strip lengths must satisfy 1 <= low <= high <= {MAX_DIGITS}, got {lengths}"
        )
    if split.image_size != (28, 28) or split.in_chans != 1:
        raise ValueError(
            f"strips need 1x28x28 digits, got {split.in_chans}x{split.image_size[0]}x{split.image_size[1]}"
        )
    generator = torch.Generator().manual_seed(seed)
    count = torch.randint(low, high + 1, (n,), generator=generator)
    picks = torch.randint(len(split), (n, MAX_DIGITS), generator=generator)
    images = torch.zeros(n, 1, 28, WIDTH, dtype=torch.uint8)
    captions = torch.full((n, MAX_DIGITS + 2), PAD, dtype=torch.long)
    captions[:, 0] = START
    for slot in range(MAX_DIGITS):
        used = count > slot
        images[used, :, :, 28 * slot : 28 * (slot + 1)] = split.images[picks[used, slot]]
        captions[used, slot + 1] = split.labels[picks[used, slot]] + 3  # word ids of the digits
    captions[torch.arange(n), count + 1] = END
    return Strips(images, captions)


def strip_splits(
    data_dir: str | None, sizes: tuple[int, int, int], seed: int = 0, data: str = "mnist"
) -> dict[str, Strips]:
    """Train / val / test strips from MNIST's training part, held-out part and test set."""
    bundle = load_data(data, data_dir, seed=seed, image_size=28, in_chans=1)
    parts = {"train": bundle.train, "val": bundle.val, "test": bundle.test}
    return {
        name: make_strips(parts[name], n, seed + i)
        for i, (name, n) in enumerate(zip(parts, sizes, strict=True))
    }


def decode_words(tokens: Sequence[int]) -> list[str]:
    """Word ids -> words, stopping at <end> (special tokens dropped)."""
    words = []
    for token in tokens:
        if int(token) == END:
            break
        if int(token) > END:
            words.append(CAPTION_WORDS[int(token)])
    return words


def _normalise(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255.0)


# -- decoding --------------------------------------------------------------------------------


@torch.inference_mode()
def greedy_decode(
    model: ShowAttendTell, images: torch.Tensor, max_len: int = MAX_DIGITS + 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """The most likely word at each step: ``(tokens (N, max_len), alphas (N, max_len, L))``."""
    model.eval()
    annotations = model.encode(_normalise(images))
    projected = model.att_features(annotations)
    state = model.init_state(annotations)
    words = torch.full((len(images),), START, dtype=torch.long)
    tokens, alphas = [], []
    for _ in range(max_len):
        logits, alpha, state = model.step(words, annotations, projected, state)
        words = logits.argmax(1)
        tokens.append(words)
        alphas.append(alpha)
    return torch.stack(tokens, 1), torch.stack(alphas, 1)


@torch.inference_mode()
def beam_search(
    model: ShowAttendTell, image: torch.Tensor, beam: int = 3, max_len: int = MAX_DIGITS + 1
) -> list[int]:
    """The caption of one image (1, 28, 112) with the highest total log-probability among
    ``beam`` hypotheses kept per step; finished hypotheses (ended with <end>) compete as they are."""
    model.eval()
    annotations = model.encode(_normalise(image[None])).expand(beam, -1, -1)
    projected = model.att_features(annotations)
    h, c = model.init_state(annotations)
    words = torch.full((beam,), START, dtype=torch.long)
    scores = torch.tensor([0.0] + [-math.inf] * (beam - 1))  # start from one hypothesis
    paths: list[list[int]] = [[] for _ in range(beam)]
    finished: list[tuple[float, list[int]]] = []
    for _ in range(max_len):
        logits, _, (h, c) = model.step(words, annotations, projected, (h, c))
        total = (scores[:, None] + torch.log_softmax(logits, 1)).flatten()
        top = total.topk(beam)
        rows, cols = top.indices // logits.shape[1], top.indices % logits.shape[1]
        paths = [paths[r] + [int(w)] for r, w in zip(rows.tolist(), cols.tolist(), strict=True)]
        scores, words, h, c = top.values.clone(), cols, h[rows], c[rows]
        for i, path in enumerate(paths):
            if path[-1] == END:
                finished.append((float(scores[i]), path))
                scores[i] = -math.inf  # this beam slot is free again
        if not torch.isfinite(scores).any():
            break
    finished += [
        (float(s), p) for s, p in zip(scores, paths, strict=True) if math.isfinite(float(s))
    ]
    return max(finished, key=lambda item: item[0])[1]


# -- BLEU and evaluation ---------------------------------------------------------------------


def _ngrams(words: Sequence[str], n: int) -> Counter:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def bleu(
    hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]], max_n: int = 4
) -> float:
    """Corpus BLEU-``max_n`` (Papineni et al. 2002), one reference per hypothesis, in [0, 1]."""
    matches, totals = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references, strict=True):
        hyp_len, ref_len = hyp_len + len(hyp), ref_len + len(ref)
        for n in range(1, max_n + 1):
            h, r = _ngrams(hyp, n), _ngrams(ref, n)
            matches[n - 1] += sum(min(count, r[gram]) for gram, count in h.items())
            totals[n - 1] += max(0, len(hyp) - n + 1)
    if min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals, strict=True)) / max_n
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / max(hyp_len, 1))
    return brevity * math.exp(log_precision)


def evaluate_captions(model: ShowAttendTell, strips: Strips, beam: int = 1) -> dict[str, float]:
    """BLEU-1..4, exact match and digit accuracy (position by position) of decoded captions;
    ``beam`` 1 is greedy decoding."""
    references = [decode_words(c[1:]) for c in strips.captions]
    if beam == 1:
        hypotheses = [decode_words(t) for t in greedy_decode(model, strips.images)[0]]
    else:
        hypotheses = [decode_words(beam_search(model, image, beam)) for image in strips.images]
    digits = sum(len(r) for r in references)
    correct = sum(
        h_word == r_word
        for h, r in zip(hypotheses, references, strict=True)
        for h_word, r_word in zip(h, r, strict=False)
    )
    result = {f"bleu{n}": 100 * bleu(hypotheses, references, n) for n in range(1, 5)}
    result["exact_match"] = (
        100 * sum(h == r for h, r in zip(hypotheses, references, strict=True)) / len(references)
    )
    result["digit_accuracy"] = 100 * correct / digits
    return result


# -- training --------------------------------------------------------------------------------


@dataclass
class CaptionConfig:
    epochs: int = 3
    batch_size: int = 64
    lr: float = 1e-3
    train_strips: int = 15000
    val_strips: int = 1000
    test_strips: int = 2000
    grad_clip: float = 5.0
    attention_penalty: float = 0.0  # the paper's doubly stochastic term, lambda
    seed: int = 0
    data: str = "mnist"  # "digits" (resized to 28x28) for tests and smoke runs
    encoder_run: str | None = None  # a classifier run whose `features` initialise the encoder
    freeze_encoder: bool = True  # with encoder_run: as in the paper, the CNN is not fine-tuned


def train_captioner(
    config: CaptionConfig,
    data_dir: str | None = None,
    run_dir: str | Path | None = None,
    *,
    resume: bool = False,
    log: Callable[[str], None] | None = None,
) -> RunFolder:
    """Train ``caption_attention_lstm`` with teacher forcing; the best epoch by validation loss."""
    say = log or (lambda line: None)
    run, state = open_run(run_dir, (MODEL, f"{config.data}_strips"), resume)
    if state is not None:
        config = CaptionConfig(
            **{**run.read_config(required=())["caption"], "epochs": config.epochs}
        )
    strips = strip_splits(
        data_dir,
        (config.train_strips, config.val_strips, config.test_strips),
        config.seed,
        config.data,
    )
    model = _build_model(config, say)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    shuffle = torch.Generator().manual_seed(config.seed)
    parts = {"model": model, "optimizer": optimizer}
    history, best, start = restore(state, parts, shuffle, say, run)
    run.write_config(
        {
            "model": MODEL,
            "model_kwargs": {},
            "caption": asdict(config),
            "torch": str(torch.__version__),
        }
    )
    for epoch in range(start, config.epochs + 1):
        row = {"epoch": epoch, **_train_epoch(model, optimizer, strips["train"], config, shuffle)}
        _add_validation(row, model, strips["val"])
        history.append(row)
        is_best = row["val_loss"] < best
        best = min(best, row["val_loss"])
        meta = {"model": MODEL, "model_kwargs": {}, "epoch": epoch, "metrics": row}
        saved = {"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict()}
        saved.update(rng=rng_state(shuffle), best=best)
        commit_epoch(run, {"model": model}, meta, saved, history, is_best)
        say(_epoch_line(row, epoch, config.epochs, is_best))
    plot_history(
        run.curves,
        history,
        {
            "loss": ("train_loss", "val_loss"),
            "validation (greedy)": ("val_bleu4", "val_exact_match"),
        },
        "caption_attention_lstm on MNIST strips",
    )
    return run


def _build_model(config: CaptionConfig, say: Callable[[str], None]) -> ShowAttendTell:
    """The seeded captioner, its encoder loaded from ``config.encoder_run`` (and frozen) if
    asked."""
    torch.manual_seed(config.seed)
    model = create_model(MODEL)
    if config.encoder_run:
        _load_encoder(model, config.encoder_run)
        say(
            f"encoder: features of {config.encoder_run}"
            + (" (frozen)" if config.freeze_encoder else "")
        )
    frozen = bool(config.encoder_run and config.freeze_encoder)
    model.encoder.requires_grad_(not frozen)
    return model


def _add_validation(row: dict[str, float], model: ShowAttendTell, val: Strips) -> None:
    """Validation loss (teacher forcing), and greedy BLEU-4 and exact match."""
    row["val_loss"] = _val_loss(model, val)
    row.update(
        {
            f"val_{k}": v
            for k, v in evaluate_captions(model, val).items()
            if k in ("bleu4", "exact_match")
        }
    )


def _epoch_line(row: dict[str, float], epoch: int, epochs: int, is_best: bool) -> str:
    return (
        f"epoch {epoch}/{epochs}  train loss {row['train_loss']:.4f}  val loss {row['val_loss']:.4f}  "
        f"val BLEU-4 {row['val_bleu4']:.1f}  exact {row['val_exact_match']:.1f}%  {row['seconds']:.1f}s"
        + ("  *" if is_best else "")
    )


def _train_epoch(
    model: ShowAttendTell,
    optimizer: torch.optim.Optimizer,
    strips: Strips,
    config: CaptionConfig,
    shuffle: torch.Generator,
) -> dict[str, float]:
    model.train()
    if config.encoder_run and config.freeze_encoder:
        model.encoder.eval()  # a frozen encoder keeps its dropout off too
    order = torch.randperm(len(strips), generator=shuffle)
    total, count, t0 = 0.0, 0, time.perf_counter()
    for idx in order.split(config.batch_size):
        captions = strips.captions[idx]
        logits, alphas = model(_normalise(strips.images[idx]), captions)
        loss = caption_loss(logits, captions)
        if config.attention_penalty:
            words = (captions[:, 1:] != PAD).float()[:, :, None]
            loss = loss + config.attention_penalty * ((1 - (alphas * words).sum(1)) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        total += float(loss.detach()) * len(idx)
        count += len(idx)
    seconds = time.perf_counter() - t0
    return {"train_loss": total / count, "seconds": seconds, "strips_per_second": count / seconds}


@torch.inference_mode()
def _val_loss(model: ShowAttendTell, strips: Strips) -> float:
    model.eval()
    total = 0.0
    for images, captions in zip(strips.images.split(500), strips.captions.split(500), strict=True):
        logits, _ = model(_normalise(images), captions)
        total += float(caption_loss(logits, captions)) * len(images)
    return total / len(strips)


def _load_encoder(model: ShowAttendTell, run_dir: str | Path) -> None:
    classifier, meta = load_checkpoint(Path(run_dir))
    if meta.get("model") != "fashion_deeper_m2":
        raise ValueError(
            f"{run_dir} trained {meta.get('model')!r}; the captioner's encoder is fashion_deeper_m2 "
            "(train one with `cnnzoo train fashion_deeper_m2 --data mnist`)"
        )
    model.encoder.features.load_state_dict(classifier.features.state_dict())
    if hasattr(model.encoder, "window"):
        window_from_linear(model.encoder.window, classifier.classifier[0])


def pretrain_encoder(
    data: str,
    data_dir: str | None,
    run_dir: str | Path,
    epochs: int = 2,
    log: Callable[[str], None] | None = None,
) -> Path:
    """The encoder as the paper has it, pretrained on classification: fashion_deeper_m2 on the
    single digits of the training split (the engine, recipe fashion-cnn)."""
    return train_classifier("fashion_deeper_m2", data, data_dir, run_dir, epochs, log)


def load_captioner(run_dir: str | Path) -> tuple[ShowAttendTell, dict[str, Any]]:
    run = RunFolder(run_dir)
    config = run.read_config(required=())
    if "caption" not in config:
        raise ValueError(
            f"{run.path} is not a captioning run (its config has no 'caption' section); give a folder made by `cnnzoo caption train`"
        )
    model = create_model(config["model"], **config["model_kwargs"])
    load_weights(model, run.best, name=config["model"])
    return model.eval(), config


def write_evaluation(path: Path, results: dict[str, dict[str, float]]) -> None:
    atomic_write_text(path, json.dumps(results, indent=2) + "\n")


# -- attention figure ------------------------------------------------------------------------


def _attention_on_pixels(
    model: ShowAttendTell, alpha: torch.Tensor, grid: torch.Size
) -> torch.Tensor:
    """A 28x112 map of one word's attention. With the window encoder, place j is the 28x28
    window at pixels 4j..4j+27 (two stride-2 pools), so each pixel gets the summed weight of the
    windows that contain it; otherwise the place grid is stretched over the image."""
    if hasattr(model.encoder, "window"):
        heat = torch.zeros(28, WIDTH)
        for j, weight in enumerate(alpha.tolist()):
            heat[:, 4 * j : 4 * j + 28] += weight
        return heat
    return torch.nn.functional.interpolate(
        alpha.view(1, 1, *grid), size=(28, WIDTH), mode="bilinear"
    )[0, 0]


@torch.inference_mode()
def plot_attention(
    path: str | Path, model: ShowAttendTell, strips: Strips, indices: Sequence[int]
) -> Path:
    """For each strip: the image, then one panel per generated word with its attention map
    (``alpha`` over the encoder's places, drawn on the pixels they cover) over the digits."""
    tokens, alphas = greedy_decode(model, strips.images[list(indices)])
    grid = model.encoder(torch.zeros(1, 1, 28, WIDTH)).shape[2:]
    rows = len(indices)
    cols = MAX_DIGITS + 2
    fig = Figure(figsize=(2.3 * cols, 0.9 * rows + 0.3))
    for r, index in enumerate(indices):
        image = strips.images[index, 0].float() / 255
        words = [*decode_words(tokens[r]), "<end>"]
        ax = fig.add_subplot(rows, cols, r * cols + 1)
        ax.imshow(image, cmap="gray")
        ax.set_title("input", fontsize=8)
        ax.set_axis_off()
        for t, word in enumerate(words[: cols - 1]):
            heat = _attention_on_pixels(model, alphas[r, t], grid)
            ax = fig.add_subplot(rows, cols, r * cols + t + 2)
            ax.imshow(image, cmap="gray")
            ax.imshow(heat, cmap="jet", alpha=0.5)
            ax.set_title(word, fontsize=8)
            ax.set_axis_off()
    fig.tight_layout()
    path = Path(path)
    atomic_write_with(path, lambda buffer: fig.savefig(buffer, format="png", dpi=80))
    return path
