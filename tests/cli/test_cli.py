"""The CLI commands run and print what the API computes."""

import json

import pytest

from cnnzoo.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "lenet*")
    assert code == 0
    assert "lenet5" in out and "61.71K" in out and "fashion_cnn" not in out
    code, out, _ = run(capsys, "list", "--format", "names")
    assert "fashion_cnn\n" in out
    code, _, err = run(capsys, "list", "nothing*")
    assert code == 2 and "no model matches 'nothing*'" in err


def test_info(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info", "fashion_cnn")
    assert code == 0 and "params:    693,962" in out and "Fashion-MNIST" in out
    code, out, _ = run(capsys, "info", "lenet5", "--format", "json")
    assert json.loads(out)["macs"] == 416_520


def test_summary_formats(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "summary", "fashion_cnn")
    assert code == 0
    assert "features.conv1" in out and "32x26x26" in out and "692,352" in out
    assert "Params: 693,962" in out and "agree" in out
    code, out, _ = run(capsys, "summary", "lenet5", "--format", "md")
    assert "| features.c3 | Conv2d | 16x10x10 | 2,416 | 240,000 |" in out
    code, out, _ = run(capsys, "summary", "lenet5", "--format", "csv", "--num-classes", "26")
    assert out.splitlines()[-1].startswith("classifier.output,Linear,fc,26,2210")
    code, out, _ = run(capsys, "summary", "lenet5", "--format", "json", "--input", "3x32x32")
    assert json.loads(out)["totals"]["params"] == 61_706 + 2 * 150


def test_summary_errors_are_messages_not_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "summary", "lenet5", "--input", "1x2x2")
    assert code == 2 and out == ""
    assert err.startswith("error: input 1x2x2 does not fit lenet5: at layer 'features.c1'")
    code, _, err = run(capsys, "summary", "lenet", "--input", "1x32x32")
    assert code == 2 and "unknown model 'lenet'. Did you mean: lenet5" in err
    code, _, err = run(capsys, "summary", "lenet5", "--input", "32x32")
    assert code == 2 and "CxHxW" in err


def test_compare_and_plot(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    png = tmp_path / "bubbles.png"
    code, out, _ = run(capsys, "compare", "lenet5", "fashion_cnn", "--plot", str(png))
    assert code == 0
    assert "lenet5" in out and "693,962" in out and "131.13" in out  # 91.0% / 0.694M params
    assert f"plot: {png}" in out and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = run(capsys, "compare", "lenet5", "--format", "json")
    assert json.loads(out)[0]["macs_per_param"] == pytest.approx(416_520 / 61_706)


def test_help_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == 0 and "summary" in out
    for command in ("list", "info", "summary", "compare"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert "example" in capsys.readouterr().out


def test_unknown_family_or_task_names_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "list", "--family", "nope")
    assert code == 2 and err.startswith("error: unknown family 'nope'; the families are: ")
    assert "resnet" in err and "vgg" in err
    code, _, err = run(capsys, "list", "--task", "nope")
    assert code == 2 and "unknown task 'nope'; the tasks are: caption, classify, gan, lm" in err
    code, out, _ = run(capsys, "list", "lenet5*", "--task", "classify", "--format", "names")
    assert out.split() == [
        "lenet5",
        "lenet5_caffe",
        "lenet5_modern",
        "lenet5_paper",
        "lenet5_sparse",
    ]
    code, _, err = run(capsys, "list", "vgg*", "--family", "resnet")
    assert code == 2 and "no model in family 'resnet' matches 'vgg*'" in err


def test_every_table_command_takes_the_same_formats(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "list", "lenet5", "--format", "csv")
    assert out.splitlines() == [
        "Model,Family,Year,Input,Classes,Params,MACs",
        "lenet5,lenet,1998,1x32x32,10,61.71K,416.52K",
    ]
    _, out, _ = run(capsys, "compare", "lenet5", "--format", "csv")
    assert out.splitlines()[1].startswith('lenet5,lenet,1998,"[1, 32, 32]",61706,416520,')
    _, out, _ = run(capsys, "separable", "squeezenet1_1", "--format", "csv")
    assert out.splitlines()[1] == 'features.conv1,3,64,3,2,"[111, 111]",1792,283,21290688,2698299'
    for command in ("list", "summary", "compare", "bench", "separable"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        help_text = capsys.readouterr().out
        assert "{text,md,csv,json" in help_text, command
        if command != "list":
            assert "MODEL" in help_text and "--threads N" in help_text, command


def test_threads_are_applied_and_checked(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    before = torch.get_num_threads()
    seen = []
    import cnnzoo.cli.zoo as zoo

    original = zoo.summary
    zoo.summary = lambda *a, **k: (seen.append(torch.get_num_threads()), original(*a, **k))[1]
    try:
        code, _, _ = run(capsys, "summary", "lenet5", "--threads", "1", "--format", "json")
    finally:
        zoo.summary = original
    assert code == 0 and seen == [1] and torch.get_num_threads() == before
    for bad in ("0", "-1", "two"):
        with pytest.raises(SystemExit) as exit_info:
            main(["summary", "lenet5", "--threads", bad])
        assert exit_info.value.code == 2
        assert "expected a whole number >= 1" in capsys.readouterr().err


def test_bench_help_says_what_bf16_does_on_this_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    has_amx = "amx_bf16" in Path("/proc/cpuinfo").read_text()
    assert ("this CPU has AMX" in out) == has_amx
    assert ("this CPU has no AMX" in out) == (not has_amx)


def test_bench_times_the_default_path_and_names_its_fusions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ("bench", "resnet20", "--batch-size", "2", "--steps", "1", "--warmup", "0")
    code, out, _ = run(capsys, *args, "--train", "--format", "json")
    (row,) = json.loads(out)
    assert code == 0 and row["Mode"] == "train (fused)"
    assert row["Fusions"] == "10 fused batch norm, 9 fused batch norm + add"
    code, out, _ = run(capsys, *args, "--format", "json")
    (row,) = json.loads(out)
    assert row["Mode"] == "inference (folded)" and row["Fusions"] == "19 folded convolution"
    code, out, _ = run(capsys, *args, "--train", "--no-fused", "--format", "json")
    (row,) = json.loads(out)
    assert row["Mode"] == "train" and row["Fusions"] == "off"
