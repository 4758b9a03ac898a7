"""Efficient networks: accuracy per parameter, and MobileNet's width and resolution multipliers.

Iandola et al., "SqueezeNet" (2016), Zhang et al., "ShuffleNet" (CVPR 2018), Ma et al.,
"ShuffleNet V2" (ECCV 2018), Howard et al., "MobileNets" (2017) and Sandler et al.,
"MobileNetV2" (CVPR 2018). The seed deck ("Efficient networks") says they have "better
efficiency measured by accuracy/#param" than the classic stacks, and that MobileNet's width
multiplier (alpha) and resolution multiplier (rho) trade accuracy for MACs, which scale about
as alpha^2 and rho^2. Here on Fashion-MNIST (1 channel, resized to each resolution) with the
classic-table recipe, against VGG-11 (BN, CIFAR form) as the classic reference; accuracy
density = test accuracy (%) per million parameters.
"""

from __future__ import annotations

from cnnzoo.analysis.tables import format_count
from cnnzoo.experiments.classic_table import RECIPE
from cnnzoo.experiments.common import MEMBER_HEADERS, budget_recipe, judge, member_rows, pct
from cnnzoo.experiments.core import Budget, Context, Experiment, Member, MemberResult, Outcome
from cnnzoo.experiments.figures import scatter_macs

REFERENCE = "vgg11_bn_cifar"


def _mobilenet(width: str) -> str:
    return f"mobilenet_v1_{width}_224"


def plan(budget_name: str, budget: Budget) -> list[Member]:
    recipe = budget_recipe(RECIPE, budget, 0)
    size = budget.image_size
    members = [
        Member(key=model, model=model, recipe=recipe, image_size=size, in_chans=1)
        for model in budget.options["models"]
    ]
    for width, resolution in budget.options["mobilenets"]:
        members.append(
            Member(
                key=f"mobilenet_v1_{width}-{resolution}px",
                model=_mobilenet(width),
                label=f"MobileNet {width.replace('_', '.')} @{resolution}",
                recipe=recipe,
                image_size=resolution,
                in_chans=1,
                group="mobilenet_v1",
            )
        )
    return members


def density(result: MemberResult) -> float:
    """Test accuracy (%) per million parameters."""
    return result.test["top1"] / (result.params / 1e6)


def _mobilenet_scaling(context: Context) -> dict[str, dict[str, float | None]]:
    """Per MobileNet v1 run: alpha, rho, MACs relative to width 1.0 at 32 px (measured) next to
    the paper's alpha^2 * rho^2, and test accuracy."""
    runs = [r for r in context.results if r.member.group == "mobilenet_v1"]
    base = next((r.macs for r in runs if r.member.key == "mobilenet_v1_1_0-32px"), None)
    out: dict[str, dict[str, float | None]] = {}
    for r in runs:
        alpha = float(r.member.key.split("-")[0].removeprefix("mobilenet_v1_").replace("_", "."))
        rho = (r.member.image_size or 32) / 32
        out[r.member.key] = {
            "alpha": alpha,
            "rho": rho,
            "macs": r.macs,
            "macs_ratio": r.macs / base if base else None,
            "alpha2_rho2": alpha**2 * rho**2,
            "test_acc": r.test["top1"],
        }
    return out


def analyse(context: Context) -> Outcome:
    results = context.results
    efficient = [r for r in results if r.member.model != REFERENCE]
    keys = {r.member.key for r in results}
    reference = context.by_key(REFERENCE) if REFERENCE in keys else None
    denser = reference is not None and all(density(r) > density(reference) for r in efficient)
    mobilenets = _mobilenet_scaling(context)
    widest, narrowest = (
        mobilenets.get("mobilenet_v1_1_0-32px"),
        mobilenets.get("mobilenet_v1_0_25-32px"),
    )
    trades = bool(widest and narrowest and widest["test_acc"] > narrowest["test_acc"])
    found = "accuracy density (%/M params): " + "; ".join(
        f"{r.label} {density(r):.1f}" for r in results
    )
    reproduced, verdict = judge(
        context,
        denser and trades,
        found,
        "an efficient net did not beat the reference's accuracy per parameter, or MobileNet "
        "0.25 was not less accurate than 1.0 (short schedule on a subset)",
    )
    rows = [
        [
            r.label,
            pct(r.test["top1"]),
            format_count(r.params),
            format_count(r.macs),
            f"{density(r):.1f}",
        ]
        for r in results
    ]
    figure = scatter_macs(
        [(r.label, r.macs, r.test["top1"]) for r in results],
        context.folder / "efficient-nets-scatter.png",
        f"efficient nets on {context.budget.data}: test accuracy vs MACs",
    )
    return Outcome(
        measured={
            "density": {r.member.key: density(r) for r in results},
            "mobilenet_v1": mobilenets,
            "denser_than_reference": denser,
            "width_trades_accuracy": trades,
        },
        reproduced=reproduced,
        verdict=verdict,
        tables=[
            (
                "Accuracy, cost and accuracy density",
                ["model", "test acc", "params", "MACs", "acc %/M params"],
                rows,
            ),
            (
                "MobileNet v1 multipliers (MACs relative to 1.0 at 32 px)",
                ["run", "alpha", "rho", "MACs", "measured ratio", "alpha^2 rho^2", "test acc"],
                [
                    [
                        k,
                        f"{m['alpha']:g}",
                        f"{m['rho']:g}",
                        format_count(m["macs"]),
                        f"{m['macs_ratio']:.3f}" if m["macs_ratio"] is not None else "-",
                        f"{m['alpha2_rho2']:.3f}",
                        pct(m["test_acc"]),
                    ]
                    for k, m in mobilenets.items()
                ],
            ),
            ("Runs", MEMBER_HEADERS, member_rows(results)),
        ],
        figures=[figure],
    )


EXPERIMENT = Experiment(
    name="efficient-nets",
    title="SqueezeNet, ShuffleNet, MobileNet: accuracy per parameter and the multipliers",
    claim="SqueezeNet, ShuffleNet and MobileNet have better efficiency measured by "
    "accuracy/#param than a classic stack; MobileNet's width and resolution multipliers trade "
    "accuracy for MACs.",
    source="seed deck 'Efficient networks'; Iandola et al. 2016, Zhang et al. 2018, Ma et al. "
    "2018, Howard et al. 2017, Sandler et al. 2018",
    measures="test accuracy, params, MACs and accuracy density on Fashion-MNIST; MobileNet v1 at "
    "several widths and resolutions",
    budgets={
        "smoke": Budget(
            "digits",
            epochs=1,
            limit=100,
            image_size=32,
            options={"models": ("squeezenet1_1",), "mobilenets": (("1_0", 32), ("0_25", 32))},
            note="digits; SqueezeNet 1.1 and MobileNet v1 1.0/0.25 at 32x32 only",
        ),
        "quick": Budget(
            "fashion_mnist",
            epochs=2,
            limit=2000,
            image_size=32,
            minutes=15,
            options={
                "models": (
                    REFERENCE,
                    "squeezenet1_1",
                    "shufflenet_v1_g3_1_0x",
                    "shufflenet_v2_x0_5",
                    "mobilenet_v2",
                ),
                "mobilenets": (("1_0", 32), ("0_5", 32), ("0_25", 32), ("1_0", 64)),
            },
            note="2,000 images per split, 2 epochs, fewer MobileNet variants",
        ),
        # Measured (benchmarks/experiment_budgets.py, 1 thread): ms per training image from
        # 0.6 (SqueezeNet 1.1) and 0.9 (MobileNet v1 0.25 @32) to 7.3 (MobileNet v1 1.0 @64)
        # and 13.2 (the VGG-11-BN reference); all eleven runs: about 35 min.
        "full": Budget(
            "fashion_mnist",
            epochs=8,
            limit=5000,
            image_size=32,
            minutes=35,
            options={
                "models": (
                    REFERENCE,
                    "squeezenet1_1",
                    "shufflenet_v1_g3_1_0x",
                    "shufflenet_v2_x0_5",
                    "mobilenet_v2",
                ),
                "mobilenets": (
                    *((w, 32) for w in ("1_0", "0_75", "0_5", "0_25")),
                    ("1_0", 48),
                    ("1_0", 64),
                ),
            },
            note="5,000 images per split, 8 epochs; MobileNet v1 at 4 widths at 32x32 and "
            "width 1.0 at 48 and 64 (Fashion-MNIST is 28x28; the paper's 128-224 would not fit "
            "the budget)",
        ),
    },
    plan=plan,
    analyse=analyse,
)
