"""Averaging several CNNs beats one: test accuracy against the number of ensemble members.

Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional Neural
Networks" (NIPS 2012), Sec. 6: averaging the predictions of several CNNs brought the top-5
error from 18.2 % (one CNN, with pre-training) to 15.4 % (seven CNNs); the seed deck
("CNN architectures", AlexNet slide) quotes it. Here the course CNN on Fashion-MNIST, trained
with different seeds (initialisation and shuffling; same data split), combined by
:func:`cnnzoo.train.evaluate`, which averages the members' softmax outputs.
"""

from __future__ import annotations

from cnnzoo.experiments.common import MEMBER_HEADERS, budget_recipe, judge, mean, member_rows, pct
from cnnzoo.experiments.core import Budget, Context, Experiment, Member, Outcome
from cnnzoo.experiments.figures import bar_figure
from cnnzoo.train import evaluate


def plan(budget_name: str, budget: Budget) -> list[Member]:
    return [
        Member(
            key=f"fashion-cnn-seed{seed}",
            model="fashion_cnn",
            recipe=budget_recipe("fashion-cnn", budget, seed),
            image_size=28,
            in_chans=1,
        )
        for seed in budget.seeds
    ]


def analyse(context: Context) -> Outcome:
    results = context.results
    data = context.data[results[0].member.key]
    by_size = []
    for k in range(1, len(results) + 1):
        models = [r.model for r in results[:k]]
        test = evaluate(models, data.test, mean=data.mean, std=data.std)
        val = evaluate(models, data.val, mean=data.mean, std=data.std)
        by_size.append({"members": k, "test_acc": test.top1, "val_acc": val.top1})
    single = mean(r.test["top1"] for r in results)
    best_k = by_size[-1]["test_acc"]
    better = best_k > single
    verdict = (
        f"{len(results)} members: ensemble test accuracy {best_k:.2f}% vs {single:.2f}% for the "
        f"average single model ({best_k - single:+.2f} points; AlexNet: 18.2% -> 15.4% top-5 error)"
    )
    reproduced, verdict = judge(
        context,
        better,
        verdict,
        "the ensemble did not beat the average single model; with few epochs the members may be too alike",
    )
    figure = bar_figure(
        [f"{row['members']}" for row in by_size],
        [row["test_acc"] for row in by_size],
        context.folder / "ensemble-members.png",
        f"fashion_cnn ensembles on {context.budget.data}",
        "test accuracy (%) by number of members",
    )
    return Outcome(
        measured={"by_members": by_size, "single_mean_test_acc": single},
        reproduced=reproduced,
        verdict=verdict,
        tables=[
            (
                "Accuracy by number of members (first k seeds)",
                ["members", "val acc", "test acc"],
                [[str(r["members"]), pct(r["val_acc"]), pct(r["test_acc"])] for r in by_size],
            ),
            ("Members", MEMBER_HEADERS, member_rows(results)),
        ],
        figures=[figure],
    )


EXPERIMENT = Experiment(
    name="ensemble",
    title="Ensembles of CNNs vs single models",
    claim="Averaging the predictions of several CNNs beats a single one (AlexNet: 18.2 % -> "
    "15.4 % top-5 error with 7 CNNs).",
    source="seed deck 'CNN architectures' (AlexNet slide); Krizhevsky et al., ImageNet "
    "Classification with Deep Convolutional Neural Networks, 2012, Sec. 6",
    measures="test (and validation) accuracy of the ensemble of the first k members, k = 1..N, "
    "against the mean single-model test accuracy",
    budgets={
        "smoke": Budget(
            "digits", epochs=1, limit=300, seeds=(0, 1), note="embedded digits at 28x28, 2 members"
        ),
        "quick": Budget(
            "fashion_mnist",
            epochs=3,
            limit=10000,
            seeds=(0, 1, 2, 3),
            minutes=4,
            note="10k images per split, 3 epochs, 4 members",
        ),
        # Measured (benchmarks/experiment_budgets.py, 1 thread): 0.24 ms per training image,
        # 0.09 ms per evaluated one; 7 members on the whole set would take about 15 min.
        "full": Budget(
            "fashion_mnist",
            epochs=10,
            limit=20000,
            seeds=tuple(range(7)),
            minutes=7,
            note="20,000 training images (validation and test whole), 10 epochs, 7 members as "
            "in AlexNet",
        ),
    },
    plan=plan,
    analyse=analyse,
)
