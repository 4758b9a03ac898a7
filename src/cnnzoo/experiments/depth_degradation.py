"""Deeper plain nets train worse; deeper ResNets train better (the degradation problem).

He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition" (CVPR 2016), Figure 6:
on CIFAR-10 plain-56 has higher training *and* test error than plain-20, while ResNet-56 is
better than ResNet-20. The seed deck "CNN architectures" quotes it as "56 layer CNN has higher
training and test error than 20 layer CNN". Here on Fashion-MNIST (CIFAR-10 is not on this
machine), 28x28 greyscale zero-padded to the CIFAR nets' 32x32 with one input channel
(``in_chans=1``; the stem's 3x3 convolution then has 1 input channel), so the stages run at
32/16/8 as in the paper. The recipe is the paper's (SGD 0.1, momentum 0.9, weight decay 1e-4,
batch 128, pad-4 crop + flip, /10 at 50 % and 75 % of training), shortened to the budget.
"""

from __future__ import annotations

from cnnzoo.experiments.common import (
    MEMBER_HEADERS,
    budget_recipe,
    judge,
    member_rows,
    pct,
    test_error,
)
from cnnzoo.experiments.core import Budget, Context, Experiment, Member, MemberResult, Outcome
from cnnzoo.experiments.figures import error_curves

FAMILIES = ("plain", "resnet")


def cifar_recipe(budget: Budget, seed: int = 0, **changes: object):
    """The paper's CIFAR recipe, its two rate drops at 50 % and 75 % of the budget's epochs."""
    epochs = budget.epochs
    return budget_recipe(
        "resnet-cifar",
        budget,
        seed,
        schedule="multistep",
        schedule_unit="epoch",
        milestones=[max(1, epochs // 2), max(1, 3 * epochs // 4)],
        **changes,
    )


def plan(budget_name: str, budget: Budget) -> list[Member]:
    return [
        Member(
            key=f"{family}{depth}",
            model=f"{family}{depth}",
            recipe=cifar_recipe(budget),
            image_size=budget.image_size,
            in_chans=1,
            test_curve=True,
            group=family,
        )
        for family in FAMILIES
        for depth in budget.options["depths"]
    ]


def _final_train_error(result: MemberResult) -> float:
    return 100.0 - result.history[-1]["train_acc"]


def analyse(context: Context) -> Outcome:
    depths = context.budget.options["depths"]
    shallow, deep = min(depths), max(depths)
    measured: dict[str, dict[str, float]] = {}
    for r in context.results:
        measured[r.member.key] = {"train_error": _final_train_error(r), "test_error": test_error(r)}
    plain_s, plain_d = measured[f"plain{shallow}"], measured[f"plain{deep}"]
    res_s, res_d = measured[f"resnet{shallow}"], measured[f"resnet{deep}"]
    plain_degrades = (
        plain_d["train_error"] > plain_s["train_error"]
        and plain_d["test_error"] > plain_s["test_error"]
    )
    resnet_improves = res_d["test_error"] < res_s["test_error"]
    verdict = (
        f"plain-{deep} vs plain-{shallow}: train error {plain_d['train_error']:.2f}% vs "
        f"{plain_s['train_error']:.2f}%, test error {plain_d['test_error']:.2f}% vs "
        f"{plain_s['test_error']:.2f}%; ResNet-{deep} vs ResNet-{shallow}: test error "
        f"{res_d['test_error']:.2f}% vs {res_s['test_error']:.2f}%"
    )
    reproduced, verdict = judge(
        context,
        plain_degrades and resnet_improves,
        verdict,
        "the likely reason is the short schedule on a subset (the paper trains 64k iterations on CIFAR-10) and Fashion-MNIST being easier than CIFAR-10",
    )
    rows = [[r.label, pct(_final_train_error(r)), pct(test_error(r))] for r in context.results]
    figure = error_curves(
        context.results,
        context.folder / "depth-degradation-curves.png",
        f"{context.budget.data}: plain (dashed) vs ResNet (solid), cf. He et al. 2016 Fig. 6",
    )
    return Outcome(
        measured={
            "errors": measured,
            "plain_degrades": plain_degrades,
            "resnet_improves": resnet_improves,
        },
        reproduced=reproduced,
        verdict=verdict,
        tables=[
            ("Final training error and test error", ["model", "train error", "test error"], rows),
            ("Runs", MEMBER_HEADERS, member_rows(context.results)),
        ],
        figures=[figure],
    )


EXPERIMENT = Experiment(
    name="depth-degradation",
    title="Plain-20/32/56 vs ResNet-20/32/56 on Fashion-MNIST",
    claim="A 56-layer plain CNN has higher training and test error than a 20-layer one, while "
    "ResNets get better with depth.",
    source="seed deck 'CNN architectures' (ResNet slides); He et al., Deep Residual Learning "
    "for Image Recognition, 2016, Figure 6",
    measures="final-epoch training error and best-on-validation test error of each depth; "
    "training and test error per epoch (test evaluated after every epoch, for the figure only)",
    budgets={
        "smoke": Budget(
            "digits",
            epochs=1,
            limit=100,
            image_size=16,
            options={"depths": (20, 32)},
            note="digits at 16x16, depths 20 and 32 only",
        ),
        "quick": Budget(
            "fashion_mnist",
            epochs=4,
            limit=1500,
            image_size=32,
            minutes=12,
            options={"depths": (20, 56)},
            note="1,500 images per split, depths 20 and 56 only",
        ),
        # Measured (benchmarks/experiment_budgets.py, 1 thread, 32x32): 4.4 / 7.2 / 13.2 ms per
        # training image for plain-20/32/56 (ResNets about the same), a third of that per
        # evaluated image; 5,000 images per split x 24 epochs would take about 160 min. At the
        # native 28x28 (0.77x the pixels), 2,000 images and 12 epochs: about 25 min.
        "full": Budget(
            "fashion_mnist",
            epochs=12,
            limit=2000,
            image_size=28,
            minutes=25,
            options={"depths": (20, 32, 56)},
            note="2,000 images per split at the native 28x28, 12 epochs (5,000 images x 24 "
            "epochs at 32x32 would take about 160 min; the whole set about 15 h)",
        ),
    },
    plan=plan,
    analyse=analyse,
)
