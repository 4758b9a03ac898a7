"""``cnnzoo list | info | summary | compare``: browse the zoo and inspect models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cnnzoo.analysis import parse_input_size, summary
from cnnzoo.analysis.compare import compare, plot_efficiency
from cnnzoo.analysis.tables import format_count, markdown_table, text_table
from cnnzoo.registry import get_model_card, list_models

FORMATS = ("table", "md", "csv", "json")


def register(subparsers: argparse._SubParsersAction) -> None:
    raw = argparse.RawDescriptionHelpFormatter

    p = subparsers.add_parser(
        "list",
        help="list registered models",
        description="List registered models, optionally those matching a shell-style pattern.",
        epilog="examples:\n  cnnzoo list\n  cnnzoo list 'vgg*' --format md",
        formatter_class=raw,
    )
    p.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. 'resnet*'")
    p.add_argument("--family", help="only this family (e.g. vgg)")
    p.add_argument("--format", choices=("table", "md", "json", "names"), default="table")
    p.set_defaults(func=_list)

    p = subparsers.add_parser(
        "info",
        help="show a model's card",
        description="Show a model's card: paper, default input, reference counts and notes.",
        epilog="example:\n  cnnzoo info lenet5",
        formatter_class=raw,
    )
    p.add_argument("name")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=_info)

    p = subparsers.add_parser(
        "summary",
        help="per-layer table: shapes, params, MACs, memory, receptive field",
        description=(
            "Per-layer table of a model: output shape, parameters, MACs, activation memory,\n"
            "receptive field and jump, then totals and the conv-vs-FC split. Runs on meta\n"
            "tensors: no weights are allocated and nothing is computed."
        ),
        epilog="examples:\n  cnnzoo summary lenet5\n  cnnzoo summary fashion_cnn --format md\n"
        "  cnnzoo summary lenet5 --input 1x32x32 --num-classes 26 --format json",
        formatter_class=raw,
    )
    p.add_argument("name", help="a registered model, or a run folder / checkpoint")
    p.add_argument("--input", help="input size CxHxW (default: the model card's)")
    p.add_argument("--num-classes", type=int, help="classes of the head (default: the card's)")
    p.add_argument(
        "--train-mode", action="store_true", help="summarise the training graph (aux heads)"
    )
    p.add_argument("--format", choices=FORMATS, default="table")
    p.set_defaults(func=_summary)

    p = subparsers.add_parser(
        "compare",
        help="compare models: params, MACs, memory, efficiency",
        description=(
            "Compare models side by side: parameters, MACs, activation memory, conv share,\n"
            "and the efficiency view (reported top-1 per million parameters, MACs per parameter).\n"
            "--plot writes a bubble chart of reported accuracy vs MACs (bubble area ~ params)."
        ),
        epilog="examples:\n  cnnzoo compare lenet5 fashion_cnn\n"
        "  cnnzoo compare alexnet vgg16 resnet50 --plot compare.png",
        formatter_class=raw,
    )
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--input", help="one input size CxHxW for all (default: each card's)")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--plot", metavar="PNG", help="write the accuracy-vs-MACs bubble chart here")
    p.set_defaults(func=_compare)

    p = subparsers.add_parser(
        "bench",
        help="measure images/s on this machine",
        description=(
            "Measure the real speed of models on this machine (random weights and input):\n"
            "median time per batch after warm-up, images/s, achieved GFLOP/s, and the share\n"
            "of the measured matmul peak (model FLOP utilisation)."
        ),
        epilog="examples:\n  cnnzoo bench lenet5 fashion_cnn\n"
        "  cnnzoo bench fashion_cnn --train --batch-size 256 --fused",
        formatter_class=raw,
    )
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--train", action="store_true", help="time forward+backward+SGD step")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (AMX on this CPU)")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument(
        "--fused",
        action="store_true",
        help="run through the training engine's fused kernels (cnnzoo.train.fused)",
    )
    p.set_defaults(func=_bench)


def _list(args: argparse.Namespace) -> int:
    names = list_models(args.pattern, family=args.family)
    if not names:
        raise ValueError(f"no model matches {args.pattern!r}; `cnnzoo list` shows them all")
    if args.format == "names":
        print("\n".join(names))
        return 0
    cards = [get_model_card(n) for n in names]
    if args.format == "json":
        print(json.dumps([c.as_dict() for c in cards], indent=2))
        return 0
    header = ["Model", "Family", "Year", "Input", "Classes", "Params", "MACs"]
    rows = [
        [
            c.name,
            c.family,
            str(c.year),
            "x".join(map(str, c.input_size)),
            str(c.num_classes),
            format_count(c.params) if c.params is not None else "-",
            format_count(c.macs) if c.macs is not None else "-",
        ]
        for c in cards
    ]
    print(_render(header, rows, args.format))
    print(f"{len(names)} models")
    return 0


def _info(args: argparse.Namespace) -> int:
    card = get_model_card(args.name)
    if args.format == "json":
        print(json.dumps(card.as_dict(), indent=2))
        return 0
    lines = [
        f"{card.name}  ({card.family})",
        f"  paper:     {card.paper}",
    ]
    if card.paper.url:
        lines.append(f"  url:       {card.paper.url}")
    lines += [
        f"  input:     {'x'.join(map(str, card.input_size))} (C x H x W), {card.num_classes} classes",
        f"  params:    {card.params:,}" if card.params is not None else "  params:    -",
        f"  MACs:      {card.macs:,} at the default input"
        if card.macs is not None
        else "  MACs:      -",
        f"  reported:  {card.reported or '-'}",
    ]
    if card.top1 is not None:
        lines.append(f"  top-1:     {card.top1}% on {card.dataset} (reported)")
    if card.notes:
        lines.append(f"  notes:     {card.notes}")
    print("\n".join(lines))
    return 0


def _summary(args: argparse.Namespace) -> int:
    size = parse_input_size(args.input) if args.input else None
    kwargs = {}
    if args.num_classes is not None:
        kwargs["num_classes"] = args.num_classes
    if size is not None:
        kwargs["in_chans"] = size[0]
    model = args.name
    if Path(args.name).exists():
        # A run folder or checkpoint (e.g. a channel-pruned model): summarise what it holds.
        from cnnzoo.train import load_checkpoint

        model, meta = load_checkpoint(args.name)
        size = size or tuple(meta["data"]["input_size"])
        kwargs = {}
    result = summary(model, size, train_mode=args.train_mode, **kwargs)
    print(result.render(args.format), end="" if args.format != "json" else "\n")
    return 0


def _compare(args: argparse.Namespace) -> int:
    result = compare(args.names, args.input)
    print(result.render(args.format), end="" if args.format != "json" else "\n")
    if args.plot:
        print(f"plot: {plot_efficiency(result, args.plot)}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    import torch

    from cnnzoo.analysis.throughput import matmul_peak_gflops, measure_throughput

    peak = matmul_peak_gflops(torch.bfloat16 if args.bf16 else torch.float32)
    header = ["Model", "Mode", "Dtype", "Batch", "ms/batch", "Images/s", "GFLOP/s", "% of peak"]
    rows = []
    for name in args.names:
        t = measure_throughput(
            name,
            batch_size=args.batch_size,
            steps=args.steps,
            warmup=args.warmup,
            train=args.train,
            bf16=args.bf16,
            channels_last=args.channels_last,
            fused=args.fused,
        )
        rows.append(
            [
                t.model,
                t.mode,
                t.dtype,
                str(t.batch_size),
                f"{1000 * t.seconds_per_step:.2f}",
                f"{t.images_per_second:,.0f}",
                f"{t.gflops:.1f}",
                f"{100 * t.gflops / peak:.1f}%",
            ]
        )
    print(_render(header, rows, "table"))
    print(
        f"matmul peak on this machine: {peak:.0f} GFLOP/s ({'bfloat16' if args.bf16 else 'float32'}, "
        f"{torch.get_num_threads()} threads); FLOPs = 2 x MACs, x3 for training"
    )
    return 0


def _render(header: list[str], rows: list[list[str]], fmt: str) -> str:
    if fmt == "md":
        return markdown_table(header, rows).rstrip("\n")
    return text_table(header, rows, left_columns=2).rstrip("\n")
