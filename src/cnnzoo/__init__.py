"""cnnzoo: the landmark convolutional networks, built as their papers describe."""

from cnnzoo.registry import (
    ModelCard,
    Paper,
    create_model,
    get_model_card,
    list_families,
    list_models,
    register_model,
)

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
