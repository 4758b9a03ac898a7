"""cnnzoo: the landmark convolutional networks, built as their papers describe."""

# Registers create_model's loader for pretrained=... (the registry cannot import upwards).
import cnnzoo.transfer  # noqa: F401
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
