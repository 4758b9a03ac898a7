"""The lab report: the latest results of every experiment gathered into ``docs/experiments.md``,
their figures under ``docs/experiments/`` and ``docs/experiments/results.json``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cnnzoo.analysis.tables import markdown_table
from cnnzoo.experiments.core import BUDGETS, Experiment
from cnnzoo.experiments.runner import MACHINE_NOTE, find_folders, render_report
from cnnzoo.train.checkpoint import atomic_write_text

__all__ = ["TIME_BASIS", "latest_results", "total_full_minutes", "write_lab_report"]

TIME_BASIS = (
    "estimated from CPU seconds per training and evaluated image measured for every member "
    "(benchmarks/experiment_budgets.py), 1 thread, i.e. wall time on an idle core; on this "
    "machine shared by about 8 agents wall time was 2-10x longer"
)


def total_full_minutes(experiments: Mapping[str, Experiment]) -> float:
    """Sum of the experiments' expected full-budget minutes (run one after another)."""
    return sum(e.budgets["full"].minutes for e in experiments.values())


_BUDGET_LABEL = {
    "full": "full budget (what the claim is judged on)",
    "quick": "QUICK budget: minutes of training on a subset; indicative, not the full claim",
    "smoke": "SMOKE budget: a pipeline check on tiny data; says nothing about the claim",
}


def latest_results(root: Path, name: str, budgets: Sequence[str]) -> dict[str, Any] | None:
    """``results.json`` of the latest complete folder of ``name``, trying ``budgets`` in order."""
    for budget in budgets:
        for folder in reversed(find_folders(root, name, budget)):
            path = folder / "results.json"
            if path.is_file():
                results = json.loads(path.read_text())
                results["folder"] = str(folder)
                return results
    return None


def _copy_figures(results: dict[str, Any], figure_dir: Path) -> None:
    figure_dir.mkdir(parents=True, exist_ok=True)
    for name in results["figures"]:
        shutil.copyfile(Path(results["folder"]) / name, figure_dir / name)


def _claim_row(name: str, r: dict[str, Any] | None, budgets: Sequence[str]) -> list[str]:
    if r is None:
        not_run = f"not run at the {' / '.join(budgets)} budget"
        return [name, "-", "-", "-", not_run, "not run", "-", "-"]
    reproduced = {True: "yes", False: "**no**", None: f"not judged ({r['budget']} budget)"}
    return [
        name,
        r["claim"],
        r["source"].split(";")[0],
        r["budget"],
        r["verdict"].removesuffix(f"; not judged at the {r['budget']} budget"),
        reproduced[r["reproduced"]],
        f"`{r['command']}`",
        f"{r['wall_seconds']:.0f} s",
    ]


def write_lab_report(
    experiments: Mapping[str, Experiment],
    root: str | Path,
    docs: str | Path = "docs",
    budgets: Sequence[str] = ("full",),
) -> list[Path]:
    """Write ``docs/experiments.md``, ``docs/experiments/results.json`` and the figures from
    the latest results of ``budgets`` (in order of preference); return the files written."""
    for budget in budgets:
        if budget not in BUDGETS:
            raise ValueError(f"unknown budget {budget!r}; choose from {', '.join(BUDGETS)}")
    root, docs = Path(root), Path(docs)
    figure_dir = docs / "experiments"
    previous = _previous_results(figure_dir)
    gathered = {}
    for name in experiments:
        gathered[name] = latest_results(root, name, budgets)
        if gathered[name] is not None:
            _copy_figures(gathered[name], figure_dir)
        elif previous.get(name, {}).get("budget") in budgets:
            gathered[name] = _carried_over(previous[name], name, figure_dir)
    summary = {
        name: {k: r[k] for k in _SUMMARY_KEYS if k in r} if r is not None else None
        for name, r in gathered.items()
    }
    figure_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(figure_dir / "results.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(docs / "experiments.md", _render(experiments, gathered, budgets))
    written = [docs / "experiments.md", figure_dir / "results.json"]
    for r in gathered.values():
        written += [figure_dir / name for name in (r or {}).get("figures", [])]
    return written


def _previous_results(figure_dir: Path) -> dict[str, dict[str, Any]]:
    """The entries of the report's last ``results.json`` (empty if there is none)."""
    path = figure_dir / "results.json"
    if not path.is_file():
        return {}
    entries = json.loads(path.read_text())
    return {name: r for name, r in entries.items() if r and "claim" in r}


def _carried_over(entry: dict[str, Any], name: str, figure_dir: Path) -> dict[str, Any]:
    """A previous report's entry for an experiment whose run folder is not here: kept (with
    its date and command) rather than dropped, and said to be carried over."""
    figures = entry.get("figures") or sorted(p.name for p in figure_dir.glob(f"{name}-*.png"))
    defaults = {
        "measures": "-",
        "data": "-",
        "epochs": "-",
        "limit": None,
        "seeds": [],
        "tables": [],
    }
    return defaults | entry | {"name": name, "figures": figures, "carried_over": True}


_SUMMARY_KEYS = (
    "name",
    "measures",
    "data",
    "limit",
    "epochs",
    "seeds",
    "tables",
    "figures",
    "carried_over",
    "title",
    "claim",
    "source",
    "budget",
    "budget_note",
    "measured",
    "reproduced",
    "verdict",
    "command",
    "date",
    "wall_seconds",
    "cpu_seconds",
    "threads",
    "expected_minutes",
    "machine",
)


HOW_IT_WORKS = """## How the experiments work

- **An experiment** is a module in `src/cnnzoo/experiments/` declaring an `Experiment`: its
  claim and source (seed deck, paper), what it measures, one `Budget` per budget (data, epochs,
  per-split `limit`, seeds, expected minutes, what is cut), `plan(budget) -> [Member]` (the
  runs: model, recipe, seed, input size; optionally its own data set, a smaller training set
  judged on the same validation and test images, a data step such as offline augmentation,
  or an earlier member to fine-tune from with a freeze policy) and
  `analyse(context) -> Outcome` (measured figures,
  reproduced yes/no, the verdict with the likely reason, tables, figures). Add one by writing
  such a module and listing it in `cnnzoo/experiments/__init__.py`.
- **Runs** are ordinary run folders of `cnnzoo.train.fit`, one per member, at
  `runs/experiments/NAME-TIME/runs/<member>/` (config, metrics, checkpoints, curves, report).
  Every member sees the same train/val/test split (split seed 0); a member's seed changes its
  initialisation and shuffling only.
- **Resume**: `cnnzoo experiment run NAME --budget B` continues the latest unfinished folder of
  NAME at budget B: finished members are only re-evaluated, an interrupted member resumes after
  its last completed epoch (bit for bit, the engine's resume), the rest are trained. `--new`
  starts a fresh folder. A completed experiment is never reopened.
- **Choosing and judging**: the best epoch is chosen on validation; the test split is evaluated
  for the report (and, for the error-curve figures of `depth-degradation` and
  `stochastic-depth`, after every epoch), never to choose. Only the `full` budget judges a
  claim; `smoke` runs every experiment end to end on the embedded digits in seconds (the CI
  test `tests/experiments/` runs all of them), `quick` takes minutes on a subset.
- **Output**: `results.json` (claim, budget, measured figures, reproduced, verdict, members,
  command, date, wall and CPU time), `report.md` and PNG figures in the experiment folder;
  `cnnzoo experiment report [--budget full|quick|smoke ...]` gathers the latest of each
  experiment into this page, `docs/experiments/results.json` and `docs/experiments/*.png`.
"""


def _render(
    experiments: Mapping[str, Experiment],
    gathered: Mapping[str, dict[str, Any] | None],
    budgets: Sequence[str],
) -> str:
    headers = ["experiment", "claim", "seed / paper", "budget", "measured here", "reproduced"]
    rows = [_claim_row(name, r, budgets) for name, r in gathered.items()]
    full = [f"{name}: about {e.budgets['full'].minutes:g} min" for name, e in experiments.items()]
    lines = [
        "# Experiments: the lectures' claims, measured",
        "",
        "Generated by `cnnzoo experiment report` from the latest results in "
        f"`runs/experiments/` (budgets tried in this order: {', '.join(budgets)}; an experiment "
        "with no results there keeps its previous section, marked as carried over). Each section "
        "says its budget. Only the `full` budget judges a claim; `quick` results are "
        "indicative (a subset, a few epochs) and `smoke` results only show the pipeline works.",
        "The best epoch is always chosen on the validation split; the test split is evaluated "
        "once per run for the report and never used to choose anything.",
        MACHINE_NOTE,
        "",
        markdown_table([*headers, "command", "wall time"], rows),
        f"Expected time of the full budgets, {TIME_BASIS}: " + "; ".join(full) + f"; all "
        f"together about {total_full_minutes(experiments) / 60:.1f} h.",
        "",
        "Run one: `cnnzoo experiment run NAME --budget full --data-dir DIR`; list them: "
        "`cnnzoo experiment list`; rebuild this page: `cnnzoo experiment report`.",
        "",
    ]
    for name, r in gathered.items():
        if r is None:
            lines += [f"## {name}", "", f"Not run at the {' / '.join(budgets)} budget.", ""]
            continue
        banner = _BUDGET_LABEL[r["budget"]]
        if r.get("carried_over"):
            banner += f". Carried over from the previous report (run {r['date']}; its run folder is not on the machine that made this page)"
        lines.append(render_report(r, "experiments/", banner))
    lines.append(HOW_IT_WORKS)
    return "\n".join(lines)
