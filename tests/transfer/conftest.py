from pathlib import Path

import pytest
import torch

from cnnzoo import create_model
from cnnzoo.data import DataBundle, load_data
from cnnzoo.train import save_checkpoint


@pytest.fixture(scope="session")
def digits_small() -> DataBundle:
    """Stratified 100-image subsets (each split) of the embedded digits at 32x32."""
    return load_data("digits", limit=100)


def make_checkpoint(path: Path, name: str, num_classes: int, in_chans: int = 1) -> Path:
    """A cnnzoo checkpoint of a randomly initialised model, 'trained on' 32x32 digits."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=num_classes, in_chans=in_chans)
    meta = {
        "model": name,
        "model_kwargs": {"num_classes": num_classes, "in_chans": in_chans},
        "epoch": 3,
        "data": {
            "name": "digits",
            "input_size": [in_chans, 32, 32],
            "mean": [0.3] * in_chans,
            "std": [0.4] * in_chans,
            "classes": [str(i) for i in range(num_classes)],
        },
    }
    return save_checkpoint(path, model, meta)


@pytest.fixture(scope="session")
def resnet20_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """resnet20 (1 channel, 7 classes) weights as a cnnzoo checkpoint."""
    return make_checkpoint(tmp_path_factory.mktemp("src") / "best.safetensors", "resnet20", 7)
