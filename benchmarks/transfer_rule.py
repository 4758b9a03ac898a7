"""Does the lectures' fine-tuning rule hold? "Small new data set: freeze most layers and train the
new head; larger: tune more layers; large: tune everything" (after Yosinski et al., "How
transferable are features in deep neural networks?", NeurIPS 2014).

Pretrain on a source set, then fine-tune on a target set with 100, 1,000 and 10,000 labelled
images under each freeze policy, and train from scratch on the same images, for a plain CNN
(``fashion_cnn``) and a residual network with batch norm (``resnet20``, 1 channel, 28x28).

Pairs:
* ``fashion04-59``: Fashion-MNIST classes 0-4 (T-shirt, trouser, pullover, dress, coat) ->
  classes 5-9 (sandal, shirt, sneaker, bag, ankle boot): same domain (greyscale clothing photos,
  same statistics), disjoint classes -- the textbook "new classes, similar images" case.
* ``mnist-fashion``: MNIST digits -> all of Fashion-MNIST: same format (28x28 grey, centred) but
  another domain (pen strokes vs photographed objects) -- low-level edge filters transfer, the
  class-level features mostly do not.

Every run is an ordinary run folder under ``--out``; validation (a fixed 500-image stratified
subset of the target's held-out split) picks each run's best epoch; test accuracy is on a fixed
3,000-image stratified subset of the target's official test set. One seed per cell (the CPU budget
of a shared machine); a table in Markdown and a PNG plot are written to ``--out``.

    nice -n 5 python benchmarks/transfer_rule.py --data-dir ../shared/datasets --threads 1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import torch
from matplotlib.figure import Figure

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cnnzoo import create_model
from cnnzoo.data import DataBundle, TensorSplit, load_data
from cnnzoo.data.core import channel_stats, stratified_subset
from cnnzoo.train import Recipe, fit
from cnnzoo.transfer import finetune

POLICIES = {
    "fashion_cnn": ["head", "all-but-head", "none"],
    "resnet20": ["head", "stages:2", "none"],
}
SIZES = {100: (20, 25), 1000: (6, 50), 10000: (2, 100)}  # images: (epochs, batch size)
# resnet20 trains ~25x slower than fashion_cnn on CPU: one epoch on 10,000 images.
EPOCHS = {("resnet20", 10000): 1}
PRETRAIN = {"fashion_cnn": 4, "resnet20": 2}  # source epochs
HEAD_LR_MULT = 10.0  # the new head learns at 1e-2, pretrained layers at 1e-3 (scratch: 1e-3)


def _classes(split: TensorSplit, keep: list[int]) -> TensorSplit:
    mask = torch.isin(split.labels, torch.tensor(keep))
    remap = torch.full((10,), -1, dtype=torch.int64)
    remap[torch.tensor(keep)] = torch.arange(len(keep))
    part = split.subset(mask.nonzero().squeeze(1))
    return TensorSplit(part.images, remap[part.labels], part.indices)


def _limit(split: TensorSplit, n: int, seed: int) -> TensorSplit:
    return split.subset(stratified_subset(split.labels, n, seed))


def _bundle(
    base: DataBundle,
    name: str,
    train: TensorSplit,
    val: TensorSplit,
    test: TensorSplit,
    classes: list[str],
) -> DataBundle:
    mean, std = channel_stats(train.images)
    return dataclasses.replace(
        base, name=name, train=train, val=val, test=test, classes=classes, mean=mean, std=std
    )


def pairs(
    data_dir: str | None, source_train: int | None
) -> dict[str, tuple[DataBundle, DataBundle]]:
    fashion = load_data("fashion_mnist", data_dir)
    mnist = load_data("mnist", data_dir)
    lo, hi = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]
    names = list(fashion.classes)

    def source(base: DataBundle, name: str, keep: list[int] | None) -> DataBundle:
        pick = (lambda s: _classes(s, keep)) if keep else (lambda s: s)
        train = pick(base.train)
        if source_train:
            train = _limit(train, source_train, 0)
        return _bundle(
            base,
            name,
            train,
            _limit(pick(base.val), 2000, 0),
            _limit(pick(base.test), 5000, 0),
            [base.classes[i] for i in keep] if keep else list(base.classes),
        )

    def target(keep: list[int] | None) -> DataBundle:
        pick = (lambda s: _classes(s, keep)) if keep else (lambda s: s)
        return _bundle(
            fashion,
            "fashion_mnist" + ("_5-9" if keep else ""),
            pick(fashion.train),
            _limit(pick(fashion.val), 500, 0),
            _limit(pick(fashion.test), 3000, 0),
            [names[i] for i in keep] if keep else names,
        )

    return {
        "fashion04-59": (source(fashion, "fashion_mnist_0-4", lo), target(hi)),
        "mnist-fashion": (source(mnist, "mnist", None), target(None)),
    }


def _recipe(epochs: int, batch: int) -> Recipe:
    return Recipe(
        name="transfer-rule",
        optimizer="adam",
        lr=1e-3,
        epochs=epochs,
        batch_size=batch,
        eval_batch_size=1000,
    )


def run(args: argparse.Namespace) -> list[dict]:
    out = Path(args.out)
    results_file = out / "results.json"
    rows = json.loads(results_file.read_text()) if results_file.is_file() else []
    done = {(r["pair"], r["arch"], r["size"], r["policy"]) for r in rows}
    for pair, (src, tgt) in pairs(args.data_dir, args.source_train).items():
        if pair not in args.pairs:
            continue
        for arch in args.archs:
            pre_dir = out / f"{pair}-{arch}-pretrain"
            if not (pre_dir / "checkpoints" / "best.safetensors").is_file():
                torch.manual_seed(0)
                model = create_model(arch, num_classes=src.num_classes, in_chans=1)
                r = fit(model, src, _recipe(PRETRAIN[arch], 128), pre_dir, quiet=True)
                print(
                    f"{pair} {arch} pretrained: test {r.test.top1:.2f}% in {r.seconds:.0f} s",
                    flush=True,
                )
            for size in args.sizes:
                epochs, batch = SIZES[size]
                epochs = EPOCHS.get((arch, size), epochs)
                data = dataclasses.replace(tgt, train=_limit(tgt.train, size, 0))
                mean, std = channel_stats(data.train.images)
                data = dataclasses.replace(data, mean=mean, std=std)
                for policy in [*POLICIES[arch], "scratch"]:
                    if (pair, arch, size, policy) in done:
                        continue
                    run_dir = out / f"{pair}-{arch}-{size}-{policy.replace(':', '')}"
                    recipe = _recipe(epochs, batch)
                    if run_dir.exists():  # an interrupted run of this script: not in results
                        shutil.rmtree(run_dir)
                    t0 = time.process_time()
                    if policy == "scratch":
                        torch.manual_seed(0)
                        model = create_model(arch, num_classes=data.num_classes, in_chans=1)
                        r = fit(model, data, recipe, run_dir, quiet=True)
                    else:
                        model = create_model(arch, pretrained=pre_dir)
                        r = finetune(
                            model, data, recipe, run_dir, policy=policy, head_lr_mult=HEAD_LR_MULT
                        )
                    row = {
                        "pair": pair,
                        "arch": arch,
                        "size": size,
                        "policy": policy,
                        "test_top1": r.test.top1,
                        "best_epoch": r.best_epoch,
                        "s_per_epoch": sum(h["train_seconds"] for h in r.history) / len(r.history),
                        "cpu_seconds": time.process_time() - t0,
                    }
                    rows.append(row)
                    results_file.write_text(json.dumps(rows, indent=1))
                    print(json.dumps(row), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| pair | model | policy | 100 | 1,000 | 10,000 |", "|---|---|---|---:|---:|---:|"]
    keys = sorted(
        {(r["pair"], r["arch"], r["policy"]) for r in rows},
        key=lambda k: (k[0], k[1], [*POLICIES.get(k[1], []), "scratch"].index(k[2])),
    )
    for pair, arch, policy in keys:
        cells = []
        for size in SIZES:
            hit = [
                r
                for r in rows
                if (r["pair"], r["arch"], r["policy"], r["size"]) == (pair, arch, policy, size)
            ]
            best = max(
                (
                    r["test_top1"]
                    for r in rows
                    if (r["pair"], r["arch"], r["size"]) == (pair, arch, size)
                ),
                default=None,
            )
            if hit:
                v = hit[0]["test_top1"]
                cells.append(f"**{v:.2f}**" if v == best else f"{v:.2f}")
            else:
                cells.append("-")
        lines.append(f"| {pair} | {arch} | {policy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    panels = sorted({(r["pair"], r["arch"]) for r in rows})
    fig = Figure(figsize=(4 * len(panels), 3.6))
    for i, (pair, arch) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), i)
        for policy in [*POLICIES[arch], "scratch"]:
            pts = sorted(
                (r["size"], r["test_top1"])
                for r in rows
                if (r["pair"], r["arch"], r["policy"]) == (pair, arch, policy)
            )
            if pts:
                ax.plot(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    "o-" if policy != "scratch" else "s--",
                    label=policy,
                )
        ax.set_xscale("log")
        ax.set_xlabel("labelled target images")
        ax.set_ylabel("test top-1 (%)")
        ax.set_title(f"{pair}, {arch}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder with MNIST/ and FashionMNIST/")
    parser.add_argument("--out", default="runs/transfer_rule")
    parser.add_argument("--archs", nargs="+", default=["fashion_cnn", "resnet20"])
    parser.add_argument("--pairs", nargs="+", default=["fashion04-59", "mnist-fashion"])
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument(
        "--source-train",
        type=int,
        default=12000,
        help="source training images (stratified subset; 0 = all)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--report-only", action="store_true", help="table and plot from results.json, no runs"
    )
    parser.add_argument("--plot", default="docs/transfer/transfer_rule.png")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    t0 = time.process_time()
    results = Path(args.out) / "results.json"
    rows = json.loads(results.read_text()) if args.report_only else run(args)
    print(table(rows))
    Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
    plot(rows, Path(args.plot))
    print(f"plot: {args.plot}")
    print(f"CPU time of this invocation: {time.process_time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
