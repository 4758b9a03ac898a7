"""The model contract of ``DESIGN.md``, written once for every classifier of the zoo.

A family subclasses :class:`Classifier`, builds its layers, fills ``feature_info`` and writes
only what its paper makes specific: ``forward_features`` (input -> last feature map) and
``forward_head`` (feature map -> logits). The contract methods that tools rely on --
``forward``, ``get_classifier``, ``reset_classifier``, ``num_classes``, ``in_chans`` -- come from
here, so transfer learning, visualisation and pruning see one interface.

Networks with auxiliary classifiers (GoogLeNet, Inception v3) override ``forward`` to return
their extra logits in ``train()`` mode only, and list the auxiliary heads' last layers in
``aux_head_paths`` so that ``reset_classifier`` swaps them together with the main head.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from cnnzoo.layers import new_linear_head

__all__ = ["Classifier", "FeatureInfo", "PooledClassifier"]

FeatureInfo = dict[str, Any]
"""One stage: ``{"module": dotted name, "num_chs": channels, "reduction": cumulative stride}``."""


class Classifier(nn.Module):
    """Base of every image classifier: images ``(N, in_chans, H, W)`` -> logits.

    ``head_path`` is the dotted name of the last layer that produces the logits (an
    ``nn.Linear``, or the 1x1 ``nn.Conv2d`` of the all-convolutional heads of NiN and SqueezeNet).
    """

    head_path: str = "classifier"
    aux_head_paths: tuple[str, ...] = ()

    def __init__(self, num_classes: int, in_chans: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.feature_info: list[FeatureInfo] = []

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map ``(N, C, H, W)`` before pooling and the classifier."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward_features")

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Logits from the output of :meth:`forward_features`."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward_head")

    def forward(self, x: torch.Tensor) -> Any:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.get_submodule(self.head_path)

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh head (and fresh auxiliary heads) for ``num_classes``, on the model's device
        and dtype; the rest of the network keeps its weights."""
        self.num_classes = num_classes
        for path in (self.head_path, *self.aux_head_paths):
            parent_path, _, name = path.rpartition(".")
            parent = self.get_submodule(parent_path) if parent_path else self
            setattr(parent, name, self.new_head(self.get_submodule(path), num_classes))

    def new_head(self, old: nn.Module, num_classes: int) -> nn.Module:
        """A replacement for the head ``old`` with ``num_classes`` outputs (same input width,
        bias, device and dtype); a family overrides it for a paper-specific initialisation."""
        return new_linear_head(old, num_classes)


class PooledClassifier(Classifier):
    """A classifier whose head is global average pooling -> flatten -> dropout -> linear: the
    head of GoogLeNet, the Inception networks and Xception. A subclass creates ``global_pool``,
    ``flatten``, ``dropout`` and ``classifier`` with :meth:`init_head`."""

    num_features: int

    def init_head(self, num_features: int, num_classes: int, drop_rate: float) -> None:
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.dropout = nn.Dropout(drop_rate)
        self.num_features = num_features
        self.classifier = nn.Linear(num_features, num_classes)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.flatten(self.global_pool(x))))
