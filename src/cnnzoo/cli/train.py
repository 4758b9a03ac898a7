"""``cnnzoo train``, ``evaluate``, ``predict``, ``demo`` and ``recipes``: training from the shell."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import torch
import yaml

from cnnzoo.analysis import summary
from cnnzoo.data import load_data, normalize, read_image_files
from cnnzoo.registry import create_model, get_model_card
from cnnzoo.train import (
    DiskFullError,
    LostRankError,
    Recipe,
    RunFolder,
    TrainingError,
    build_model,
    default_run_dir,
    distributed,
    evaluate,
    fit,
    list_recipes,
    load_checkpoint,
    load_data_for,
    load_recipe,
    read_metadata,
    resume_recipe,
)
from cnnzoo.train.devices import resolve_device
from cnnzoo.train.fused import inference_model
from cnnzoo.train.launch import LAUNCH_OPTIONS, Launch, check_launch, run_ranks

__all__ = ["register"]

TRAIN_EPILOG = """examples:
  cnnzoo train lenet5                                   # embedded digits, no download
  cnnzoo train lenet5 --data mnist --epochs 5 --data-dir ../shared/datasets
  cnnzoo train fashion_cnn --recipe fashion-cnn --data-dir ../shared/datasets --bf16
  cnnzoo train resnet20 --recipe resnet-cifar --data cifar10 --epochs 3 --limit 5000
  cnnzoo train --resume runs/lenet5-digits-20250101-120000 --epochs 40
  cnnzoo train resnet20 --data cifar10 --nproc 2 --sync-bn   # 2 data-parallel processes
  cnnzoo train lenet5 --nnodes 2 --node-rank 0 --rdzv-endpoint 10.0.0.1:29500  # on node 0,
  cnnzoo train lenet5 --nnodes 2 --node-rank 1 --rdzv-endpoint 10.0.0.1:29500  # then node 1

exit status: 0 trained; 1 training failed (non-finite loss, full disk, a data-parallel rank
died: the message says what was kept); 2 bad input; 130 interrupted by Ctrl-C, 143 by SIGTERM
(a job scheduler's stop): both drop the unfinished epoch and print the --resume command that
continues the run; 75 a rank under torchrun lost contact with the others (resume the run).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_train(subparsers)
    _register_evaluate(subparsers)
    _register_predict(subparsers)
    _register_demo(subparsers)
    _register_recipes(subparsers)


# -- train -----------------------------------------------------------------------------------


def _register_train(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model (recipes, run folder, resume)",
        description="Train a registered model. Hyper-parameters come from a recipe (--recipe NAME "
        "or FILE; default: the recipe written for MODEL on that data if there is one, else Adam 1e-3); flags "
        "override recipe fields. Everything goes to a run folder (config, metrics, curves, "
        "checkpoints, report).",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="?", help="registered model name (see `cnnzoo list`)")
    p.add_argument(
        "--data",
        help="dataset: digits (default, embedded), mnist, fashion_mnist, "
        "cifar10, cifar100, svhn, folder:PATH",
    )
    p.add_argument("--data-dir", help="where dataset files are (default: $CNNZOO_DATA, ./data)")
    p.add_argument("--download", action="store_true", help="download missing dataset files")
    p.add_argument("--recipe", help="recipe name (see `cnnzoo recipes`) or YAML file")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--optimizer", choices=["sgd", "adam", "adamw", "rmsprop"])
    p.add_argument("--momentum", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument(
        "--schedule", choices=["constant", "step", "multistep", "plateau", "cosine", "onecycle"]
    )
    p.add_argument("--warmup", type=float, help="linear warm-up length (epochs)")
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--early-stopping", type=int, metavar="EPOCHS", help="patience (0 = off)")
    p.add_argument("--grad-clip", type=float, help="clip the gradient norm (0 = off)")
    p.add_argument("--augment", choices=["none", "fashion", "cifar", "imagenet"])
    p.add_argument("--limit", type=int, help="use at most N images per split (quick runs)")
    p.add_argument("--image-size", type=int, help="resize the data (default: the model's input)")
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--bf16",
        action="store_true",
        default=None,
        help="bf16 autocast (less memory traffic; faster matmuls on AMX CPUs)",
    )
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    p.add_argument(
        "--channels-last",
        action="store_true",
        default=None,
        help="force channels_last tensors (default: chosen at start-up for the model and input "
        "by a rule or a few timed steps; config.yaml records the choice as memory_format)",
    )
    p.add_argument(
        "--no-channels-last",
        dest="channels_last",
        action="store_false",
        help="force NCHW tensors",
    )
    p.add_argument(
        "--no-fused",
        dest="fused",
        action="store_false",
        default=None,
        help="train with PyTorch's own ops only (default: fused kernels where a layer fits)",
    )
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    _add_device_option(p)
    p.add_argument(
        "--amp",
        action="store_true",
        help="CUDA fp16 mixed precision (autocast + gradient scaler); on the CPU use --bf16",
    )
    _add_parallel_options(p)
    p.add_argument("--run-dir", help="run folder (default: runs/MODEL-DATA-TIME)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in this folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    p.set_defaults(func=_train)


_OVERRIDES = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "optimizer": "optimizer",
    "momentum": "momentum",
    "weight_decay": "weight_decay",
    "schedule": "schedule",
    "warmup": "warmup",
    "label_smoothing": "label_smoothing",
    "early_stopping": "early_stopping",
    "grad_clip": "grad_clip",
    "augment": "augment",
    "limit": "limit",
    "image_size": "image_size",
    "seed": "seed",
    "bf16": "bf16",
    "compile": "compile",
    "channels_last": "channels_last",
    "fused": "fused",
    "data": "data",
}


def _add_parallel_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "data parallel (torch.distributed: gloo on CPUs, NCCL on GPUs; see docs/scaling.md)"
    )
    g.add_argument(
        "--nproc",
        type=int,
        default=1,
        metavar="N",
        help="data-parallel processes on this machine (one per core or GPU); --batch-size "
        "stays the global batch",
    )
    g.add_argument("--nnodes", type=int, default=1, metavar="N", help="machines taking part")
    g.add_argument(
        "--node-rank", type=int, default=0, metavar="R", help="this machine's number, 0..N-1"
    )
    g.add_argument(
        "--rdzv-endpoint",
        metavar="HOST:PORT",
        help="node 0's address and a free port, where the nodes meet (the same on every node)",
    )
    g.add_argument(
        "--sync-bn",
        action="store_true",
        help="batch norm with the statistics of the whole global batch (SyncBatchNorm)",
    )


def _add_device_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="cpu",
        help="cpu (default), cuda[:N], mps or auto (CUDA, else MPS, else CPU); the fused "
        "kernels are a CPU path and step aside elsewhere",
    )


def _device(name: str) -> Any:

    return resolve_device(name)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        field: getattr(args, arg)
        for arg, field in _OVERRIDES.items()
        if getattr(args, arg, None) is not None
    }


def _default_recipe(model: str, data: str | None) -> Any:
    """The recipe written for ``model`` on ``data`` (default: digits), else the Recipe
    defaults (Adam 1e-3, the same an empty recipe file gives)."""

    wanted = data or "digits"
    for name in list_recipes():
        recipe = load_recipe(name)
        if recipe.model == model and recipe.data == wanted:
            return recipe
    return Recipe(
        name="default",
        description="no recipe given: Adam 1e-3, batch 128, 10 epochs",
        data=wanted,
    )


def _check_threads(threads: int | None) -> None:
    """Set torch's intra-op threads; refuse a count below 1."""

    if threads is None:
        return
    if threads < 1:
        raise ValueError(
            f"--threads must be at least 1 (torch's intra-op threads), got {threads}; this "
            f"machine has {os.cpu_count()} cores, e.g. --threads {os.cpu_count() or 1}"
        )
    torch.set_num_threads(threads)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be, so a run stops the same way."""


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Warnings as ``warning: ...`` lines, like errors, instead of file:line and source."""

    def show(message: Warning | str, *args: Any, **kwargs: Any) -> None:
        print(f"warning: {message}", file=sys.stderr, flush=True)

    shown = warnings.showwarning
    warnings.showwarning = show  # type: ignore[assignment]
    try:
        yield
    finally:
        warnings.showwarning = shown


def _train(args: argparse.Namespace) -> int:

    _check_threads(args.threads)
    device = _device(args.device)  # a missing GPU is refused before any data is loaded
    launch = _launch_of(args)
    if launch.needed:
        return _launch(args, launch, device)
    rank, device = _join_process_group(device)
    args.quiet = args.quiet or rank > 0
    resume = args.resume is not None
    recipe, model_name, data_dir, run_dir, model_kwargs = _what_to_train(args)
    say = (lambda text: None) if args.quiet else (lambda text: print(text, flush=True))
    data = load_data_for(model_name, recipe, data_dir, download=args.download)
    if resume:
        model = create_model(model_name, **model_kwargs)
    else:
        model = build_model(model_name, data, recipe)
    say(f"{model_name} on {data!r}")
    say(
        f"recipe {recipe.name}: {recipe.optimizer} lr {recipe.lr:g}, batch {recipe.batch_size}, "
        f"{recipe.epochs} epochs, schedule {recipe.schedule}"
    )
    try:
        with _stop_on_sigterm(), _one_line_warnings():
            result = fit(
                model,
                data,
                recipe,
                run_dir,
                model_kwargs=model_kwargs,
                resume=resume,
                quiet=args.quiet,
                device=device,
                amp=args.amp,
                sync_bn=args.sync_bn,
                # Absolute, so that --resume and evaluate work from any directory.
                extra_config={"data_dir": str(Path(data_dir).expanduser().resolve())}
                if data_dir
                else {"data_dir": None},
            )
    except LostRankError as error:
        if not distributed.launched():  # cnnzoo's launcher says it once for all ranks
            print(f"error: {error}", file=sys.stderr)
        return distributed.LOST_RANK_EXIT
    except (TrainingError, DiskFullError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Terminated:
        return 143
    except KeyboardInterrupt:
        return 130
    if rank == 0:
        _print_result(result)
    return 0


def _what_to_train(args: argparse.Namespace) -> tuple[Any, str, str | None, Any, Any]:
    """``(recipe, model name, data folder, run folder, model kwargs)`` of a new or resumed run."""

    if args.resume is None:
        return _new_recipe(args), args.model, args.data_dir, args.run_dir, None
    recipe, config = resume_recipe(args.resume, where="command line", **_overrides(args))
    if args.model and args.model != config["model"]:
        raise ValueError(
            f"{args.resume} trained {config['model']!r}, not {args.model!r}; leave MODEL out "
            "when resuming"
        )
    data_dir = args.data_dir or config.get("data_dir")
    return recipe, config["model"], data_dir, args.resume, config["model_kwargs"]


def _new_recipe(args: argparse.Namespace) -> Any:
    """The recipe of a new run: --recipe (or MODEL's default) with the flags applied."""

    if not args.model:
        raise ValueError("give a MODEL to train (e.g. `cnnzoo train lenet5`) or --resume RUN")
    get_model_card(args.model)  # unknown names fail here, with suggestions
    recipe = load_recipe(args.recipe) if args.recipe else _default_recipe(args.model, args.data)
    return recipe.override(where="command line", **_overrides(args))


def _launch_of(args: argparse.Namespace) -> Any:

    return Launch(args.nproc, args.nnodes, args.node_rank, args.rdzv_endpoint)


def _launch(args: argparse.Namespace, launch: Any, device: Any) -> int:
    """Run this command again as the ranks of a data-parallel run (torchrun's launcher)."""

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError(
            "--nproc, --nnodes, --node-rank and --rdzv-endpoint start the ranks; under torchrun "
            "leave them out (torchrun's --nproc-per-node and --nnodes say the same)"
        )
    check_launch(launch, device)
    argv = _without(args.command_line, LAUNCH_OPTIONS)
    run_dir = args.resume or args.run_dir
    if run_dir is None:  # chosen once here, so that the failure line can name it
        run_dir = str(default_run_dir(args.model, _new_recipe(args).data))
        argv += ["--run-dir", run_dir]
    return int(run_ranks(launch, argv, run_dir))


def _without(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """``argv`` without ``options`` and their values (``--opt V`` and ``--opt=V``)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif arg.split("=", 1)[0] not in options:
            kept.append(arg)
    return kept


def _join_process_group(device: Any) -> tuple[int, Any]:
    """Under torchrun (WORLD_SIZE > 1) join the process group (a CUDA rank takes the GPU of
    its LOCAL_RANK); ``(rank, device)``."""

    if device.type == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return distributed.init_process_group(device), device


def _print_result(result: Any) -> None:
    best = result.best
    if best:
        print(
            f"best epoch {result.best_epoch}: validation top-1 {best['val_acc']:.2f}% "
            f"(loss {best['val_loss']:.4f})"
        )
    if result.test is not None:
        print(
            f"test top-1 {result.test.top1:.2f}%, top-5 {result.test.top5:.2f}% "
            f"(best checkpoint, {result.test.count:,} images)"
        )
    print(f"run folder: {result.run_dir}")
    print(f"checkpoint: {result.best_checkpoint}")
    print(f"curves:     {result.curves}")
    print(f"report:     {result.report}")


# -- evaluate --------------------------------------------------------------------------------


def _register_evaluate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate a run or checkpoint (loss, top-1, top-5, confusion matrix)",
        description="Evaluate a trained checkpoint (or a run folder's best checkpoint) on the "
        "test split of the data it was trained on, or on --data. With --ensemble, the softmax "
        "outputs of several checkpoints are averaged.",
        epilog="examples:\n  cnnzoo evaluate runs/lenet5-digits-20250101-120000\n"
        "  cnnzoo evaluate run1 --ensemble run2 run3 --split val",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", metavar="RUN|CHECKPOINT")
    p.add_argument("--ensemble", nargs="+", default=[], metavar="CKPT", help="more checkpoints")
    p.add_argument("--data", help="dataset (default: the one the checkpoint was trained on)")
    p.add_argument(
        "--data-dir", help="where dataset files are (default: the run's, then $CNNZOO_DATA, ./data)"
    )
    p.add_argument("--split", choices=["test", "val", "train"], default="test")
    p.add_argument("--limit", type=int)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--bf16", action="store_true")
    _add_device_option(p)
    p.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:

    device = _device(args.device)
    paths = [args.checkpoint, *args.ensemble]
    loaded = [_load_any(p, load_checkpoint) for p in paths]
    for model, _ in loaded:
        model.to(device)
    metas = [meta for _, meta in loaded]
    data_meta = metas[0].get("data", {})
    sizes = {tuple(m.get("data", {}).get("input_size", ())) for m in metas}
    if len(sizes) > 1:
        raise ValueError(f"the ensemble's checkpoints take different inputs: {sorted(sizes)}")
    c, h, w = data_meta["input_size"]
    recipe = metas[0].get("recipe", {})
    data_name = args.data or data_meta["name"]
    data_dir = args.data_dir
    if data_dir is None and data_name == data_meta["name"]:
        data_dir = _run_config(Path(args.checkpoint)).get("data_dir")
    data = load_data(
        data_name,
        data_dir,
        val_fraction=recipe.get("val_fraction", 0.2),
        seed=data_meta.get("split_seed", 0),
        image_size=(h, w),
        in_chans=c,
        limit=args.limit,
    )
    classes = {int(getattr(m, "num_classes", 0)) for m, _ in loaded}
    if classes != {data.num_classes}:
        raise ValueError(
            f"{data.name} has {data.num_classes} classes but the checkpoint(s) predict "
            f"{', '.join(map(str, sorted(classes)))}"
        )
    with _one_line_warnings():
        _warn_other_data(args.checkpoint, data_meta, data)
    split = getattr(data, args.split)
    # Normalise as in training: the statistics recorded with the checkpoint.
    mean, std = data_meta.get("mean", data.mean), data_meta.get("std", data.std)
    metrics = evaluate(
        [m for m, _ in loaded],
        split,
        mean=mean,
        std=std,
        batch_size=args.batch_size,
        num_classes=data.num_classes,
        bf16=args.bf16,
    )
    what = f"ensemble of {len(paths)} checkpoints" if len(paths) > 1 else paths[0]
    print(f"{what} on {data.name} {args.split} ({metrics.count:,} images)")
    print(f"loss {metrics.loss:.4f}  top-1 {metrics.top1:.2f}%  top-5 {metrics.top5:.2f}%")
    if data.num_classes <= 20:
        print(_confusion_text(metrics, [str(x) for x in data.classes]))
    return 0


def _load_any(path: str, load_checkpoint: Any) -> tuple[Any, dict[str, Any]]:
    """A checkpoint, or an int8 run of `cnnzoo quantize` (rebuilt by cnnzoo.compress), ready
    for inference: a float checkpoint's batch norms come folded into their convolutions
    (same outputs up to rounding, one pass less per batch norm)."""

    file = Path(path) / "checkpoints" / "best.safetensors" if Path(path).is_dir() else Path(path)
    if file.is_file() and (read_metadata(file).get("compression") or {}).get("quantized"):
        # Imported only here: torchao/inductor cost seconds of start-up.
        from cnnzoo.compress.tools import load_model

        return load_model(path)
    model, meta = load_checkpoint(path)
    return inference_model(model)[0], meta


def _run_config(path: Path) -> dict[str, Any]:
    """The config.yaml of the run a checkpoint (or run folder) belongs to; {} if there is none."""

    folder = path if path.is_dir() else path.parent.parent
    if not (folder / "config.yaml").is_file():
        return {}
    return RunFolder(folder).read_config()


def _warn_other_data(checkpoint: str, trained: dict[str, Any], data: Any) -> None:
    """Warn when the data evaluated is not what the checkpoint was trained on."""

    def listed(names: list[str]) -> str:
        return ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")

    if data.name == trained.get("name"):
        return
    ours, theirs = [str(c) for c in trained.get("classes", [])], [str(c) for c in data.classes]
    c, h, w = trained["input_size"]
    what = (
        f"its classes ({listed(ours)}) are not {data.name}'s ({listed(theirs)}): predictions are "
        "scored by class index only"
        if ours != theirs
        else f"the class names agree; {data.name}'s images are resized to {c}x{h}x{w}"
    )
    warnings.warn(
        f"{checkpoint} was trained on {trained.get('name')}, not {data.name}; {what}",
        UserWarning,
        stacklevel=2,
    )


def _confusion_text(metrics: Any, classes: list[str]) -> str:
    width = max(5, *(len(c) for c in classes))
    lines = ["confusion matrix (rows: true, columns: predicted), per-class accuracy:"]
    lines.append(" " * width + " " + " ".join(f"{c[:width]:>{width}}" for c in classes))
    for label, counts, acc in zip(
        classes, metrics.confusion.tolist(), metrics.per_class_accuracy(), strict=True
    ):
        lines.append(
            f"{label[:width]:>{width}} "
            + " ".join(f"{v:>{width}}" for v in counts)
            + f"  {acc:6.2f}%"
        )
    return "\n".join(lines)


# -- predict ---------------------------------------------------------------------------------


def _register_predict(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="classify PNG/JPEG images with a checkpoint",
        description="Classify image files with a trained checkpoint (or a run folder's best). "
        "Images are converted to the checkpoint's channels and resized to its input size, then "
        "normalised with its training statistics.",
        epilog="example:\n  cnnzoo predict runs/lenet5-digits-20250101-120000 seven.png three.jpg",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--top", type=int, default=5, help="how many classes to show (default 5)")
    _add_device_option(p)
    p.set_defaults(func=_predict)


def _predict(args: argparse.Namespace) -> int:

    if args.top < 1:
        raise ValueError(f"--top must be at least 1 (how many classes to show), got {args.top}")
    device = _device(args.device)
    model, meta = _load_any(args.checkpoint, load_checkpoint)
    model.to(device)
    data = meta.get("data", {})
    c, h, w = data["input_size"]
    classes = [str(x) for x in data.get("classes", range(int(getattr(model, "num_classes", 0))))]
    with _one_line_warnings():
        images = read_image_files(args.images, c, (h, w)).to(device)
    with torch.inference_mode():
        probs = torch.softmax(
            model(normalize(images, data["mean"], data["std"])).float(), dim=1
        ).cpu()
    k = min(args.top, probs.shape[1])
    for path, row in zip(args.images, probs, strict=True):
        values, indices = row.topk(k)
        print(f"{path}:")
        for p, i in zip(values.tolist(), indices.tolist(), strict=True):
            print(f"  {classes[i]:>12}  {100 * p:6.2f}%")
    return 0


# -- demo ------------------------------------------------------------------------------------


def _register_demo(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="the main job: train LeNet-5 on the embedded digits, then show the results",
        description="Trains LeNet-5 on scikit-learn's embedded handwritten digits (no download) "
        "with the lenet5-digits recipe, then prints the test accuracy, the per-layer summary and "
        "where the curves and checkpoint are. Takes well under a minute on a quiet 2-core CPU.",
        epilog="examples:\n  cnnzoo demo\n  cnnzoo demo --data mnist --data-dir ../shared/datasets",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", default="digits", help="digits (default), mnist or fashion_mnist")
    p.add_argument("--data-dir")
    p.add_argument("--epochs", type=int, help="override the recipe's 30 epochs")
    p.add_argument("--run-dir", help="run folder (default: runs/lenet5-DATA-TIME)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: LeNet-5's batches are too small to gain from more, and "
        "on a busy machine extra threads wait on each other)",
    )
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:

    _check_threads(args.threads)
    recipe = load_recipe("lenet5-digits")
    changes: dict[str, Any] = {"data": args.data, "epochs": args.epochs}
    if args.data != "digits":
        changes.update(batch_size=128, epochs=args.epochs or 5)
    recipe = recipe.override(**changes)
    data = load_data_for("lenet5", recipe, args.data_dir)
    print(f"cnnzoo demo: LeNet-5 (LeCun et al. 1998) on {data!r}", flush=True)
    model = build_model("lenet5", data, recipe)
    try:
        result = fit(
            model,
            data,
            recipe,
            args.run_dir,
            quiet=args.quiet,
            extra_config={
                "data_dir": str(Path(args.data_dir).expanduser().resolve())
                if args.data_dir
                else None
            },
        )
    except (TrainingError, DiskFullError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print()
    print(summary(model, data.input_size).to_text())
    total = sum(r["train_seconds"] + r["eval_seconds"] for r in result.history)
    epochs = len(result.history)
    print(f"trained {epochs} epoch{'' if epochs == 1 else 's'} in {total:.1f} s")
    _print_result(result)
    return 0


# -- recipes ---------------------------------------------------------------------------------


def _register_recipes(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "recipes",
        help="list the training recipes",
        description="List the training recipes (recipes/*.yaml), or show one resolved.",
        epilog="examples:\n  cnnzoo recipes\n  cnnzoo recipes resnet-imagenet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", nargs="?", help="show this recipe with every field resolved")
    p.set_defaults(func=_recipes)


def _recipes(args: argparse.Namespace) -> int:

    if args.name:
        print(yaml.safe_dump(load_recipe(args.name).to_dict(), sort_keys=False), end="")
        return 0
    names = list_recipes()
    width = max((len(n) for n in names), default=10)
    for name in names:
        recipe = load_recipe(name)
        print(f"{name:<{width}}  {recipe.description}")
    return 0
