import os

import pytest
import torch

# Two cores: keep each test process to one intra-op thread so pytest -n 2 does not oversubscribe.
torch.set_num_threads(1)

SHARED_DATASETS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
