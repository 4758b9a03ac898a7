"""``cnnzoo experiment list | run | report``: the lectures' claims as reproducible experiments."""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from cnnzoo.analysis.tables import markdown_table, text_table
from cnnzoo.cli import add_threads_option

# The same names as cnnzoo.experiments.BUDGETS / DEFAULT_ROOT, spelled out here because that
# package is imported only when an experiment command runs (see _experiments).
BUDGETS = ("smoke", "quick", "full")
DEFAULT_ROOT = "runs/experiments"

EPILOG = """examples:
  cnnzoo experiment list
  cnnzoo experiment run lenet5-mnist --budget smoke
  cnnzoo experiment run depth-degradation --budget quick --data-dir ../shared/datasets --threads 1
  cnnzoo experiment report --budget quick smoke
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "experiment",
        help="run the lectures' claims as named experiments and write the lab report",
        description=(
            "Each experiment checks one claim of the lectures (LeNet-5 < 1 % on MNIST, deeper\n"
            "plain nets training worse than ResNets, ...) by training ordinary, resumable run\n"
            "folders. Budgets: smoke (seconds, tiny data; CI), quick (minutes), full (what the\n"
            "claims are judged on). Running again continues the latest unfinished experiment."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = p.add_subparsers(dest="experiment_command", metavar="COMMAND")
    listing = commands.add_parser(
        "list",
        help="the experiments, their claims and full-budget wall time",
        epilog="example:\n  cnnzoo experiment list --format md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument("--format", choices=("text", "md"), default="text")
    listing.set_defaults(func=_list)
    _register_run(commands)
    _register_report(commands)
    p.set_defaults(func=lambda args: _help(p))


def _experiments() -> ModuleType:
    # start-up: cnnzoo.experiments pulls in the training engine and matplotlib (about 1 s of
    # CPU); `cnnzoo --help` and the other commands should not pay it.
    import cnnzoo.experiments

    return cnnzoo.experiments


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _register_run(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser(
        "run",
        help="train and analyse one experiment",
        description="Train an experiment's runs (resumably) and write results.json, report.md "
        "and PNG figures into runs/experiments/NAME-TIME/.",
        epilog="examples:\n  cnnzoo experiment run lenet5-mnist --budget smoke\n"
        "  cnnzoo experiment run lenet5-mnist --budget full --data-dir ../shared/datasets",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("name", metavar="NAME", help="an experiment (see `cnnzoo experiment list`)")
    run.add_argument(
        "--budget",
        choices=BUDGETS,
        default="smoke",
        help="smoke: seconds on the embedded digits (CI); quick: minutes on a subset; full: "
        "what the claim is judged on (default smoke)",
    )
    run.add_argument("--data-dir", help="where MNIST / Fashion-MNIST live (torchvision layout)")
    run.add_argument("--root", default=DEFAULT_ROOT, help="experiments folder")
    run.add_argument(
        "--new", action="store_true", help="start a new folder instead of continuing one"
    )
    add_threads_option(run)
    run.set_defaults(func=_run)


def _register_report(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        help="gather the latest results into docs/experiments.md",
        description="Write docs/experiments.md, docs/experiments/results.json and the figures "
        "from the latest complete experiment of each name at the given budget(s).",
        epilog="examples:\n  cnnzoo experiment report\n"
        "  cnnzoo experiment report --budget quick smoke   # quick where run, else smoke",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument(
        "--budget",
        nargs="+",
        choices=BUDGETS,
        default=["full"],
        help="budgets to take, in order of preference (default: full)",
    )
    report.add_argument("--root", default=DEFAULT_ROOT, help="experiments folder")
    report.add_argument("--out", default="docs", help="documentation folder (default docs)")
    report.set_defaults(func=_report)


def _short(text: str, width: int = 96) -> str:
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def _list(args: argparse.Namespace) -> int:
    ex = _experiments()
    claim = (lambda text: text) if args.format == "md" else _short
    rows = [
        [e.name, claim(e.claim), f"{e.budgets['full'].minutes:g} min"]
        for e in ex.EXPERIMENTS.values()
    ]
    total = ex.total_full_minutes(ex.EXPERIMENTS) / 60
    headers = ["experiment", "claim", "full budget"]
    note = f"full budgets together: about {total:.1f} h; {ex.TIME_BASIS}"
    if args.format == "md":
        print(markdown_table(headers, rows, notes=[note]), end="")
    else:
        print(text_table(headers, rows, left_columns=2, width=160, notes=[note]), end="")
    return 0


def _run(args: argparse.Namespace) -> int:
    ex = _experiments()
    experiment = ex.get_experiment(args.name)
    try:
        ex.run_experiment(
            experiment, args.budget, data_dir=args.data_dir, root=args.root, new=args.new
        )
    except ex.TrainingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; continue with: cnnzoo experiment run {args.name} "
            f"--budget {args.budget}",
            file=sys.stderr,
        )
        return 130
    return 0


def _report(args: argparse.Namespace) -> int:
    ex = _experiments()
    for path in ex.write_lab_report(ex.EXPERIMENTS, args.root, args.out, args.budget):
        print(path)
    return 0
