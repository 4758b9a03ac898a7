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

from cnnzoo import __version__

__all__ = ["build_parser", "main"]

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
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


if __name__ == "__main__":
    sys.exit(main())
