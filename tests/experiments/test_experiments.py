"""Every experiment end to end at the smoke budget, the resume rule, the lab report, the CLI."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
import torch
import yaml

from cnnzoo.cli import main
from cnnzoo.experiments import (
    EXPERIMENTS,
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
    "finetune-rules",
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
    with pytest.raises(KeyError, match="unknown experiment 'skip-landscapes'"):
        get_experiment("skip-landscapes")


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
    assert "SMOKE budget" in page
    assert "| not judged (smoke budget) |" in page
    summary = json.loads((tmp_path / "experiments" / "results.json").read_text())
    assert list(summary) == ORDER
    assert summary["lenet5-mnist"]["budget"] == "smoke"
    assert summary["lenet5-mnist"]["reproduced"] is None
    assert summary["skip-landscape"]["budget"] == "smoke"
    for path in written:
        assert path.is_file()
    assert (tmp_path / "experiments" / "ensemble-members.png").is_file()
    write_lab_report(EXPERIMENTS, smoke_root, tmp_path / "full", ["full"])
    assert "Not run at the full budget." in (tmp_path / "full" / "experiments.md").read_text()


def test_cli(capsys: pytest.CaptureFixture[str], smoke_root: Path, tmp_path: Path) -> None:
    assert main(["experiment", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ORDER)
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


def test_finetune_members_start_from_the_source_and_freeze_by_policy(smoke_root: Path) -> None:
    results = _results(smoke_root, "finetune-rules")
    (folder,) = runner.find_folders(smoke_root, "finetune-rules", "smoke")
    runs = folder / "runs"
    trainable = {}
    for policy in ("head", "stages2", "none"):
        config = yaml.safe_load((runs / f"similar-small-{policy}" / "config.yaml").read_text())
        assert config["finetune_source_member"] == "source"
        assert config["pretrained"]["source"].endswith("runs/source/checkpoints/best.safetensors")
        assert config["finetune"]["head_lr_mult"] == 10.0
        trainable[policy] = config["finetune"]["trainable_parameters"]
    total = results["members"][0]["params"]
    # resnet20's head is Linear(64, 10); stages:2 freezes the stem and stage 1 (16 channels).
    assert trainable["head"] == 64 * 10 + 10
    assert trainable["head"] < trainable["stages2"] < trainable["none"] == total
    scratch = yaml.safe_load((runs / "similar-small-scratch" / "config.yaml").read_text())
    assert "finetune" not in scratch
    cells = results["measured"]["cells"]
    assert [(c["similarity"], c["size"], c["rule"]) for c in cells] == [
        ("similar", "small", "head"),
        ("similar", "large", "stages:2"),
        ("different", "small", "stages:2"),
        ("different", "large", "none"),
    ]
    assert [c["train_images"] for c in cells] == [50, 100, 50, 100]


def test_a_smaller_training_set_is_judged_on_the_same_images() -> None:
    experiment = get_experiment("finetune-rules")
    budget = experiment.budgets["smoke"]
    small, large = experiment.plan("smoke", budget)[1], experiment.plan("smoke", budget)[5]
    assert (small.train_limit, large.train_limit) == (50, 100)
    cache: dict = {}
    a = runner.member_data(small, budget, None, cache)
    b = runner.member_data(large, budget, None, cache)
    assert len(a.train) == 50 and len(b.train) == 100
    assert torch.equal(a.val.indices, b.val.indices) and torch.equal(a.test.indices, b.test.indices)
    assert len(a.val) == len(a.test) == budget.limit == 100
    assert a.mean != b.mean  # measured on each member's own training images
    # ... and they are the very images load_data(limit=...) gives a member without train_limit.
    plain = runner.member_data(dataclasses.replace(small, train_limit=None), budget, None, {})
    assert torch.equal(plain.val.indices, a.val.indices)
    assert torch.equal(plain.test.indices, a.test.indices)
    assert len(plain.train) == budget.limit


def test_offline_augmentation_trains_on_fixed_copies_for_fewer_epochs(smoke_root: Path) -> None:
    experiment = get_experiment("fashion-augmentation")
    results = _results(smoke_root, "fashion-augmentation")
    keys = [m["key"] for m in results["members"]]
    assert keys == ["augment-none", "augment-fashion", "augment-fashion-offline"]
    budget = experiment.budgets["smoke"]
    plain, _, offline = experiment.plan("smoke", budget)
    originals = runner.member_data(plain, budget, None, {}).train
    copies = runner.member_data(offline, budget, None, {}).train
    assert results["measured"]["offline_train_images"] == len(copies) == 5 * len(originals)
    assert torch.equal(copies.images[: len(originals)], originals.images)  # originals first
    assert not torch.equal(copies.images[len(originals) :][: len(originals)], originals.images)
    assert torch.equal(copies.labels, originals.labels.repeat(5))
    _, _, offline_full = experiment.plan("full", experiment.budgets["full"])
    assert offline_full.recipe.epochs == experiment.budgets["full"].epochs // 5
    assert offline_full.recipe.augment == "none"  # the copies are the augmentation


def test_an_experiment_without_results_here_keeps_its_previous_section(
    smoke_root: Path, tmp_path: Path
) -> None:
    write_lab_report(EXPERIMENTS, smoke_root, tmp_path, ["smoke"])
    first = json.loads((tmp_path / "experiments" / "results.json").read_text())
    # A machine with none of those run folders: every entry is carried over, not dropped.
    write_lab_report(EXPERIMENTS, tmp_path / "no-runs", tmp_path, ["full", "smoke"])
    again = json.loads((tmp_path / "experiments" / "results.json").read_text())
    for name in ORDER:
        assert again[name]["carried_over"] is True
        assert again[name]["verdict"] == first[name]["verdict"]
        assert again[name]["figures"] == first[name]["figures"]
    page = (tmp_path / "experiments.md").read_text()
    assert page.count("Carried over from the previous report") == len(ORDER)
    assert "| finetune-rules | With little data similar" in page
    # Only the budgets asked for are carried: a full-only report does not keep smoke results.
    write_lab_report(EXPERIMENTS, tmp_path / "no-runs", tmp_path, ["full"])
    assert "Not run at the full budget." in (tmp_path / "experiments.md").read_text()
