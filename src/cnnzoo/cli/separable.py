"""``cnnzoo separable``: what depthwise-separable convolutions would save in a model."""

from __future__ import annotations

import argparse

import torch

from cnnzoo.analysis import parse_input_size
from cnnzoo.analysis.tables import FORMATS
from cnnzoo.cli import add_threads_option
from cnnzoo.compress import to_depthwise_separable
from cnnzoo.registry import create_model


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
        "  cnnzoo separable vgg16_bn_cifar --exclude features.stage1.conv1 --kernel 3 5",
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
    add_threads_option(p)
    p.set_defaults(func=_separable)


def _separable(args: argparse.Namespace) -> int:
    size = parse_input_size(args.input) if args.input else None
    kwargs = {"in_chans": size[0]} if size is not None else {}
    with torch.device("meta"):
        model = create_model(args.model, **kwargs)
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
