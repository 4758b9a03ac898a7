"""Model registry in the style of timm: ``@register_model`` builders, ``create_model`` and
``list_models``, and a :class:`ModelCard` per variant.

A builder is a small function that only sets constructor arguments; its card records the
paper, the default input, and two kinds of reference figures:

* ``params`` / ``macs`` -- the exact counts of *our* implementation at the default input.
  The test-suite recomputes them for every registered model (on meta tensors), so a card can
  never drift from the code.
* ``figures`` -- what the paper (or the authors' release, torchvision, the course) states, as
  :class:`Reported` entries with their source, so a reader (and a test) can compare the
  implementation with the published figure; ``no_figures`` says why a card has none.
  ``reported`` is prose context about them, never a figure.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import torch.nn as nn

__all__ = [
    "ModelCard",
    "Paper",
    "Reported",
    "create_model",
    "get_model_card",
    "is_model",
    "list_families",
    "list_models",
    "register_model",
]


@dataclass(frozen=True)
class Paper:
    """A citation: who, what, when and where."""

    authors: str
    title: str
    year: int
    venue: str = ""
    url: str = ""

    def __str__(self) -> str:
        venue = f" {self.venue}." if self.venue else ""
        return f"{self.authors}. {self.title}.{venue} {self.year}."


@dataclass(frozen=True)
class Reported:
    """One published figure set for a variant: who states it, on what data, what it says.

    Figures are as published, at the source's own rounding: ``params=270_000`` for a table's
    "0.27M", ``macs=1_814_000_000`` for torchvision's "1.814 GFLOPS" (which counts
    multiply-accumulates, as do the papers' "FLOPs" and "mult-adds" unless ``note`` says
    otherwise). Accuracy is ``top1`` / ``top5`` when the source gives accuracy and
    ``top1_error`` / ``top5_error`` when it gives error rates (in percent); ``None`` where the
    source states nothing.
    """

    source: str
    dataset: str = "ImageNet"
    top1: float | None = None
    top5: float | None = None
    params: int | None = None
    macs: int | None = None
    note: str = ""
    top1_error: float | None = None
    top5_error: float | None = None

    def figures(self) -> str:
        """The figures alone, e.g. "0.27M params, 8.75% top-1 error"."""
        parts = [
            f"{published_count(self.params)} params" if self.params is not None else "",
            f"{published_count(self.macs)} MACs" if self.macs is not None else "",
            f"{self.top1}% top-1" if self.top1 is not None else "",
            f"{self.top5}% top-5" if self.top5 is not None else "",
            f"{self.top1_error}% top-1 error" if self.top1_error is not None else "",
            f"{self.top5_error}% top-5 error" if self.top5_error is not None else "",
        ]
        return ", ".join(p for p in parts if p)

    @property
    def accuracy(self) -> float | None:
        """Top-1 accuracy in percent: ``top1``, or 100 minus ``top1_error``."""
        if self.top1 is not None:
            return self.top1
        return None if self.top1_error is None else round(100 - self.top1_error, 6)

    def __str__(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return f"{self.source}, {self.dataset}: {self.figures()}{note}"


def published_count(n: int) -> str:
    """A published count as a source would round it: "0.27M", "1.814G", else "60,000".

    Counts of at least 100,000 that are whole thousandths of a million (or of a billion, from
    10^9 on) are scaled; anything else is written out with thousands separators.
    """
    scale, unit = (10**9, "G") if n >= 10**9 else (10**6, "M")
    if n >= 100_000 and n % (scale // 1000) == 0:
        return f"{n / scale:g}{unit}"
    return f"{n:,}"


@dataclass(frozen=True)
class ModelCard:
    """Everything a user should know about one registered variant before building it."""

    name: str
    family: str
    paper: Paper
    input_size: tuple[int, int, int]
    num_classes: int
    params: int | None = None
    """Exact parameter count of this implementation with the default head (tested)."""
    macs: int | None = None
    """Exact multiply-accumulates (conv + linear) at ``input_size``, batch 1 (tested)."""
    reported: str = ""
    """Context for the published figures that is not itself a figure (the figures are in
    ``figures``), e.g. "The paper does not state MACs."."""
    top1: float | None = None
    """Reported top-1 accuracy in percent on ``dataset`` (used by efficiency comparisons)."""
    dataset: str = "ImageNet"
    notes: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    figures: tuple[Reported, ...] = ()
    """The published figures as structured fields, one :class:`Reported` per source and data
    set (``reported`` keeps only the prose context that is not a figure)."""
    no_figures: str = ""
    """Why no source publishes figures for this variant (our own small-input variant, a course
    net, ...). Set exactly when ``figures`` is empty, so a card never just forgets them."""
    torchvision: str | None = None
    """The torchvision builder of this variant's twin: the same tensors in the same order and
    shapes, computing the same function (so its weights load one-to-one), or ``None``."""
    task: str = "classify"
    """What the model does: "classify" (images -> logits; the model contract applies), or
    "lm", "caption", "gan" for the sequence and generative families."""

    @property
    def year(self) -> int:
        return self.paper.year

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "paper": str(self.paper),
            "paper_url": self.paper.url,
            "year": self.year,
            "input_size": list(self.input_size),
            "num_classes": self.num_classes,
            "params": self.params,
            "macs": self.macs,
            "reported": self.reported,
            "top1": self.top1,
            "dataset": self.dataset,
            "notes": self.notes,
            "tags": list(self.tags),
            "figures": [asdict(f) for f in self.figures],
            "no_figures": self.no_figures,
            "torchvision": self.torchvision,
            "task": self.task,
        }


_M = TypeVar("_M", bound=Callable[..., nn.Module])
_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_CARDS: dict[str, ModelCard] = {}
# create_model(pretrained=...) calls this; the cnnzoo package installs it (the registry cannot
# import upwards). Likewise the models register themselves here when cnnzoo.models is imported,
# which the cnnzoo package does: `import cnnzoo.registry` alone imports nothing above it.
_PRETRAINED_LOADER: Callable[..., nn.Module] | None = None


def set_pretrained_loader(loader: Callable[..., nn.Module] | None) -> None:
    """Install ``loader(name, source, num_classes=, in_chans=, **kwargs)`` for ``pretrained``."""
    global _PRETRAINED_LOADER
    _PRETRAINED_LOADER = loader


def register_model(
    *,
    paper: Paper,
    input_size: tuple[int, int, int],
    num_classes: int = 1000,
    family: str | None = None,
    **card_fields: Any,
) -> Callable[[_M], _M]:
    """Register a builder under its function name, with its model card.

    ``family`` defaults to the builder's module name (``cnnzoo.models.vgg`` -> ``vgg``).
    """

    def decorator(builder: _M) -> _M:
        name = builder.__name__
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is registered twice")
        module_name = builder.__module__.rsplit(".", 1)[-1]
        card = ModelCard(
            name=name,
            family=family or module_name,
            paper=paper,
            input_size=tuple(input_size),  # type: ignore[arg-type]
            num_classes=num_classes,
            **card_fields,
        )
        builder.__doc__ = _docstring(card, builder.__doc__)
        _BUILDERS[name] = builder
        _CARDS[name] = card
        return builder

    return decorator


def _docstring(card: ModelCard, own: str | None) -> str:
    """What ``help(cnnzoo.models.NAME)`` shows: the card, after the builder's own docstring."""
    c, h, w = card.input_size
    lines = [own.strip(), ""] if own else []
    lines += [
        f"{card.name} ({card.family}): {card.paper}",
        "",
        f"Default input {c}x{h}x{w}, {card.num_classes} classes.",
    ]
    if card.params is not None and card.macs is not None:
        lines.append(f"Exact counts at that input: {card.params:,} parameters, {card.macs:,} MACs.")
    if card.top1 is not None:
        lines.append(f"Reported top-1: {card.top1}% on {card.dataset}.")
    if card.torchvision:
        lines.append(f"Same tensors and function as torchvision.models.{card.torchvision}.")
    lines += [f"Reported by {figure}." for figure in card.figures]
    if card.no_figures:
        lines.append(f"No published figures: {card.no_figures}.")
    for label, text in (("About the figures", card.reported), ("Notes", card.notes)):
        if text:
            lines += ["", f"{label}: {text}"]
    lines += [
        "",
        f'Build it with cnnzoo.create_model("{card.name}", num_classes=..., in_chans=...).',
    ]
    return "\n".join(lines)


def _unknown(name: str) -> KeyError:
    close = difflib.get_close_matches(name, list(_BUILDERS), n=5, cutoff=0.5)
    prefix = [n for n in _BUILDERS if n.startswith(name.rstrip("*")[:4])][:5] if not close else []
    hint = close or prefix
    suggestion = f" Did you mean: {', '.join(hint)}?" if hint else ""
    return KeyError(
        f"unknown model {name!r}.{suggestion} Run `cnnzoo list` (or cnnzoo.list_models()) "
        "to see every registered model."
    )


def is_model(name: str) -> bool:
    return name in _BUILDERS


def get_model_card(name: str) -> ModelCard:
    """The card of a registered model; ``KeyError`` with suggestions for unknown names."""
    if name not in _CARDS:
        raise _unknown(name)
    return _CARDS[name]


def list_models(pattern: str = "*", family: str | None = None) -> list[str]:
    """Registered model names matching a shell-style ``pattern``, sorted naturally."""
    names = [
        n
        for n, card in _CARDS.items()
        if fnmatch.fnmatch(n, pattern) and (family is None or card.family == family)
    ]
    return sorted(names, key=_natural_key)


def list_families() -> list[str]:
    return sorted({card.family for card in _CARDS.values()})


def _natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def create_model(
    name: str,
    pretrained: Any = False,
    num_classes: int | None = None,
    in_chans: int | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model, e.g. ``create_model("resnet50", num_classes=10)``.

    ``num_classes`` and ``in_chans`` default to the card's values; other keyword arguments go to
    the model's constructor. The returned module carries its registered card as ``model.card``
    (whose reference counts are for the default head and input). ``pretrained`` is a run
    folder, a checkpoint, a ``.pth`` state dict or ``"torchvision"`` (see cnnzoo.transfer).
    """
    card = get_model_card(name)
    if pretrained is not False and pretrained is not None:
        if _PRETRAINED_LOADER is None:
            raise ValueError(
                "pretrained weights need cnnzoo.transfer (`import cnnzoo` installs it)"
            )
        return _PRETRAINED_LOADER(
            name, pretrained, num_classes=num_classes, in_chans=in_chans, **kwargs
        )
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if in_chans is not None and (not isinstance(in_chans, int) or in_chans < 1):
        raise ValueError(f"in_chans must be a positive integer, got {in_chans!r}")
    kwargs["num_classes"] = card.num_classes if num_classes is None else num_classes
    kwargs["in_chans"] = card.input_size[0] if in_chans is None else in_chans
    model = _BUILDERS[name](**kwargs)
    # setattr: nn.Module.__setattr__ is typed for tensors and modules only.
    setattr(model, "card", card)  # noqa: B010
    return model
