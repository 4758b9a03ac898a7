"""``cnnzoo finetune``, ``features`` and ``neighbors``: transfer learning from the shell."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from cnnzoo.cli.train import _default_recipe, _overrides, _print_result
from cnnzoo.data import DataBundle, load_data
from cnnzoo.registry import create_model
from cnnzoo.train import Recipe, RunFolder, TrainingError, load_recipe, recipe_from_dict
from cnnzoo.transfer import (
    FeatureSet,
    data_for_weights,
    extract_features,
    finetune,
    knn_predict,
    nearest_neighbors,
    normalised_as_weights,
    pretrained_model,
    save_features,
)

__all__ = ["register"]

SOURCE_HELP = "a run folder, a .safetensors checkpoint, a .pth state dict, or 'torchvision'"

FINETUNE_EPILOG = """examples:
  cnnzoo finetune runs/fashion_cnn-mnist-20261202-040000 --data fashion_mnist --freeze head \\
      --head-lr-mult 10 --epochs 5 --limit 1000 --data-dir ../shared/datasets
  cnnzoo finetune runs/resnet20-mnist-20261202-040000 --data fashion_mnist --freeze stages:2 \\
      --unfreeze-at 3 --epochs 6 --data-dir ../shared/datasets
  cnnzoo finetune torchvision --model resnet18 --data cifar10 --freeze all-but-head --download
  cnnzoo finetune --resume runs/fashion_cnn-fashion_mnist-20261202-041500 --epochs 8

policies: head (train the final layer only), all-but-head (freeze every feature_info stage),
stages:K (freeze the first K stages), none (train all). Frozen batch norm stays in eval mode.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_finetune(subparsers)
    _register_features(subparsers)
    _register_neighbors(subparsers)


def _source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="registered model name (needed for 'torchvision' and .pth)")
    p.add_argument("--data", help="dataset: digits, mnist, fashion_mnist, cifar10, ... folder:PATH")
    p.add_argument("--data-dir", help="where dataset files are (default: $CNNZOO_DATA, ./data)")
    p.add_argument("--download", action="store_true", help="download missing data or weights")
    p.add_argument("--in-chans", type=int, help="adapt the first convolution to C channels")
    p.add_argument("--limit", type=int, help="use at most N images per split (quick runs)")
    p.add_argument("--seed", type=int, help="split seed (default 0)")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")


# -- finetune ----------------------------------------------------------------------------------


def _register_finetune(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "finetune",
        help="fine-tune pretrained weights on a new data set (freeze by stage)",
        description="Load pretrained weights, replace the head for the new classes, freeze by "
        "policy and train: a normal run folder (resumable, curves, report), with the source, its "
        "preprocessing and the policy in config.yaml. The new data are normalised as the "
        "weights expect.",
        epilog=FINETUNE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", nargs="?", metavar="SOURCE", help=SOURCE_HELP)
    _source_args(p)
    p.add_argument(
        "--freeze",
        default="none",
        metavar="POLICY",
        help="head | all-but-head | stages:K | none (default none)",
    )
    p.add_argument(
        "--head-lr-mult",
        type=float,
        default=1.0,
        metavar="M",
        help="the new head's learning rate is lr x M (default 1)",
    )
    p.add_argument(
        "--unfreeze-at", type=int, metavar="EPOCH", help="from this epoch on every layer trains"
    )
    p.add_argument("--recipe", help="recipe name (see `cnnzoo recipes`) or YAML file")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--optimizer", choices=["sgd", "adam", "adamw", "rmsprop"])
    p.add_argument("--weight-decay", type=float)
    p.add_argument(
        "--schedule", choices=["constant", "step", "multistep", "plateau", "cosine", "onecycle"]
    )
    p.add_argument("--augment", choices=["none", "fashion", "cifar", "imagenet"])
    p.add_argument(
        "--no-fused",
        dest="fused",
        action="store_false",
        default=None,
        help="train with PyTorch's own ops only",
    )
    p.add_argument("--run-dir", help="run folder (default: runs/MODEL-DATA-TIME)")
    p.add_argument("--resume", metavar="RUN", help="continue the fine-tuning run in this folder")
    p.add_argument("--quiet", action="store_true", help="no epoch lines")
    p.set_defaults(func=_finetune)


def _finetune(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.resume:
        model, data, recipe, options = _resume(args)
        run_dir: Any = args.resume
    else:
        if not args.source:
            raise ValueError("give a SOURCE to fine-tune (e.g. a run folder) or --resume RUN")
        model = pretrained_model(
            args.source, args.model, download=args.download, in_chans=args.in_chans
        )
        name = model.card.name
        recipe = load_recipe(args.recipe) if args.recipe else _default_recipe(name, args.data)
        recipe = recipe.override(**_overrides(args))
        data = data_for_weights(model, recipe, args.data_dir, download=args.download)
        options = {
            "policy": args.freeze,
            "head_lr_mult": args.head_lr_mult,
            "unfreeze_at": args.unfreeze_at,
        }
        run_dir = args.run_dir
    say = (lambda text: None) if args.quiet else (lambda text: print(text, flush=True))
    say(f"{model.card.name} from {model.pretrained_cfg['source']} on {data!r}")
    try:
        result = finetune(
            model,
            data,
            recipe,
            run_dir,
            resume=bool(args.resume),
            quiet=args.quiet,
            extra_config={"data_dir": args.data_dir},
            **options,
        )
    except TrainingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    _print_result(result)
    return 0


def _resume(args: argparse.Namespace) -> tuple[Any, DataBundle, Recipe, dict[str, Any]]:

    config = RunFolder(args.resume).read_config()
    if "finetune" not in config:
        raise ValueError(f"{args.resume} is not a fine-tuning run; resume it with cnnzoo train")
    changed = _overrides(args)
    if set(changed) - {"epochs", "fused"}:
        raise ValueError("when resuming only --epochs and --no-fused may change")
    recipe = recipe_from_dict(config["recipe"], where=args.resume).override(**changed)
    model = create_model(config["model"], **config["model_kwargs"])
    model.pretrained_cfg = config["pretrained"]
    c, h, w = config["data"]["input_size"]
    data = load_data(
        config["data"]["name"],
        args.data_dir or config.get("data_dir"),
        val_fraction=recipe.val_fraction,
        seed=recipe.seed,
        image_size=(h, w),
        in_chans=c,
        limit=recipe.limit,
    )
    ft = config["finetune"]
    return model, data, recipe, {k: ft[k] for k in ("policy", "head_lr_mult", "unfreeze_at")}


# -- features and neighbours ----------------------------------------------------------------------


def _model_and_data(args: argparse.Namespace) -> tuple[Any, DataBundle]:
    if args.threads:
        torch.set_num_threads(args.threads)
    model = pretrained_model(
        args.source, args.model, download=args.download, in_chans=args.in_chans
    )
    pre = model.pretrained_cfg["preprocessing"]
    recipe = Recipe(
        data=args.data or pre.get("trained_on") or "digits", limit=args.limit, seed=args.seed or 0
    )
    data = data_for_weights(model, recipe, args.data_dir, download=args.download)
    return model.eval(), normalised_as_weights(model, data)


def _feature_command(
    subparsers: argparse._SubParsersAction, name: str, **texts: str
) -> argparse.ArgumentParser:
    """A command reading SOURCE's features of --layer on --data."""
    p = subparsers.add_parser(name, formatter_class=argparse.RawDescriptionHelpFormatter, **texts)
    p.add_argument("source", metavar="SOURCE", help=SOURCE_HELP)
    _source_args(p)
    p.add_argument("--layer", help="module name (see `cnnzoo summary MODEL`); default: last map")
    return p


def _register_features(subparsers: argparse._SubParsersAction) -> None:
    p = _feature_command(
        subparsers,
        "features",
        help="write embeddings (pooled features of a layer) with labels to a file",
        description="Run a data split through a pretrained model and write the pooled features "
        "of --layer (default: the last feature map, global-average-pooled) and the labels as "
        "safetensors (tensors 'features' and 'labels'; cnnzoo.transfer.load_features reads it).",
        epilog="examples:\n  cnnzoo features runs/RUN --data fashion_mnist --data-dir "
        "../shared/datasets\n  cnnzoo features runs/RUN --data mnist --layer stage2 --split "
        "train --out mnist_stage2.safetensors",
    )
    p.add_argument("--split", choices=["test", "val", "train"], default="test")
    p.add_argument("--out", help="output file (default: features-MODEL-DATA-SPLIT.safetensors)")
    p.set_defaults(func=_features)


def _features(args: argparse.Namespace) -> int:
    model, data = _model_and_data(args)
    split = getattr(data, args.split)
    feats = extract_features(model, split, mean=data.mean, std=data.std, layer=args.layer)
    meta = {
        "model": model.card.name,
        "source": model.pretrained_cfg["source"],
        "layer": args.layer or "forward_features",
        "data": data.name,
        "split": args.split,
        "classes": list(data.classes),
    }
    out = args.out or f"features-{model.card.name}-{data.name}-{args.split}.safetensors"
    path = save_features(out, FeatureSet(feats, split.labels, meta))
    print(
        f"{len(split):,} {args.split} images of {data.name} -> {feats.shape[1]}-d features "
        f"of {meta['layer']} ({model.card.name})"
    )
    print(f"features: {path}")
    return 0


def _register_neighbors(subparsers: argparse._SubParsersAction) -> None:
    p = _feature_command(
        subparsers,
        "neighbors",
        help="test images beside their L2-nearest training images in feature space (PNG, k-NN)",
        description="The lectures' 'L2 nearest neighbours in feature space' figure: each query "
        "test image beside its k nearest training images (features of --layer, pooled), as a "
        "PNG; also reports the k-NN classifier's top-1 on the test split.",
        epilog="examples:\n  cnnzoo neighbors runs/RUN --data fashion_mnist --data-dir "
        "../shared/datasets --queries 6 --k 5\n  cnnzoo neighbors runs/RUN --layer stage2 "
        "--out nn.png",
    )
    p.add_argument("--queries", type=int, default=6, help="query rows in the figure (default 6)")
    p.add_argument("--k", type=int, default=5, help="neighbours per query (default 5)")
    p.add_argument("--out", help="PNG path (default: neighbors-MODEL-DATA.png)")
    p.set_defaults(func=_neighbors)


def _neighbors(args: argparse.Namespace) -> int:
    # matplotlib costs ~0.5 s of start-up; only this command draws.
    from cnnzoo.transfer.figures import neighbors_figure

    model, data = _model_and_data(args)
    bank = extract_features(model, data.train, mean=data.mean, std=data.std, layer=args.layer)
    test = extract_features(model, data.test, mean=data.mean, std=data.std, layer=args.layer)
    predicted = knn_predict(test, bank, data.train.labels, k=args.k)
    top1 = 100.0 * float((predicted == data.test.labels).float().mean())
    g = torch.Generator().manual_seed(args.seed or 0)
    rows = torch.randperm(len(data.test), generator=g)[: args.queries]
    dist, idx = nearest_neighbors(test[rows], bank, args.k)
    name = model.card.name
    out = args.out or f"neighbors-{name}-{data.name}.png"
    layer = args.layer or "last feature map"
    path = neighbors_figure(
        out,
        data.test.images[rows],
        data.test.labels[rows],
        data.train.images[idx],
        data.train.labels[idx],
        dist,
        [str(c) for c in data.classes],
        title=f"{name} ({layer}): test images and their {args.k} L2-nearest training images",
    )
    print(
        f"{args.k}-NN on {bank.shape[1]}-d features of {layer}: test top-1 {top1:.2f}% "
        f"({len(data.test):,} test images, {len(data.train):,} training images)"
    )
    print(f"plot: {Path(path)}")
    return 0
