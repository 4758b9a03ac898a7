"""1x1 bottlenecks in the Inception module: 854M MACs naive, 271M reduced, no loss of accuracy.

Szegedy et al., "Going Deeper with Convolutions" (CVPR 2015), Figure 2: the naive module
(1x1, 3x3, 5x5 convolutions and a 3x3 max pool on the module input) against the module with
1x1 reductions before the 3x3 and 5x5 and a 1x1 projection after the pool. The seed deck
("CNN architectures", GoogLeNet slides) works the example on a 28x28x256 input with 128/192/96
filters: 854M operations naive; its reduced figure (358M) counts the 3x3 term twice, the six
convolutions it lists add up to 271M. Measured three ways: MACs by formula
(:func:`cnnzoo.analysis.inception_module_cost`) checked against the counted MACs of the built
module, CPU time of one forward pass of each module, and the test accuracy of a small
GoogLeNet-like net (stem, two Inception modules, global average pooling) built each way.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn as nn

from cnnzoo.analysis import inception_module_cost, summary
from cnnzoo.experiments.common import MEMBER_HEADERS, budget_recipe, judge, member_rows
from cnnzoo.experiments.core import Budget, Context, Experiment, Member, Outcome
from cnnzoo.experiments.figures import bar_figure
from cnnzoo.layers import ConvNormAct
from cnnzoo.models.googlenet import InceptionModule

# The seed deck's module: 28x28x256 input, 1x1@128, 3x3@192, 5x5@96; reductions 64/64, pool 64.
SLIDE_INPUT = (256, 28, 28)
SLIDE_BRANCHES = [(1, 128), (3, 192), (5, 96)]
SLIDE_REDUCTIONS = [None, 64, 64]
SLIDE_POOL_PROJ = 64


class MiniGoogLeNet(nn.Module):
    """Stem conv -> pool -> Inception -> pool -> Inception -> global average pool -> linear,
    with naive (Figure 2a) or reduced (Figure 2b) modules of the same branch widths."""

    def __init__(self, naive: bool, num_classes: int = 10, in_chans: int = 1) -> None:
        super().__init__()
        self.num_classes, self.in_chans = num_classes, in_chans
        first = InceptionModule(32, 16, 16, 32, 8, 16, 16, naive=naive, norm=True)
        second = InceptionModule(first.out_channels, 32, 24, 48, 8, 16, 16, naive=naive, norm=True)
        self.features = nn.Sequential(
            ConvNormAct(in_chans, 32, 3), nn.MaxPool2d(2), first, nn.MaxPool2d(2), second
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(second.out_channels, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def slide_module(naive: bool) -> InceptionModule:
    (_, c3), (_, c5) = SLIDE_BRANCHES[1], SLIDE_BRANCHES[2]
    return InceptionModule(
        SLIDE_INPUT[0],
        SLIDE_BRANCHES[0][1],
        SLIDE_REDUCTIONS[1],
        c3,
        SLIDE_REDUCTIONS[2],
        c5,
        SLIDE_POOL_PROJ,
        naive=naive,
    )


def forward_ms(module: nn.Module, reps: int) -> float:
    """Median wall time (ms) of one batch-1 forward pass, after one warm-up pass."""
    module.eval()
    x = torch.randn(1, *SLIDE_INPUT)
    times = []
    with torch.inference_mode():
        module(x)
        for _ in range(reps):
            t0 = time.perf_counter()
            module(x)
            times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def plan(budget_name: str, budget: Budget) -> list[Member]:
    def builder(naive: bool):
        return lambda data: MiniGoogLeNet(naive, data.num_classes, data.in_chans)

    return [
        Member(
            key=f"mini-googlenet-{kind}",
            model=f"mini_googlenet_{kind}",
            recipe=budget_recipe("fashion-cnn", budget, 0),
            build=builder(kind == "naive"),
            image_size=28,
            in_chans=1,
        )
        for kind in ("naive", "reduced")
    ]


def _module_figures(reps: int) -> dict[str, dict[str, float]]:
    h, w = SLIDE_INPUT[1:]
    formula = {
        "naive": inception_module_cost(h, w, SLIDE_INPUT[0], SLIDE_BRANCHES).total,
        "reduced": inception_module_cost(
            h, w, SLIDE_INPUT[0], SLIDE_BRANCHES, SLIDE_REDUCTIONS, SLIDE_POOL_PROJ
        ).total,
    }
    torch.manual_seed(0)
    out = {}
    for kind in ("naive", "reduced"):
        module = slide_module(kind == "naive")
        out[kind] = {
            "formula_macs": formula[kind],
            "counted_macs": summary(module, SLIDE_INPUT).macs,
            "params": sum(p.numel() for p in module.parameters()),
            "forward_ms": forward_ms(module, reps),
        }
    return out


def analyse(context: Context) -> Outcome:
    modules = _module_figures(context.budget.options["reps"])
    naive, reduced = (
        context.by_key("mini-googlenet-naive"),
        context.by_key("mini-googlenet-reduced"),
    )
    formula_ok = modules["naive"]["formula_macs"] == 854_196_224 and all(
        m["formula_macs"] == m["counted_macs"] for m in modules.values()
    )
    drop = naive.test["top1"] - reduced.test["top1"]
    speedup = modules["naive"]["forward_ms"] / modules["reduced"]["forward_ms"]
    ok = formula_ok and drop <= 1.0
    verdict = (
        f"module MACs {modules['naive']['formula_macs'] / 1e6:.0f}M naive vs "
        f"{modules['reduced']['formula_macs'] / 1e6:.0f}M reduced (formula = counted: "
        f"{formula_ok}), CPU forward {modules['naive']['forward_ms']:.1f} vs "
        f"{modules['reduced']['forward_ms']:.1f} ms ({speedup:.1f}x); small net test accuracy "
        f"{naive.test['top1']:.2f}% naive vs {reduced.test['top1']:.2f}% reduced"
    )
    reproduced, verdict = judge(
        context,
        ok,
        verdict,
        "the formula or the counted MACs differ, or the reduced net lost more than 1 point (likely the short schedule)",
    )
    rows = [
        [
            kind,
            f"{m['formula_macs']:,}",
            f"{m['counted_macs']:,}",
            f"{m['params']:,}",
            f"{m['forward_ms']:.2f}",
        ]
        for kind, m in modules.items()
    ]
    figure = bar_figure(
        ["naive MACs (M)", "reduced MACs (M)", "naive ms", "reduced ms"],
        [
            modules["naive"]["formula_macs"] / 1e6,
            modules["reduced"]["formula_macs"] / 1e6,
            modules["naive"]["forward_ms"],
            modules["reduced"]["forward_ms"],
        ],
        context.folder / "inception-bottleneck-cost.png",
        "Inception module on 28x28x256: cost naive vs reduced",
        "MMACs / ms",
    )
    return Outcome(
        measured={
            "modules": modules,
            "cpu_speedup": speedup,
            "test_acc_naive": naive.test["top1"],
            "test_acc_reduced": reduced.test["top1"],
            "net_macs_naive": naive.macs,
            "net_macs_reduced": reduced.macs,
        },
        reproduced=reproduced,
        verdict=verdict,
        tables=[
            (
                "The seed's module (28x28x256 input)",
                ["module", "MACs (formula)", "MACs (counted)", "params", "forward ms (batch 1)"],
                rows,
            ),
            ("Small GoogLeNet-like nets", MEMBER_HEADERS, member_rows(context.results)),
        ],
        figures=[figure],
    )


EXPERIMENT = Experiment(
    name="inception-bottleneck",
    title="Naive vs reduced Inception module",
    claim="1x1 bottlenecks cut the Inception module on 28x28x256 from 854M to 271M MACs "
    "(the slide says 358M) without hurting accuracy.",
    source="seed deck 'CNN architectures' (GoogLeNet slides); Szegedy et al., Going Deeper "
    "with Convolutions, 2015, Figure 2",
    measures="MACs by formula and counted, median CPU time of one forward pass (batch 1), and "
    "test accuracy of a small GoogLeNet-like net on Fashion-MNIST built with each module",
    budgets={
        "smoke": Budget(
            "digits", epochs=1, limit=200, options={"reps": 2}, note="embedded digits at 28x28"
        ),
        "quick": Budget(
            "fashion_mnist",
            epochs=3,
            limit=5000,
            minutes=5,
            options={"reps": 10},
            note="5k images per split, 3 epochs",
        ),
        # Measured (benchmarks/experiment_budgets.py, 1 thread): 2.6 / 1.4 ms per training
        # image (naive / reduced), 0.7 ms per evaluated one; the whole set for 10 epochs would
        # take about 35 min, 8,000 images per split about 8.
        "full": Budget(
            "fashion_mnist",
            epochs=10,
            limit=8000,
            minutes=8,
            options={"reps": 30},
            note="8,000 images per split (the whole set would take about 35 min), 10 epochs",
        ),
    },
    plan=plan,
    analyse=analyse,
)
