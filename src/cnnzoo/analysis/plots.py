"""Figures of the analysis, as PNG files drawn with matplotlib's object API (``Figure``), so
no global backend or pyplot state is touched (a notebook keeps its own backend).

The efficiency bubble chart follows Canziani, Paszke and Culurciello, "An Analysis of Deep
Neural Network Models for Practical Applications" (2016): accuracy against operations, bubble
size for parameters.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib import rcParams
from matplotlib.figure import Figure

from cnnzoo.analysis.compare import Comparison

__all__ = ["plot_efficiency"]


def plot_efficiency(comparison: Comparison, path: str | Path) -> Path:
    """Bubble chart of reported top-1 vs MACs (log scale), bubble area ~ parameters. PNG."""
    rows = [r for r in comparison.rows if r.top1 is not None]
    if not rows:
        raise ValueError(
            "none of these models has a reported top-1 accuracy on its card, so there is "
            "nothing to plot; compare models whose cards state one (see `cnnzoo info NAME`)"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(9, 6), dpi=120)
    ax = fig.add_subplot()
    largest = max(r.params for r in rows)
    datasets = sorted({r.dataset for r in rows})
    # Accuracies on different datasets are not comparable: one colour per dataset.
    colours = dict(zip(datasets, rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for dataset in datasets:
        subset = [r for r in rows if r.dataset == dataset]
        ax.scatter(
            [r.macs / 1e9 for r in subset],
            [r.top1 for r in subset if r.top1 is not None],
            s=[40 + 2000 * r.params / largest for r in subset],
            alpha=0.45,
            color=colours.get(dataset),
            label=dataset,
        )
    for r in rows:
        ax.annotate(
            r.name,
            (r.macs / 1e9, r.top1),
            fontsize=8,
            ha="center",
            va="bottom",
            xytext=(0, 7),
            textcoords="offset points",
        )
    if len(datasets) > 1:
        legend = ax.legend(title="dataset")
        for handle in legend.legend_handles:
            handle.set_sizes([60])  # type: ignore[union-attr]
    ax.set_xscale("log")
    ax.set_xlabel("GMACs per image (log scale)")
    ax.set_ylabel("reported top-1 accuracy (%)")
    ax.set_title(f"Accuracy vs compute ({', '.join(datasets)}); bubble area ~ parameters")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path
