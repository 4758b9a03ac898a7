"""The Deep Compression pipeline: prune -> retrain -> share weights -> fine-tune -> Huffman.

S. Han, H. Mao, W. J. Dally. Deep Compression: Compressing Deep Neural Networks with Pruning,
Trained Quantization and Huffman Coding. ICLR 2016 (Fig. 1 and Tables 1-3).

Every retraining is an ordinary run of :func:`cnnzoo.train.fit` (its own folder under
``stages/``, best epoch picked on validation); the test split is evaluated once per stage for the
report only. The result is a plain checkpoint of the registered architecture whose weights hold
the shared values (loadable by ``cnnzoo evaluate``/``predict``/``export``), plus the storage
table as the paper reports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch.nn as nn

from cnnzoo.analysis import summary
from cnnzoo.analysis.tables import markdown_table, text_table
from cnnzoo.compress.common import Source, evaluate_on, write_compressed_run
from cnnzoo.compress.deep import (
    StorageReport,
    check_bits,
    share_weights,
    storage_report,
    unshare_weights,
)
from cnnzoo.compress.pruning import (
    check_sparsity,
    layer_sparsity,
    magnitude_prune,
    make_permanent,
    prunable_layers,
    resolve_per_layer,
    sparsity_schedule,
)
from cnnzoo.train import Recipe, fit

__all__ = ["DeepCompressionResult", "Stage", "deep_compress", "finetune", "retrain_recipe"]


@dataclass
class Stage:
    """One row of the pipeline's report."""

    name: str
    top1: float
    val_top1: float
    nonzero: int
    weights: int
    bits: int
    dense_bits: int

    @property
    def ratio(self) -> float:
        return self.dense_bits / self.bits


@dataclass
class DeepCompressionResult:
    stages: list[Stage]
    storage: StorageReport
    macs: int
    run_dir: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> tuple[list[str], list[list[str]]]:
        header = ["Stage", "Test top-1", "Error", "Val top-1", "Non-zero weights", "Size", "Ratio"]
        rows = [
            [
                s.name,
                f"{s.top1:.2f}%",
                f"{100 - s.top1:.2f}%",
                f"{s.val_top1:.2f}%",
                f"{s.nonzero:,} ({100 * s.nonzero / s.weights:.1f}%)",
                f"{s.bits / 8000:,.2f} KB",
                f"{s.ratio:.1f}x",
            ]
            for s in self.stages
        ]
        return header, rows

    def notes(self) -> list[str]:
        return [
            f"MACs {self.macs:,} per image at every stage: unstructured zeros do not shrink "
            "dense compute (use `cnnzoo prune --structured` for that).",
            "Size: dense float32 for the reference, pruned float32 + relative indices after "
            "pruning, cluster indices + codebooks after sharing, Huffman-coded streams last "
            "(biases float32 throughout); the per-layer table below has the details.",
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "macs": self.macs,
            "stages": [{**s.__dict__, "ratio": s.ratio} for s in self.stages],
            "storage": self.storage.to_dict(),
            "run_dir": str(self.run_dir) if self.run_dir else None,
        }

    def to_text(self) -> str:
        header, rows = self.rows()
        return text_table(header, rows, 1, self.notes()) + "\n" + self.storage.to_text()

    def to_markdown(self) -> str:
        header, rows = self.rows()
        return markdown_table(header, rows, self.notes()) + "\n" + self.storage.to_markdown()


def finetune(
    model: nn.Module,
    source: Source,
    recipe: Recipe,
    run_dir: Path,
    log: Callable[[str], None] | None = None,
) -> float:
    """Retrain ``model`` in place with ``recipe`` (best epoch on validation); its val top-1."""
    result = fit(
        model,
        source.data,
        recipe,
        run_dir,
        model_name=source.name,
        model_kwargs=source.meta.get("model_kwargs"),
        evaluate_test=False,
        log=log,
        quiet=log is None,
    )
    return float(result.best.get("val_acc", float("nan")))


def _stage(name: str, model: nn.Module, source: Source, bits: int, dense: int) -> Stage:
    rows = layer_sparsity(model)
    return Stage(
        name=name,
        top1=evaluate_on(model, source, "test").top1,
        val_top1=evaluate_on(model, source, "val").top1,
        nonzero=sum(r.nonzero for r in rows),
        weights=sum(r.weights for r in rows),
        bits=bits,
        dense_bits=dense,
    )


def deep_compress(
    source: Source,
    *,
    sparsity: float | Mapping[str, float],
    bits: int | Mapping[str, int] | None = 5,
    index_bits: int | Mapping[str, int] = 5,
    prune_steps: int = 1,
    schedule: str = "cubic",
    prune_epochs: int = 4,
    share_epochs: int = 2,
    lr: float = 1e-4,
    share_lr: float = 1e-4,
    weight_decay: float = 0.0,
    batch_size: int | None = None,
    huffman: bool = True,
    run_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> DeepCompressionResult:
    """Run the whole pipeline on ``source``'s model and (with ``run_dir``) save the result.

    ``sparsity`` is the final share of zero weights, one number or ``{layer pattern: share}``
    (the paper prunes LeNet-300-100's layers to 8/9/26% density); ``prune_steps`` > 1 reaches it
    through ``schedule`` with ``prune_epochs`` of retraining after every step. ``bits`` (None:
    no sharing) and ``index_bits`` likewise per layer. Retraining uses the source's recipe with
    Adam at ``lr`` / ``share_lr`` and a cosine schedule; ``weight_decay`` (L2, which Han et al.
    2015 found better than L1 when retraining) only while retraining pruned weights.
    """
    settings = {
        "method": "deep_compression",
        "sparsity": sparsity,
        "bits": bits,
        "index_bits": index_bits,
        "prune_steps": prune_steps,
        "schedule": schedule,
        "prune_epochs": prune_epochs,
        "share_epochs": share_epochs,
        "lr": lr,
        "share_lr": share_lr,
        "weight_decay": weight_decay,
        "huffman": huffman,
    }
    _check_settings(source.model, sparsity, bits, index_bits)  # bad input fails before any work
    steps = _Steps(source, index_bits, Path(run_dir) if run_dir is not None else None, log)
    # A recipe needs >= 1 epoch even when prune_epochs == 0 (then it only carries the settings
    # the centroid fine-tuning inherits).
    retrain = retrain_recipe(source.recipe, lr, max(1, prune_epochs), weight_decay, batch_size)
    for step, target in enumerate(_prune_targets(sparsity, prune_steps, schedule), start=1):
        steps.prune(step, prune_steps, target, retrain if prune_epochs > 0 else None)
    make_permanent(source.model)
    if bits is not None:
        tune = retrain.override(lr=share_lr, epochs=share_epochs, weight_decay=0.0)
        steps.share(bits, tune if share_epochs > 0 else None)
    report = storage_report(source.model, index_bits)
    if huffman and bits is not None:
        steps.huffman(report.total("huffman"))
    unshare_weights(source.model)
    result = DeepCompressionResult(
        stages=steps.stages,
        storage=report,
        macs=summary(source.model, source.data.input_size).macs,
        run_dir=steps.run,
        settings=settings,
    )
    if steps.run is not None:
        _save(result, source, report)
    return result


def retrain_recipe(
    recipe: Recipe, lr: float, epochs: int, weight_decay: float = 0.0, batch_size: int | None = None
) -> Recipe:
    """``recipe`` turned into a retraining one: Adam at ``lr``, cosine, no warm-up or early stop."""
    return recipe.override(
        optimizer="adam",
        lr=lr,
        weight_decay=weight_decay,
        schedule="cosine",
        epochs=epochs,
        fused=False,
        batch_size=batch_size,
        early_stopping=0,
        warmup=0.0,
    )


def _check_settings(
    model: nn.Module,
    sparsity: float | Mapping[str, float],
    bits: int | Mapping[str, int] | None,
    index_bits: int | Mapping[str, int],
) -> None:
    names = [name for name, _ in prunable_layers(model)]
    resolve_per_layer(names, sparsity, check_sparsity)
    if bits is not None:
        resolve_per_layer(names, bits, check_bits)  # type: ignore[arg-type]
    resolve_per_layer(names, index_bits, check_bits)  # type: ignore[arg-type]


def _prune_targets(sparsity: float | Mapping[str, float], steps: int, schedule: str) -> list[Any]:
    """The sparsity after each of ``steps`` pruning steps (per layer pattern for a mapping)."""
    if not isinstance(sparsity, Mapping):
        return sparsity_schedule(sparsity, steps, schedule)
    if schedule == "cubic":
        return [
            {k: v * (1.0 - (1.0 - i / steps) ** 3) for k, v in sparsity.items()}
            for i in range(1, steps + 1)
        ]
    return [{k: v * i / steps for k, v in sparsity.items()} for i in range(1, steps + 1)]


class _Steps:
    """The pipeline's stages on one model: each step changes it and appends its report row."""

    def __init__(
        self,
        source: Source,
        index_bits: int | Mapping[str, int],
        run: Path | None,
        log: Callable[[str], None] | None,
    ) -> None:
        self.source, self.index_bits, self.run, self.log = source, index_bits, run, log
        self.dense = storage_report(source.model).total("dense")
        self.stages: list[Stage] = []
        self._row("reference", "reference", self.dense)

    def _row(self, name: str, said: str, bits: int) -> None:
        self.stages.append(_stage(name, self.source.model, self.source, bits, self.dense))
        if self.log is not None:
            self.log(f"{said}: test top-1 {self.stages[-1].top1:.2f}%")

    def _retrain(self, recipe: Recipe | None, folder: str, name: str, said: str, bits: int) -> None:
        if recipe is not None and self.run is not None:
            finetune(self.source.model, self.source, recipe, self.run / "stages" / folder, self.log)
            self._row(name, said, bits)

    def prune(self, step: int, steps: int, target: Any, retrain: Recipe | None) -> None:
        magnitude_prune(self.source.model, target)
        sparse = storage_report(self.source.model, self.index_bits).total("sparse")
        self._row(f"pruned (step {step}/{steps})", f"pruned step {step}", sparse)
        name = f"retrained (step {step})"
        self._retrain(retrain, f"prune-{step}", name, f"retrained step {step}", sparse)

    def share(self, bits: int | Mapping[str, int], tune: Recipe | None) -> None:
        share_weights(self.source.model, bits)
        shared = storage_report(self.source.model, self.index_bits).total("shared")
        self._row("weights shared", "weights shared", shared)
        name = "centroids fine-tuned"
        self._retrain(tune, "share", name, name, shared)

    def huffman(self, bits: int) -> None:
        last = self.stages[-1]
        self.stages.append(
            Stage(
                "Huffman-coded",
                last.top1,
                last.val_top1,
                last.nonzero,
                last.weights,
                bits,
                self.dense,
            )
        )


def _save(result: DeepCompressionResult, source: Source, report: StorageReport) -> None:
    last = result.stages[-1]
    assert result.run_dir is not None
    write_compressed_run(
        result.run_dir,
        source.model,
        source,
        {**result.settings, "storage": report.to_dict()},
        f"# Deep Compression of {source.name}\n\nsource: {source.path}\n\n" + result.to_markdown(),
        metrics={"test_top1": last.top1, "val_acc": last.val_top1, "ratio": last.ratio},
    )
