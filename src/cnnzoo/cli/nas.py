"""``cnnzoo nas search | show``: NASNet-style cell search with Optuna (random, evolution)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import optuna
import torch

from cnnzoo.analysis.tables import format_count, markdown_table, text_table
from cnnzoo.nas import SearchConfig, run_search, search_table

__all__ = ["register"]

RAW = argparse.RawDescriptionHelpFormatter


def register(subparsers: argparse._SubParsersAction) -> None:
    nas = subparsers.add_parser(
        "nas",
        help="architecture search over NASNet-style cells (random search, regularised evolution)",
        description="Search the seed's operation list as NASNet-style normal and reduction cells "
        "(3 blocks each) by random search or regularised evolution (Real et al. 2019), each "
        "candidate proxy-trained on a Fashion-MNIST subset and ranked on held-out validation "
        "images. Optuna's SQLite study in --out records every trial; re-running resumes.",
        epilog="examples:\n  cnnzoo nas search --strategy random --out runs/nas --data-dir ../shared/datasets\n"
        "  cnnzoo nas search --strategy evolution --out runs/nas --budget-minutes 5 --trials 20\n"
        "  cnnzoo nas show runs/nas --strategy evolution --top 5",
        formatter_class=RAW,
    )
    commands = nas.add_subparsers(dest="nas_command", metavar="COMMAND", required=True)

    p = commands.add_parser(
        "search",
        help="run or continue a search (budget in trials and CPU-minutes)",
        description="Run trials until --trials are complete or --budget-minutes of proxy-training "
        "CPU time are spent (default 30), then print the trials, best first.",
        epilog="examples:\n  cnnzoo nas search --strategy evolution --out runs/nas --data-dir ../shared/datasets\n"
        "  cnnzoo nas search --strategy random --out runs/nas --trials 10 --budget-minutes 3 --threads 1",
        formatter_class=RAW,
    )
    p.add_argument("--strategy", choices=("random", "evolution"), default="evolution")
    p.add_argument("--out", required=True, help="search folder (study.db + one run per trial)")
    p.add_argument("--data-dir", help="where dataset files are (default: $CNNZOO_DATA, ./data)")
    p.add_argument("--trials", type=int, default=40)
    p.add_argument(
        "--budget-minutes", type=float, default=30.0, help="CPU minutes of proxy training"
    )
    p.add_argument("--population", type=int, default=8, help="evolution: models kept alive")
    p.add_argument("--sample-size", type=int, default=3, help="evolution: tournament size")
    p.add_argument("--proxy-images", type=int, default=2000, help="Fashion-MNIST images per split")
    p.add_argument("--proxy-epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", choices=("table", "md", "json"), default="table")
    p.add_argument("--top", type=int, default=10, help="rows to print")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    p.set_defaults(func=_search)

    p = commands.add_parser(
        "show",
        help="print the trials of a search, best first",
        description="Print a search's completed trials from its study.db without training anything.",
        epilog="example:\n  cnnzoo nas show runs/nas --strategy random --format md",
        formatter_class=RAW,
    )
    p.add_argument("out", help="a search folder made by `cnnzoo nas search`")
    p.add_argument("--strategy", choices=("random", "evolution"), default="evolution")
    p.add_argument("--format", choices=("table", "md", "json"), default="table")
    p.add_argument("--top", type=int, default=10)
    p.set_defaults(func=_show)


# cnnzoo.nas imports optuna (about 0.5 s): loaded only when a nas command runs.


def _search(args: argparse.Namespace) -> int:

    if args.threads:
        torch.set_num_threads(args.threads)
    config = SearchConfig(
        strategy=args.strategy,
        trials=args.trials,
        budget_minutes=args.budget_minutes,
        population=args.population,
        sample_size=args.sample_size,
        proxy_images=args.proxy_images,
        proxy_epochs=args.proxy_epochs,
        seed=args.seed,
    )
    study = run_search(config, args.out, args.data_dir, log=print)
    _print(search_table(study), args.format, args.top)
    return 0


def _show(args: argparse.Namespace) -> int:

    path = Path(args.out) / "study.db"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; give a folder made by `cnnzoo nas search --out`"
        )
    try:
        study = optuna.load_study(study_name=args.strategy, storage=f"sqlite:///{path}")
    except KeyError:
        raise KeyError(
            f"{path} has no {args.strategy!r} search; run `cnnzoo nas search --strategy {args.strategy} --out {args.out}`"
        ) from None
    _print(search_table(study), args.format, args.top)
    return 0


def _print(rows: list[dict], fmt: str, top: int) -> None:
    if fmt == "json":
        print(json.dumps(rows[:top], indent=2))
        return
    header = ["Trial", "Genotype (normal/reduction)", "Val acc", "Params", "MACs", "CPU s"]
    cells = [
        [
            str(r["trial"]),
            r["genotype"],
            f"{r['val_acc']:.2f}%",
            format_count(r["params"]),
            format_count(r["macs"]),
            f"{r['cpu_seconds']:.0f}",
        ]
        for r in rows[:top]
    ]
    spent = sum(r["cpu_seconds"] for r in rows) / 60
    notes = [
        f"{len(rows)} completed trials, {spent:.1f} CPU-minutes of proxy training; accuracy on held-out validation images"
    ]
    if fmt == "md":  # the genotype's "|" would split a Markdown cell
        cells = [[c.replace("|", "\\|") for c in row] for row in cells]
        print(markdown_table(header, cells, notes), end="")
    else:
        print(text_table(header, cells, left_columns=2, notes=notes, width=400), end="")
