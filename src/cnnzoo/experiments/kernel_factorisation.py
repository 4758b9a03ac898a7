"""Two stacked 3x3 convolutions instead of one 5x5: 18c^2 vs 25c^2 weights, the same view.

Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition"
(ICLR 2015), Sec. 2.3, and Szegedy et al., "Rethinking the Inception Architecture" (CVPR 2016),
Sec. 3.1: a stack of two 3x3 convolutions (c -> c -> c channels) sees a 5x5 window like one
5x5 convolution, with 2 * 9c^2 = 18c^2 instead of 25c^2 weights and one more non-linearity.
The seed deck ("CNN architectures", VGG slides) states it. Checked by the formulas
(:func:`cnnzoo.analysis.conv_params`, :func:`cnnzoo.analysis.receptive_field`) and by training
two small nets that differ only in that block (pattern specs, :func:`cnnzoo.models.from_spec`).
"""

from __future__ import annotations

from cnnzoo.analysis import conv_params, receptive_field
from cnnzoo.experiments.common import MEMBER_HEADERS, budget_recipe, judge, mean, member_rows
from cnnzoo.experiments.core import Budget, Context, Experiment, Member, Outcome
from cnnzoo.experiments.figures import scatter_macs
from cnnzoo.models.pattern import from_spec

WIDTH = 32
SPECS = {
    "two-3x3": f"conv{WIDTH}-relu-pool, [conv{WIDTH}-relu]x2, pool, fc128-relu, fc10",
    "one-5x5": f"conv{WIDTH}-relu-pool, conv{WIDTH}k5-relu, pool, fc128-relu, fc10",
}


def plan(budget_name: str, budget: Budget) -> list[Member]:
    def builder(spec: str):
        return lambda data: from_spec(
            spec, num_classes=data.num_classes, input_size=data.input_size
        )

    return [
        Member(
            key=f"{kind}-seed{seed}",
            model=f"pattern_{kind.replace('-', '_')}",
            label=f"{kind} (seed {seed})",
            recipe=budget_recipe("fashion-cnn", budget, seed),
            build=builder(spec),
            image_size=28,
            in_chans=1,
            group=kind,
        )
        for kind, spec in SPECS.items()
        for seed in budget.seeds
    ]


def analyse(context: Context) -> Outcome:
    c = WIDTH
    stacked, single = 2 * conv_params(3, c, c), conv_params(5, c, c)
    rf_stacked, rf_single = receptive_field([(3, 1), (3, 1)]), receptive_field([(5, 1)])
    accs = {
        kind: mean(r.test["top1"] for r in context.results if r.member.group == kind)
        for kind in SPECS
    }
    params = {
        kind: next(r.params for r in context.results if r.member.group == kind) for kind in SPECS
    }
    counts_ok = stacked == 18 * c * c and single == 25 * c * c and rf_stacked == rf_single
    not_worse = accs["two-3x3"] >= accs["one-5x5"] - 0.5
    verdict = (
        f"block weights {stacked:,} (18c^2) vs {single:,} (25c^2) at c={c}, receptive field "
        f"{rf_stacked[0]} vs {rf_single[0]}; mean test accuracy {accs['two-3x3']:.2f}% (two 3x3) "
        f"vs {accs['one-5x5']:.2f}% (one 5x5)"
    )
    reproduced, verdict = judge(
        context,
        counts_ok and not_worse,
        verdict,
        "the counts differ or the stacked 3x3 net was more than 0.5 points worse (likely the short schedule)",
    )
    figure = scatter_macs(
        [(r.label, r.macs, r.test["top1"]) for r in context.results],
        context.folder / "kernel-factorisation-scatter.png",
        "two 3x3 vs one 5x5: test accuracy vs MACs",
    )
    return Outcome(
        measured={
            "block_params": {"two-3x3": stacked, "one-5x5": single},
            "receptive_field": {"two-3x3": rf_stacked[0], "one-5x5": rf_single[0]},
            "net_params": params,
            "test_acc_mean": accs,
        },
        reproduced=reproduced,
        verdict=verdict,
        tables=[
            (
                "The block",
                ["block", "weights (no bias)", "receptive field", "net params", "mean test acc"],
                [
                    [k, f"{v:,}", str(rf[0]), f"{params[k]:,}", f"{accs[k]:.2f}%"]
                    for (k, v), rf in zip(
                        ((("two-3x3", stacked), ("one-5x5", single))),
                        (rf_stacked, rf_single),
                        strict=True,
                    )
                ],
            ),
            ("Runs", MEMBER_HEADERS, member_rows(context.results)),
        ],
        figures=[figure],
    )


EXPERIMENT = Experiment(
    name="kernel-factorisation",
    title="Two 3x3 convolutions vs one 5x5",
    claim="Two stacked 3x3 convolutions have the receptive field of one 5x5 with 18c^2 "
    "instead of 25c^2 weights, and are at least as accurate.",
    source="seed deck 'CNN architectures' (VGG slides); Simonyan & Zisserman, Very Deep "
    "Convolutional Networks, 2015, Sec. 2.3",
    measures="weights and receptive field by formula; test accuracy (mean over seeds) of two "
    "small nets on Fashion-MNIST differing only in that block",
    budgets={
        "smoke": Budget("digits", epochs=1, limit=300, note="embedded digits at 28x28"),
        "quick": Budget(
            "fashion_mnist",
            epochs=3,
            limit=10000,
            minutes=4,
            note="10k images per split, 3 epochs, 1 seed",
        ),
        # Measured (benchmarks/experiment_budgets.py, 1 thread): 0.5 ms per training image,
        # 0.2 ms per evaluated one for both nets; the whole set x 3 seeds would take about 28 min.
        "full": Budget(
            "fashion_mnist",
            epochs=10,
            limit=10000,
            seeds=(0, 1, 2),
            minutes=8,
            note="10,000 images per split (the whole set would take about 28 min), 10 epochs, "
            "3 seeds",
        ),
    },
    plan=plan,
    analyse=analyse,
)
