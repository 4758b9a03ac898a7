"""Every experiment end to end at the smoke budget, the resume rule, the lab report, the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from cnnzoo.cli import main
from cnnzoo.experiments import (
    EXPERIMENTS,
    NOT_BUILT,
    get_experiment,
    list_experiments,
    run_experiment,
    runner,
    write_lab_report,
)

ORDER = [
    "lenet5-mnist",
    "depth-degradation",
    "fashion-augmentation",
    "inception-bottleneck",
    "kernel-factorisation",
    "ensemble",
    "dsc-conversion",
    "stochastic-depth",
    "classic-table",
    "efficient-nets",
    "skip-landscape",
]


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run every experiment once at the smoke budget (what CI pays: about 30 s of CPU)."""
    root = tmp_path_factory.mktemp("experiments")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name in list_experiments():
            started = time.process_time()
            run_experiment(get_experiment(name), "smoke", root=root, log=lambda text: None)
            assert time.process_time() - started < 30, f"{name} smoke budget over 30 s of CPU"
    finally:
        torch.set_num_threads(threads)
    return root


def _results(root: Path, name: str) -> dict:
    (folder,) = runner.find_folders(root, name, "smoke")
    return json.loads((folder / "results.json").read_text())


def test_the_experiments_in_the_issues_order() -> None:
    assert list_experiments() == ORDER
    assert set(NOT_BUILT).isdisjoint(EXPERIMENTS)
    with pytest.raises(KeyError, match="not built yet: it reuses the transfer package"):
        get_experiment("finetune-rules")


@pytest.mark.parametrize("name", ORDER)
def test_smoke_budget_writes_results_report_and_figures(smoke_root: Path, name: str) -> None:
    results = _results(smoke_root, name)
    (folder,) = runner.find_folders(smoke_root, name, "smoke")
    assert results["budget"] == "smoke" and results["data"] == "digits"
    assert results["reproduced"] is None  # smoke never judges a claim
    assert "not judged at the smoke budget" in results["verdict"]
    assert results["command"] == f"cnnzoo experiment run {name} --budget smoke"
    members = get_experiment(name).plan("smoke", get_experiment(name).budgets["smoke"])
    assert [m["key"] for m in results["members"]] == [m.key for m in members]
    for member in results["members"]:
        assert member["epochs"] == 1 and member["best_epoch"] == 1
        assert (Path(member["run_dir"]) / "checkpoints" / "best.safetensors").is_file()
    for figure in results["figures"]:
        assert (folder / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (folder / "report.md").read_text()
    assert report.startswith(f"## {name}: ") and "**Reproduced**: not judged." in report


def test_formulas_are_the_seeds_numbers(smoke_root: Path) -> None:
    modules = _results(smoke_root, "inception-bottleneck")["measured"]["modules"]
    assert modules["naive"]["formula_macs"] == modules["naive"]["counted_macs"] == 854_196_224
    assert modules["reduced"]["formula_macs"] == modules["reduced"]["counted_macs"] == 271_351_808
    kernels = _results(smoke_root, "kernel-factorisation")["measured"]
    assert kernels["block_params"] == {"two-3x3": 18 * 32 * 32, "one-5x5": 25 * 32 * 32}
    assert kernels["receptive_field"] == {"two-3x3": 5, "one-5x5": 5}
    dsc = _results(smoke_root, "dsc-conversion")["measured"]
    assert dsc["formula_macs"] == {"standard": 603_979_776, "separable": 71_827_456}
    assert dsc["net_macs"]["separable"] < dsc["net_macs"]["standard"]


def test_ensemble_and_depth_figures_come_from_the_runs(smoke_root: Path) -> None:
    ensemble = _results(smoke_root, "ensemble")
    by_members = ensemble["measured"]["by_members"]
    assert [row["members"] for row in by_members] == [1, 2]
    assert by_members[0]["test_acc"] == pytest.approx(ensemble["members"][0]["test_acc"])
    depth = _results(smoke_root, "depth-degradation")
    (folder,) = runner.find_folders(smoke_root, "depth-degradation", "smoke")
    curve = json.loads((folder / "runs" / "plain20" / "test_curve.json").read_text())
    assert [row["epoch"] for row in curve] == [1]
    errors = depth["measured"]["errors"]
    assert errors["plain20"]["test_error"] == pytest.approx(100 - depth["members"][0]["test_acc"])


def test_an_interrupted_experiment_continues_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = get_experiment("ensemble")
    train = runner._train_member
    calls: list[str] = []

    def stop_at_second(member, *args, **kwargs):
        calls.append(member.key)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return train(member, *args, **kwargs)

    monkeypatch.setattr(runner, "_train_member", stop_at_second)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(experiment, "smoke", root=tmp_path, log=lambda text: None)
    monkeypatch.setattr(runner, "_train_member", train)
    (folder,) = runner.find_folders(tmp_path, "ensemble", "smoke")
    first = folder / "runs" / "fashion-cnn-seed0" / "metrics.jsonl"
    before = first.read_text()
    lines: list[str] = []
    assert run_experiment(experiment, "smoke", root=tmp_path, log=lines.append) == folder
    assert any("continuing fashion-cnn-seed0" in line for line in lines)
    assert any("training fashion-cnn-seed1" in line for line in lines)
    assert first.read_text() == before  # its epoch was not trained again
    state = json.loads((folder / "experiment.json").read_text())
    assert state["status"] == "complete"
    # A complete experiment is not reopened: the next run starts a new folder.
    assert run_experiment(experiment, "smoke", root=tmp_path, log=lambda t: None) != folder


def test_lab_report_gathers_the_latest_results(smoke_root: Path, tmp_path: Path) -> None:
    written = write_lab_report(EXPERIMENTS, smoke_root, tmp_path, ["full", "smoke"])
    page = (tmp_path / "experiments.md").read_text()
    assert "SMOKE budget" in page and "not built" in page
    assert "| not judged (smoke budget) |" in page
    summary = json.loads((tmp_path / "experiments" / "results.json").read_text())
    assert list(summary) == ORDER + list(NOT_BUILT)
    assert summary["lenet5-mnist"]["budget"] == "smoke"
    assert summary["lenet5-mnist"]["reproduced"] is None
    assert summary["finetune-rules"] == {"not_built": NOT_BUILT["finetune-rules"]}
    for path in written:
        assert path.is_file()
    assert (tmp_path / "experiments" / "ensemble-members.png").is_file()
    write_lab_report(EXPERIMENTS, smoke_root, tmp_path / "full", ["full"])
    assert "Not run at the full budget." in (tmp_path / "full" / "experiments.md").read_text()


def test_cli(capsys: pytest.CaptureFixture[str], smoke_root: Path, tmp_path: Path) -> None:
    assert main(["experiment", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ORDER + list(NOT_BUILT))
    assert main(["experiment", "run", "lenet-mnist"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown experiment 'lenet-mnist'")
    args = ["experiment", "report", "--root", str(smoke_root), "--out", str(tmp_path)]
    assert main([*args, "--budget", "smoke"]) == 0
    assert str(tmp_path / "experiments.md") in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["experiment", "run", "ensemble", "--budget", "huge"])


def test_a_changed_plan_is_not_mixed_into_an_old_folder(tmp_path: Path) -> None:
    experiment = get_experiment("lenet5-mnist")
    folder = tmp_path / "lenet5-mnist-20260101-000000"
    (folder / "runs").mkdir(parents=True)
    state = {"name": "lenet5-mnist", "budget": "smoke", "status": "running"}
    (folder / "experiment.json").write_text(json.dumps(state))
    member = experiment.plan("smoke", experiment.budgets["smoke"])[0]
    run = folder / "runs" / member.key
    run.mkdir()
    config = {"model": "lenet5", "recipe": member.recipe.override(lr=0.5).to_dict()}
    (run / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
    with pytest.raises(ValueError, match=r"cannot continue .*lenet5-seed0: the experiment's plan"):
        run_experiment(experiment, "smoke", root=tmp_path, log=lambda text: None)
