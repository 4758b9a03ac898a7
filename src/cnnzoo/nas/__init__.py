"""Architecture search over the seed's operations as NASNet-style cells (``cnnzoo.nas.search``;
the one-shot supernet in ``cnnzoo.nas.oneshot``).

>>> from cnnzoo.nas import SearchConfig, run_search, search_table
>>> study = run_search(SearchConfig(strategy="oneshot"), "runs/nas", "../shared/datasets")
>>> search_table(study)[0]["genotype"]

See docs/nas.md.
"""

from cnnzoo.nas.oneshot import SuperNet, inherit
from cnnzoo.nas.retrain import Entry, retrain
from cnnzoo.nas.search import (
    BLOCKS,
    STRATEGIES,
    SearchConfig,
    evaluate_genotype,
    load_study,
    mutate,
    random_genotype,
    run_search,
    search_table,
)

__all__ = [
    "BLOCKS",
    "STRATEGIES",
    "Entry",
    "SearchConfig",
    "SuperNet",
    "evaluate_genotype",
    "inherit",
    "load_study",
    "mutate",
    "random_genotype",
    "retrain",
    "run_search",
    "search_table",
]
