"""Fixtures for cnnzoo.data tests: the real MNIST / Fashion-MNIST files and tiny generated ones."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The real files: $CNNZOO_DATA if set, else shared/datasets beside the checkout
# (../shared/datasets in CI, the same as tests/conftest.py's SHARED_DATASETS); a git worktree one
# level deeper (wt/<branch>) finds them one more level up.
SHARED_CANDIDATES = (
    *((Path(os.environ["CNNZOO_DATA"]),) if os.environ.get("CNNZOO_DATA") else ()),
    REPO.parent / "shared" / "datasets",
    REPO.parent.parent / "shared" / "datasets",
)


def shared_datasets() -> Path | None:
    for candidate in SHARED_CANDIDATES:
        if (candidate / "MNIST" / "raw").is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def shared_root() -> Path:
    root = shared_datasets()
    if root is None:
        pytest.skip(
            "the real MNIST/Fashion-MNIST files are not present (looked for "
            + " and ".join(str(c) for c in SHARED_CANDIDATES)
            + "); see shared/datasets/README.md"
        )
    return root
