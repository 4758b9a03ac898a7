"""The time-to-accuracy records: recipes build, a tiny run works end to end on generated data,
the test split is read only after training, and the CLI explains itself."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn as nn

from cnnzoo import create_model
from cnnzoo.cli import main
from cnnzoo.cli.speedrun import RECORD_NAMES, TRICK_NAMES
from cnnzoo.data import DataBundle, TensorSplit
from cnnzoo.train.speedrun import RECORDS, TRICKS, get_record, speedrun, whiten_init


def _split(n: int, seed: int) -> TensorSplit:
    """Images whose class is which of four horizontal bands is bright (learnable in a few steps,
    and unchanged by the mirror images and small shifts of the augmentation)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = torch.randint(0, 40, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    for i, label in enumerate(labels.tolist()):
        images[i, 0, label * 7 + 1 : label * 7 + 6, 4:24] = 220
    return TensorSplit(images, labels)


def _watched(split: TensorSplit, events: list[str]) -> TensorSplit:
    """``split``, noting "test read" in ``events`` every time its images are read."""

    class Watched(TensorSplit):
        def __getattribute__(self, name: str):
            if name == "images":
                events.append("test read")
            return object.__getattribute__(self, name)

    watched = Watched(split.images, split.labels)
    events.clear()  # the constructor's own check
    return watched


def _bundle(test: TensorSplit | None = None) -> DataBundle:
    return DataBundle(
        name="quadrants",
        train=_split(512, 0),
        val=_split(128, 1),
        test=test if test is not None else _split(128, 2),
        classes=["a", "b", "c", "d"],
        mean=(0.2,),
        std=(0.3,),
        split_seed=0,
        source="generated",
    )


TINY = {"epochs": 6, "batch_size": 64, "model_kwargs": {"widths": (16, 8, 8, 16)}}


@pytest.mark.parametrize("name", list(RECORDS))
def test_each_record_builds_with_and_without_each_trick(name: str) -> None:
    recipe = get_record(name)
    model = create_model(recipe.model, num_classes=10, in_chans=1, **recipe.model_kwargs)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    for trick in TRICKS:
        changed = recipe.without([trick])
        assert changed != recipe or all(getattr(recipe, k) == v for k, v in TRICKS[trick].items())
    assert not recipe.without(["batch_norm"]).batch_norm
    assert RECORDS["mnist"].flip is False  # digits are not symmetric: no mirror images


def test_unknown_record_or_trick_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="no speedrun record 'cifar'; the records are: fashion"):
        get_record("cifar")
    with pytest.raises(ValueError, match="unknown trick 'dropout'; known tricks: batch_norm"):
        RECORDS["mnist"].without(["dropout"])


def test_cli_names_match_the_api() -> None:
    # the CLI lists them without importing the training stack (start-up)
    assert tuple(RECORDS) == RECORD_NAMES and tuple(TRICKS) == TRICK_NAMES


def test_whitening_filters_decorrelate_the_patches() -> None:
    images = torch.nn.functional.avg_pool2d(torch.randn(64, 1, 30, 30), 3, 1)  # correlated
    conv = nn.Conv2d(1, 18, 3, padding=1, bias=False)
    assert whiten_init(conv, images, eps=1e-7) == 18
    out = conv(images)[:, ::2]  # one filter of each +/- pair
    cov = torch.cov(out.permute(1, 0, 2, 3).reshape(9, -1))
    assert torch.allclose(cov, torch.eye(9), atol=1e-3)
    assert torch.equal(conv.weight[1::2], -conv.weight[::2])


def test_a_tiny_run_learns_end_to_end_and_reads_the_test_split_last() -> None:
    events: list[str] = []
    test = _watched(_split(128, 2), events)
    recipe = dataclasses.replace(RECORDS["fashion_mnist"], ema=0.9, **TINY)
    result = speedrun(recipe, data=_bundle(test), seed=0, threads=1, log=events.append)
    assert result.val_acc > 90 and result.test_acc > 90
    assert result.evaluated == ["val", "test"]
    assert result.epochs == 6 and result.steps == 6 * 8
    assert result.wall_seconds >= result.train_seconds > 0 and result.cpu_seconds > 0
    first_read = events.index("test read")
    assert all(e == "test read" for e in events[first_read:-1])  # then only the final line
    assert sum(e.startswith("epoch") for e in events[:first_read]) == 6
    assert math.isfinite(result.test_acc)


def test_tuning_runs_never_touch_the_test_split() -> None:
    events: list[str] = []
    test = _watched(_split(128, 2), events)
    recipe = dataclasses.replace(RECORDS["mnist"], **TINY)
    result = speedrun(recipe, data=_bundle(test), test=False, without=["whiten", "schedule"])
    assert "test read" not in events and math.isnan(result.test_acc)
    assert result.evaluated == ["val"] and result.without == ("whiten", "schedule")


def test_cli_help_has_a_real_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["speedrun", "--help"])
    text = capsys.readouterr().out
    assert "cnnzoo speedrun mnist --data-dir ../shared/datasets --threads 2" in text
    assert "--seeds N" in text and "--threads N" in text and "benchmarks/speedrun.py" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["speedrun", "cifar10"], "error: no speedrun record 'cifar10'; the records are:"),
        (["speedrun", "mnist", "--without", "dropout"], "error: unknown trick 'dropout'"),
    ],
)
def test_cli_bad_input_gets_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_cli_missing_data_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert main(["speedrun", "mnist", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    # the data layer's message (what was looked for, where, how to get it), no traceback
    assert err.startswith("error: mnist: looked in ") and "Traceback" not in err
