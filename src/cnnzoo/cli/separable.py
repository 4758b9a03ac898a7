"""``cnnzoo separable``: what depthwise-separable convolutions would save in a model."""

from __future__ import annotations

import argparse

from cnnzoo.analysis import parse_input_size
from cnnzoo.analysis.meta import meta_model
from cnnzoo.analysis.tables import FORMATS
from cnnzoo.cli import add_threads_option
from cnnzoo.compress import to_depthwise_separable


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "separable",
        help="convert KxK convolutions to depthwise-separable ones and report the savings",
        description=(
            "Replace every standard KxK convolution of a model (default 3x3) by a depthwise KxK\n"
            "+ pointwise 1x1 pair and report, layer by layer, parameters and MACs before and\n"
            "after (Dk*Dk*M + M*N instead of Dk*Dk*M*N). Grouped/depthwise and 1x1 convolutions\n"
            "are left alone. Runs on meta tensors: nothing is allocated or computed."
        ),
        epilog="examples:\n  cnnzoo separable squeezenet1_1\n"
        "  cnnzoo separable densenet40_k12 --norm-act --format md\n"
        "  cnnzoo separable vgg16_bn_cifar --exclude features.stage1.conv1 --kernel 3 5\n"
        "  cnnzoo separable fashion_cnn --finetune --data fashion_mnist --data-dir DIR --epochs 3",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="a registered model, e.g. squeezenet1_1")
    p.add_argument("--input", help="input size CxHxW (default: the model card's)")
    p.add_argument(
        "--kernel", type=int, nargs="+", default=[3], help="kernel sizes to convert (default 3)"
    )
    p.add_argument(
        "--exclude", action="append", default=[], help="layer-name pattern to keep (repeatable)"
    )
    p.add_argument("--norm-act", action="store_true", help="BN + ReLU between the two convs")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument(
        "--finetune",
        action="store_true",
        help="train the converted model and report its test accuracy",
    )
    p.add_argument("--data", default="digits", help="data for --finetune (default digits)")
    p.add_argument("--data-dir")
    p.add_argument("--epochs", type=int, default=5, help="--finetune epochs (default 5)")
    p.add_argument("--limit", type=int, help="at most N images per split")
    p.add_argument("--run-dir", help="run folder of the --finetune training")
    add_threads_option(p)
    p.set_defaults(func=_separable)


def _separable(args: argparse.Namespace) -> int:
    if args.finetune:
        return _finetune(args)
    size = parse_input_size(args.input) if args.input else None
    kwargs = {"in_chans": size[0]} if size is not None else {}
    model = meta_model(args.model, **kwargs)
    _, report = to_depthwise_separable(
        model,
        input_size=size,
        kernel_sizes=args.kernel,
        norm_act=args.norm_act,
        exclude=args.exclude,
        inplace=True,
    )
    print(report.render(args.format), end="")
    return 0


def _finetune(args: argparse.Namespace) -> int:
    # Imported only here: the training stack is not needed to count savings on meta tensors.
    # start-up: cnnzoo.compress.tools costs ~3.1 s of CPU to import; only this command needs it
    from cnnzoo.compress.tools import finetune_separable

    report, result = finetune_separable(
        args.model,
        data=args.data,
        data_dir=args.data_dir,
        epochs=args.epochs,
        limit=args.limit,
        kernel_sizes=args.kernel,
        norm_act=args.norm_act,
        exclude=args.exclude,
        run_dir=args.run_dir,
        quiet=args.format != "text",
    )
    print(report.render(args.format), end="")
    test = result.test
    if test is not None:
        print(
            f"fine-tuned {len(result.history)} epochs on {args.data}: test top-1 {test.top1:.2f}% "
            f"(best epoch {result.best_epoch} on validation); run folder: {result.run_dir}"
        )
    return 0
