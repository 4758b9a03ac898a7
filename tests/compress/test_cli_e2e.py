"""`cnnzoo prune / compress / quantize / export / separable --finetune` end to end on a tiny run:
each writes a run folder, prints its report table, and evaluate/summary/predict/export accept it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn

from cnnzoo.cli import main
from cnnzoo.compress import export as export_module
from cnnzoo.compress import tools
from cnnzoo.compress.export import export_onnx
from cnnzoo.compress.pruning import layer_sparsity
from cnnzoo.compress.quantize import QuantizationError, quantize_pt2e
from cnnzoo.layers import SeparableConv2d
from cnnzoo.train import CheckpointError, load_checkpoint, read_metadata, save_checkpoint


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LeNet-5 trained one epoch on 120 embedded digits: a real run folder to compress."""
    folder = tmp_path_factory.mktemp("compress") / "base"
    argv = ["train", "lenet5", "--limit", "120", "--epochs", "1", "--quiet", "--run-dir", folder]
    assert main([str(a) for a in argv]) == 0
    return folder


def _accepted(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    """evaluate, summary and export (checked in onnxruntime) all take the run folder."""
    code, out, err = run(capsys, "evaluate", folder, "--limit", "20")
    assert code == 0, err
    assert f"{folder} on digits test (20 images)" in out and "top-1 " in out
    code, out, err = run(capsys, "summary", folder)
    assert code == 0 and "MACs: " in out, err
    code, out, err = run(capsys, "export", folder, "--images", "8")
    assert code == 0, err
    assert "onnxruntime vs PyTorch on 8 images" in out and out.rstrip().endswith("-> ok")
    assert (folder / "model.onnx").is_file()


@pytest.mark.slow  # four commands, two of them exporting with dynamo: ~8 s of CPU
def test_prune_writes_a_sparse_run_the_other_commands_accept(trained, tmp_path, capsys) -> None:
    out_dir = tmp_path / "pruned"
    code, out, err = run(capsys, "prune", trained, "--sparsity", "0.5", "--out", out_dir)
    assert code == 0, err
    assert "\nunstructured layer-wise magnitude pruning of lenet5\n" in out
    assert "masks folded (saved model)" in out and out.endswith(f"run folder: {out_dir}\n")
    assert (out_dir / "report.md").read_text().startswith("# unstructured layer-wise")
    model, meta = load_checkpoint(out_dir)
    assert meta["compression"]["sparsity"] == 0.5 and meta["source"] == str(trained)
    for row in layer_sparsity(model):  # exactly half of every layer's weights are zero
        assert row.nonzero == row.weights - round(0.5 * row.weights), row.name
    _accepted(capsys, out_dir)


def test_structured_prune_run_rebuilds_the_smaller_architecture(trained, tmp_path, capsys):
    out_dir = tmp_path / "structured"
    argv = ["prune", trained, "--structured", "--sparsity", "0.25", "--out", out_dir]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert "structured channel pruning of lenet5" in out and "pruned (step 1/1)" in out
    model, meta = load_checkpoint(out_dir)
    reference, _ = load_checkpoint(trained)
    params = sum(p.numel() for p in model.parameters())
    assert params < 0.7 * sum(p.numel() for p in reference.parameters())
    assert meta["structure"] and all("out_channels" in v or "in_features" in v
                                     for v in meta["structure"].values())  # fmt: skip
    code, out, err = run(capsys, "evaluate", out_dir, "--limit", "20")
    assert code == 0 and "top-1 " in out, err


@pytest.mark.slow  # two retrainings, then evaluate/summary/export: ~8 s of CPU
def test_compress_pipeline_run_holds_shared_weights(trained, tmp_path, capsys) -> None:
    out_dir = tmp_path / "deep"
    argv = ["compress", trained, "--prune", "0.8", "--share-bits", "3", "--huffman"]
    argv += ["--finetune-epochs", "1", "--share-epochs", "1", "--out", out_dir]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    for stage in ("reference", "pruned (step 1/1)", "retrained (step 1)", "weights shared"):
        assert f"\n{stage} " in out, stage
    assert "centroids fine-tuned" in out and "Huffman-coded" in out and "total" in out
    assert (out_dir / "stages" / "prune-1" / "checkpoints" / "best.safetensors").is_file()
    model, meta = load_checkpoint(out_dir)
    assert meta["compression"]["bits"] == 3 and meta["metrics"]["ratio"] > 10
    for name, module in model.named_modules():
        if name in {row.name for row in layer_sparsity(model)}:
            values = module.weight.detach().unique()
            assert len(values[values != 0]) <= 2**3, name  # k = 2^bits shared values
    _accepted(capsys, out_dir)


@pytest.mark.slow  # inductor compiles the int8 graph twice (quantize, then evaluate): ~1 min
def test_quantize_both_paths_in_one_table_and_the_run_reloads(
    trained, tmp_path, capsys, monkeypatch
):
    # Inductor compiles the int8 graph once per input shape (~3-10 s each, four shapes here);
    # test_export_quantize checks the compiled graph once, so here it runs eagerly.
    monkeypatch.setattr(tools, "compile_int8", lambda converted: lambda x: converted(x))
    out_dir = tmp_path / "int8"
    argv = ["quantize", trained, "--method", "both", "--no-compiled", "--calibration", "32"]
    code, out, err = run(capsys, *argv, "--out", out_dir)
    assert code == 0, err
    assert "int8 pt2e (X86Inductor, compiled)" in out and "int8 fx (x86, eager)" in out
    for batch in (1, 64):  # every variant timed in alternation, against float32 eager
        line = next(
            t for t in out.splitlines() if t.startswith(f"In alternation at batch {batch} ")
        )
        assert "float32 eager " in line and "; int8 pt2e " in line and "; int8 fx " in line
    assert (out_dir / "quantized.safetensors").is_file()
    code, out, err = run(capsys, "evaluate", out_dir, "--limit", "20")
    assert code == 0 and "top-1 " in out, err
    code, _, err = run(capsys, "export", out_dir)
    assert code == 2 and "ONNX export of the int8 model is not supported" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["prune", "RUN", "--sparsity", "-0.1"], "sparsity must be a fraction in [0, 1)"),
        (["prune", "RUN", "--sparsity", "1"], "sparsity must be a fraction in [0, 1)"),
        (["compress", "RUN", "--prune", "1.0"], "sparsity must be a fraction in [0, 1)"),
        (["compress", "RUN", "--prune", "0.5", "--share-bits", "17"], "integer in 1..16"),
        (["compress", "RUN", "--prune", "0.5", "--share-bits", "0"], "integer in 1..16"),
        (["compress", "RUN", "--prune", "0.5", "--index-bits", "20"], "integer in 1..16"),
        (["compress", "RUN", "--prune", "conv9=0.5"], "'conv9' matches none"),
    ],
)
def test_bad_settings_are_one_line(trained, argv, message, tmp_path, capsys) -> None:
    argv = [str(trained) if a == "RUN" else a for a in argv] + ["--out", str(tmp_path / "x")]
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "x").exists()


def test_onnxruntime_missing_is_one_line(trained, monkeypatch, capsys) -> None:
    monkeypatch.setattr(export_module, "ort", None)
    code, out, err = run(capsys, "export", trained)
    assert code == 2 and out == ""
    assert err == (
        "error: ONNX export needs onnxruntime, which is not installed: pip install onnxruntime\n"
    )


class _Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if y.sum() > 0:  # data-dependent control flow: torch.export cannot trace it
            return y.relu()
        return y


def test_quantize_failure_names_the_untraceable_line() -> None:
    with pytest.raises(QuantizationError) as caught:
        quantize_pt2e(_Branchy(), torch.randn(4, 1, 8, 8))
    message = str(caught.value)
    assert message.startswith("quantizing _Branchy failed in torch.export at test_cli_e2e.py:"), (
        message
    )
    assert "in forward (if y.sum() > 0:  # data-dependent" in message
    assert "\n" not in message and "try --method fx" in message


class _WithAuxHead(nn.Module):
    """GoogLeNet's contract: (logits, aux) in training, logits alone in eval mode."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(8, 10)
        self.aux = nn.Linear(8, 10_000)  # 80,000 weights: visible in the file size if exported

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x).flatten(1)
        if self.training:
            return self.fc(features), self.aux(features)
        return self.fc(features)


def test_export_writes_only_the_inference_graph_of_an_aux_head_model(tmp_path) -> None:
    import onnx

    model = _WithAuxHead().train()
    path = export_onnx(model, torch.randn(2, 1, 8, 8), tmp_path / "aux.onnx")
    graph = onnx.load(str(path)).graph
    assert [o.name for o in graph.output] == ["logits"]
    assert [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim] == [1, 10]
    assert path.stat().st_size < 4 * 10_000  # the aux head's 80,000 weights are not in it


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torchvision.io.write_png
def test_separable_finetune_run_is_reloadable(tmp_path, capsys) -> None:
    from PIL import Image

    from cnnzoo.data import load_data

    folder = tmp_path / "sep"
    argv = ["separable", "lenet5_modern", "--kernel", "5", "--finetune", "--epochs", "1"]
    code, out, err = run(capsys, *argv, "--limit", "60", "--run-dir", folder)
    assert code == 0, err
    assert out.rstrip().endswith(f"run folder: {folder}")
    model, meta = load_checkpoint(folder)
    assert meta["model"] == "lenet5_modern"
    assert meta["separable"] == {"layers": ["features.c3", "features.c5"], "norm_act": False}
    assert all(
        isinstance(model.get_submodule(n), SeparableConv2d) for n in meta["separable"]["layers"]
    )
    assert load_checkpoint(folder / "checkpoints" / "last.safetensors")[1]["separable"]
    image = load_data("digits", limit=20).test.images[0]
    Image.fromarray(image[0].numpy()).save(tmp_path / "digit.png")
    code, out, err = run(capsys, "predict", folder, tmp_path / "digit.png", "--top", "2")
    assert code == 0 and len(out.splitlines()) == 3, err
    _accepted(capsys, folder)


def test_a_forged_separable_record_is_refused(tmp_path) -> None:
    from cnnzoo import create_model

    model = create_model("lenet5_modern")
    path = tmp_path / "forged.safetensors"
    save_checkpoint(path, model, {"model": "lenet5_modern", "separable": {"layers": ["nope"]}})
    with pytest.raises(CheckpointError, match="has no plain Conv2d of that name"):
        load_checkpoint(path)
    assert read_metadata(path)["separable"] == {"layers": ["nope"]}
