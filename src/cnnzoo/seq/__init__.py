"""Sequence models beyond classification: character-level language models (``cnnzoo.seq.lm``).

>>> from cnnzoo.seq import LMConfig, load_corpus, train_lm, sample, load_lm
>>> name, text = load_corpus()                       # pydoc_data.topics, 465k characters
>>> result = train_lm(LMConfig(cell="lstm", epochs=1), text, name)
>>> model, vocab, _ = load_lm(result.run_dir)
>>> sample(model, vocab, "The ", 200, temperature=0.8)

See docs/sequences.md.
"""

from cnnzoo.seq.lm import (
    HelloResult,
    LMConfig,
    LMResult,
    Vocabulary,
    compare_cells,
    default_corpus,
    evaluate_lm,
    gradient_curves,
    gradient_through_time,
    hello,
    load_corpus,
    load_lm,
    plot_gradient_through_time,
    sample,
    split_by_position,
    train_lm,
)

__all__ = [
    "HelloResult",
    "LMConfig",
    "LMResult",
    "Vocabulary",
    "compare_cells",
    "default_corpus",
    "evaluate_lm",
    "gradient_curves",
    "gradient_through_time",
    "hello",
    "load_corpus",
    "load_lm",
    "plot_gradient_through_time",
    "sample",
    "split_by_position",
    "train_lm",
]
