"""Time-to-accuracy records over several seeds: wall time, CPU time and test accuracy as mean,
min and max, for each record (``cnnzoo speedrun``), and with ``--ablate`` the same with each
trick removed in turn.

Every run is a fresh ``python -m cnnzoo speedrun RECORD --json`` process, so no run inherits a
warm cache or allocator from another; its time counts from the speedrun's first line (data
loading included, interpreter start-up and imports excluded). The machine is shared: each run
records the load average at its start.

    python benchmarks/speedrun.py --data-dir ../shared/datasets --threads 2 --seeds 5 \\
        --out benchmarks/results/speedrun.json
    python benchmarks/speedrun.py --data-dir ../shared/datasets --records fashion_mnist \\
        --ablate --seeds 1
    python benchmarks/speedrun.py --data-dir ../shared/datasets --records fashion_mnist \\
        --ablate augment tta --skip-baseline --seeds 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cnnzoo.train.speedrun import RECORDS, TRICKS, SpeedrunRecipe  # noqa: E402


def run_once(
    record: str, seed: int, data_dir: str | None, threads: int, without: list[str]
) -> dict[str, Any]:
    """One speedrun in a fresh process; its JSON result."""
    command = [sys.executable, "-m", "cnnzoo", "speedrun", record, "--json", "--seed", str(seed)]
    command += ["--threads", str(threads)]
    if data_dir:
        command += ["--data-dir", data_dir]
    for trick in without:
        command += ["--without", trick]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def applicable(recipe: SpeedrunRecipe) -> list[str]:
    """The tricks the recipe uses (removing an unused one would measure nothing)."""
    return [
        trick
        for trick, change in TRICKS.items()
        if any(getattr(recipe, key) != value for key, value in change.items())
    ]


def summarise(runs: list[dict[str, Any]], recipe: SpeedrunRecipe) -> dict[str, Any]:
    def stats(key: str) -> dict[str, float]:
        values = [float(r[key]) for r in runs]
        return {"mean": statistics.mean(values), "min": min(values), "max": max(values)}

    met = [r["test_acc"] >= recipe.target and r["wall_seconds"] <= recipe.time_limit for r in runs]
    return {
        "runs": len(runs),
        "wall_seconds": stats("wall_seconds"),
        "cpu_seconds": stats("cpu_seconds"),
        "test_acc": stats("test_acc"),
        "val_acc": stats("val_acc"),
        "load_average_1min": stats("load_average_0"),
        "target_met_every_seed": all(met),
        "target_met_accuracy_every_seed": all(r["test_acc"] >= recipe.target for r in runs),
    }


def line(label: str, summary: dict[str, Any]) -> str:
    def f(key: str, unit: str, digits: int) -> str:
        s = summary[key]
        return f"{s['mean']:.{digits}f}{unit} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"

    return (
        f"{label:<28} n={summary['runs']}  test {f('test_acc', '%', 2)}  wall "
        f"{f('wall_seconds', 's', 1)}  cpu {f('cpu_seconds', 's', 1)}  load "
        f"{summary['load_average_1min']['mean']:.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding MNIST/ and FashionMNIST/")
    parser.add_argument("--records", nargs="+", choices=list(RECORDS), default=list(RECORDS))
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument(
        "--ablate",
        nargs="*",
        metavar="TRICK",
        help="also remove each trick in turn (all the recipe uses, or the ones named)",
    )
    parser.add_argument(
        "--skip-baseline", action="store_true", help="with --ablate: only the ablated runs"
    )
    parser.add_argument("--out", type=Path, help="write every run and the summaries as JSON")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "command": "python " + " ".join(sys.argv),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "threads": args.threads,
        "records": {},
    }
    for name in args.records:
        recipe = RECORDS[name]
        tricks = [] if args.ablate is None else applicable(recipe)
        if args.ablate:
            tricks = [trick for trick in tricks if trick in args.ablate]
        variants = [[]] + [[trick] for trick in tricks]
        if args.skip_baseline:
            variants = variants[1:]
        entry: dict[str, Any] = {"target": recipe.description, "variants": {}}
        results["records"][name] = entry
        for without in variants:
            label = f"{name}" + (f" without {without[0]}" if without else "")
            runs: list[dict[str, Any]] = []
            for seed in range(args.seeds):
                run = run_once(name, seed, args.data_dir, args.threads, without)
                run["load_average_0"] = run["load_average"][0]
                runs.append(run)
                print(
                    f"  {label} seed {seed}: test {run['test_acc']:.2f}% val {run['val_acc']:.2f}%"
                    f" wall {run['wall_seconds']:.1f}s cpu {run['cpu_seconds']:.1f}s load "
                    f"{run['load_average_0']:.1f}",
                    flush=True,
                )
                entry["variants"][without[0] if without else "all tricks"] = {
                    "without": without,
                    "summary": summarise(runs, recipe),
                    "runs": runs,
                }
                if args.out:  # after every run: a long benchmark keeps what it measured
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(json.dumps(results, indent=1) + "\n")
            print(line(label, summarise(runs, recipe)), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
