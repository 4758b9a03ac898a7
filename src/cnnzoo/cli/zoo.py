"""``cnnzoo list | info | summary | compare | bench``: browse the zoo and inspect models."""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import torch

from cnnzoo.analysis import parse_input_size, summary
from cnnzoo.analysis.compare import compare
from cnnzoo.analysis.tables import FORMATS, csv_table, format_count, markdown_table, text_table
from cnnzoo.analysis.throughput import matmul_peak_gflops, measure_throughput
from cnnzoo.cli import add_threads_option
from cnnzoo.registry import ModelCard, get_model_card, list_families, list_models
from cnnzoo.train import load_checkpoint
from cnnzoo.train.fused import fuse, fusion_summary, inference_model


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_list(subparsers)
    _register_info(subparsers)
    _register_summary(subparsers)
    _register_compare(subparsers)
    _register_bench(subparsers)


def _register_list(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "list",
        help="list registered models",
        description="List registered models, optionally those matching a shell-style pattern.",
        epilog="examples:\n  cnnzoo list\n  cnnzoo list 'vgg*' --format md\n"
        "  cnnzoo list --family resnet --task classify",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. 'resnet*'")
    p.add_argument("--family", help="only this family (e.g. vgg; `cnnzoo list` shows them)")
    p.add_argument("--task", help="only models for this task (e.g. classify)")
    p.add_argument(
        "--format",
        choices=(*FORMATS, "names"),
        default="text",
        help="text, md, csv, json, or names (one per line)",
    )
    p.set_defaults(func=_list)


def _register_info(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "info",
        help="show a model's card",
        description="Show a model's card: paper, default input, reference counts and notes.",
        epilog="example:\n  cnnzoo info lenet5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=_info)


def _register_summary(subparsers: argparse._SubParsersAction) -> None:
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
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="a registered model, or a run folder/checkpoint")
    p.add_argument("--input", help="input size CxHxW (default: the model card's)")
    p.add_argument("--num-classes", type=int, help="classes of the head (default: the card's)")
    p.add_argument(
        "--train-mode", action="store_true", help="summarise the training graph (aux heads)"
    )
    p.add_argument("--format", choices=FORMATS, default="text")
    add_threads_option(p)
    p.set_defaults(func=_summary)


def _register_compare(subparsers: argparse._SubParsersAction) -> None:
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
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("models", nargs="+", metavar="MODEL")
    p.add_argument("--input", help="one input size CxHxW for all (default: each card's)")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument("--plot", metavar="PNG", help="write the accuracy-vs-MACs bubble chart here")
    add_threads_option(p)
    p.set_defaults(func=_compare)


def _register_bench(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="measure images/s on this machine",
        description=(
            "Measure the real speed of models on this machine (random weights and input):\n"
            "median time per batch after warm-up, images/s, achieved GFLOP/s, and the share\n"
            "of the measured matmul peak (model FLOP utilisation)."
        ),
        epilog="examples:\n  cnnzoo bench lenet5 fashion_cnn\n"
        "  cnnzoo bench resnet20 --train --batch-size 128\n"
        "  cnnzoo bench fashion_cnn --train --batch-size 256 --no-fused",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("models", nargs="+", metavar="MODEL")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--train", action="store_true", help="time forward+backward+SGD step")
    p.add_argument("--bf16", action="store_true", help=f"bfloat16 autocast ({_bf16_note()})")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument(
        "--no-fused",
        dest="fused",
        action="store_false",
        help="time PyTorch's own ops (default: what `train`, `evaluate` and `predict` run: "
        "fused kernels for training, batch norm folded into its convolution for inference)",
    )
    p.add_argument("--fused", action="store_true", default=True, help=argparse.SUPPRESS)
    p.add_argument("--format", choices=FORMATS, default="text")
    add_threads_option(p)
    p.set_defaults(func=_bench)


def _bf16_note() -> str:
    """What bf16 buys on this CPU: AMX runs bf16 matmuls fast; without it they are slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "fast only on CPUs with AMX"
    if "amx_bf16" in flags:
        return "this CPU has AMX, which runs bf16 matmuls fast"
    return "this CPU has no AMX: bf16 matmuls are usually slower than float32 here"


def _task(card: ModelCard) -> str:
    # Cards gain a `task` field (helper `models`); until then every model classifies.
    return str(getattr(card, "task", "classify"))


def _matching_cards(pattern: str, family: str | None, task: str | None) -> list[ModelCard]:
    families = list_families()
    if family is not None and family not in families:
        raise ValueError(f"unknown family {family!r}; the families are: {', '.join(families)}")
    cards = [get_model_card(n) for n in list_models(pattern, family=family)]
    if task is not None:
        tasks = sorted({_task(get_model_card(n)) for n in list_models()})
        if task not in tasks:
            raise ValueError(f"unknown task {task!r}; the tasks are: {', '.join(tasks)}")
        cards = [c for c in cards if _task(c) == task]
    if not cards:
        where = "".join(
            f" {what} {value!r}"
            for what, value in (("in family", family), ("for task", task))
            if value
        )
        raise ValueError(f"no model{where} matches {pattern!r}; `cnnzoo list` shows them all")
    return cards


def _list(args: argparse.Namespace) -> int:
    cards = _matching_cards(args.pattern, args.family, args.task)
    if args.format == "names":
        print("\n".join(c.name for c in cards))
        return 0
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
    if args.format == "text":
        print(f"{len(cards)} models")
    return 0


def _info(args: argparse.Namespace) -> int:
    card = get_model_card(args.model)
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
    lines += [f"  figures:   {figure}" for figure in card.figures]
    if card.no_figures:
        lines.append(f"  figures:   none published ({card.no_figures})")

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
    model = args.model
    if Path(args.model).exists():
        # A run folder or checkpoint (e.g. a channel-pruned model): summarise what it holds.

        model, meta = load_checkpoint(args.model)
        size = size or tuple(meta["data"]["input_size"])
        kwargs = {}
    result = summary(model, size, train_mode=args.train_mode, **kwargs)
    print(result.render(args.format), end="" if args.format != "json" else "\n")
    return 0


def _compare(args: argparse.Namespace) -> int:
    result = compare(args.models, args.input)
    print(result.render(args.format), end="" if args.format != "json" else "\n")
    if args.plot:
        # start-up: importing matplotlib.figure costs about 0.3 s of CPU (measured with
        # `import torch` alone vs with it), so only --plot pays it.
        from cnnzoo.analysis.plots import plot_efficiency

        print(f"plot: {plot_efficiency(result, args.plot)}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    peak = matmul_peak_gflops(torch.bfloat16 if args.bf16 else torch.float32)
    header = ["Model", "Mode", "Dtype", "Batch", "ms/batch", "Images/s", "GFLOP/s", "% of peak"]
    rows, fusions = [], []
    for name in args.models:
        applied: list[str] = []
        t = measure_throughput(
            name,
            batch_size=args.batch_size,
            steps=args.steps,
            warmup=args.warmup,
            train=args.train,
            bf16=args.bf16,
            channels_last=args.channels_last,
            prepare=functools.partial(_default_path, train=args.train, applied=applied)
            if args.fused
            else None,
            label=("fused" if args.train else "folded") if args.fused else "",
        )
        fusions.append(fusion_summary(applied) if args.fused else "off")
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
    if args.format != "text":
        header.append("Fusions")
        rows = [[*row, fused] for row, fused in zip(rows, fusions, strict=True)]
    print(_render(header, rows, args.format))
    if args.format == "text":
        for row, fused in zip(rows, fusions if args.fused else [], strict=False):
            print(f"{row[0]}: {fused}")
        print(
            f"matmul peak on this machine: {peak:.0f} GFLOP/s "
            f"({'bfloat16' if args.bf16 else 'float32'}, {torch.get_num_threads()} threads); "
            "FLOPs = 2 x MACs, x3 for training"
        )
    return 0


def _default_path(model: torch.nn.Module, train: bool, applied: list[str]) -> torch.nn.Module:
    """What the engine runs: the fused training trace, or for inference the batch norms folded
    into their convolutions (plus the stem kernels); ``applied`` receives the report lines."""
    if train:
        fused, report = fuse(model, training=True)
        applied += report.fused
        return fused
    folded, lines = inference_model(model)
    applied += lines
    return folded


def _render(header: list[str], rows: list[list[str]], fmt: str) -> str:
    if fmt == "md":
        return markdown_table(header, rows).rstrip("\n")
    if fmt in ("csv", "json"):
        records = [dict(zip(header, row, strict=True)) for row in rows]
        return csv_table(records).rstrip("\n") if fmt == "csv" else json.dumps(records, indent=2)
    return text_table(header, rows, left_columns=2).rstrip("\n")
