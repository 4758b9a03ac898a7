"""Weight sharing, Huffman coding and the paper's storage accounting."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn as nn

from cnnzoo.compress.deep import (
    check_bits,
    huffman_code_lengths,
    huffman_decode,
    huffman_encode,
    kmeans_1d,
    relative_indices,
    share_weights,
    storage_report,
    unshare_weights,
)
from cnnzoo.compress.pruning import magnitude_prune, make_permanent


@pytest.mark.parametrize("bad", [0, 17, 2.5, True])
def test_bits_outside_1_to_16_are_refused(bad) -> None:
    with pytest.raises(ValueError, match=r"1\.\.16"):
        check_bits(bad)


def test_kmeans_linear_init_and_convergence() -> None:
    values = torch.tensor([-1.0, -0.9, 0.0, 0.1, 1.0, 1.1])
    centroids, codes = kmeans_1d(values, 3)
    assert centroids.tolist() == pytest.approx([-0.95, 0.05, 1.05])
    assert codes.tolist() == [0, 0, 1, 1, 2, 2]


def test_huffman_lengths_and_round_trip() -> None:
    assert huffman_code_lengths({0: 5, 1: 2, 2: 1, 3: 1}) == {0: 1, 1: 2, 2: 3, 3: 3}
    assert huffman_code_lengths({7: 3}) == {7: 1}
    symbols = [3, 1, 1, 0, 3, 3, 3, 1, 3, 2]  # ends with a rare (3-bit) symbol
    bits, lengths = huffman_encode(symbols)
    assert len(bits) == sum(lengths[s] for s in symbols)
    assert huffman_decode(bits, lengths) == symbols
    with pytest.raises(ValueError, match="truncated"):
        huffman_decode(bits[:-1], lengths)


def test_relative_indices_use_escape_fillers() -> None:
    # 3 index bits: gaps up to 7 are direct (symbol gap-1), symbol 7 skips 7 places.
    assert relative_indices(torch.tensor([0, 2, 20]), 3) == [0, 1, 7, 7, 3]


def test_shared_layer_trains_centroids_with_grouped_gradients() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(8, 4)
    magnitude_prune(layer, 0.5)
    make_permanent(layer)
    share_weights(layer, 2)
    assert layer.weight_centroids.shape == (4,)
    weight = layer.weight.detach()
    assert int((weight != 0).sum()) == 16
    assert len(set(weight[weight != 0].tolist())) <= 4
    grad_out = torch.randn(3, 4)
    x = torch.randn(3, 8)
    layer(x).backward(grad_out)
    full_grad = grad_out.t() @ x  # dL/dW of a plain linear layer
    codes = layer.weight_codes
    expected = torch.stack([full_grad[codes == c + 1].sum() for c in range(4)])
    assert torch.allclose(layer.weight_centroids.grad, expected, atol=1e-5)
    unshare_weights(layer)
    assert set(dict(layer.named_parameters())) == {"weight", "bias"}
    assert torch.equal(layer.weight.detach(), weight)


def test_storage_report_counts_bits_like_the_paper() -> None:
    layer = nn.Linear(10, 2)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[0, 0], layer.weight[0, 1], layer.weight[1, 9] = 1.0, 2.0, 1.0
    share_weights(layer, 1)
    row = storage_report(nn.Sequential(layer), index_bits=3).layers[0]
    # positions 0, 1, 19 -> gaps 1, 1, 18 -> symbols 0, 0, 7, 7, 3 (two fillers)
    assert (row.nonzero, row.fillers, row.bits) == (3, 2, 1)
    assert row.dense_bits == 32 * 22
    assert row.sparse_bits == 32 * 3 + 3 * 5 + 64
    assert row.shared_bits == 1 * 3 + 3 * 5 + 32 * 2 + 64
    counts = Counter([0, 0, 7, 7, 3])
    lengths = huffman_code_lengths(counts)
    assert row.huffman_index_bits == sum(lengths[s] * n for s, n in counts.items())
    assert row.huffman_weight_bits == 3  # two symbols, one bit each
    assert row.huffman_bits == 3 + row.huffman_index_bits + 8 * (2 + 8) + 64 + 64
