"""cnnzoo: the landmark convolutional networks, built as their papers describe."""

from __future__ import annotations

from typing import Any

import torch.nn as nn

# Importing the zoo registers every family with the registry (each model module registers its
# builders on import), so create_model and list_models find them all.
import cnnzoo.models  # noqa: F401
from cnnzoo.registry import (
    ModelCard,
    Paper,
    create_model,
    get_model_card,
    list_families,
    list_models,
    register_model,
    set_pretrained_loader,
)


def _load_pretrained(name: str, source: Any, **kwargs: Any) -> nn.Module:
    """create_model(pretrained=...): cnnzoo.transfer.load_pretrained, imported on first use."""
    # start-up: cnnzoo.transfer imports the training engine and the analysis package (torch's
    # flop counter loads triton), about 0.3 s CPU of `import cnnzoo` (benchmarks/startup.py).
    from cnnzoo.transfer import load_pretrained

    return load_pretrained(name, source, **kwargs)


set_pretrained_loader(_load_pretrained)

__version__ = "0.1.0"

__all__ = [
    "ModelCard",
    "Paper",
    "__version__",
    "create_model",
    "get_model_card",
    "list_families",
    "list_models",
    "register_model",
]
