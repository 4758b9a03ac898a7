"""Generative models: DCGAN on MNIST / Fashion-MNIST with classifier-based scores.

>>> from cnnzoo.gen import GANConfig, train_gan, load_generator, score_generator, train_scorer
>>> run = train_gan(GANConfig(data="mnist", epochs=3, limit=10000), "../shared/datasets")
>>> gen, _ = load_generator(run.path)

See docs/gan.md.
"""

from cnnzoo.gen.gan import (
    GANConfig,
    GANScores,
    frechet_distance,
    generate,
    interpolation_grid,
    load_generator,
    save_grid,
    score_generator,
    score_images,
    train_gan,
    train_scorer,
    write_scores,
)

__all__ = [
    "GANConfig",
    "GANScores",
    "frechet_distance",
    "generate",
    "interpolation_grid",
    "load_generator",
    "save_grid",
    "score_generator",
    "score_images",
    "train_gan",
    "train_scorer",
    "write_scores",
]
