"""The prune, quantize and export workflows behind the CLI: each starts from a trained run,
measures accuracy, size, MACs and latency before and after, and writes a run folder.

See :mod:`cnnzoo.compress.pruning`, :mod:`~cnnzoo.compress.structured`,
:mod:`~cnnzoo.compress.quantize` and :mod:`~cnnzoo.compress.export` for the methods and papers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from cnnzoo.analysis import summary
from cnnzoo.analysis.tables import markdown_table, text_table
from cnnzoo.compress.common import (
    Source,
    alternating,
    evaluate_on,
    latency_ms,
    module_structure,
    side_by_side,
    write_compressed_run,
)
from cnnzoo.compress.export import ExportCheck, export_onnx, verify_onnx
from cnnzoo.compress.pipeline import finetune
from cnnzoo.compress.pruning import (
    layer_sparsity,
    magnitude_prune,
    make_permanent,
    plot_sensitivity,
    sensitivity,
    sparsity_schedule,
)
from cnnzoo.compress.quantize import (
    compile_int8,
    fx_weight_bytes,
    int8_weight_bytes,
    quantize_fx,
    quantize_pt2e,
    quantized_state,
    rebuild_quantized,
)
from cnnzoo.compress.separable import SeparableReport, to_depthwise_separable
from cnnzoo.compress.structured import channel_prune
from cnnzoo.data import normalize
from cnnzoo.registry import create_model
from cnnzoo.train import (
    FitResult,
    Recipe,
    RunFolder,
    build_model,
    fit,
    load_checkpoint,
    load_data_for,
    load_weights,
    read_metadata,
    save_checkpoint,
)

__all__ = [
    "MeasuredModel",
    "StageTable",
    "export_checked",
    "finetune_separable",
    "load_model",
    "prune_model",
    "quantize_model",
]

QUANTIZED_FILE = "quantized.safetensors"


@dataclass
class MeasuredModel:
    """One row: a model variant with its accuracy, size, compute and speed."""

    name: str
    top1: float
    params: int
    nonzero: int
    bytes: int
    macs: int | None
    latency: dict[int, float] = field(default_factory=dict)


@dataclass
class StageTable:
    title: str
    rows: list[MeasuredModel]
    notes: list[str] = field(default_factory=list)
    run_dir: Path | None = None

    def table(self) -> tuple[list[str], list[list[str]]]:
        batches = sorted({b for r in self.rows for b in r.latency})
        header = [
            "Stage",
            "Test top-1",
            "Params",
            "Non-zero",
            "Size",
            "MACs",
            *(f"ms @ batch {b}" for b in batches),
            "Speed-up",
        ]
        base = self.rows[0].latency.get(batches[-1]) if batches else None
        body = []
        for r in self.rows:
            last = r.latency.get(batches[-1]) if batches else None
            body.append(
                [
                    r.name,
                    f"{r.top1:.2f}%",
                    f"{r.params:,}",
                    f"{r.nonzero:,}",
                    f"{r.bytes / 1e3:,.1f} KB",
                    "-" if r.macs is None else f"{r.macs:,}",
                    *(f"{r.latency[b]:.2f}" if b in r.latency else "-" for b in batches),
                    f"{base / last:.2f}x" if base and last else "-",
                ]
            )
        return header, body

    def to_text(self) -> str:
        header, rows = self.table()
        return f"{self.title}\n" + text_table(header, rows, 1, self.notes)

    def to_markdown(self) -> str:
        header, rows = self.table()
        return f"**{self.title}**\n\n" + markdown_table(header, rows, self.notes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": [r.__dict__ for r in self.rows],
            "notes": self.notes,
            "run_dir": str(self.run_dir) if self.run_dir else None,
        }


def _measure(
    name: str,
    model: nn.Module,
    source: Source,
    batches: Iterable[int],
    forward: Callable[[torch.Tensor], Any] | None = None,
    size: int | None = None,
) -> MeasuredModel:
    rows = layer_sparsity(model)
    params = sum(p.numel() for p in model.parameters())
    evaluated = model if forward is None else _Wrapped(forward, model)
    return MeasuredModel(
        name=name,
        top1=evaluate_on(evaluated, source, "test").top1,
        params=params,
        nonzero=params - sum(r.weights - r.nonzero for r in rows),
        bytes=size if size is not None else 4 * params,
        macs=summary(model, source.data.input_size).macs,
        latency={
            b: latency_ms(model if forward is None else forward, source.data.input_size, b)
            for b in batches
        },
    )


class _Wrapped(nn.Module):
    """A compiled callable as a module, so the engine's evaluate can run it."""

    def __init__(self, forward: Callable[[torch.Tensor], Any], model: nn.Module) -> None:
        super().__init__()
        self._forward = forward
        self.num_classes = getattr(model, "num_classes", None)

    def forward(self, x: torch.Tensor) -> Any:
        return self._forward(x)


# -- prune -----------------------------------------------------------------------------------


def prune_model(
    source: Source,
    *,
    sparsity: float | Mapping[str, float],
    structured: bool = False,
    scope: str = "layer",
    steps: int = 1,
    schedule: str = "cubic",
    epochs: int = 0,
    lr: float = 1e-3,
    importance: str = "l2",
    exclude: Iterable[str] = (),
    batches: Iterable[int] = (1, 64),
    sensitivity_plot: bool = False,
    run_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> StageTable:
    """Prune ``source``'s model (unstructured magnitude or structured channels), optionally in
    ``steps`` with ``epochs`` of fine-tuning after each, and measure every stage."""
    say = log or (lambda text: None)
    batches = tuple(batches)
    model = source.model
    run = Path(run_dir) if run_dir is not None else None
    rows = [_measure("reference", model, source, batches)]
    notes = []
    if sensitivity_plot and run is not None and not structured:
        notes.append(_sensitivity_plot(source, run, exclude))
        say(notes[-1])
    retrain = source.recipe.override(
        epochs=max(1, epochs),
        lr=lr,
        optimizer="adam",
        schedule="cosine",
        fused=False,
        early_stopping=0,
        warmup=0.0,
    )
    reference = create_model(source.name, **(source.meta.get("model_kwargs") or {}))
    original = copy.deepcopy(model).eval() if structured else None
    prune_step = _pruner(source, structured, scope, importance, exclude)
    # Masked layers multiply by their mask on every call: time them once folded, below.
    timed = batches if structured else ()
    targets = _step_targets(sparsity, structured, steps, schedule)
    for step, target in enumerate(targets, start=1):
        prune_step(target)
        rows.append(_measure(f"pruned (step {step}/{steps})", model, source, timed))
        say(f"pruned step {step}: test top-1 {rows[-1].top1:.2f}%")
        if epochs > 0 and run is not None:
            finetune(model, source, retrain, run / "stages" / f"prune-{step}", log)
            rows.append(_measure(f"fine-tuned (step {step})", model, source, timed))
            say(f"fine-tuned step {step}: test top-1 {rows[-1].top1:.2f}%")
    make_permanent(model)
    if not structured:
        rows.append(_measure("masks folded (saved model)", model, source, batches))
    for batch in batches if original is not None else ():
        # The stage rows are timed minutes apart; on a shared machine only an alternating
        # measurement of both models compares like with like.
        timing = side_by_side(original, model.eval(), source.data.input_size, batch)
        notes.append(timing.to_text())
        say(notes[-1])
    kind = "structured channel" if structured else f"unstructured {scope}-wise magnitude"
    table = StageTable(f"{kind} pruning of {source.name}", rows, notes, run)
    notes.append(
        "Size: float32 bytes of all parameters (zeros included: unstructured sparsity needs a "
        "sparse format to save space, see `cnnzoo compress`). Latency: median forward pass on "
        "this (shared) CPU; speed-up at the largest batch against the reference."
    )
    if run is not None:
        structure = module_structure(model, reference) if structured else None
        settings = {"method": kind, "sparsity": sparsity, "steps": steps, "epochs": epochs}
        _save_pruned(run, model, source, table, settings, structure)
    return table


def _sensitivity_plot(source: Source, run: Path, exclude: Iterable[str]) -> str:
    """Per-layer accuracy-vs-sparsity curves on validation, plotted into the run folder."""
    model = source.model
    curves = sensitivity(model, lambda m: evaluate_on(m, source, "val").top1, exclude=exclude)
    path = plot_sensitivity(curves, run / "sensitivity.png", f"{source.name} sensitivity")
    return f"sensitivity plot: {path}"


def _step_targets(
    sparsity: float | Mapping[str, float], structured: bool, steps: int, schedule: str
) -> list[Any]:
    """The overall sparsity (or channel ratio) to reach after each step."""
    if isinstance(sparsity, Mapping):
        if structured:
            raise ValueError("structured pruning takes one channel ratio, not per-layer values")
        return [sparsity] * steps
    return sparsity_schedule(sparsity, steps, schedule)


def _pruner(
    source: Source, structured: bool, scope: str, importance: str, exclude: Iterable[str]
) -> Callable[[Any], None]:
    """One pruning step of ``source.model`` towards an overall target."""
    model = source.model
    if not structured:
        return lambda target: magnitude_prune(model, target, scope, exclude)
    example = torch.zeros(1, *source.data.input_size)
    done = [0.0]

    def channels(target: float) -> None:
        # Each step removes a share of the channels that are left: reach `target` overall.
        channel_prune(model, example, 1 - (1 - target) / (1 - done[0]), importance, exclude=exclude)
        done[0] = target

    return channels


def _save_pruned(
    run: Path,
    model: nn.Module,
    source: Source,
    table: StageTable,
    settings: dict[str, Any],
    structure: dict[str, dict[str, int]] | None,
) -> None:
    write_compressed_run(
        run,
        model,
        source,
        settings,
        f"# {table.title}\n\nsource: {source.path}\n\n{table.to_markdown()}",
        metrics={"test_top1": table.rows[-1].top1},
        structure=structure,
    )


# -- quantize --------------------------------------------------------------------------------


def _calibration(source: Source, images: int) -> torch.Tensor:
    data_meta = source.meta["data"]
    train = source.data.train
    count = min(images, len(train))
    index = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:count]
    return normalize(train.images[index], data_meta["mean"], data_meta["std"])


def quantize_model(
    source: Source,
    *,
    method: str = "pt2e",
    calibration_images: int = 512,
    batches: Iterable[int] = (1, 64),
    compare_compiled: bool = True,
    run_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> StageTable:
    """int8 post-training quantization of ``source``'s model, measured against float32.

    ``method``: ``pt2e`` (saved with ``run_dir``), ``fx`` (measured only) or ``both`` (one
    table, every row measured in this process, so the latency ratios compare like with like).
    """
    say = log or (lambda text: None)
    if method not in ("pt2e", "fx", "both"):
        raise ValueError(f"method must be 'pt2e', 'fx' or 'both', got {method!r}")
    batches = tuple(batches)
    model = source.model.eval()
    rows = [_measure("float32 (eager)", model, source, batches)]
    forwards: dict[str, Callable[[torch.Tensor], Any]] = {"float32 eager": model}
    calibration = _calibration(source, calibration_images)
    if compare_compiled:
        compiled = torch.compile(copy.deepcopy(model), dynamic=False)
        rows.append(_measure("float32 (torch.compile)", model, source, batches, compiled))
        forwards["float32 compiled"] = compiled
    converted = None
    if method in ("pt2e", "both"):
        say(f"calibrating on {len(calibration)} training images (pt2e)")
        converted = quantize_pt2e(model, calibration)
        say("compiling the int8 graph (inductor, freezing)")
        forward, size = compile_int8(converted), int8_weight_bytes(converted)
        rows.append(
            _measure("int8 pt2e (X86Inductor, compiled)", model, source, batches, forward, size)
        )
        forwards["int8 pt2e"] = forward
    if method in ("fx", "both"):
        say(f"calibrating on {len(calibration)} training images (fx)")
        # prepare_fx fuses modules of the graph it traces: give it a copy of the float model.
        fx = quantize_fx(copy.deepcopy(model), calibration)
        rows.append(
            _measure("int8 fx (x86, eager)", model, source, batches, fx, fx_weight_bytes(fx))
        )
        forwards["int8 fx"] = fx
    notes = [
        f"Calibration: {len(calibration)} training images (seed 0). Size: bytes of the tensors "
        "the model reads (int8 weights + scales + float biases for int8). Latency: median "
        "forward pass on this shared CPU; speed-up against float32 eager at the largest batch."
    ]
    # The rows above are timed minutes apart; on a shared machine only an alternating
    # measurement compares like with like (it once turned a "slower at batch 1" into 1.4x).
    for batch in batches:
        notes.append(_alternating_note(forwards, source.data.input_size, batch))
        say(notes[-1])
    table = StageTable(f"int8 post-training quantization of {source.name}", rows, notes)
    if run_dir is not None and converted is not None:
        table.run_dir = _save_int8(run_dir, model, source, table, converted, len(calibration))
    elif run_dir is not None:
        notes.append("The deprecated fx path is measured only; save with --method pt2e.")
    return table


def _alternating_note(
    forwards: Mapping[str, Callable[[torch.Tensor], Any]], input_size: tuple[int, ...], batch: int
) -> str:
    rounds = 15
    times = alternating(forwards, input_size, batch, rounds)
    base_wall, base_cpu = times["float32 eager"]
    parts = [
        f"{name} {wall:.2f} ms wall / {cpu:.2f} ms CPU"
        + ("" if name == "float32 eager" else f" ({base_wall / wall:.2f}x, {base_cpu / cpu:.2f}x)")
        for name, (wall, cpu) in times.items()
    ]
    return (
        f"In alternation at batch {batch} ({rounds} rounds, one process; speed-up vs float32 "
        f"eager wall, CPU): " + "; ".join(parts) + "."
    )


def _save_int8(
    run_dir: str | Path,
    model: nn.Module,
    source: Source,
    table: StageTable,
    converted: nn.Module,
    calibration_images: int,
) -> Path:
    pt2e = next(r for r in table.rows if r.name.startswith("int8 pt2e"))
    run = write_compressed_run(
        run_dir,
        model,
        source,
        {
            "method": "int8-pt2e-x86",
            "quantized": QUANTIZED_FILE,
            "calibration_images": calibration_images,
        },
        f"# {table.title}\n\nsource: {source.path}\n\n{table.to_markdown()}",
        metrics={"test_top1": pt2e.top1},
    )
    save_file(quantized_state(converted), str(run.path / QUANTIZED_FILE))
    return run.path


def load_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Any cnnzoo checkpoint or run folder, including int8 ones from :func:`quantize_model`
    (rebuilt from the float model and the saved quantization state; no code is loaded)."""
    path = Path(path)
    file = path / "checkpoints" / "best.safetensors" if path.is_dir() else path
    meta = read_metadata(file)
    model, meta = load_checkpoint(file)
    quantized = (meta.get("compression") or {}).get("quantized")
    if not quantized:
        return model, meta
    state = load_file(str(file.parent.parent / quantized))
    example = torch.zeros(2, *meta["data"]["input_size"])
    converted = rebuild_quantized(model, state, example)
    return _Wrapped(compile_int8(converted), model), meta


# -- export ----------------------------------------------------------------------------------


def export_checked(
    source: Source,
    path: str | Path,
    dynamic_batch: bool = False,
    images: int = 256,
) -> ExportCheck:
    """Export ``source``'s model to ONNX and check it in onnxruntime on real test images."""
    if (source.meta.get("compression") or {}).get("quantized"):
        raise ValueError(
            "ONNX export of the int8 model is not supported; export its float source "
            f"({source.meta.get('source')}) and quantize in onnxruntime instead"
        )
    data_meta = source.meta["data"]
    test = source.data.test
    x = normalize(test.images[:images], data_meta["mean"], data_meta["std"])
    model = source.model.eval()
    export_onnx(model, x, path, dynamic_batch)
    return verify_onnx(model, path, x, dynamic_batch)


# -- separable + retraining ------------------------------------------------------------------


def finetune_separable(
    model_name: str,
    *,
    data: str = "digits",
    data_dir: str | None = None,
    epochs: int = 5,
    limit: int | None = None,
    kernel_sizes: Iterable[int] = (3,),
    norm_act: bool = False,
    exclude: Iterable[str] = (),
    run_dir: str | Path | None = None,
    quiet: bool = True,
) -> tuple[SeparableReport, FitResult]:
    """Convert ``model_name``'s convolutions to depthwise-separable ones and train the result
    (Adam 1e-3, cosine) on ``data``: the savings beside the accuracy they cost."""
    recipe = Recipe(
        name="separable-finetune",
        data=data,
        epochs=epochs,
        optimizer="adam",
        lr=1e-3,
        schedule="cosine",
        fused=False,
        limit=limit,
    )
    bundle = load_data_for(model_name, recipe, data_dir)
    model = build_model(model_name, bundle, recipe)
    converted, report = to_depthwise_separable(
        model, bundle.input_size, kernel_sizes, norm_act, exclude, inplace=True
    )
    result = fit(converted, bundle, recipe, run_dir, model_name=model_name, quiet=quiet)
    record = {"layers": [layer.name for layer in report.layers], "norm_act": norm_act}
    _record_separable(converted, RunFolder(result.run_dir), record)
    return report, result


def _record_separable(model: nn.Module, run: RunFolder, record: dict[str, Any]) -> None:
    """Add the conversion to the run's checkpoints, so ``load_checkpoint`` rebuilds the
    converted architecture from the registered model (no pickled modules)."""
    for path in (run.best, run.last):
        if not path.is_file():
            continue
        weights = copy.deepcopy(model)
        load_weights(weights, path)
        save_checkpoint(path, weights, {**read_metadata(path), "separable": record})
