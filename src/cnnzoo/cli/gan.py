"""``cnnzoo gan train | sample | score``: DCGAN on MNIST and Fashion-MNIST."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from cnnzoo.analysis.tables import text_table

__all__ = ["register"]

RAW = argparse.RawDescriptionHelpFormatter


def register(subparsers: argparse._SubParsersAction) -> None:
    gan = subparsers.add_parser(
        "gan",
        help="DCGAN (Radford et al. 2016) on MNIST / Fashion-MNIST: train, sample, score",
        description="DCGAN on 28x28 images: train (sample grid per epoch, resumable), sample "
        "grids and latent interpolations, and scores from a zoo classifier trained on the real set.",
        epilog="examples:\n  cnnzoo gan train --data mnist --data-dir ../shared/datasets --epochs 3 --limit 12000\n"
        "  cnnzoo gan sample runs/dcgan28-mnist-20261202-050000 --interpolate --out interp.png\n"
        "  cnnzoo gan score runs/dcgan28-mnist-20261202-050000 --data-dir ../shared/datasets",
        formatter_class=RAW,
    )
    commands = gan.add_subparsers(dest="gan_command", metavar="COMMAND", required=True)

    p = commands.add_parser(
        "train",
        help="train a DCGAN in a run folder (a sample grid per epoch)",
        description="Adam lr 2e-4, beta1 0.5, batch 64, the non-saturating generator loss; a grid "
        "of the same 64 latent vectors after every epoch in RUN/samples/.",
        epilog="examples:\n  cnnzoo gan train --data mnist --data-dir ../shared/datasets --epochs 3 --limit 12000\n"
        "  cnnzoo gan train --data fashion_mnist --conditional --data-dir ../shared/datasets\n"
        "  cnnzoo gan train --resume runs/dcgan28-mnist-20261202-050000 --epochs 5",
        formatter_class=RAW,
    )
    p.add_argument("--data", choices=("mnist", "fashion_mnist", "digits"), default="mnist")
    p.add_argument("--data-dir", help="where dataset files are (default: $CNNZOO_DATA, ./data)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument(
        "--limit", type=int, help="train on at most N images (a fixed stratified subset)"
    )
    p.add_argument("--conditional", action="store_true", help="class-conditional G and D")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="run folder (default runs/dcgan28-<data>-<time>)")
    p.add_argument("--resume", metavar="RUN", help="continue this run folder")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    p.set_defaults(func=_train)

    p = commands.add_parser(
        "sample",
        help="a grid of samples or of latent-space interpolations",
        description="Draw a grid from a trained generator: 64 samples, or with --interpolate "
        "8 straight lines through latent space in 10 steps each.",
        epilog="examples:\n  cnnzoo gan sample RUN --out samples.png\n"
        "  cnnzoo gan sample RUN --interpolate --out interp.png --seed 3",
        formatter_class=RAW,
    )
    p.add_argument("run", help="a run folder made by `cnnzoo gan train`")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--interpolate", action="store_true")
    p.add_argument("--label", type=int, help="conditional runs: generate this class only")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_sample)

    p = commands.add_parser(
        "score",
        help="confidence, classifier score and Frechet distance from a zoo classifier",
        description="Score N generated images with fashion_cnn trained on the real training split "
        "(trained with the engine into RUN/scorer unless --classifier gives a run): mean "
        "max-probability, exp(E KL(p(y|x) || p(y))), and the Frechet distance of its penultimate "
        "features to N real test images; the same scores of real test images for reference. "
        "Writes RUN/scores.json.",
        epilog="examples:\n  cnnzoo gan score RUN --data-dir ../shared/datasets\n"
        "  cnnzoo gan score RUN --classifier runs/fashion_cnn-mnist-20261202-050000 --n 2000",
        formatter_class=RAW,
    )
    p.add_argument("run", help="a run folder made by `cnnzoo gan train`")
    p.add_argument("--data-dir", help="where dataset files are (default: $CNNZOO_DATA, ./data)")
    p.add_argument("--classifier", help="run folder of a classifier trained on the real set")
    p.add_argument("--classifier-epochs", type=int, default=2, help="epochs if it is trained here")
    p.add_argument("--n", type=int, default=5000, help="generated and real images to score")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    p.set_defaults(func=_score)


# cnnzoo.gen.gan imports matplotlib and torchvision: loaded only when a gan command runs.


def _threads(n: int | None) -> None:

    if n:
        torch.set_num_threads(n)


def _train(args: argparse.Namespace) -> int:
    # start-up: cnnzoo.gen.gan costs ~2.1 s of CPU to import; only this command needs it
    from cnnzoo.gen.gan import GANConfig, train_gan

    _threads(args.threads)
    config = GANConfig(
        data=args.data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        limit=args.limit,
        conditional=args.conditional,
        seed=args.seed,
    )
    run_dir = args.resume or args.out
    run = train_gan(config, args.data_dir, run_dir, resume=args.resume is not None, log=print)
    last = sorted((run.path / "samples").glob("epoch_*.png"))[-1]
    print(f"run folder: {run.path}")
    print(f"samples:    {last}")
    print(f"curves:     {run.curves}")
    return 0


def _sample(args: argparse.Namespace) -> int:

    # start-up: cnnzoo.gen.gan costs ~2.1 s of CPU to import; only this command needs it
    from cnnzoo.gen.gan import generate, interpolation_grid, load_generator, save_grid

    gen, _ = load_generator(args.run)
    if args.interpolate:
        images, nrow = interpolation_grid(gen, seed=args.seed, label=args.label), 10
    else:
        z = torch.randn(64, gen.latent, generator=torch.Generator().manual_seed(args.seed))
        labels = None
        if gen.conditional:
            labels = (
                torch.full((64,), args.label) if args.label is not None else torch.arange(64) % 10
            )
        images, nrow = generate(gen, z, labels), 8
    print(f"plot: {save_grid(args.out, images, nrow)}")
    return 0


def _score(args: argparse.Namespace) -> int:
    # start-up: cnnzoo.gen.gan costs ~2.1 s of CPU to import; only this command needs it
    from cnnzoo.gen.gan import load_generator, score_generator, train_scorer, write_scores

    _threads(args.threads)
    gen, config = load_generator(args.run)
    data = config["gan"]["data"]
    scorer = args.classifier or train_scorer(
        data, args.data_dir, Path(args.run) / "scorer", args.classifier_epochs, log=print
    )
    generated, real = score_generator(gen, scorer, data, args.data_dir, n=args.n, seed=args.seed)
    header = ["Images", "N", "Confidence", "Classifier score", "Frechet distance", "Classes >= 5%"]
    rows = []
    for label, s in (("generated", generated), ("real test", real)):
        covered = sum(share >= 0.05 for share in s.class_shares)
        rows.append(
            [
                label,
                f"{s.n:,}",
                f"{s.confidence:.3f}",
                f"{s.classifier_score:.2f}",
                f"{s.frechet_distance:.2f}",
                f"{covered}/10",
            ]
        )
    notes = [
        f"classifier: fashion_cnn trained on real {data} ({scorer}); features = input of its head (128-d)",
        "Frechet distance: generated vs real test images; for 'real test': real test vs real training images",
    ]
    if generated.label_accuracy is not None:
        notes.append(
            f"conditional: {100 * generated.label_accuracy:.1f}% of generated images are classified as the class asked for"
        )
    print(text_table(header, rows, notes=notes), end="")
    path = Path(args.run) / "scores.json"
    write_scores(path, generated, real, {"classifier": str(scorer), "data": data})
    print(f"scores: {path}")
    return 0
