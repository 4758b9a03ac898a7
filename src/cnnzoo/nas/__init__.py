"""Architecture search over the seed's operations as NASNet-style cells (``cnnzoo.nas.search``).

>>> from cnnzoo.nas import SearchConfig, run_search, search_table
>>> study = run_search(SearchConfig(strategy="evolution", trials=20), "runs/nas", "../shared/datasets")
>>> search_table(study)[0]["genotype"]

See docs/nas.md.
"""

from cnnzoo.nas.search import (
    BLOCKS,
    SearchConfig,
    evaluate_genotype,
    mutate,
    random_genotype,
    run_search,
    search_table,
)

__all__ = [
    "BLOCKS",
    "SearchConfig",
    "evaluate_genotype",
    "mutate",
    "random_genotype",
    "run_search",
    "search_table",
]
