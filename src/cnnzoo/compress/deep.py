"""Deep Compression's trained quantization (weight sharing) and Huffman coding, and its storage.

S. Han, H. Mao, W. J. Dally. Deep Compression: Compressing Deep Neural Networks with Pruning,
Trained Quantization and Huffman Coding. ICLR 2016.

After pruning (:mod:`cnnzoo.compress.pruning`) each layer's surviving weights are clustered by
1-D k-means into ``k = 2**bits`` shared values, with the paper's *linear* initialisation (centroids
evenly spaced between the smallest and largest weight, which keeps the few large weights
represented). :func:`share_weights` replaces each layer's ``weight`` by ``centroids[codes]``, so a
normal training loop fine-tunes the centroids: autograd sums the gradients of all weights of a
cluster into its centroid (Fig. 3 of the paper), and pruned weights stay zero.

Storage follows Section 3 of the paper: the non-zeros in relative-index form (each stores the
gap to the previous non-zero in ``index_bits`` bits; a gap too long for them is bridged by filler
entries), a ``bits``-wide cluster index per non-zero, a float32 codebook per layer, and Huffman
codes for both streams. Deviation: the paper's filler entry stores a zero weight; ours is an
escape symbol of the index stream and carries no weight symbol (it costs index bits only).
Biases stay float32 and are counted.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn

from cnnzoo.analysis.tables import markdown_table, text_table
from cnnzoo.compress.pruning import prunable_layers, resolve_per_layer

__all__ = [
    "LayerStorage",
    "StorageReport",
    "check_bits",
    "huffman_code_lengths",
    "huffman_decode",
    "huffman_encode",
    "kmeans_1d",
    "relative_indices",
    "share_weights",
    "storage_report",
    "unshare_weights",
]


def check_bits(value: int, what: str = "bits") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 16:
        raise ValueError(
            f"{what} must be an integer in 1..16 (k = 2**bits shared weights per layer), got "
            f"{value!r}; the paper uses 8 for convolutions and 5 for fully connected layers"
        )
    return value


# -- k-means ---------------------------------------------------------------------------------


def kmeans_1d(
    values: torch.Tensor, k: int, iterations: int = 50
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means on a 1-D tensor with linear initialisation; returns (centroids, codes).

    Centroids start evenly spaced over [min, max] (the paper's best initialisation); a cluster
    that empties keeps its centroid. Codes are int64 indices into the centroids.
    """
    values = values.detach().float().flatten()
    if values.numel() == 0:
        return torch.zeros(k), torch.zeros(0, dtype=torch.int64)
    centroids = torch.linspace(float(values.min()), float(values.max()), k)
    codes = torch.zeros(values.numel(), dtype=torch.int64)
    for _ in range(iterations):
        # Centroids stay sorted in 1-D, so the nearest one is found by bucketing on midpoints.
        order = centroids.argsort()
        ordered = centroids[order]
        new_codes = order[torch.bucketize(values, (ordered[1:] + ordered[:-1]) / 2)]
        sums = torch.zeros(k).index_add_(0, new_codes, values)
        counts = torch.bincount(new_codes, minlength=k).float()
        centroids = torch.where(counts > 0, sums / counts.clamp_min(1), centroids)
        if torch.equal(new_codes, codes):
            break
        codes = new_codes
    return centroids, codes


def _shared_weight_hook(module: nn.Module, _inputs: object) -> None:
    codes = module.weight_codes
    table = torch.cat([module.weight_centroids.new_zeros(1), module.weight_centroids])
    # Code 0 is the pruned zero; codes 1..k pick a centroid. The gather routes each weight's
    # gradient into its centroid, summed over the cluster.
    module.weight = table[codes]


def share_weights(
    model: nn.Module,
    bits: int | Mapping[str, int],
    exclude: Iterable[str] = (),
    iterations: int = 50,
) -> dict[str, int]:
    """Cluster each Conv/Linear layer's non-zero weights into ``2**bits`` shared values.

    ``bits`` is one number or ``{layer pattern: bits}`` (e.g. ``{"*conv*": 8, "*": 5}`` is not
    how it works: the *last* matching pattern wins, so write ``{"*": 5, "features.*": 8}``).
    Each layer's ``weight`` parameter becomes ``weight_centroids`` (a trainable ``k`` vector) and
    a ``weight_codes`` buffer; a forward pre-hook rebuilds ``weight``. Returns bits per layer.
    Call :func:`unshare_weights` to get plain weights (with only ``k`` distinct non-zero values).
    """
    layers = prunable_layers(model, exclude)
    per_layer = resolve_per_layer([n for n, _ in layers], bits, check_bits)  # type: ignore[arg-type]
    for name, module in layers:
        if name not in per_layer:
            continue
        if hasattr(module, "weight_orig"):
            raise ValueError(
                f"{name} still has a pruning mask; call cnnzoo.compress.make_permanent first"
            )
        weight = module.weight.detach()
        nonzero = weight != 0
        centroids, codes = kmeans_1d(weight[nonzero], 2 ** per_layer[name], iterations)
        full_codes = torch.zeros(weight.shape, dtype=torch.int64, device=weight.device)
        full_codes[nonzero] = codes.to(weight.device) + 1
        del module.weight
        module.register_parameter(
            "weight_centroids", nn.Parameter(centroids.to(weight.device, weight.dtype))
        )
        module.register_buffer("weight_codes", full_codes)
        module.register_forward_pre_hook(_shared_weight_hook)
        _shared_weight_hook(module, ())
    return per_layer


def unshare_weights(model: nn.Module) -> nn.Module:
    """Turn shared layers back into plain ``weight`` parameters holding the shared values."""
    for module in model.modules():
        if not hasattr(module, "weight_codes"):
            continue
        for key, hook in list(module._forward_pre_hooks.items()):
            if hook is _shared_weight_hook:
                del module._forward_pre_hooks[key]
        with torch.no_grad():
            table = torch.cat([module.weight_centroids.new_zeros(1), module.weight_centroids])
            weight = table[module.weight_codes].clone()
        del module.weight
        del module.weight_centroids
        del module.weight_codes
        module.weight = nn.Parameter(weight)
    return model


# -- Huffman coding --------------------------------------------------------------------------


def huffman_code_lengths(counts: Mapping[int, int]) -> dict[int, int]:
    """Code length of each symbol of a Huffman code for these counts (1 bit for one symbol)."""
    if not counts:
        return {}
    if len(counts) == 1:
        return {next(iter(counts)): 1}
    tiebreak = itertools.count()
    heap = [(n, next(tiebreak), [s]) for s, n in sorted(counts.items())]
    heapq.heapify(heap)
    lengths = dict.fromkeys(counts, 0)
    while len(heap) > 1:
        n1, _, group1 = heapq.heappop(heap)
        n2, _, group2 = heapq.heappop(heap)
        for s in group1 + group2:
            lengths[s] += 1
        heapq.heappush(heap, (n1 + n2, next(tiebreak), group1 + group2))
    return lengths


def _canonical_codes(lengths: Mapping[int, int]) -> dict[int, str]:
    code, previous, codes = 0, 0, {}
    for symbol, length in sorted(lengths.items(), key=lambda item: (item[1], item[0])):
        code <<= length - previous
        codes[symbol] = format(code, f"0{length}b")
        code, previous = code + 1, length
    return codes


def huffman_encode(symbols: Sequence[int]) -> tuple[str, dict[int, int]]:
    """A canonical Huffman code of ``symbols``: (bit string, code length per symbol)."""
    lengths = huffman_code_lengths(Counter(symbols))
    codes = _canonical_codes(lengths)
    return "".join(codes[s] for s in symbols), lengths


def huffman_decode(bits: str, lengths: Mapping[int, int]) -> list[int]:
    """Invert :func:`huffman_encode` from the code lengths alone (canonical codes)."""
    decode = {code: symbol for symbol, code in _canonical_codes(lengths).items()}
    out, current = [], ""
    for bit in bits:
        current += bit
        if current in decode:
            out.append(decode[current])
            current = ""
    if current:
        raise ValueError("Huffman bit string ends inside a code word; it is truncated")
    return out


def relative_indices(flat_nonzero: torch.Tensor, index_bits: int) -> list[int]:
    """The paper's relative index stream of the positions of non-zeros (sorted, flattened).

    Symbol ``g - 1`` (0 .. 2**index_bits - 2) means "the next non-zero is ``g`` places after the
    previous one"; the escape symbol ``2**index_bits - 1`` means "skip that many places, no
    weight here" (a filler)."""
    escape = 2**index_bits - 1
    stream, previous = [], -1
    for position in flat_nonzero.tolist():
        gap = position - previous
        while gap > escape:
            stream.append(escape)
            gap -= escape
        stream.append(gap - 1)
        previous = position
    return stream


# -- storage ---------------------------------------------------------------------------------


@dataclass
class LayerStorage:
    """Bits a layer takes at each stage of Deep Compression (Table 2/3 of the paper)."""

    name: str
    weights: int
    nonzero: int
    bias_count: int
    bits: int | None
    index_bits: int
    fillers: int
    huffman_weight_bits: int | None
    huffman_index_bits: int

    @property
    def bias_bits(self) -> int:
        return 32 * self.bias_count

    @property
    def dense_bits(self) -> int:
        return 32 * self.weights + self.bias_bits

    @property
    def sparse_bits(self) -> int:
        """Pruned, float32 non-zeros in relative-index form."""
        entries = self.nonzero + self.fillers
        return 32 * self.nonzero + self.index_bits * entries + self.bias_bits

    @property
    def shared_bits(self) -> int | None:
        """Pruned + quantized: a ``bits`` cluster index per non-zero, plus the codebook."""
        if self.bits is None:
            return None
        entries = self.nonzero + self.fillers
        codebook = 32 * 2**self.bits
        return self.bits * self.nonzero + self.index_bits * entries + codebook + self.bias_bits

    @property
    def huffman_bits(self) -> int | None:
        """Pruned + quantized + Huffman-coded streams, codebook and code-length tables."""
        if self.bits is None or self.huffman_weight_bits is None:
            return None
        # A canonical Huffman code is described by one length (one byte) per symbol.
        tables = 8 * (2**self.bits + 2**self.index_bits)
        codebook = 32 * 2**self.bits
        return (
            self.huffman_weight_bits + self.huffman_index_bits + tables + codebook + self.bias_bits
        )

    @property
    def avg_weight_bits(self) -> float | None:
        """Huffman-coded bits per non-zero weight (the paper's "weight bits P+Q+H")."""
        if self.huffman_weight_bits is None or not self.nonzero:
            return None
        return self.huffman_weight_bits / self.nonzero

    @property
    def avg_index_bits(self) -> float:
        """Huffman-coded index bits per non-zero (the paper's "index bits P+Q+H")."""
        return self.huffman_index_bits / self.nonzero if self.nonzero else 0.0


def _layer_storage(name: str, module: nn.Module, index_bits: int) -> LayerStorage:
    shared = hasattr(module, "weight_codes")
    codes = module.weight_codes if shared else None
    weight = module.weight.detach()
    positions = torch.nonzero(weight.flatten() != 0).flatten()
    index_stream = relative_indices(positions, index_bits)
    _, index_lengths = huffman_encode(index_stream)
    counts = Counter(index_stream)
    huffman_index = sum(index_lengths[s] * n for s, n in counts.items())
    bits = huffman_weights = None
    if shared:
        bits = int(module.weight_centroids.numel()).bit_length() - 1
        symbols = codes.flatten()[positions].tolist()
        weight_counts = Counter(symbols)
        weight_lengths = huffman_code_lengths(weight_counts)
        huffman_weights = sum(weight_lengths[s] * n for s, n in weight_counts.items())
    bias = getattr(module, "bias", None)
    return LayerStorage(
        name=name,
        weights=weight.numel(),
        nonzero=positions.numel(),
        bias_count=0 if bias is None else bias.numel(),
        bits=bits,
        index_bits=index_bits,
        fillers=len(index_stream) - positions.numel(),
        huffman_weight_bits=huffman_weights,
        huffman_index_bits=huffman_index,
    )


@dataclass
class StorageReport:
    """Per-layer storage of a (pruned, shared) model, rendered like the paper's Tables 2-3."""

    layers: list[LayerStorage]
    other_params: int
    """Parameters outside Conv/Linear layers (BatchNorm, ...), stored as float32."""

    def total(self, stage: str) -> int:
        """Total bits at ``stage``: ``dense``, ``sparse``, ``shared`` or ``huffman``."""
        values = [getattr(layer, f"{stage}_bits") for layer in self.layers]
        fallback = [layer.sparse_bits for layer in self.layers]
        bits = sum(v if v is not None else f for v, f in zip(values, fallback, strict=True))
        return bits + 32 * self.other_params

    def ratio(self, stage: str) -> float:
        return self.total("dense") / self.total(stage)

    def rows(self) -> tuple[list[str], list[list[str]]]:
        header = ["Layer", "Weights", "Non-zero", "Bits", "Weight bits (H)", "Index bits (H)",
                  "Fillers", "Dense", "Sparse", "Shared", "Huffman", "Ratio"]  # fmt: skip

        def kb(bits: int | None) -> str:
            return "-" if bits is None else f"{bits / 8000:,.2f} KB"

        rows = []
        for layer in self.layers:
            final = layer.huffman_bits or layer.sparse_bits
            rows.append(
                [
                    layer.name,
                    f"{layer.weights:,}",
                    f"{layer.nonzero:,} ({100 * layer.nonzero / layer.weights:.1f}%)",
                    "-" if layer.bits is None else str(layer.bits),
                    "-" if layer.avg_weight_bits is None else f"{layer.avg_weight_bits:.2f}",
                    f"{layer.index_bits} ({layer.avg_index_bits:.2f})",
                    f"{layer.fillers:,}",
                    kb(layer.dense_bits),
                    kb(layer.sparse_bits),
                    kb(layer.shared_bits),
                    kb(layer.huffman_bits),
                    f"{layer.dense_bits / final:.1f}x",
                ]
            )
        weights = sum(layer.weights for layer in self.layers)
        nonzero = sum(layer.nonzero for layer in self.layers)
        rows.append(
            [
                "total",
                f"{weights:,}",
                f"{nonzero:,} ({100 * nonzero / max(1, weights):.1f}%)",
                "",
                "",
                "",
                f"{sum(layer.fillers for layer in self.layers):,}",
                *(kb(self.total(s)) for s in ("dense", "sparse", "shared", "huffman")),
                f"{self.ratio('huffman'):.1f}x",
            ]
        )
        return header, rows

    def notes(self) -> list[str]:
        return [
            "KB = 1,000 bytes. Dense: float32 weights and biases. Sparse: pruned float32 "
            "non-zeros + relative indices. Shared: a cluster index per non-zero + float32 "
            "codebook. Huffman: both streams Huffman-coded + code-length tables. Biases float32 "
            f"in every column; {self.other_params:,} other parameters float32.",
            f"Ratios: sparse {self.ratio('sparse'):.1f}x, shared {self.ratio('shared'):.1f}x, "
            f"Huffman {self.ratio('huffman'):.1f}x.",
        ]

    def to_text(self, width: int = 220) -> str:
        header, rows = self.rows()
        return text_table(header, rows, 1, self.notes(), width)

    def to_markdown(self) -> str:
        header, rows = self.rows()
        return markdown_table(header, rows, self.notes())

    def to_dict(self) -> dict[str, object]:
        return {
            "layers": [
                {
                    **layer.__dict__,
                    "dense_bits": layer.dense_bits,
                    "sparse_bits": layer.sparse_bits,
                    "shared_bits": layer.shared_bits,
                    "huffman_bits": layer.huffman_bits,
                }
                for layer in self.layers
            ],
            "other_params": self.other_params,
            "totals_bits": {s: self.total(s) for s in ("dense", "sparse", "shared", "huffman")},
        }


def storage_report(model: nn.Module, index_bits: int | Mapping[str, int] = 5) -> StorageReport:
    """Storage of every Conv/Linear layer of ``model`` as the paper counts it (see module doc).

    ``index_bits`` is the width of the relative index (the paper: 5 for LeNet, 4 for AlexNet's
    convolutions); one number or ``{layer pattern: bits}``."""
    layers = prunable_layers(model)
    names = [n for n, _ in layers]
    widths = resolve_per_layer(names, index_bits, check_bits)  # type: ignore[arg-type]
    rows = [_layer_storage(name, module, widths.get(name, 5)) for name, module in layers]
    counted = {id(p) for _, m in layers for p in m.parameters(recurse=False)}
    other = sum(p.numel() for p in model.parameters() if id(p) not in counted)
    return StorageReport(rows, other)
