"""Sweeps: the space parser's refusals, a tiny real sweep on the digits through the CLI, its
continuation, the re-queueing of a failed trial and pruning."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from cnnzoo.cli import main
from cnnzoo.sweep import create_sweep, load_sweep, parse_space, requeue_failed, run_trials
from cnnzoo.train import Recipe, load_recipe

BASE = Recipe(data="digits", limit=150, epochs=1, batch_size=64)
SPACE = ["lr=log:1e-3:1e-2", "batch_size=choice:32,64"]


def test_space_parses_each_kind() -> None:
    params = parse_space(
        [
            "lr=log:1e-4:1e-1",
            "momentum=float:0.5:0.99",
            "warmup=int:0:3",
            "batch_size=choice:64,128",
        ],
        BASE,
    )
    assert [p.spec() for p in params] == [
        "lr=log:0.0001:0.1",
        "momentum=float:0.5:0.99",
        "warmup=int:0:3",
        "batch_size=choice:64,128",
    ]
    assert params[3].choices == (64, 128)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "weight_decy=log:1e-6:1e-3",
            "'weight_decy' is not a recipe field; did you mean weight_decay?",
        ),
        ("lr=log:1e-1:1e-4", "the range 0.1..0.0001 is empty; LOW must be below HIGH"),
        ("lr=log:0:1e-1", "a log range must be positive"),
        ("batch_size=choice:", "the choice list is empty"),
        ("batch_size=choice:64,128,64", "the choice list gives 64 more than once"),
        ("warmup=int:2:2", "the range 2..2 is empty; LOW must be below HIGH"),
        ("momentum=float:0.9:0.5", "the range 0.9..0.5 is empty"),
        ("lr=log:1e-3", "expected log:LOW:HIGH"),
        ("lr=uniform:1:2", "KIND one of log, float, int, choice"),
        ("data=choice:mnist,digits", "'data' is fixed for a whole sweep"),
        ("momentum=float:0.5:1.5", "field 'momentum' is 1.5; it must be >= 0.0 and <= 1.0"),
    ],
)
def test_space_refuses_bad_input(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"^--space .*") as error:
        parse_space([spec], BASE)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_sweep_cli_runs_continues_and_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["sweep", "lenet5", "--limit", "150", "--epochs", "1", "--threads", "1"]
    args += [a for s in SPACE for a in ("--space", s)]
    assert main([*args, "--trials", "2", "--out", "sw"]) == 0
    assert main([*args, "--trials", "3", "--out", "sw"]) == 0  # continues: one more trial
    out = capsys.readouterr().out
    assert "sweep lenet5-digits: 2 of 3 trials done" in out
    assert sorted(p.name for p in (tmp_path / "sw").glob("trial-*")) == [
        "trial-0000",
        "trial-0001",
        "trial-0002",
    ]
    assert main(["sweep", "report", "sw", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["trial"], r["state"], r["epochs"]) for r in rows] == [
        (0, "complete", 1),
        (1, "complete", 1),
        (2, "complete", 1),
    ]
    best = max(rows, key=lambda r: r["val_acc"])
    recipe = yaml.safe_load((tmp_path / "sw" / "best-recipe.yaml").read_text())
    assert (recipe["lr"], recipe["batch_size"]) == (best["lr"], best["batch_size"])
    assert (recipe["limit"], recipe["epochs"], recipe["name"]) == (150, 1, "lenet5-digits-best")
    assert main(["sweep", "report", "sw"]) == 0
    text = capsys.readouterr().out
    assert f"\n{best['trial']}*" in text
    assert "wrote " + str(tmp_path / "sw" / "history.png") in text
    assert (tmp_path / "sw" / "importances.png").stat().st_size > 1000
    # The same study name with another space is refused, in one line.
    assert main([*args[:-4], "--space", "lr=log:1e-4:1e-2", "--out", "sw"]) == 2
    err = capsys.readouterr().err
    assert "study 'lenet5-digits' in sqlite:///" in err and "already sweeps something else" in err
    assert "space: lr=log:0.001:0.01 batch_size=choice:32,64 there" in err


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_failed_trial_is_queued_again_and_resumes_its_folder(tmp_path: Path) -> None:
    sweep = create_sweep("lenet5", BASE, SPACE, tmp_path / "sw")
    run_trials(sweep, 1, say=lambda text: None)
    first = sweep.study.trials[0]
    # A trial whose process died after its (only) epoch was committed: same folder contents.
    shutil.copytree(tmp_path / "sw" / "trial-0000", tmp_path / "sw" / "trial-0001")
    sweep.study.enqueue_trial(first.params)
    dead = sweep.study.ask(first.distributions)
    dead.set_user_attr("run_dir", str(tmp_path / "sw" / "trial-0001"))
    sweep.study.tell(dead, state=TrialState.FAIL)
    assert requeue_failed(sweep) == [1]
    assert requeue_failed(sweep) == []  # queued once
    run_trials(sweep, 2, say=lambda text: None)
    again = sweep.study.trials[2]
    assert again.state == TrialState.COMPLETE
    assert again.user_attrs["continues"] == 1
    assert again.user_attrs["run_dir"] == str(tmp_path / "sw" / "trial-0001")
    assert again.value == first.value  # resumed the completed epoch, not trained again
    assert again.intermediate_values == first.intermediate_values
    assert not (tmp_path / "sw" / "trial-0002").exists()


def test_pruned_trial_stops_after_the_epoch_and_keeps_its_run(tmp_path: Path) -> None:
    sweep = create_sweep("lenet5", BASE.override(epochs=3), SPACE, tmp_path / "sw")
    # A pruner that prunes everything (no accuracy exceeds 100.5%).
    sweep.study = optuna.load_study(
        study_name=sweep.study.study_name,
        storage=sweep.storage,
        pruner=optuna.pruners.ThresholdPruner(upper=-1.0),
    )
    run_trials(sweep, 1, say=lambda text: None)
    trial = sweep.study.trials[0]
    assert trial.state == TrialState.PRUNED
    assert trial.user_attrs["epochs"] == 1
    assert list(trial.intermediate_values) == [1]
    loaded = load_sweep(sweep.storage)
    assert loaded.params == sweep.params and loaded.recipe == sweep.recipe
    assert (tmp_path / "sw" / "trial-0000" / "checkpoints" / "last.safetensors").is_file()


def test_unknown_model_and_missing_report_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", "report", str(tmp_path / "nothing")]) == 2
    assert "nothing/study.db does not exist" in capsys.readouterr().err
    assert load_recipe("lenet5-digits").monitor == "val_acc"
