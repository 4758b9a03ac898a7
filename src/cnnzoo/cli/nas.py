"""``cnnzoo nas search | show``: NASNet-style cell search with Optuna (random, evolution)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import optuna
import torch

from cnnzoo.analysis.tables import format_count, markdown_table, text_table
from cnnzoo.cli import add_threads_option
from cnnzoo.models.nascell import cell_record
from cnnzoo.nas import STRATEGIES, SearchConfig, run_search, search_table
from cnnzoo.nas.retrain import Entry, best_genotype, random_entries, retrain
from cnnzoo.nas.search import load_study, random_cell
from cnnzoo.train import load_recipe
from cnnzoo.train.checkpoint import atomic_write_text

__all__ = ["register"]

RAW = argparse.RawDescriptionHelpFormatter


def register(subparsers: argparse._SubParsersAction) -> None:
    nas = subparsers.add_parser(
        "nas",
        help="architecture search over NASNet-style cells (random, evolution, one-shot supernet)",
        description="Search the seed's operation list as NASNet-style normal and reduction cells "
        "(3 blocks each) by random search or regularised evolution (Real et al. 2019), each "
        "candidate proxy-trained on a Fashion-MNIST subset, or by the cheap one-shot search: "
        "one weight-sharing supernet (ENAS, Pham et al. 2018) trained with uniformly sampled "
        "paths, then evolution scoring candidates with its weights (Guo et al. 2020). "
        "Candidates are ranked on held-out validation images. Optuna's SQLite study in --out "
        "records every trial; re-running resumes.",
        epilog="examples:\n  cnnzoo nas search --strategy oneshot --out runs/nas --data-dir ../shared/datasets\n"
        "  cnnzoo nas search --strategy evolution --out runs/nas --budget-minutes 5 --trials 20\n"
        "  cnnzoo nas show runs/nas --strategy evolution --top 5",
        formatter_class=RAW,
    )
    commands = nas.add_subparsers(dest="nas_command", metavar="COMMAND", required=True)

    p = commands.add_parser(
        "search",
        help="run or continue a search (budget in trials and CPU-minutes)",
        description="Run trials until --trials are complete or --budget-minutes of CPU time "
        "are spent (default 30; for oneshot the supernet's training counts too), then print the "
        "trials, best first. The oneshot defaults take about 4 CPU-minutes here.",
        epilog="examples:\n  cnnzoo nas search --strategy oneshot --out runs/nas --data-dir ../shared/datasets --threads 1\n"
        "  cnnzoo nas search --strategy evolution --out runs/nas --data-dir ../shared/datasets\n"
        "  cnnzoo nas search --strategy random --out runs/nas --trials 10 --budget-minutes 3 --threads 1",
        formatter_class=RAW,
    )
    p.add_argument("--strategy", choices=STRATEGIES, default="evolution")
    p.add_argument("--out", required=True, help="search folder (study.db + one run per trial)")
    p.add_argument("--data-dir", help="where dataset files are (default: $CNNZOO_DATA, ./data)")
    p.add_argument(
        "--data", default="fashion_mnist", help="proxy data set (default fashion_mnist; digits)"
    )
    p.add_argument("--trials", type=int, default=30, help="candidates (30)")
    p.add_argument(
        "--budget-minutes", type=float, default=30.0, help="CPU minutes of the whole search (30)"
    )
    p.add_argument("--population", type=int, default=8, help="evolution: models kept alive")
    p.add_argument("--sample-size", type=int, default=3, help="evolution: tournament size")
    p.add_argument("--proxy-images", type=int, default=2000, help="Fashion-MNIST images per split")
    p.add_argument("--proxy-epochs", type=int, default=2)
    p.add_argument("--supernet-images", type=int, default=6000, help="oneshot: training images")
    p.add_argument("--supernet-epochs", type=int, default=3, help="oneshot: supernet epochs")
    p.add_argument(
        "--score-images", type=int, default=500, help="oneshot: validation images per candidate"
    )
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
    p.add_argument("--strategy", choices=STRATEGIES, default="evolution")
    p.add_argument("--format", choices=("table", "md", "json"), default="table")
    p.add_argument("--top", type=int, default=10)
    p.set_defaults(func=_show)

    _register_retrain(commands)
    _register_register(commands)


def _register_register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "register",
        help="save a search's best cell (or any trial) as a named model in a JSON file",
        description="Add a search trial's genotype to a cells file (JSON; created if missing) "
        "under --name. Point $CNNZOO_CELLS at the file and every command takes the name like a "
        "zoo model (summary, train, export); the file is read as data, never executed.",
        epilog="example:\n  cnnzoo nas register runs/nas-oneshot --strategy oneshot --name nas_mine "
        "--cells cells.json\n  CNNZOO_CELLS=cells.json cnnzoo summary nas_mine",
        formatter_class=RAW,
    )
    p.add_argument("out", help="a search folder made by `cnnzoo nas search`")
    p.add_argument("--strategy", choices=STRATEGIES, default="evolution")
    p.add_argument("--trial", type=int, help="trial number (default: the best)")
    p.add_argument("--name", required=True, help="model name, nas_lower_case")
    p.add_argument("--cells", required=True, help="the JSON cells file to add it to")
    p.set_defaults(func=_register_cell)


def _register_retrain(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "retrain",
        help="retrain found cells, random cells and zoo nets with one recipe; one table",
        description="Train the best cell of a search (--search), --random cells drawn from the "
        "space and registered models (--models: zoo nets, found cells) with one recipe on the "
        "full data (default fashion-cnn: Adam 1e-3, batch 256, 48k/12k split), then print "
        "validation and test top-1 beside parameters, MACs and CPU time. Results accumulate in "
        "OUT/results.json: re-running skips the entries already done.",
        epilog="example:\n  cnnzoo nas retrain --out runs/nas-compare --search runs/nas-oneshot "
        "--strategy oneshot --random 2 \\\n      --models fashion_deeper_m2,lenet5_caffe --epochs 1 "
        "--data-dir ../shared/datasets --threads 1",
        formatter_class=RAW,
    )
    p.add_argument("--out", required=True, help="comparison folder (results.json + runs/)")
    p.add_argument("--search", help="a search folder: its best cell is retrained")
    p.add_argument("--strategy", choices=STRATEGIES, default="oneshot", help="of --search")
    p.add_argument("--random", type=int, default=0, help="random cells to retrain (seeded)")
    p.add_argument("--models", default="", help="registered models, comma-separated")
    p.add_argument("--recipe", default="fashion-cnn", help="recipe name or YAML file")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")
    p.add_argument("--limit", type=int, help="at most N images per split (default: all)")
    p.add_argument(
        "--seed", type=int, default=0, help="random cell i is drawn with seed SEED+i (0)"
    )
    p.add_argument("--data-dir", help="where dataset files are (default: $CNNZOO_DATA, ./data)")
    p.add_argument("--format", choices=("table", "md", "json"), default="table")
    add_threads_option(p)
    p.set_defaults(func=_retrain)


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
        supernet_images=args.supernet_images,
        supernet_epochs=args.supernet_epochs,
        score_images=args.score_images,
        data=args.data,
    )
    study = run_search(config, args.out, args.data_dir, log=print)
    _print(study, args.format, args.top)
    return 0


def _show(args: argparse.Namespace) -> int:
    _print(load_study(args.out, args.strategy), args.format, args.top)
    return 0


def _register_cell(args: argparse.Namespace) -> int:
    study = load_study(args.out, args.strategy)
    done = {t.number: t for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))}
    if not done:
        raise ValueError(f"{args.out} has no completed {args.strategy} trial yet")
    number = args.trial if args.trial is not None else max(done, key=lambda n: done[n].value)
    if number not in done:
        raise ValueError(f"trial {number} is not a completed trial; completed: {sorted(done)}")
    trial = done[number]
    config = study.user_attrs.get("config", {})
    source = f"{args.out} {args.strategy} trial {number}, search score {trial.value:.2f}%"
    record = cell_record(args.name, trial.user_attrs["genotype"], config.get("width", 8), source)
    path = Path(args.cells)
    document = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"cells": {}}
    if not isinstance(document.get("cells"), dict):
        raise ValueError(
            f'{path} has no "cells" object; give a file written by `cnnzoo nas register`'
        )
    document["cells"][args.name] = record
    atomic_write_text(path, json.dumps(document, indent=2) + "\n")
    print(f"{args.name}: {record['genotype']}")
    print(f"saved to {path}; use it as  CNNZOO_CELLS={path} cnnzoo summary {args.name}")
    return 0


def _retrain(args: argparse.Namespace) -> int:
    entries = []
    if args.search:
        genotype = best_genotype(args.search, args.strategy)
        entries.append(Entry(f"{args.strategy} best", "nas_cell", {"genotype": genotype}))
    entries += random_entries(args.random, args.seed, random_cell)
    entries += [Entry(name, name) for name in args.models.split(",") if name]
    if not entries:
        raise ValueError("nothing to retrain; give --search, --random N or --models NAME,...")
    recipe = load_recipe(args.recipe).override(epochs=args.epochs, limit=args.limit)
    rows = retrain(entries, recipe, args.out, args.data_dir, log=print)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    header = ["Model", "Params", "MACs", "Val acc", "Test acc", "CPU min", "Genotype"]
    cells = [
        [
            r["label"],
            format_count(r["params"]),
            format_count(r["macs"]),
            f"{r['val_acc']:.2f}%",
            f"{r['test_acc']:.2f}%",
            f"{r['cpu_seconds'] / 60:.1f}",
            r["genotype"] or "-",
        ]
        for r in rows
    ]
    first = rows[0]
    notes = [
        f"recipe {recipe.name}, {first['epochs']} epoch(s) on {first['train_images']:,} "
        "training images; the best epoch by validation accuracy, then test top-1"
    ]
    if args.format == "md":
        cells = [[c.replace("|", "\\|") for c in row] for row in cells]
        print(markdown_table(header, cells, notes), end="")
    else:
        print(text_table(header, cells, left_columns=1, notes=notes, width=400), end="")
    return 0


def _print(study: optuna.Study, fmt: str, top: int) -> None:
    rows = search_table(study)
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
    supernet = study.user_attrs.get("supernet_cpu_seconds")
    if supernet is None:
        what = f"{spent:.1f} CPU-minutes of proxy training"
    else:
        what = (
            f"{supernet / 60 + spent:.1f} CPU-minutes: {supernet / 60:.1f} training the "
            f"supernet, {spent:.1f} scoring candidates with its weights"
        )
    notes = [f"{len(rows)} completed trials, {what}; accuracy on held-out validation images"]
    if fmt == "md":  # the genotype's "|" would split a Markdown cell
        cells = [[c.replace("|", "\\|") for c in row] for row in cells]
        print(markdown_table(header, cells, notes), end="")
    else:
        print(text_table(header, cells, left_columns=2, notes=notes, width=400), end="")
