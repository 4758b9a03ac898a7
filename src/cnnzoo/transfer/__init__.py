"""Transfer learning: pretrained weights (ours and torchvision's), freezing by stage,
fine-tuning runs, embeddings and L2 nearest neighbours in feature space.

>>> import cnnzoo
>>> from cnnzoo.transfer import freeze, pretrained_model, data_for_weights, finetune
>>> model = pretrained_model("runs/fashion_cnn-mnist-20261202-040000")   # a run folder
>>> trainable = freeze(model, "head")                                     # names left to train
>>> cnnzoo.create_model("resnet18", pretrained="torchvision", num_classes=10)

See docs/transfer.md for the policies, the twins, and the experiment that tests the lectures'
rule (small data: freeze most; large data: tune all).
"""

from cnnzoo.transfer.features import (
    FeatureSet,
    extract_features,
    knn_predict,
    load_features,
    nearest_neighbors,
    save_features,
)
from cnnzoo.transfer.finetune import (
    data_for_weights,
    finetune,
    normalised_as_weights,
    pretrained_model,
    source_model_name,
)
from cnnzoo.transfer.freeze import (
    finetune_param_groups,
    freeze,
    head_parameter_names,
    parse_policy,
    stage_names,
    unfreeze,
)
from cnnzoo.transfer.pretrained import adapt_in_chans, adapt_to, load_pretrained

__all__ = [
    "FeatureSet",
    "adapt_in_chans",
    "adapt_to",
    "data_for_weights",
    "extract_features",
    "finetune",
    "finetune_param_groups",
    "freeze",
    "head_parameter_names",
    "knn_predict",
    "load_features",
    "load_pretrained",
    "nearest_neighbors",
    "normalised_as_weights",
    "parse_policy",
    "pretrained_model",
    "save_features",
    "source_model_name",
    "stage_names",
    "unfreeze",
]
