import json

import pytest

from cnnzoo.analysis.compare import compare
from cnnzoo.analysis.plots import plot_efficiency


def test_compare_counts_inference_parameters() -> None:
    # GoogLeNet's auxiliary heads (6.4M parameters) are not used at inference.
    rows = {r.name: r for r in compare(["googlenet", "alexnet"]).rows}
    assert rows["googlenet"].params == 6_998_552
    assert rows["alexnet"].params == 62_378_344
    assert rows["alexnet"].conv_params_pct == pytest.approx(100 * 3_747_200 / 62_378_344)


def test_efficiency_figures() -> None:
    row = compare(["squeezenet1_1"]).rows[0]
    assert row.top1 is not None
    assert row.accuracy_density == pytest.approx(row.top1 / 1.235496)
    assert row.macs_per_param == pytest.approx(row.macs / 1_235_496)
    data = json.loads(compare(["squeezenet1_1"]).to_json())
    assert data[0]["accuracy_density"] == pytest.approx(row.accuracy_density)


def test_common_input_size() -> None:
    row = compare(["lenet5"], "1x32x32").rows[0]
    assert row.input_size == (1, 32, 32)
    with pytest.raises(ValueError, match="does not fit fashion_cnn"):
        compare(["fashion_cnn"], "1x32x32")


def test_plot_needs_reported_accuracy(tmp_path) -> None:
    with pytest.raises(ValueError, match="reported top-1"):
        plot_efficiency(compare(["lenet5"]), tmp_path / "x.png")
    path = plot_efficiency(compare(["nin_cifar", "alexnet"]), tmp_path / "sub" / "eff.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
