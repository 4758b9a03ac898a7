import os

import pytest
import torch

# Two cores: keep each test process to one intra-op thread so pytest -n 2 does not oversubscribe.
torch.set_num_threads(1)

# $CNNZOO_DATA (the library's own default data folder) wins over the shared folder beside the checkout.
SHARED_DATASETS = os.environ.get("CNNZOO_DATA") or os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "datasets"
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
