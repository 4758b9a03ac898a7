"""skip-landscape: the convexity measure, and the smoke budget end to end."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from cnnzoo.experiments import get_experiment, run_experiment
from cnnzoo.experiments.skip_landscape import nonconvex_share


def test_nonconvex_share_tells_a_bowl_from_a_saddle() -> None:
    xs = np.linspace(-1, 1, 7)
    xx, yy = np.meshgrid(xs, xs)
    assert nonconvex_share(xx**2 + yy**2) == 0.0
    assert nonconvex_share(xx**2 - yy**2) == 1.0
    ripples = xx**2 + yy**2 + 0.5 * np.cos(9 * xx)
    assert 0.2 < nonconvex_share(ripples) < 0.8
    bowl = xx**2 + yy**2
    bowl[3, 3] = np.nan  # a diverged point is not convex, nor are its neighbours' estimates
    assert nonconvex_share(bowl) == 9 / 25


def test_smoke_budget_measures_both_surfaces(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        started = time.process_time()
        folder = run_experiment(
            get_experiment("skip-landscape"), "smoke", root=tmp_path, log=lambda text: None
        )
        assert time.process_time() - started < 30
    finally:
        torch.set_num_threads(threads)
    results = json.loads((folder / "results.json").read_text())
    measured = results["measured"]
    assert measured["grid"] == 3 and measured["images"] == 32
    assert sorted(measured["surfaces"]) == ["plain20", "resnet20"]
    for values in measured["surfaces"].values():
        assert 0.0 <= values["nonconvex_share"] <= 1.0
        assert values["max_loss"] >= values["centre_loss"] > 0
    assert results["figures"] == ["skip-landscape-contour.png", "skip-landscape-surface.png"]
    assert "non-convex share of the 3x3 surface: ResNet-20" in results["verdict"]
