"""``cnnzoo prune``, ``compress``, ``quantize`` and ``export``: make a trained model smaller.

Each command reads a run folder (or checkpoint) and writes a new run folder whose
``checkpoints/best.safetensors`` the other commands (evaluate, predict, summary, export) accept.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import torch

from cnnzoo.compress.common import load_source
from cnnzoo.compress.export import require_onnxruntime
from cnnzoo.train import default_run_dir

__all__ = ["parse_per_layer", "register"]

# The compression modules import torch-pruning, torchao and onnx: load them only when one of
# these commands runs, so `cnnzoo --help` and the other commands start as fast as before.


def parse_per_layer(text: str, kind: type = float) -> Any:
    """``"0.9"`` -> 0.9; ``"*=0.9,classifier=0.7"`` -> ``{"*": 0.9, "classifier": 0.7}``."""
    try:
        if "=" not in text:
            return kind(text)
        result = {}
        for item in text.split(","):
            pattern, _, value = item.partition("=")
            result[pattern.strip()] = kind(value)
        return result
    except ValueError:
        raise ValueError(
            f"cannot read {text!r}: give one {kind.__name__} or LAYER=VALUE pairs separated by "
            "commas (fnmatch patterns, the last match wins), e.g. '*=0.9,classifier=0.7'"
        ) from None


def _out_dir(args: argparse.Namespace, source: Any, what: str) -> Path:
    if args.out:
        return Path(args.out)
    return default_run_dir(f"{source.name}-{what}", source.data.name)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE", help="run folder or checkpoint (.safetensors)")
    p.add_argument("--data-dir", help="where the dataset files are (as for cnnzoo train)")
    p.add_argument("--limit", type=int, help="use at most N images per split (quick runs)")
    p.add_argument("--threads", type=int, help="torch intra-op threads")
    p.add_argument("--out", help="run folder to write (default runs/MODEL-WHAT-DATA-TIME)")
    p.add_argument("--format", choices=("text", "md", "json"), default="text")


def _print(args: argparse.Namespace, result: Any) -> None:
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2, default=str))
    elif args.format == "md":
        print(result.to_markdown(), end="")
    else:
        print(result.to_text(), end="")


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_prune(subparsers)
    _register_compress(subparsers)
    _register_quantize(subparsers)
    _register_export(subparsers)


def _say(args: argparse.Namespace) -> Any:
    return (lambda text: print(text, flush=True)) if args.format == "text" else None


# -- prune -----------------------------------------------------------------------------------


def _register_prune(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prune",
        help="magnitude pruning (unstructured) or channel pruning (structured), with fine-tuning",
        description="Unstructured: zero the smallest weights per layer or globally "
        "(torch.nn.utils.prune, made permanent). --structured: remove whole channels with "
        "Torch-Pruning's dependency graph, so MACs and latency drop. --steps N prunes "
        "iteratively along a cubic or linear schedule with --finetune-epochs of retraining "
        "after each step. Measures top-1, size, MACs and latency (batch 1 and 64) per stage.",
        epilog="examples:\n"
        "  cnnzoo prune runs/lenet_300_100-mnist-RUN --sparsity 0.9 --scope global --sensitivity\n"
        "  cnnzoo prune runs/resnet20-fashion_mnist-RUN --structured --sparsity 0.3 \\\n"
        "      --steps 2 --finetune-epochs 2 --lr 1e-3",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(p)
    p.add_argument(
        "--sparsity",
        required=True,
        help="share of weights (or, --structured, channels) removed, or LAYER=S,...",
    )
    p.add_argument("--structured", action="store_true", help="remove channels (Torch-Pruning)")
    p.add_argument("--scope", choices=("layer", "global"), default="layer")
    p.add_argument("--importance", choices=("l1", "l2", "random"), default="l2")
    p.add_argument("--steps", type=int, default=1, help="iterative pruning steps")
    p.add_argument("--schedule", choices=("cubic", "linear"), default="cubic")
    p.add_argument("--finetune-epochs", type=int, default=0, help="epochs after each step")
    p.add_argument("--lr", type=float, default=1e-3, help="fine-tuning Adam learning rate")
    p.add_argument("--exclude", action="append", default=[], help="layer pattern to keep")
    p.add_argument("--sensitivity", action="store_true", help="per-layer sensitivity plot")
    p.set_defaults(func=_prune)


def _prune(args: argparse.Namespace) -> int:
    # start-up: cnnzoo.compress.pruning costs ~0.55 s of CPU to import; only this command needs it
    from cnnzoo.compress.pruning import check_sparsity, prunable_layers, resolve_per_layer

    if args.threads:
        torch.set_num_threads(args.threads)
    sparsity = parse_per_layer(args.sparsity)
    if not isinstance(sparsity, dict):
        check_sparsity(sparsity, "channel ratio" if args.structured else "sparsity")
    # start-up: cnnzoo.compress.tools costs ~3.1 s of CPU to import; only this command needs it
    from cnnzoo.compress.tools import prune_model

    source = load_source(args.source, args.data_dir, args.limit)
    if isinstance(sparsity, dict):
        names = [n for n, _ in prunable_layers(source.model)]
        resolve_per_layer(names, sparsity, check_sparsity)
    out = _out_dir(args, source, "structured" if args.structured else "pruned")
    result = prune_model(
        source,
        sparsity=sparsity,
        structured=args.structured,
        scope=args.scope,
        steps=args.steps,
        schedule=args.schedule,
        epochs=args.finetune_epochs,
        lr=args.lr,
        importance=args.importance,
        exclude=args.exclude,
        sensitivity_plot=args.sensitivity,
        run_dir=out,
        log=_say(args),
    )
    _print(args, result)
    print(f"run folder: {out}")
    return 0


# -- quantize --------------------------------------------------------------------------------


def _register_quantize(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quantize",
        help="int8 post-training quantization (pt2e + inductor, or the deprecated fx path)",
        description="Calibrate on training images, convert to int8 and measure top-1, weight "
        "size and latency at batch 1 and 64 against float32 (eager and torch.compile). "
        "pt2e: torch.export + torchao's X86InductorQuantizer, then torch.compile with "
        "inductor freezing (needs gcc). fx: prepare_fx/convert_fx (deprecated, measured only).",
        epilog="examples:\n  cnnzoo quantize runs/fashion_cnn-fashion_mnist-RUN\n"
        "  cnnzoo quantize runs/resnet20-fashion_mnist-RUN --method both --calibration 256",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(p)
    p.add_argument(
        "--method",
        choices=("pt2e", "fx", "both"),
        default="pt2e",
        help="pt2e (saved), fx (deprecated, measured only) or both in one table",
    )
    p.add_argument("--calibration", type=int, default=512, help="calibration images (512)")
    p.add_argument("--no-compiled", action="store_true", help="skip the compiled float32 row")
    p.set_defaults(func=_quantize)


def _quantize(args: argparse.Namespace) -> int:

    # start-up: cnnzoo.compress.tools costs ~3.1 s of CPU to import; only this command needs it
    from cnnzoo.compress.tools import quantize_model

    if args.method != "fx" and shutil.which("gcc") is None and shutil.which("cc") is None:
        raise ValueError(
            "the pt2e path compiles int8 kernels with inductor, which needs a C compiler: "
            "install gcc (apt-get install gcc) or use --method fx"
        )
    if args.threads:
        torch.set_num_threads(args.threads)
    source = load_source(args.source, args.data_dir, args.limit)
    out = _out_dir(args, source, "int8") if args.method != "fx" else None
    result = quantize_model(
        source,
        method=args.method,
        calibration_images=args.calibration,
        compare_compiled=not args.no_compiled,
        run_dir=out,
        log=_say(args),
    )
    _print(args, result)
    if out is not None:
        print(f"run folder: {out}")
    return 0


# -- export ----------------------------------------------------------------------------------


def _register_export(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a trained (or compressed) model to ONNX, checked in onnxruntime",
        description="torch.onnx.export (dynamo exporter, one file) of the inference graph "
        "(eval mode: auxiliary heads are not exported), then onnxruntime is run on real test "
        "images and compared with PyTorch; a max abs difference above 1e-4 is an error.",
        epilog="examples:\n  cnnzoo export runs/lenet5-digits-RUN --format onnx\n"
        "  cnnzoo export runs/resnet20-structured-RUN --format onnx --dynamic-batch --out r.onnx",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", metavar="SOURCE", help="run folder or checkpoint")
    p.add_argument("--format", choices=("onnx",), default="onnx")
    p.add_argument("--dynamic-batch", action="store_true", help="free batch dimension")
    p.add_argument("--out", help="ONNX file (default: SOURCE/model.onnx)")
    p.add_argument("--images", type=int, default=256, help="test images to check (256)")
    p.add_argument("--data-dir")
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    # start-up: cnnzoo.compress.tools costs ~3.1 s of CPU to import; only this command needs it
    from cnnzoo.compress.tools import export_checked

    require_onnxruntime()
    source = load_source(args.source, args.data_dir)
    default = Path(args.source) if Path(args.source).is_dir() else Path(args.source).parent
    out = Path(args.out) if args.out else default / "model.onnx"
    check = export_checked(source, out, args.dynamic_batch, args.images)
    print(check.to_text(), end="")
    if not check.ok:
        raise ValueError(
            f"onnxruntime's logits differ from PyTorch's by {check.max_abs_diff:.2e} > 1e-4; "
            "the exported file is kept for inspection"
        )
    return 0


# -- compress (Deep Compression) -------------------------------------------------------------


def _register_compress(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compress",
        help="Deep Compression: prune, retrain, share weights, fine-tune, Huffman-code",
        description="Han, Mao & Dally 2016's pipeline on a trained model: magnitude pruning "
        "(optionally iterative, with retraining), k-means weight sharing per layer (k = "
        "2^bits, linear initialisation), centroid fine-tuning, Huffman coding; prints the "
        "accuracy and size after every stage and the storage per layer as the paper's "
        "Tables 2-3. Each retraining is a run folder under OUT/stages/.",
        epilog="examples:\n"
        "  cnnzoo compress runs/lenet_300_100-mnist-RUN --prune 0.92 --share-bits 6 --huffman\n"
        "  cnnzoo compress runs/lenet5_caffe-mnist-RUN --data-dir ../shared/datasets \\\n"
        "      --prune 'features.conv1=0.34,features.conv2=0.88,classifier.ip1=0.92,"
        "classifier.ip2=0.81' \\\n"
        "      --share-bits '*=5,features.*=8' --huffman --prune-steps 3 --finetune-epochs 2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(p)
    p.add_argument("--prune", required=True, help="final sparsity, or LAYER=SPARSITY,...")
    p.add_argument("--share-bits", help="bits per shared weight (k = 2^bits), or LAYER=BITS,...")
    p.add_argument("--index-bits", default="5", help="relative-index bits (default 5)")
    p.add_argument("--huffman", action="store_true", help="Huffman-code indices and gaps")
    p.add_argument("--prune-steps", type=int, default=1, help="iterative pruning steps")
    p.add_argument("--schedule", choices=("cubic", "linear"), default="cubic")
    p.add_argument(
        "--finetune-epochs", type=int, default=2, help="retraining epochs after each prune step"
    )
    p.add_argument("--share-epochs", type=int, default=2, help="centroid fine-tuning epochs")
    p.add_argument("--lr", type=float, default=1e-4, help="retraining Adam learning rate")
    p.add_argument("--share-lr", type=float, default=1e-4, help="centroid learning rate")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 while retraining")
    p.add_argument("--batch-size", type=int)
    p.set_defaults(func=_compress)


def _compress(args: argparse.Namespace) -> int:
    # start-up: cnnzoo.compress.pipeline costs ~0.53 s of CPU to import; only this command needs it
    from cnnzoo.compress.pipeline import deep_compress

    if args.threads:
        torch.set_num_threads(args.threads)
    sparsity = parse_per_layer(args.prune)
    bits = parse_per_layer(args.share_bits, int) if args.share_bits else None
    index_bits = parse_per_layer(args.index_bits, int)
    source = load_source(args.source, args.data_dir, args.limit)
    out = _out_dir(args, source, "compressed")
    result = deep_compress(
        source,
        sparsity=sparsity,
        bits=bits,
        index_bits=index_bits,
        prune_steps=args.prune_steps,
        schedule=args.schedule,
        prune_epochs=args.finetune_epochs,
        share_epochs=args.share_epochs,
        lr=args.lr,
        share_lr=args.share_lr,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
        huffman=args.huffman,
        run_dir=out,
        log=(lambda text: print(text, flush=True)) if args.format == "text" else None,
    )
    _print(args, result)
    print(f"run folder: {out}")
    return 0
