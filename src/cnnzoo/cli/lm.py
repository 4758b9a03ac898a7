"""``cnnzoo lm hello | train | sample | compare``: character-level language models."""

from __future__ import annotations

import argparse
import json
from typing import Any

import torch

from cnnzoo.analysis.tables import format_count, markdown_table, text_table

__all__ = ["register"]

RAW = argparse.RawDescriptionHelpFormatter


def register(subparsers: argparse._SubParsersAction) -> None:
    lm = subparsers.add_parser(
        "lm",
        help="character-level language models: RNN, LSTM, GRU (train, sample, compare)",
        description="Character-level language models (Karpathy 2015): the seed's 'hello' RNN, "
        "RNN/LSTM/GRU on Python's own documentation (pydoc_data.topics, 465k characters) or "
        "any UTF-8 text, perplexity and bits per character, sampling.",
        epilog="examples:\n  cnnzoo lm hello\n  cnnzoo lm train --cell lstm --epochs 3\n"
        "  cnnzoo lm sample runs/char_lstm-pydoc_topics-20261202-040000 --prime 'The '\n"
        "  cnnzoo lm compare --out runs/lm-compare --epochs 3 --plot grad.png",
        formatter_class=RAW,
    )
    commands = lm.add_subparsers(dest="lm_command", metavar="COMMAND", required=True)
    _register_hello(commands)
    _register_train(commands)
    _register_sample(commands)
    _register_compare(commands)


def _add_training_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text", help="a UTF-8 text file (default: the embedded pydoc_data topics)")
    p.add_argument("--epochs", type=int, default=3, help="passes over the training text")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=100, help="characters per BPTT window")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate")
    p.add_argument("--max-steps", type=int, help="at most N batches per epoch (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")


def _register_hello(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "hello",
        help="the seed's 4-letter RNN: train on 'hello', sample from 'h'",
        description="Train a tanh RNN on the vocabulary [h, e, l, o] with the sequence 'hello' "
        "(inputs h e l l, targets e l l o), then feed 'h' and sample greedily, feeding each "
        "character back.",
        epilog="examples:\n  cnnzoo lm hello\n  cnnzoo lm hello --hidden 8 --steps 100 --format json",
        formatter_class=RAW,
    )
    p.add_argument("--hidden", type=int, default=3, help="hidden units (the seed draws 3)")
    p.add_argument("--steps", type=int, default=300, help="Adam steps on the one sequence")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=_hello)


def _register_train(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "train",
        help="train a char-level RNN/LSTM/GRU in a run folder (resumable)",
        description="Train a character-level model; the first 90%% of the text trains, the last "
        "10%% validates. Prints bits per character and perplexity per epoch; the run folder "
        "holds config, metrics, checkpoints, curves and a report with a sample.",
        epilog="examples:\n  cnnzoo lm train --cell lstm --epochs 3\n"
        "  cnnzoo lm train --cell gru --text shakespeare.txt --hidden 256 --out runs/gru-shk\n"
        "  cnnzoo lm train --resume runs/gru-shk --epochs 6",
        formatter_class=RAW,
    )
    p.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="lstm")
    p.add_argument("--hidden", type=int, help="hidden units (default: equal-parameter sizes)")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--out", help="run folder (default runs/<model>-<text>-<time>)")
    p.add_argument("--resume", metavar="RUN", help="continue this run folder")
    _add_training_options(p)
    p.set_defaults(func=_train)


def _register_sample(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "sample",
        help="generate text from a trained run",
        description="Feed PRIME, then draw LENGTH characters one at a time from softmax(logits/T), "
        "feeding each back. --temperature 0 is greedy.",
        epilog="examples:\n  cnnzoo lm sample runs/char_lstm-pydoc_topics-20261202-040000\n"
        "  cnnzoo lm sample RUN --prime 'def ' --temperature 0.5 --length 400",
        formatter_class=RAW,
    )
    p.add_argument("run", help="a run folder made by `cnnzoo lm train`")
    p.add_argument("--prime", default="The ", help="text to start from (default 'The ')")
    p.add_argument("--length", type=int, default=300, help="characters to generate")
    p.add_argument("--temperature", type=float, default=0.8, help="0 = greedy; >1 = more random")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_sample)


def _register_compare(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "compare",
        help="RNN vs LSTM vs GRU at equal parameters, plus gradient through time",
        description="Train char_rnn, char_lstm and char_gru (about 133k parameters each) with the "
        "same data and budget, one run folder each under --out (re-running resumes them), "
        "tabulate validation bits per character and perplexity, and plot ||dL_T/dh_t|| of the "
        "RNN and the LSTM.",
        epilog="examples:\n  cnnzoo lm compare --out runs/lm-compare --epochs 3 --plot grad.png\n"
        "  cnnzoo lm compare --out runs/quick --epochs 1 --max-steps 20 --format md",
        formatter_class=RAW,
    )
    p.add_argument("--out", required=True, help="folder for the three run folders")
    p.add_argument(
        "--cells", nargs="+", choices=("rnn", "lstm", "gru"), default=["rnn", "lstm", "gru"]
    )
    p.add_argument("--plot", help="PNG of the gradient norm through time (RNN vs LSTM)")
    p.add_argument("--format", choices=("table", "md", "json"), default="table")
    _add_training_options(p)
    p.set_defaults(func=_compare)


# -- commands (cnnzoo.seq.lm imports matplotlib: loaded only when an lm command runs) ---------


def _set_threads(args: argparse.Namespace) -> None:

    if args.threads:
        torch.set_num_threads(args.threads)


def _config(args: argparse.Namespace, cell: str, hidden: int | None, layers: int) -> Any:
    # start-up: cnnzoo.seq.lm costs ~0.52 s of CPU to import; only this command needs it
    from cnnzoo.seq.lm import LMConfig

    return LMConfig(
        cell=cell,
        hidden=hidden,
        layers=layers,
        seq_len=args.seq_len,
        batch_size=args.batch_size,
        lr=args.lr,
        epochs=args.epochs,
        seed=args.seed,
        max_steps=args.max_steps,
    )


def _hello(args: argparse.Namespace) -> int:
    # start-up: cnnzoo.seq.lm costs ~0.52 s of CPU to import; only this command needs it
    from cnnzoo.seq.lm import hello

    result = hello(hidden=args.hidden, steps=args.steps, seed=args.seed)
    if args.format == "json":
        print(json.dumps({**result.__dict__, "losses": result.losses[-1:]}, indent=2))
        return 0
    print(
        f"vocabulary {result.vocab}; training sequence 'hello' (inputs h e l l -> targets e l l o)"
    )
    print(f"tanh RNN with {result.hidden} hidden units, {result.steps} Adam steps")
    print(f"loss: step 1 {result.losses[0]:.4f} -> step {result.steps} {result.losses[-1]:.4f}")
    header = ["step", "input", *[f"p({c})" for c in result.vocab], "sampled"]
    rows = [
        [str(i + 1), result.sampled[i], *[f"{p:.4f}" for p in probs], result.sampled[i + 1]]
        for i, probs in enumerate(result.probabilities)
    ]
    print(text_table(header, rows, left_columns=2), end="")
    print(f"sampled from 'h': {result.sampled}")
    return 0


def _train(args: argparse.Namespace) -> int:
    # start-up: cnnzoo.seq.lm costs ~0.52 s of CPU to import; only this command needs it
    from cnnzoo.seq.lm import load_corpus, train_lm

    _set_threads(args)
    name, text = load_corpus(args.text)
    config = _config(args, args.cell, args.hidden, args.layers)
    run_dir = args.resume or args.out
    result = train_lm(config, text, name, run_dir, resume=args.resume is not None, log=print)
    print(
        f"best epoch {result.best_epoch}: validation {result.val_bpc:.3f} bits per character, "
        f"perplexity {result.val_perplexity:.2f} ({result.params:,} parameters)"
    )
    print(f"run folder: {result.run_dir}")
    print(f"curves:     {result.run_dir / 'curves.png'}")
    print(f"report:     {result.run_dir / 'report.md'}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    # start-up: cnnzoo.seq.lm costs ~0.52 s of CPU to import; only this command needs it
    from cnnzoo.seq.lm import load_lm, sample

    model, vocab, _ = load_lm(args.run)
    print(sample(model, vocab, args.prime, args.length, args.temperature, args.seed))
    return 0


def _compare(args: argparse.Namespace) -> int:
    # start-up: cnnzoo.seq.lm costs ~0.52 s of CPU to import; only this command needs it
    from cnnzoo.seq.lm import (
        compare_cells,
        gradient_curves,
        load_corpus,
        load_lm,
        plot_gradient_through_time,
        sample,
    )

    _set_threads(args)
    name, text = load_corpus(args.text)
    config = _config(args, "lstm", None, 1)
    results = compare_cells(text, name, args.out, config, args.cells, log=print)
    rows = []
    for cell, result in zip(args.cells, results, strict=True):
        last = result.history[-1]
        seconds = sum(row["seconds"] for row in result.history)
        rows.append(
            {
                "model": f"char_{cell}",
                "hidden": load_lm(result.run_dir)[2]["model_kwargs"]["hidden"],
                "params": result.params,
                "epochs": len(result.history),
                "train_bpc": last["train_bpc"],
                "val_bpc": result.val_bpc,
                "val_perplexity": result.val_perplexity,
                "train_seconds": seconds,
            }
        )
    _print_comparison(rows, args.format)
    best = min(results, key=lambda r: r.val_loss)
    model, vocab, _ = load_lm(best.run_dir)
    print(f"\nsample from {best.run_dir.name} (prime 'The ', temperature 0.8):")
    print(sample(model, vocab, "The ", 300, 0.8, args.seed))
    if args.plot:
        runs = [r.run_dir for c, r in zip(args.cells, results, strict=True) if c in ("rnn", "lstm")]
        curves = gradient_curves(runs, text, config.seq_len)
        title = f"gradient through time over {config.seq_len} characters (validation text)"
        print(f"plot: {plot_gradient_through_time(args.plot, curves, title)}")
    return 0


def _print_comparison(rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(rows, indent=2))
        return
    header = [
        "Model",
        "Hidden",
        "Params",
        "Epochs",
        "Train bpc",
        "Val bpc",
        "Val perplexity",
        "Train s",
    ]
    cells = [
        [
            r["model"],
            str(r["hidden"]),
            f"{r['params']:,}" if fmt == "md" else format_count(r["params"]),
            str(r["epochs"]),
            f"{r['train_bpc']:.3f}",
            f"{r['val_bpc']:.3f}",
            f"{r['val_perplexity']:.2f}",
            f"{r['train_seconds']:.0f}",
        ]
        for r in rows
    ]
    notes = [
        "bpc = bits per character = validation cross-entropy / ln 2; perplexity = exp(cross-entropy)"
    ]
    render = markdown_table if fmt == "md" else text_table
    print(render(header, cells, notes=notes), end="")
