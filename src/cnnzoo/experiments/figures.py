"""The experiments' figures as small PNGs, drawn with matplotlib's ``Figure`` API (no pyplot
state): error curves per model, accuracy against MACs, and bars."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from cnnzoo.experiments.core import MemberResult

__all__ = ["bar_figure", "error_curves", "gap_curves", "grouped_bars", "scatter_macs"]

_STYLES = ("--", "-", ":", "-.")


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def _style(result: MemberResult, groups: list[str]) -> str:
    group = result.member.group
    if group not in groups:
        groups.append(group)
    return _STYLES[groups.index(group) % len(_STYLES)]


def error_curves(results: Sequence[MemberResult], path: Path, title: str) -> Path:
    """Training error (left) and test error (right; validation where no test curve was
    recorded) per epoch, one line per member, line style per group (He et al. 2016, Fig. 6)."""
    fig = Figure(figsize=(10, 4))
    train_ax, test_ax = fig.subplots(1, 2)
    groups: list[str] = []
    has_test = all(r.test_curve for r in results)
    for r in results:
        style = _style(r, groups)
        epochs = [row["epoch"] for row in r.history]
        errors = [100 - row["train_acc"] for row in r.history]
        line = train_ax.plot(epochs, errors, style, marker=".")[0]
        if has_test:
            points = [(c["epoch"], 100 - c["test_acc"]) for c in r.test_curve]
        else:
            points = [(row["epoch"], 100 - row["val_acc"]) for row in r.history]
        xs, ys = zip(*points, strict=True)
        test_ax.plot(xs, ys, style, marker=".", color=line.get_color(), label=r.label)
    which = "test" if has_test else "validation"
    for ax, name in ((train_ax, "training"), (test_ax, which)):
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{name} error (%)")
        ax.grid(alpha=0.3)
    test_ax.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def gap_curves(results: Sequence[MemberResult], path: Path, title: str) -> Path:
    """Training and validation accuracy per epoch for each member, and the gap between them."""
    fig = Figure(figsize=(10, 4))
    acc_ax, gap_ax = fig.subplots(1, 2)
    for r in results:
        epochs = [row["epoch"] for row in r.history]
        train = [row["train_acc"] for row in r.history]
        val = [row["val_acc"] for row in r.history]
        line = acc_ax.plot(epochs, train, "--", marker=".", label=f"{r.label} train")[0]
        acc_ax.plot(epochs, val, "-", marker=".", color=line.get_color(), label=f"{r.label} val")
        gaps = [t - v for t, v in zip(train, val, strict=True)]
        gap_ax.plot(epochs, gaps, marker=".", label=r.label)
    acc_ax.set_ylabel("accuracy (%)")
    gap_ax.set_ylabel("train - val accuracy (points)")
    gap_ax.axhline(0, color="grey", lw=0.8)
    for ax in (acc_ax, gap_ax):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def scatter_macs(
    points: Sequence[tuple[str, float, float]], path: Path, title: str, ylabel: str = "test acc (%)"
) -> Path:
    """(label, MACs, accuracy) points on a log-MACs axis."""
    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.add_subplot()
    for label, macs, acc in points:
        ax.scatter([macs], [acc])
        ax.annotate(label, (macs, acc), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("MACs per image (log)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return _save(fig, path)


def bar_figure(
    labels: Sequence[str], values: Sequence[float], path: Path, title: str, ylabel: str
) -> Path:
    """One bar per label, the value printed on it."""
    fig = Figure(figsize=(6.5, 4))
    ax = fig.add_subplot()
    bars = ax.bar(range(len(labels)), values)
    ax.bar_label(bars, fmt="%.3g", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def grouped_bars(
    groups: Sequence[str],
    series: dict[str, Sequence[float]],
    path: Path,
    title: str,
    ylabel: str,
) -> Path:
    """One cluster of bars per group, one bar per series in each (values printed on them)."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(xs, values, width, label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    # Headroom above the tallest bar for a one-row legend that covers no bar.
    top = max((v for values in series.values() for v in values), default=1.0)
    ax.set_ylim(0, top * 1.18)
    ax.legend(fontsize=8, loc="upper center", ncol=len(series))
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)
