"""ONNX export checked in onnxruntime; int8 state saved as tensors rebuilds the same graph."""

from __future__ import annotations

import pytest
import torch

from cnnzoo import create_model
from cnnzoo.compress.common import side_by_side
from cnnzoo.compress.export import export_onnx, verify_onnx
from cnnzoo.compress.quantize import (
    compile_int8,
    fx_weight_bytes,
    int8_weight_bytes,
    quantize_fx,
    quantize_pt2e,
    quantized_state,
    rebuild_quantized,
)


def test_onnx_export_matches_pytorch(tmp_path) -> None:
    torch.manual_seed(0)
    model = create_model("lenet_300_100").eval()
    x = torch.randn(5, 1, 28, 28)
    path = export_onnx(model, x, tmp_path / "m.onnx", dynamic_batch=True)
    check = verify_onnx(model, path, x, dynamic_batch=True)
    assert check.ok and check.max_abs_diff < 1e-5 and check.top1_agreement == 1.0
    assert check.images == 5 and check.bytes > 4 * 266_610


def test_int8_state_rebuilds_identical_graph() -> None:
    torch.manual_seed(0)
    model = create_model("lenet_300_100").eval()
    calibration = torch.randn(32, 1, 28, 28)
    converted = quantize_pt2e(model, calibration)
    # int8 weights (266,200 bytes) + per-channel scales/zero points + float biases
    assert int8_weight_bytes(converted) < 266_610 * 4 / 3.5
    state = quantized_state(converted)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    rebuilt = rebuild_quantized(model, state, calibration[:2])
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(rebuilt(x), converted(x))
    assert (converted(x) - model(x)).abs().max() < 0.1
    with pytest.raises(ValueError, match="quantize/dequantize steps"):
        rebuild_quantized(model, {**state, "qdq.scale": state["qdq.scale"][:1]}, x[:2])


def test_compiled_int8_graph_matches_the_eager_one() -> None:
    # One inductor compile (freezing, oneDNN int8 kernels): the only one in the suite.
    torch.manual_seed(0)
    model = create_model("lenet_300_100").eval()
    converted = quantize_pt2e(model, torch.randn(32, 1, 28, 28))
    x = torch.randn(4, 1, 28, 28)
    assert (compile_int8(converted)(x) - converted(x)).abs().max() < 1e-4


def test_fx_size_counts_packed_weights_scales_and_biases() -> None:
    torch.manual_seed(0)
    model = create_model("lenet_300_100").eval()
    converted = quantize_fx(model, torch.randn(32, 1, 28, 28))
    # int8 weights + per-channel float32 scale and int32 zero point of 300+100+10 outputs +
    # float32 biases + six activation (scale, zero point) pairs of the graph and the layers.
    assert fx_weight_bytes(converted) == 266_200 + 410 * 8 + 410 * 4 + 6 * (4 + 8)
    x = torch.randn(4, 1, 28, 28)
    assert (converted(x) - model(x)).abs().max() < 0.1


def test_side_by_side_times_both_models_in_alternation() -> None:
    weight = torch.randn(256, 256)

    def heavy(x: torch.Tensor) -> torch.Tensor:
        for _ in range(8):
            x = x @ weight
        return x

    timing = side_by_side(heavy, lambda x: x @ weight, (256,), batch=64, rounds=5)
    assert timing.batch == 64 and timing.rounds == 5
    assert timing.cpu[0] > 2 * timing.cpu[1]  # 8 products against 1, in this thread's CPU time
    text = timing.to_text(("eight", "one"))
    assert text.startswith("Side by side at batch 64 (5 alternating rounds, one process): eight ")
