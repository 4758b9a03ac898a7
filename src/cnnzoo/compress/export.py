"""ONNX export through ``torch.onnx.export``'s dynamo exporter, checked in onnxruntime.

ONNX (Open Neural Network Exchange), https://onnx.ai; onnxruntime, https://onnxruntime.ai.

The exporter (``dynamo=True``, needs ``onnxscript``) traces the inference graph (``eval()`` mode:
auxiliary heads such as GoogLeNet's are not part of it) and writes one self-contained file
(``external_data=False``). :func:`verify_onnx` runs the file in onnxruntime on real images and
compares the logits with PyTorch's; a difference above the tolerance (1e-4) is an error.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

try:
    import onnxruntime as ort
except ImportError:  # optional: require_onnxruntime() says how to install it
    ort = None

__all__ = ["ExportCheck", "export_onnx", "require_onnxruntime", "verify_onnx"]

TOLERANCE = 1e-4


def require_onnxruntime() -> None:
    """One line saying how to install onnxruntime/onnxscript if they are missing."""
    for module, package in (("onnxscript", "onnxscript"), ("onnxruntime", "onnxruntime")):
        if importlib.util.find_spec(module) is None or (module == "onnxruntime" and ort is None):
            raise ValueError(
                f"ONNX export needs {package}, which is not installed: pip install {package}"
            )


@dataclass
class ExportCheck:
    path: Path
    images: int
    max_abs_diff: float
    top1_agreement: float
    dynamic_batch: bool
    bytes: int

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= TOLERANCE

    def to_text(self) -> str:
        verdict = "ok" if self.ok else f"FAILED (tolerance {TOLERANCE:g})"
        return (
            f"onnx: {self.path} ({self.bytes / 1e6:.2f} MB, batch "
            f"{'dynamic' if self.dynamic_batch else 'fixed'})\n"
            f"onnxruntime vs PyTorch on {self.images} images: max abs diff "
            f"{self.max_abs_diff:.2e}, same top-1 {100 * self.top1_agreement:.2f}% -> {verdict}\n"
        )


def export_onnx(
    model: nn.Module, example: torch.Tensor, path: str | Path, dynamic_batch: bool = False
) -> Path:
    """Write ``model``'s inference graph at ``example``'s shape to one ONNX file."""
    require_onnxruntime()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    shapes = {"x": {0: torch.export.Dim("batch")}} if dynamic_batch else None
    x = example[:2] if dynamic_batch and example.shape[0] >= 2 else example[:1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                _Named(model),
                (x,),
                str(path),
                dynamo=True,
                external_data=False,
                input_names=["x"],
                output_names=["logits"],
                dynamic_shapes=shapes,
            )
        except Exception as error:  # the exporter raises several types
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise ValueError(f"ONNX export failed: {first}") from None
    return path


class _Named(nn.Module):
    """``forward(x)`` under a stable argument name (the dynamic-shape key)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def verify_onnx(
    model: nn.Module, path: str | Path, images: torch.Tensor, dynamic_batch: bool
) -> ExportCheck:
    """Compare onnxruntime's logits with PyTorch's on ``images`` (normalised inputs)."""
    require_onnxruntime()
    path = Path(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batches = [images] if dynamic_batch else [images[i : i + 1] for i in range(len(images))]
    diff, agree = 0.0, 0
    with torch.inference_mode():
        for batch in batches:
            expected = model(batch).float()
            got = torch.from_numpy(session.run(None, {"x": batch.numpy()})[0])
            diff = max(diff, float((got - expected).abs().max()))
            agree += int((got.argmax(1) == expected.argmax(1)).sum())
    return ExportCheck(
        path, len(images), diff, agree / len(images), dynamic_batch, path.stat().st_size
    )
