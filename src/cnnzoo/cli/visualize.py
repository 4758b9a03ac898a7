"""``cnnzoo visualize METHOD SOURCE``: look inside a model (see docs/visualize.md)."""

from __future__ import annotations

import argparse
import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnzoo.analysis import parse_input_size

__all__ = ["register"]

EPILOG = """examples:
  cnnzoo visualize activations runs/fashion_cnn-fashion_mnist-20260101-120000 --index 0
  cnnzoo visualize filters alexnet
  cnnzoo visualize maximize RUN --layer features.act1 --channels 0-15 --fourier
  cnnzoo visualize guided-backprop RUN --image shoe.png
  cnnzoo visualize gradcam RUN --data fashion_mnist --data-dir data --index 0 1 2
  cnnzoo visualize top-patches RUN --layer features.pool1 --limit 10000
  cnnzoo visualize gradient-flow plain20 resnet20 --data fashion_mnist --data-dir data
  cnnzoo visualize landscape RUN_RESNET20 RUN_PLAIN20   # 21x21 grid, 21 points, 128 images
"""

IMAGE_METHODS = ("saliency", "deconvnet", "guided-backprop", "integrated-gradients")
HELP = {
    "activations": "every feature map of a layer for one image (default: the feature_info stages)",
    "filters": "learned convolution filters (default: the first layer, RGB or grey patches)",
    "maximize": "images that maximise channels, a centre neuron or class logits",
    "saliency": "|d logit / d pixel| (Simonyan et al. 2014)",
    "deconvnet": "deconvnet projection of the predicted logit (Zeiler & Fergus 2013)",
    "guided-backprop": "guided backpropagation (Springenberg et al. 2015)",
    "integrated-gradients": "integrated gradients from a black image (Sundararajan et al. 2017)",
    "gradcam": "Grad-CAM heat map over the image (Selvaraju et al. 2017)",
    "top-patches": "the k images that most excite each channel, with deconvnet projections (ZFNet)",
    "gradient-flow": "per-layer gradient norms at init and after training; several models",
    "landscape": "1-D interpolation from init and 2-D filter-normalised loss surface (Li 2018)",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "visualize",
        help="look inside a model: activations, filters, attributions, Grad-CAM, landscapes",
        description="Visualise what a model has learnt. SOURCE is a run folder (its best "
        "checkpoint), a .safetensors checkpoint, or a model name (random weights, said in the "
        "title). Images come from --image FILE... or --data NAME --index I... (default: the "
        "run's data set, test split, image 0), normalised as the run was trained. Every PNG "
        "written is printed; the default --out is RUN/visualize (./visualize for a model name).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    methods = p.add_subparsers(dest="method", metavar="METHOD", required=True)
    common = _common_options()
    for method, text in HELP.items():
        sub = methods.add_parser(
            method,
            help=text,
            description=text,
            parents=[common],
            epilog="\n".join(
                ["example:"] + [line for line in EPILOG.splitlines() if f" {method} " in line]
            ),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        many = method in ("gradient-flow", "landscape")
        sub.add_argument(
            "sources",
            nargs="+" if many else 1,
            metavar="SOURCE",
            help="run folders, checkpoints or model names (plotted side by side)"
            if many
            else "run folder, checkpoint or model name",
        )
        OPTIONS.get(method, lambda _: None)(sub)
        sub.set_defaults(func=_visualize)


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--image", nargs="+", default=[], metavar="FILE", help="image files")
    common.add_argument("--data", help="dataset of --index (default: the run's)")
    common.add_argument("--data-dir", help="where dataset files are (default: $CNNZOO_DATA)")
    common.add_argument(
        "--index", type=int, nargs="+", default=[0], metavar="I", help="images of --split"
    )
    common.add_argument(
        "--split",
        choices=["test", "val", "train"],
        help="split of --index (default: test; landscape: train)",
    )
    common.add_argument("--layer", nargs="+", metavar="NAME", help="layer(s), e.g. stage2")
    common.add_argument("--out", help="output folder")
    common.add_argument("--input", help="input CxHxW for a model name (default: its card's)")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--threads", type=int, help="torch intra-op threads")
    return common


def _channel_list(text: str) -> list[int]:
    """``"0-3,7"`` -> ``[0, 1, 2, 3, 7]``."""
    channels: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        try:
            channels.extend(range(int(low), int(high or low) + 1))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a channel list; write e.g. 0-15 or 0,3,7"
            ) from None
    return channels


def _target_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--target", type=int, help="class to explain (default: the prediction)")


def _maximize_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--channels", type=_channel_list, default=list(range(16)), help="e.g. 0-15")
    sub.add_argument("--unit", choices=["channel", "neuron", "class"], default="channel")
    sub.add_argument(
        "--steps",
        type=int,
        default=128,
        help="gradient-ascent steps (default 128), each a forward and backward pass of every "
        "channel's image up to the layer: ResNet-50 at 224x224 costs 0.24 CPU s per channel and "
        "step, so the default 16 channels x 128 steps take minutes there (docs/visualize.md)",
    )
    sub.add_argument("--lr", type=float, help="step (default 0.05; --fourier 0.002)")
    sub.add_argument("--l2", type=float, default=1e-3, help="L2 decay towards grey per step")
    sub.add_argument("--blur-every", type=int, default=4, help="Gaussian blur period (0: off)")
    sub.add_argument("--jitter", type=int, default=2, help="random shift in pixels (0: off)")
    sub.add_argument("--no-clip", action="store_true", help="do not clip pixels to [0, 1]")
    sub.add_argument(
        "--fourier", action="store_true", help="decorrelated 1/f Fourier parameterisation"
    )


def _ig_options(sub: argparse.ArgumentParser) -> None:
    _target_option(sub)
    sub.add_argument(
        "--steps",
        type=int,
        default=12,  # = cnnzoo.visualize.IG_STEPS (not imported: captum start-up cost)
        help="integration steps (default 12: ResNet-50 at 224x224 in about 2 s on 2 cores); the "
        "completeness error is printed, with a warning above 5%%",
    )


def _patches_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--channels", type=_channel_list, help="channels (default: the first 8)")
    sub.add_argument("--k", type=int, default=9, help="images per channel (default 9)")
    sub.add_argument("--limit", type=int, default=10_000, help="images searched (default 10000)")
    sub.add_argument(
        "--projection",
        choices=["deconvnet", "guided-backprop"],
        default="deconvnet",
        help="deconvnet (ZFNet; needs max-pool switches to depend on the image) or guided-backprop",
    )
    sub.add_argument("--batch-size", type=int, default=1000)


def _flow_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--steps", type=int, default=300, help="SGD steps (default 300)")
    sub.add_argument("--batch-size", type=int, default=64)
    sub.add_argument("--lr", type=float, default=0.05)
    sub.add_argument("--limit", type=int, default=5000, help="training images used")


def _landscape_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--kind", choices=["both", "1d", "2d"], default="both", help="1-D, 2-D or both"
    )
    sub.add_argument(
        "--start", default="init", help="1-D start: init (the run's seed) or a checkpoint"
    )
    sub.add_argument("--grid", type=int, default=21, help="2-D grid points per axis (21)")
    sub.add_argument("--span", type=float, default=1.0, help="2-D range [-span, span]")
    sub.add_argument("--points", type=int, default=21, help="1-D points over a in [-0.5, 1.5] (21)")
    sub.add_argument(
        "--limit",
        type=int,
        default=128,
        help="images of --split used (128). Each grid point is one pass over them: the default "
        "21x21 grid + 21 points is 462 passes; for ResNet-20 on 128 images that measured 66 CPU s "
        "and 174 s of wall time a run at 1 thread on a loaded 2-core machine (docs/visualize.md: "
        "speed). On a loaded machine give --threads 1: at a load of 10, 2 threads took twice the "
        "wall time of one",
    )
    sub.add_argument("--batch-size", type=int, default=256)
    sub.add_argument("--cap", type=float, default=10.0, help="clip losses above this in plots")


OPTIONS = {
    "maximize": _maximize_options,
    "saliency": _target_option,
    "deconvnet": _target_option,
    "guided-backprop": _target_option,
    "integrated-gradients": _ig_options,
    "gradcam": _target_option,
    "top-patches": _patches_options,
    "gradient-flow": _flow_options,
    "landscape": _landscape_options,
}


def _visualize(args: argparse.Namespace) -> int:
    # Imported here: captum and matplotlib add ~1.9 s to every `cnnzoo` start-up (measured with
    # python -X importtime), and only this command needs them.
    from cnnzoo import visualize

    if args.threads:
        torch.set_num_threads(args.threads)
    size = parse_input_size(args.input) if args.input else None
    sources = [visualize.load_source(s, input_size=size) for s in args.sources]
    out = Path(args.out) if args.out else sources[0].default_out()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", visualize.VisualizeWarning)
        paths = RUNNERS[args.method](visualize, sources, args, out)
    for warning in caught:
        if issubclass(warning.category, visualize.VisualizeWarning):
            print(f"warning: {warning.message}")
    for path in paths:
        print(path)
    return 0


def _images(vis: Any, source: Any, args: argparse.Namespace) -> tuple[torch.Tensor, list[str]]:
    """uint8 images and their captions, from --image or --data/--index."""
    if args.image:
        return vis.load_images(args.image, source), [Path(p).name for p in args.image]
    split = args.split or "test"
    images, labels, classes = vis.source_images(
        source, args.data, args.index, split=split, data_dir=args.data_dir
    )
    name = args.data or source.data_name
    captions = [
        f"{name} {split} #{i}: {classes[int(y)]}" for i, y in zip(args.index, labels, strict=True)
    ]
    return images, captions


def _stem(args: argparse.Namespace) -> str:
    if args.image:
        return "-".join(Path(p).stem for p in args.image)
    return (args.split or "test") + "".join(f"-{i}" for i in args.index)


def _layers(vis: Any, source: Any, args: argparse.Namespace) -> list[str]:
    layers = args.layer or vis.default_layers(source.model)
    for name in layers:
        vis.find_layer(source.model, name)
    return layers


def _save(vis: Any, fig: Any, out: Path, name: str) -> Path:
    return vis.save_figure(fig, out / f"{name.replace('/', '_')}.png")


def _run_activations(vis, sources, args, out):  # type: ignore[no-untyped-def]
    source = sources[0]
    images, captions = _images(vis, source, args)
    layers = _layers(vis, source, args)
    maps = vis.activations(source.model, source.prepare(images), layers)
    paths = []
    names = (
        [Path(p).stem for p in args.image]
        if args.image
        else [f"{args.split or 'test'}-{i}" for i in args.index]
    )
    for n, caption in enumerate(captions):
        title = f"{source.title}; {caption}"
        for layer in layers:
            fig = vis.plot_activations(maps[layer][n], layer, title, image=images[n])
            paths.append(_save(vis, fig, out, f"activations-{layer}-{names[n]}"))
    return paths


def _run_filters(vis, sources, args, out):  # type: ignore[no-untyped-def]
    source = sources[0]
    paths = []
    for layer in args.layer or [vis.first_conv(source.model)]:
        weight = vis.filters(source.model, layer)
        paths.append(
            _save(vis, vis.plot_filters(weight, layer, source.title), out, f"filters-{layer}")
        )
    return paths


def _run_maximize(vis, sources, args, out):  # type: ignore[no-untyped-def]
    source = sources[0]
    if args.unit == "class":
        layers: list[str | None] = [None]
        channels = [c for c in args.channels if c < len(source.classes)]
    else:
        layers = list(args.layer or vis.default_layers(source.model)[-1:])
        for name in layers:
            vis.find_layer(source.model, name)
        channels = args.channels
    regularization = vis.Regularization(
        steps=args.steps,
        lr=args.lr,
        l2_decay=args.l2,
        blur_every=args.blur_every,
        jitter=args.jitter,
        clip=not args.no_clip,
        parameterization="fourier" if args.fourier else "pixel",
    )
    paths = []
    for layer in layers:
        images = vis.maximize(
            source.model,
            layer,
            channels,
            source.input_size,
            source.mean,
            source.std,
            unit=args.unit,
            regularization=regularization,
            seed=args.seed,
        )
        where = layer or "logits"
        what = "class" if args.unit == "class" else args.unit
        regularisers = (
            f"L2 {args.l2:g}, jitter {args.jitter}"
            if args.fourier
            else f"L2 {args.l2:g}, blur every {args.blur_every}, jitter {args.jitter}, "
            f"{'no clipping' if args.no_clip else 'clipped'}"
        )
        plural = "classes" if what == "class" else what + "s"
        title = (
            f"{source.title}: maximise {plural} of {where}\n"
            f"{regularization.parameterization}, {args.steps} steps, {regularisers}"
        )
        names = [source.classes[c] for c in channels] if args.unit == "class" else channels
        fig = vis.plot_maximized(images, names, what, title)
        suffix = "-fourier" if args.fourier else ""
        paths.append(_save(vis, fig, out, f"maximize-{where}-{args.unit}{suffix}"))
    return paths


def _run_attribution(vis, sources, args, out):  # type: ignore[no-untyped-def]
    source = sources[0]
    images, captions = _images(vis, source, args)
    x = source.prepare(images)
    target = args.target
    with vis.evaluating(source.model), torch.no_grad():
        logits = source.model(x)  # the prediction, and completeness's f(x)
    predicted = logits.argmax(dim=1)
    wanted = [target] * len(images) if target is not None else predicted.tolist()
    baseline = source.prepare(torch.zeros_like(images[:1]))  # a black image
    steps = getattr(args, "steps", 0)
    maps = vis.attribute(
        source.model, x, args.method, target=wanted, steps=steps, baseline=baseline
    )
    if args.method == "integrated-gradients":
        errors = vis.completeness_error(source.model, x, maps, wanted, baseline, logits=logits)
        worst = vis.check_completeness(errors, steps)
        print(f"completeness error: {100 * worst:.2f}% at most ({steps} steps)")
    captions = [
        f"{c}\npredicted {source.classes[int(p)]}; explained {source.classes[w]}"
        for c, p, w in zip(captions, predicted, wanted, strict=True)
    ]
    fig = vis.plot_attribution(images, maps, args.method, captions=captions, title=source.title)
    return [_save(vis, fig, out, f"{args.method}-{_stem(args)}")]


def _run_gradcam(vis, sources, args, out):  # type: ignore[no-untyped-def]
    source = sources[0]
    images, captions = _images(vis, source, args)
    x = source.prepare(images)
    stages = vis.default_layers(source.model)
    layers = args.layer or stages[-1:]
    paths = []
    for layer in layers:
        vis.find_layer(source.model, layer)
        cams = vis.gradcam(source.model, x, layer, args.target, alternatives=stages)
        predicted = vis.attribution.predicted(source.model, x)
        shown = [
            f"{c}\npredicted {source.classes[int(p)]}"
            for c, p in zip(captions, predicted, strict=True)
        ]
        fig = vis.plot_gradcam(images, cams, layer, captions=shown, title=source.title)
        paths.append(_save(vis, fig, out, f"gradcam-{layer}-{_stem(args)}"))
    return paths


def _run_top_patches(vis, sources, args, out):  # type: ignore[no-untyped-def]
    source = sources[0]
    stages = vis.default_layers(source.model)
    layers = args.layer or [stages[min(1, len(stages) - 1)]]
    images, _, _ = vis.source_images(
        source,
        args.data,
        None,
        split=args.split or "test",
        data_dir=args.data_dir,
        limit=args.limit,
    )
    paths = []
    for layer in layers:
        vis.find_layer(source.model, layer)
        result = vis.top_patches(
            source.model,
            images,
            source.prepare,
            layer,
            args.channels,
            args.k,
            batch_size=args.batch_size,
            projection=args.projection,
        )
        title = f"{source.title}; {len(images):,} {args.split or 'test'} images"
        fig = vis.plot_top_patches(result, title)
        suffix = "" if args.projection == "deconvnet" else f"-{args.projection}"
        paths.append(_save(vis, fig, out, f"top-patches-{layer}{suffix}"))
    return paths


def _run_gradient_flow(vis, sources, args, out):  # type: ignore[no-untyped-def]
    flows, seen = {}, set()
    for source in sources:
        bundle = vis.source_data(
            source,
            args.data or source.data_name or "digits",
            data_dir=args.data_dir,
            limit=args.limit,
        )
        model = copy.deepcopy(source.model)
        model.load_state_dict(vis.initial_weights(source))
        label = source.name if source.name not in seen else f"{source.name} ({len(seen)})"
        seen.add(source.name)
        flows[label] = vis.gradient_flow(
            model,
            bundle.train,
            source.mean,
            source.std,
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
        )
    title = (
        f"gradient flow on {bundle.name} ({len(bundle.train):,} training images): SGD lr "
        f"{args.lr:g}, momentum 0.9, batch {args.batch_size}, {args.steps} steps from "
        "initialisation"
    )
    fig = vis.plot_gradient_flow(flows, title)
    return [_save(vis, fig, out, "gradient-flow-" + "-".join(s.name for s in sources))]


def _landscape_batches(vis, source, args):  # type: ignore[no-untyped-def]
    split = args.split or "train"
    images, labels, _ = vis.source_images(
        source, args.data, None, split=split, data_dir=args.data_dir, limit=args.limit
    )
    x = source.prepare(images)
    batches = [
        (x[i : i + args.batch_size], labels[i : i + args.batch_size])
        for i in range(0, len(labels), args.batch_size)
    ]
    return batches, f"{len(labels):,} {split} images"


def _run_landscape(vis, sources, args, out):  # type: ignore[no-untyped-def]
    names = "-".join(s.name for s in sources)
    curves, surfaces, paths, what = {}, {}, [], ""
    for source in sources:
        batches, what = _landscape_batches(vis, source, args)
        label = source.title
        if args.kind in ("both", "1d"):
            if args.start == "init":
                start, start_label = vis.initial_weights(source), "initialisation"
            else:
                start, start_label = vis.checkpoint_weights(args.start, source), args.start
            end = source.model.state_dict()
            alphas = np.linspace(-0.5, 1.5, args.points).tolist()
            curves[label] = vis.interpolate(
                source.model, start, end, batches, alphas, labels=(start_label, "trained")
            )
        if args.kind in ("both", "2d"):
            surfaces[label] = vis.surface(
                source.model, batches, steps=args.grid, span=args.span, seed=args.seed
            )
    if curves:
        fig = vis.plot_interpolation(curves, f"linear interpolation, loss on {what}")
        paths.append(_save(vis, fig, out, f"landscape-1d-{names}"))
    if surfaces:
        title = (
            f"filter-normalised random directions (Li et al. 2018), {args.grid}x{args.grid} grid "
            f"over [-{args.span:g}, {args.span:g}], loss on {what}"
        )
        paths.append(
            _save(
                vis, vis.plot_contours(surfaces, title, args.cap), out, f"landscape-contour-{names}"
            )
        )
        paths.append(
            _save(
                vis, vis.plot_surfaces(surfaces, title, args.cap), out, f"landscape-surface-{names}"
            )
        )
    return paths


RUNNERS = {
    "activations": _run_activations,
    "filters": _run_filters,
    "maximize": _run_maximize,
    "saliency": _run_attribution,
    "deconvnet": _run_attribution,
    "guided-backprop": _run_attribution,
    "integrated-gradients": _run_attribution,
    "gradcam": _run_gradcam,
    "top-patches": _run_top_patches,
    "gradient-flow": _run_gradient_flow,
    "landscape": _run_landscape,
}
