"""Run an experiment over the training engine, resumably, and write what it found.

An experiment folder ``runs/experiments/NAME-YYYYmmdd-HHMMSS/`` holds ``experiment.json``
(name, budget, status, accumulated wall and CPU time), one ordinary run folder per member under
``runs/<member key>/`` (made by :func:`cnnzoo.train.fit`), and at the end ``results.json``,
``report.md`` and the PNG figures. Running the same experiment and budget again continues the
latest unfinished folder: completed members are only re-evaluated, an interrupted one resumes
after its last completed epoch (the engine's resume), the rest are trained.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cnnzoo.analysis import summary
from cnnzoo.analysis.tables import markdown_table
from cnnzoo.data import DataBundle, load_data
from cnnzoo.data.core import channel_stats, stratified_subset
from cnnzoo.experiments.core import (
    BUDGETS,
    Budget,
    Context,
    Experiment,
    Member,
    MemberResult,
    Outcome,
)
from cnnzoo.registry import create_model
from cnnzoo.train import FitResult, RunFolder, evaluate, fit
from cnnzoo.train.checkpoint import atomic_write_text
from cnnzoo.transfer import finetune

__all__ = ["DEFAULT_ROOT", "MACHINE_NOTE", "find_folders", "member_data", "run_experiment"]

DEFAULT_ROOT = Path("runs") / "experiments"
MACHINE_NOTE = (
    "Measured on a 2-core CPU shared with other jobs (about 8 agents), torch threads as given; "
    "times are wall-clock and would be shorter on an idle machine."
)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{path} is not readable JSON ({error}); delete that experiment folder or fix the file"
        ) from None


def _write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, default=str) + "\n")


def find_folders(root: Path, name: str, budget: str | None = None) -> list[Path]:
    """Experiment folders of ``name`` under ``root`` (oldest first), of one budget if given."""
    found = []
    for path in sorted(root.glob(f"{name}-[0-9]*-[0-9]*")):
        state = path / "experiment.json"
        info = _read_json(state) if state.is_file() else {}
        if info.get("name") == name and budget in (None, info.get("budget")):
            found.append(path)
    return found


def _open_folder(root: Path, experiment: Experiment, budget: str, new: bool) -> Path:
    """The latest unfinished folder of this experiment and budget, or a new one."""
    if not new:
        for path in reversed(find_folders(root, experiment.name, budget)):
            if _read_json(path / "experiment.json").get("status") != "complete":
                return path
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = root / f"{experiment.name}-{stamp}"
    while path.exists():  # two runs in one second
        time.sleep(1)
        path = root / f"{experiment.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    path.mkdir(parents=True)
    state = {"name": experiment.name, "budget": budget, "status": "running", "started": _now()}
    _write_json(path / "experiment.json", state | {"wall_seconds": 0.0, "cpu_seconds": 0.0})
    return path


def _load(member: Member, budget_data: str, limit: int | None, data_dir: str | None) -> DataBundle:
    # The split seed is fixed (0) so that every member and seed sees the same train/val/test
    # images; a member's recipe seed changes only its initialisation and shuffling.
    return load_data(
        member.data or budget_data,
        data_dir,
        val_fraction=member.recipe.val_fraction,
        seed=0,
        image_size=member.image_size,
        in_chans=member.in_chans,
        limit=limit,
    )


def _limit_splits(data: DataBundle, train_limit: int, limit: int | None) -> DataBundle:
    """``train_limit`` training images, validation and test cut to ``limit`` with the same
    seeded subsets ``load_data(limit=...)`` draws (seed 0 + split offset), so they are the
    images the budget's other members are judged on."""
    seeds = {"train": 0, "val": 1, "test": 2}
    caps = {"train": train_limit, "val": limit, "test": limit}
    splits = {}
    for name, seed in seeds.items():
        split, cap = getattr(data, name), caps[name]
        splits[name] = (
            split if cap is None else split.subset(stratified_subset(split.labels, cap, seed))
        )
    mean, std = channel_stats(splits["train"].images)
    note = f"training images cut to {len(splits['train'])} (stratified, seed 0)"
    return dataclasses.replace(data, **splits, mean=mean, std=std, notes=[*data.notes, note])


def member_data(
    member: Member,
    budget: Budget,
    data_dir: str | None,
    cache: dict[tuple[Any, ...], DataBundle],
) -> DataBundle:
    """The member's data: loaded once per (data set, size, channels, split), then cut to its
    ``train_limit`` and passed through its ``prepare``."""
    limit = None if member.train_limit is not None else budget.limit
    key = (member.data or budget.data, member.image_size, member.in_chans)
    key += (member.recipe.val_fraction, limit)
    if key not in cache:
        cache[key] = _load(member, budget.data, limit, data_dir)
    data = cache[key]
    if member.train_limit is not None:
        data = _limit_splits(data, member.train_limit, budget.limit)
    return member.prepare(data) if member.prepare is not None else data


def _build(member: Member, data: DataBundle) -> nn.Module:
    torch.manual_seed(member.recipe.seed)
    if member.build is not None:
        return member.build(data)
    return create_model(
        member.model,
        num_classes=data.num_classes,
        in_chans=data.in_chans,
        **member.recipe.model_kwargs,
    )


def _test_curve_hook(
    model: nn.Module, data: DataBundle, path: Path
) -> Callable[[dict[str, float]], None]:
    """Evaluate the test split after each committed epoch into ``path`` (figures only)."""

    def record(row: dict[str, float]) -> None:
        epoch = int(row["epoch"])
        rows = json.loads(path.read_text()) if path.is_file() else []
        rows = [r for r in rows if r["epoch"] < epoch]
        metrics = evaluate(model, data.test, mean=data.mean, std=data.std)
        rows.append({"epoch": epoch, "test_loss": metrics.loss, "test_acc": metrics.top1})
        _write_json(path, rows)

    return record


def _pretrained(member: Member, data: DataBundle, folder: Path) -> nn.Module:
    """The member's model with the best weights of its ``finetune.source`` member."""
    assert member.finetune is not None
    source = folder / "runs" / member.finetune.source
    if not RunFolder(source).best.is_file():
        raise ValueError(
            f"{member.key} starts from member {member.finetune.source!r}, which has no best "
            f"checkpoint in {source}; list the source before it in the experiment's plan"
        )
    return create_model(
        member.model, pretrained=str(source), num_classes=data.num_classes, in_chans=data.in_chans
    )


def _fit(
    member: Member, data: DataBundle, run_dir: Path, resume: bool, folder: Path
) -> tuple[FitResult, nn.Module]:
    """Train the member from scratch (:func:`fit`) or from its source (:func:`finetune`)."""
    extra = {"experiment_member": member.key}
    if member.finetune is not None:
        spec, model = member.finetune, _pretrained(member, data, folder)
        result = finetune(
            model,
            data,
            member.recipe,
            run_dir,
            policy=spec.policy,
            head_lr_mult=spec.head_lr_mult,
            resume=resume,
            extra_config=extra | {"finetune_source_member": spec.source},
        )
        return result, model
    model = _build(member, data)
    hook = None
    if member.test_curve:
        hook = _test_curve_hook(model, data, run_dir / "test_curve.json")
    result = fit(
        model,
        data,
        member.recipe,
        run_dir,
        model_name=member.model,
        resume=resume,
        on_epoch_end=hook,
        extra_config=extra,
    )
    return result, model


def _train_member(
    member: Member, data: DataBundle, folder: Path, say: Callable[[str], None]
) -> MemberResult:
    run_dir = folder / "runs" / member.key
    resume = RunFolder(run_dir).config.is_file()
    curve_path = run_dir / "test_curve.json"
    state = "continuing" if resume else "training"
    say(f"  {state} {member.key} ({member.model}, seed {member.recipe.seed}) -> {run_dir}")
    try:
        result, model = _fit(member, data, run_dir, resume, folder)
    except ValueError as error:
        if not resume:
            raise
        raise ValueError(
            f"cannot continue {run_dir}: the experiment's plan for {member.key} changed since "
            f"it was started ({error}); start a fresh folder with `cnnzoo experiment run "
            f"... --new`"
        ) from None
    counts = summary(model, data.input_size)
    curve = json.loads(curve_path.read_text()) if curve_path.is_file() else []
    seconds = sum(r["train_seconds"] + r["eval_seconds"] for r in result.history)
    return MemberResult(
        member=member,
        run_dir=run_dir,
        history=result.history,
        best_epoch=result.best_epoch,
        best=result.best,
        test=result.test.as_dict() if result.test is not None else {},
        test_curve=curve,
        params=counts.total_params,
        macs=counts.macs,
        seconds=seconds,
        model=model,
    )


def run_experiment(
    experiment: Experiment,
    budget: str = "smoke",
    *,
    data_dir: str | None = None,
    root: str | os.PathLike[str] = DEFAULT_ROOT,
    new: bool = False,
    log: Callable[[str], None] | None = None,
    command: str | None = None,
) -> Path:
    """Train and analyse ``experiment`` at ``budget``; return its folder (with results.json,
    report.md and the figures). ``new=True`` starts a fresh folder instead of continuing the
    latest unfinished one."""
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; choose one of {', '.join(BUDGETS)}")
    plan = experiment.budget(budget)
    members = experiment.plan(budget, plan)
    say = log or (lambda text: print(text, flush=True))
    folder = _open_folder(Path(root), experiment, budget, new)
    state = _read_json(folder / "experiment.json")
    say(f"experiment {experiment.name} ({budget} budget) in {folder}")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    cache: dict[tuple[Any, ...], DataBundle] = {}
    results, data = [], {}
    for member in members:
        data[member.key] = member_data(member, plan, data_dir, cache)
        results.append(_train_member(member, data[member.key], folder, say))
    context = Context(experiment, budget, plan, results, folder, data)
    outcome = experiment.analyse(context)
    state["wall_seconds"] = state.get("wall_seconds", 0.0) + time.perf_counter() - wall0
    state["cpu_seconds"] = state.get("cpu_seconds", 0.0) + time.process_time() - cpu0
    state.update(status="complete", finished=_now(), threads=torch.get_num_threads())
    state["command"] = command or _command(experiment.name, budget, data_dir)
    _write_results(context, outcome, state)
    _write_json(folder / "experiment.json", state)
    say(f"{experiment.name}: {outcome.verdict}")
    for path in outcome.figures:
        say(f"figure: {path}")
    say(f"results: {folder / 'results.json'}")
    say(f"report:  {folder / 'report.md'}")
    return folder


def _command(name: str, budget: str, data_dir: str | None) -> str:
    words = ["cnnzoo", "experiment", "run", name, "--budget", budget]
    if data_dir:
        words += ["--data-dir", data_dir]
    return shlex.join(words)


def _write_results(context: Context, outcome: Outcome, state: dict[str, Any]) -> None:
    experiment, plan = context.experiment, context.budget
    results = {
        "name": experiment.name,
        "title": experiment.title,
        "claim": experiment.claim,
        "source": experiment.source,
        "measures": experiment.measures,
        "budget": context.budget_name,
        "budget_note": plan.note,
        "expected_minutes": plan.minutes,
        "data": plan.data,
        "limit": plan.limit,
        "epochs": plan.epochs,
        "seeds": list(plan.seeds),
        "measured": outcome.measured,
        "reproduced": outcome.reproduced,
        "verdict": outcome.verdict,
        "tables": [{"title": t, "headers": h, "rows": r} for t, h, r in outcome.tables],
        "figures": [p.name for p in outcome.figures],
        "members": [r.summary() for r in context.results],
        "command": state["command"],
        "date": state["finished"],
        "wall_seconds": round(state["wall_seconds"], 1),
        "cpu_seconds": round(state["cpu_seconds"], 1),
        "threads": state["threads"],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores; {MACHINE_NOTE}",
        "torch": torch.__version__,
        "python": sys.version.split()[0],
    }
    _write_json(context.folder / "results.json", results)
    atomic_write_text(context.folder / "report.md", render_report(results))


def _verdict_word(reproduced: bool | None) -> str:
    return {True: "yes", False: "no", None: "not judged"}[reproduced]


def render_report(results: dict[str, Any], figure_dir: str = "", banner: str = "") -> str:
    """The markdown report of one experiment's ``results.json`` (figures relative to
    ``figure_dir``; ``banner`` is quoted under the heading)."""
    r = results
    lines = [f"## {r['name']}: {r['title']}", ""]
    if banner:
        lines += [f"> {banner}", ""]
    lines += [
        f"- **Claim**: {r['claim']}",
        f"- **Source**: {r['source']}",
        f"- **Measured**: {r['measures']}",
        f"- **Budget**: {r['budget']} ({r['data']}, {r['epochs']} epoch(s), limit "
        f"{r['limit'] or 'none'}, seeds {', '.join(map(str, r['seeds']))}). {r['budget_note']}",
        f"- **Reproduced**: {_verdict_word(r['reproduced'])}. {r['verdict']}",
        f"- **Command**: `{r['command']}`; finished {r['date']}, wall time {r['wall_seconds']:.0f} s "
        f"(CPU {r['cpu_seconds']:.0f} s, {r['threads']} thread(s)). {MACHINE_NOTE}",
        "",
    ]
    for table in r["tables"]:
        lines += [f"**{table['title']}**", "", markdown_table(table["headers"], table["rows"]), ""]
    for name in r["figures"]:
        lines += [f"![{name}]({figure_dir}{name})", ""]
    return "\n".join(lines)
