"""Stochastic depth: higher training loss, lower test error.

Huang, Sun, Liu, Sedra, Weinberger, "Deep Networks with Stochastic Depth" (ECCV 2016), Figure 3:
dropping residual blocks at random during training (linear decay to p_L = 0.5) gives ResNet-110
on CIFAR-10 a higher training loss but a lower test error (6.41 % -> 5.25 %). The seed deck
("CNN architectures", ResNet variants) quotes "increases training loss, but decreases test
error". Here a CIFAR ResNet (``drop_path_rate`` 0 vs 0.5, cnnzoo's default per-mini-batch
drop with the paper's linear rule) on Fashion-MNIST padded to 32x32, with the paper's CIFAR
recipe shortened to the budget (see :mod:`cnnzoo.experiments.depth_degradation`).

A block dropped for a whole mini-batch leaves its parameters without gradients for that step;
the engine therefore trains these models with foreach SGD, not torch's fused SGD, which fails on
such a step (see :func:`cnnzoo.train.optim.skips_blocks`).
"""

from __future__ import annotations

from cnnzoo.experiments.common import MEMBER_HEADERS, judge, member_rows, pct, test_error
from cnnzoo.experiments.core import Budget, Context, Experiment, Member, Outcome
from cnnzoo.experiments.depth_degradation import cifar_recipe
from cnnzoo.experiments.figures import error_curves

RATES = (0.0, 0.5)


def plan(budget_name: str, budget: Budget) -> list[Member]:
    model = budget.options["model"]
    return [
        Member(
            key=f"{model}-drop{rate:g}",
            model=model,
            label=f"{model} drop_path_rate {rate:g}",
            recipe=cifar_recipe(budget, model_kwargs={"drop_path_rate": rate}),
            image_size=budget.image_size,
            in_chans=1,
            test_curve=True,
            group=f"{rate:g}",
        )
        for rate in RATES
    ]


def analyse(context: Context) -> Outcome:
    base, dropped = context.results
    loss = {r.member.key: r.history[-1]["train_loss"] for r in context.results}
    higher_loss = loss[dropped.member.key] > loss[base.member.key]
    lower_error = test_error(dropped) < test_error(base)
    verdict = (
        f"final training loss {loss[base.member.key]:.4f} without vs "
        f"{loss[dropped.member.key]:.4f} with stochastic depth; test error "
        f"{test_error(base):.2f}% vs {test_error(dropped):.2f}%"
    )
    reproduced, verdict = judge(
        context,
        higher_loss and lower_error,
        verdict,
        "the likely reason is the short schedule on a subset (the paper's regularisation pays off over 500 epochs of a 110-layer net)",
    )
    figure = error_curves(
        context.results,
        context.folder / "stochastic-depth-curves.png",
        f"{context.budget.data}: without (dashed) vs with stochastic depth (solid)",
    )
    return Outcome(
        measured={
            "final_train_loss": loss,
            "test_error": {r.member.key: test_error(r) for r in context.results},
            "higher_train_loss": higher_loss,
            "lower_test_error": lower_error,
        },
        reproduced=reproduced,
        verdict=verdict,
        tables=[
            (
                "Training loss and test error",
                ["run", "final train loss", "test error"],
                [
                    [r.label, f"{loss[r.member.key]:.4f}", pct(test_error(r))]
                    for r in context.results
                ],
            ),
            ("Runs", MEMBER_HEADERS, member_rows(context.results)),
        ],
        figures=[figure],
    )


EXPERIMENT = Experiment(
    name="stochastic-depth",
    title="Stochastic depth on a CIFAR ResNet",
    claim="Stochastic depth increases the training loss but decreases the test error.",
    source="seed deck 'CNN architectures' (ResNet variants); Huang et al., Deep Networks with "
    "Stochastic Depth, 2016, Figure 3",
    measures="final-epoch training loss and best-on-validation test error with drop_path_rate "
    "0 and 0.5; error curves per epoch",
    budgets={
        "smoke": Budget(
            "digits",
            epochs=1,
            limit=100,
            image_size=16,
            options={"model": "resnet20"},
            note="digits at 16x16, ResNet-20",
        ),
        "quick": Budget(
            "fashion_mnist",
            epochs=4,
            limit=1500,
            image_size=32,
            minutes=5,
            options={"model": "resnet20"},
            note="1,500 images per split, ResNet-20, 4 epochs",
        ),
        # Measured (benchmarks/experiment_budgets.py, 1 thread, 32x32): 8.0 / 4.6 ms per
        # training image without / with drop rate 0.5 (dropped blocks are skipped), 2.5 / 2.2 ms
        # per evaluated one; 5,000 images x 24 epochs would take about 45 min.
        "full": Budget(
            "fashion_mnist",
            epochs=16,
            limit=3000,
            image_size=28,
            minutes=14,
            options={"model": "resnet32"},
            note="3,000 images per split at the native 28x28, ResNet-32, 16 epochs (the paper: "
            "ResNet-110, 500 epochs)",
        ),
    },
    plan=plan,
    analyse=analyse,
)
