"""``cnnzoo caption train | evaluate``: soft-attention captioning of MNIST digit strips."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from cnnzoo.analysis.tables import text_table

__all__ = ["register"]

RAW = argparse.RawDescriptionHelpFormatter


def register(subparsers: argparse._SubParsersAction) -> None:
    cap = subparsers.add_parser(
        "caption",
        help="show, attend and tell (Xu et al. 2015) on strips of 2-4 MNIST digits",
        description="A zoo CNN encoder and an LSTM decoder with soft attention, captioning strips "
        "of 2-4 MNIST digits with their words ('seven two nine'). Train strips come from the MNIST "
        "training split, test strips from its test split.",
        epilog="examples:\n  cnnzoo caption train --data-dir ../shared/datasets --pretrain-epochs 1\n"
        "  cnnzoo caption evaluate runs/caption-mnist --data-dir ../shared/datasets --beam 3 --plot att.png",
        formatter_class=RAW,
    )
    commands = cap.add_subparsers(dest="caption_command", metavar="COMMAND", required=True)

    p = commands.add_parser(
        "train",
        help="train the captioner in a run folder (resumable)",
        description="Teacher forcing, Adam, best epoch by validation loss. The encoder "
        "(fashion_deeper_m2's features) is pretrained on single training digits with the engine "
        "unless --encoder-run gives such a run, and frozen as in the paper (--finetune trains it).",
        epilog="examples:\n  cnnzoo caption train --data-dir ../shared/datasets --epochs 3 --out runs/caption-mnist\n"
        "  cnnzoo caption train --encoder-run runs/fashion_deeper_m2-mnist-20261202 --data-dir ../shared/datasets\n"
        "  cnnzoo caption train --resume runs/caption-mnist --epochs 5 --data-dir ../shared/datasets",
        formatter_class=RAW,
    )
    p.add_argument("--data-dir", help="where dataset files are (default: $CNNZOO_DATA, ./data)")
    p.add_argument("--data", choices=("mnist", "digits"), default="mnist")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--train-strips", type=int, default=12000)
    p.add_argument("--val-strips", type=int, default=1000)
    p.add_argument("--test-strips", type=int, default=2000)
    p.add_argument("--encoder-run", help="a fashion_deeper_m2 run trained on single digits")
    p.add_argument("--pretrain-epochs", type=int, default=1, help="if the encoder is trained here")
    p.add_argument("--no-pretrain", action="store_true", help="train the encoder from scratch")
    p.add_argument("--finetune", action="store_true", help="train the pretrained encoder too")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", help="run folder (default runs/caption_attention_lstm-<data>_strips-<time>)"
    )
    p.add_argument("--resume", metavar="RUN", help="continue this run folder")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    p.set_defaults(func=_train)

    p = commands.add_parser(
        "evaluate",
        help="BLEU-1..4, exact match, digit accuracy on test strips; attention figure",
        description="Decode the test strips (MNIST test digits) greedily and with beam search and "
        "score them against their captions; --plot draws the attention map of every generated "
        "word for a few strips. Writes RUN/evaluation.json.",
        epilog="examples:\n  cnnzoo caption evaluate runs/caption-mnist --data-dir ../shared/datasets\n"
        "  cnnzoo caption evaluate runs/caption-mnist --beam 5 --plot att.png --show 4",
        formatter_class=RAW,
    )
    p.add_argument("run", help="a run folder made by `cnnzoo caption train`")
    p.add_argument("--data-dir", help="where dataset files are (default: $CNNZOO_DATA, ./data)")
    p.add_argument("--beam", type=int, default=3, help="beam width for the beam-search row")
    p.add_argument("--plot", help="PNG of the attention maps")
    p.add_argument("--show", type=int, default=4, help="strips in the attention figure")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    p.set_defaults(func=_evaluate)


# cnnzoo.seq.caption imports matplotlib: loaded only when a caption command runs.


def _threads(n: int | None) -> None:

    if n:
        torch.set_num_threads(n)


def _train(args: argparse.Namespace) -> int:
    # start-up: cnnzoo.seq.caption costs ~0.55 s of CPU to import; only this command needs it
    from cnnzoo.seq.caption import CaptionConfig, pretrain_encoder, train_captioner

    _threads(args.threads)
    resume = args.resume is not None
    run_dir = Path(args.resume or args.out) if (args.resume or args.out) else None
    encoder = args.encoder_run
    if encoder is None and not args.no_pretrain and not resume:
        where = (run_dir.parent if run_dir else Path("runs")) / "caption-encoder-fashion_deeper_m2"
        encoder = str(
            pretrain_encoder(args.data, args.data_dir, where, args.pretrain_epochs, print)
        )
    config = CaptionConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        train_strips=args.train_strips,
        val_strips=args.val_strips,
        test_strips=args.test_strips,
        seed=args.seed,
        data=args.data,
        encoder_run=encoder,
        freeze_encoder=not args.finetune,
    )
    run = train_captioner(config, args.data_dir, run_dir, resume=resume, log=print)
    print(f"run folder: {run.path}")
    print(f"curves:     {run.curves}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    # start-up: cnnzoo.seq.caption costs ~0.55 s of CPU to import; only this command needs it
    from cnnzoo.seq.caption import (
        evaluate_captions,
        load_captioner,
        plot_attention,
        strip_splits,
        write_evaluation,
    )

    _threads(args.threads)
    model, config = load_captioner(args.run)
    c = config["caption"]
    sizes = (1, 1, c["test_strips"])  # the same seed gives the same test strips as in training
    test = strip_splits(args.data_dir, sizes, c["seed"], c["data"])["test"]
    results = {"greedy": evaluate_captions(model, test)}
    if args.beam > 1:
        results[f"beam {args.beam}"] = evaluate_captions(model, test, beam=args.beam)
    header = ["Decoding", "BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "Exact match", "Digit accuracy"]
    keys = ("bleu1", "bleu2", "bleu3", "bleu4", "exact_match", "digit_accuracy")
    rows = [[name, *[f"{r[k]:.2f}" for k in keys]] for name, r in results.items()]
    notes = [f"{len(test):,} test strips of 2-4 MNIST test digits; BLEU corpus-level, in %"]
    print(text_table(header, rows, notes=notes), end="")
    path = Path(args.run) / "evaluation.json"
    write_evaluation(path, results)
    print(f"evaluation: {path}")
    if args.plot:
        print(f"plot: {plot_attention(args.plot, model, test, list(range(args.show)))}")
    return 0
