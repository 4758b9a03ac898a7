"""The landmark CNNs side by side on Fashion-MNIST with one recipe and one budget.

The seed deck ("CNN architectures") walks from LeNet-5 (LeCun et al. 1998) through NiN (Lin et
al. 2013), VGG (Simonyan & Zisserman 2015), ResNet (He et al. 2016) to DenseNet (Huang et al.
2017), each more accurate on ImageNet than the last. Here their small-input (CIFAR) forms that
the zoo registers, on Fashion-MNIST padded to 32x32 with one input channel, all trained with
the same recipe (Adam 1e-3, batch 128, cosine schedule, no augmentation): test accuracy,
parameters, MACs and seconds per epoch. AlexNet, ZFNet and GoogLeNet have no small-input form
in the zoo and are left out (at 224x224 they would not fit this budget); d2l's 10-epoch
Fashion-MNIST figures are not quoted because they were not checked here.
"""

from __future__ import annotations

from cnnzoo.analysis.tables import format_count
from cnnzoo.experiments.common import MEMBER_HEADERS, budget_recipe, judge, member_rows, pct
from cnnzoo.experiments.core import Budget, Context, Experiment, Member, MemberResult, Outcome
from cnnzoo.experiments.figures import scatter_macs
from cnnzoo.train import Recipe

RECIPE = Recipe(
    name="classic-table",
    description="one recipe for every model: Adam 1e-3, batch 128, cosine, no augmentation",
    optimizer="adam",
    lr=1e-3,
    batch_size=128,
    schedule="cosine",
)
YEARS = {
    "lenet5": 1998,
    "nin_cifar": 2013,
    "vgg11_bn_cifar": 2014,
    "resnet20": 2015,
    "densenet40_k12": 2017,
}


def plan(budget_name: str, budget: Budget) -> list[Member]:
    return [
        Member(
            key=model,
            model=model,
            recipe=budget_recipe(RECIPE, budget, 0),
            image_size=32,
            in_chans=1,
        )
        for model in budget.options["models"]
    ]


def _seconds_per_epoch(result: MemberResult) -> float:
    return sum(r["train_seconds"] for r in result.history) / max(1, len(result.history))


def analyse(context: Context) -> Outcome:
    results = context.results
    lenet = context.by_key("lenet5")
    later = [r for r in results if r.member.key != "lenet5"]
    beat = all(r.test["top1"] > lenet.test["top1"] for r in later)
    found = "; ".join(f"{r.label} {r.test['top1']:.2f}%" for r in results)
    reproduced, verdict = judge(
        context,
        beat,
        f"test accuracy: {found}",
        "a later architecture did not beat LeNet-5 with this one recipe and budget; the "
        "deeper nets may need their own recipes or more epochs",
    )
    rows = [
        [
            r.label,
            str(YEARS.get(r.member.model, "-")),
            pct(r.test["top1"]),
            format_count(r.params),
            format_count(r.macs),
            f"{_seconds_per_epoch(r):.1f}",
        ]
        for r in results
    ]
    figure = scatter_macs(
        [(r.label, r.macs, r.test["top1"]) for r in results],
        context.folder / "classic-table-scatter.png",
        f"classic CNNs on {context.budget.data}: test accuracy vs MACs",
    )
    return Outcome(
        measured={
            r.member.key: {
                "test_acc": r.test["top1"],
                "params": r.params,
                "macs": r.macs,
                "seconds_per_epoch": _seconds_per_epoch(r),
            }
            for r in results
        },
        reproduced=reproduced,
        verdict=verdict,
        tables=[
            (
                "One recipe, one budget",
                ["model", "year", "test acc", "params", "MACs", "s/epoch (wall, shared CPU)"],
                rows,
            ),
            ("Runs", MEMBER_HEADERS, member_rows(results)),
        ],
        figures=[figure],
    )


EXPERIMENT = Experiment(
    name="classic-table",
    title="The landmark CNNs on Fashion-MNIST, one recipe",
    claim="The later landmark CNNs (NiN, VGG, ResNet, DenseNet) are more accurate than "
    "LeNet-5, at a cost in parameters and MACs.",
    source="seed deck 'CNN architectures' (the ILSVRC progression); LeCun et al. 1998, Lin et "
    "al. 2013, Simonyan & Zisserman 2015, He et al. 2016, Huang et al. 2017",
    measures="test accuracy, params, MACs and seconds per epoch of each model's small-input "
    "form on Fashion-MNIST (32x32, 1 channel) with one recipe",
    budgets={
        "smoke": Budget(
            "digits",
            epochs=1,
            limit=100,
            options={"models": ("lenet5", "resnet20")},
            note="digits, LeNet-5 and ResNet-20 only",
        ),
        "quick": Budget(
            "fashion_mnist",
            epochs=2,
            limit=2000,
            minutes=15,
            options={"models": tuple(YEARS)},
            note="2,000 images per split, 2 epochs",
        ),
        "full": Budget(
            "fashion_mnist",
            epochs=8,
            limit=5000,
            minutes=90,
            options={"models": tuple(YEARS)},
            note="5,000 images per split, 8 epochs (the whole set would take about 10x longer)",
        ),
    },
    plan=plan,
    analyse=analyse,
)
