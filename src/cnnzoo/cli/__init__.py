"""The ``cnnzoo`` command: a thin layer over the public API.

Each module of this package that defines ``register(subparsers)`` contributes its commands, so
a new topic (training, visualisation, compression) adds a file here and nothing else.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import torch

from cnnzoo import __version__
from cnnzoo.models.nascell import register_cells_from_environment

__all__ = ["add_threads_option", "build_parser", "main", "positive_int"]

EPILOG = """examples:
  cnnzoo list 'resnet*'
  cnnzoo info vgg16
  cnnzoo summary lenet5 --format md
  cnnzoo compare alexnet vgg16 --input 3x224x224
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnzoo",
        description="The landmark CNNs, built as their papers describe: inspect, train, compare.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cnnzoo {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Browsing the zoo comes first in --help, then training, then the rest alphabetically.
    order = {"zoo": 0, "train": 1}
    modules = sorted(pkgutil.iter_modules(__path__), key=lambda i: (order.get(i.name, 2), i.name))
    for info in modules:
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (the message names what was given)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` for a command that computes; :func:`main` applies it before the command."""
    parser.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="torch intra-op threads (default: torch's, usually one per core)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The command as typed: a launcher runs it again in each rank (cnnzoo train --nproc).
    args.command_line = list(sys.argv[1:] if argv is None else argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    threads = getattr(args, "threads", None)
    previous = torch.get_num_threads()
    if isinstance(threads, int) and threads >= 1:
        torch.set_num_threads(threads)
    try:
        register_cells_from_environment()  # $CNNZOO_CELLS: cells saved by `cnnzoo nas register`
        return int(args.func(args) or 0)
    except KeyError as error:
        # KeyError's str() adds quotes around the message; print it as written.
        print(f"error: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `cnnzoo list | head`
        return 0
    finally:
        # main() called from Python (tests, notebooks) leaves the process as it found it.
        torch.set_num_threads(previous)


if __name__ == "__main__":
    sys.exit(main())
