from pathlib import Path

import pytest
from transfer_helpers import make_checkpoint

from cnnzoo.data import DataBundle, load_data


@pytest.fixture(scope="session")
def digits_small() -> DataBundle:
    """Stratified 100-image subsets (each split) of the embedded digits at 32x32."""
    return load_data("digits", limit=100)


@pytest.fixture(scope="session")
def resnet20_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """resnet20 (1 channel, 7 classes) weights as a cnnzoo checkpoint."""
    return make_checkpoint(
        tmp_path_factory.mktemp("run") / "checkpoints" / "best.safetensors", "resnet20", 7
    )
