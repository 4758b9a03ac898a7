"""numba kernels behind :mod:`cnnzoo.train.fused` (imported lazily: numba takes a moment).

Compiled on first use and cached by numba next to this file (or in ``$NUMBA_CACHE_DIR``).
The innermost loops run over output channels, which LLVM vectorises.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

_OPTIONS: dict[str, Any] = {
    "parallel": True,
    "fastmath": True,
    "boundscheck": False,
    "error_model": "numpy",
    "cache": True,
}

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S27, _S30, _S31, _S32 = np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(32)
_BLOCK = 65536


@numba.njit(inline="always")
def _window_taps(x, b, ci, r, s):  # pragma: no cover - compiled
    """The input under one kernel tap for the four positions of a 2x2 pooling window."""
    return x[b, ci, r, s], x[b, ci, r, s + 1], x[b, ci, r + 1, s], x[b, ci, r + 1, s + 1]


@numba.njit(inline="always")
def _keep(seed, index, threshold):  # pragma: no cover - compiled
    """Dropout's decision for element ``index``: SplitMix64(seed, index)'s top 32 bits reach
    ``threshold`` (= p * 2**32)."""
    z = seed + np.uint64(index + 1) * _GOLDEN
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return (z >> _S32) >= threshold


@numba.njit(inline="always")
def _conv_window(x, w, bias, b, i, j, a0, a1, a2, a3):  # pragma: no cover - compiled
    """The convolution (plus bias) at the four positions of pooled output (i, j)."""
    cin, k, c_out = w.shape[0], w.shape[1], w.shape[3]
    for c in range(c_out):
        a0[c] = bias[c]
        a1[c] = bias[c]
        a2[c] = bias[c]
        a3[c] = bias[c]
    for ci in range(cin):
        for ty in range(k):
            for tx in range(k):
                x0, x1, x2, x3 = _window_taps(x, b, ci, 2 * i + ty, 2 * j + tx)
                for c in range(c_out):
                    wv = w[ci, ty, tx, c]
                    a0[c] += x0 * wv
                    a1[c] += x1 * wv
                    a2[c] += x2 * wv
                    a3[c] += x3 * wv


@numba.njit(**_OPTIONS)
def stem_forward(x, w, bias, out, arg, seed, threshold, scale):  # pragma: no cover - compiled
    """``out = dropout(relu(maxpool2x2(conv(x) + bias)))`` and the argmax (0..3) of each 2x2
    window; ``threshold = 0`` means no dropout.

    x (B, Cin, H, W); w (Cin, K, K, C); out (B, C, Ho, Wo); arg (B, Ho, Wo, C) uint8. The four
    window positions are accumulated together, so each weight is loaded once per tap. The mask is
    :func:`dropout_apply`'s for the same seed (an element's index is its place in ``out``).
    """
    seed = np.uint64(seed)
    threshold = np.uint64(threshold)
    scale = np.float32(scale)
    batch = x.shape[0]
    c_out = w.shape[3]
    ho, wo = out.shape[2], out.shape[3]
    for row in numba.prange(batch * ho):
        b = row // ho
        i = row % ho
        a0 = np.empty(c_out, np.float32)
        a1 = np.empty(c_out, np.float32)
        a2 = np.empty(c_out, np.float32)
        a3 = np.empty(c_out, np.float32)
        for j in range(wo):
            _conv_window(x, w, bias, b, i, j, a0, a1, a2, a3)
            for c in range(c_out):
                best = a0[c]
                q = 0
                if a1[c] > best:
                    best = a1[c]
                    q = 1
                if a2[c] > best:
                    best = a2[c]
                    q = 2
                if a3[c] > best:
                    best = a3[c]
                    q = 3
                value = max(best, np.float32(0.0))
                if threshold > 0:
                    index = ((b * c_out + c) * ho + i) * wo + j
                    value = value * scale if _keep(seed, index, threshold) else np.float32(0.0)
                out[b, c, i, j] = value
                arg[b, i, j, c] = q


@numba.njit(**_OPTIONS)
def stem_backward(x, grad, out, arg, k, scale, grad_w, grad_b):  # pragma: no cover - compiled
    """Weight and bias gradients of :func:`stem_forward`, one partial sum per batch chunk:
    grad_w (T, Cin, K, K, C), grad_b (T, C), both zero on entry.

    An output passed its gradient iff it is positive (kept by both ReLU and dropout), so the
    dropout mask needs no recomputing; ``scale`` is dropout's 1 / (1 - p).
    """
    scale = np.float32(scale)
    batch, cin = x.shape[0], x.shape[1]
    c_out, ho, wo = grad.shape[1], grad.shape[2], grad.shape[3]
    chunks = grad_w.shape[0]
    zero = np.float32(0.0)
    for t in numba.prange(chunks):
        g0 = np.empty(c_out, np.float32)
        g1 = np.empty(c_out, np.float32)
        g2 = np.empty(c_out, np.float32)
        g3 = np.empty(c_out, np.float32)
        for b in range(t * batch // chunks, (t + 1) * batch // chunks):
            for i in range(ho):
                for j in range(wo):
                    for c in range(c_out):
                        g = grad[b, c, i, j] * scale if out[b, c, i, j] > 0 else zero
                        grad_b[t, c] += g
                        q = arg[b, i, j, c]
                        g0[c] = g if q == 0 else zero
                        g1[c] = g if q == 1 else zero
                        g2[c] = g if q == 2 else zero
                        g3[c] = g if q == 3 else zero
                    for ci in range(cin):
                        for ty in range(k):
                            for tx in range(k):
                                x0, x1, x2, x3 = _window_taps(x, b, ci, 2 * i + ty, 2 * j + tx)
                                for c in range(c_out):
                                    grad_w[t, ci, ty, tx, c] += (
                                        x0 * g0[c] + x1 * g1[c] + x2 * g2[c] + x3 * g3[c]
                                    )


# Eigen's float tanh (generic_fast_tanh_float): a 13/6 rational function on [-7.9, 7.9], within
# a few float ulps of tanh, branch-free so that the channel loops vectorise (numba's np.tanh is
# a scalar libm call per element).
_TANH_CLAMP = np.float32(7.90531110763549805)
_A1, _A3, _A5 = np.float32(4.89352455891786e-03), np.float32(6.37261928875436e-04), np.float32(1.48572235717979e-05)  # fmt: skip
_A7, _A9 = np.float32(5.12229709037114e-08), np.float32(-8.60467152213735e-11)
_A11, _A13 = np.float32(2.00018790482477e-13), np.float32(-2.76076847742355e-16)
_B0, _B2 = np.float32(4.89352518554385e-03), np.float32(2.26843463243900e-03)
_B4, _B6 = np.float32(1.18534705686654e-04), np.float32(1.19825839466702e-06)
_TINY = np.float32(0.0004)


@numba.njit(inline="always")
def _tanh(x):  # pragma: no cover - compiled
    y = min(max(x, -_TANH_CLAMP), _TANH_CLAMP)
    y2 = y * y
    p = y2 * (y2 * (y2 * (y2 * (y2 * (y2 * _A13 + _A11) + _A9) + _A7) + _A5) + _A3) + _A1
    q = y2 * (y2 * (y2 * _B6 + _B4) + _B2) + _B0
    return x if abs(x) < _TINY else y * p / q


@numba.njit(**_OPTIONS)
def tanh_stem_forward(x, w, bias, out):  # pragma: no cover - compiled
    """``out = avgpool2x2(tanh(conv(x) + bias))``: x (B, Cin, H, W); w (Cin, K, K, C);
    out (B, C, Ho, Wo). Nothing else is stored: the backward pass recomputes the convolution."""
    batch = x.shape[0]
    c_out = w.shape[3]
    ho, wo = out.shape[2], out.shape[3]
    quarter = np.float32(0.25)
    for row in numba.prange(batch * ho):
        b = row // ho
        i = row % ho
        a0 = np.empty(c_out, np.float32)
        a1 = np.empty(c_out, np.float32)
        a2 = np.empty(c_out, np.float32)
        a3 = np.empty(c_out, np.float32)
        for j in range(wo):
            _conv_window(x, w, bias, b, i, j, a0, a1, a2, a3)
            for c in range(c_out):
                t = _tanh(a0[c]) + _tanh(a1[c]) + _tanh(a2[c]) + _tanh(a3[c])
                out[b, c, i, j] = t * quarter


@numba.njit(**_OPTIONS)
def tanh_stem_backward(x, w, bias, grad, grad_w, grad_b):  # pragma: no cover - compiled
    """Weight and bias gradients of :func:`tanh_stem_forward`, one partial sum per batch chunk
    (grad_w (T, Cin, K, K, C), grad_b (T, C), zero on entry); each window's convolution is
    recomputed, and its tanh with it (``d tanh = 1 - tanh**2``)."""
    batch, cin = x.shape[0], x.shape[1]
    k, c_out = w.shape[1], w.shape[3]
    ho, wo = grad.shape[2], grad.shape[3]
    chunks = grad_w.shape[0]
    quarter = np.float32(0.25)
    one = np.float32(1.0)
    for t in numba.prange(chunks):
        a0 = np.empty(c_out, np.float32)
        a1 = np.empty(c_out, np.float32)
        a2 = np.empty(c_out, np.float32)
        a3 = np.empty(c_out, np.float32)
        for b in range(t * batch // chunks, (t + 1) * batch // chunks):
            for i in range(ho):
                for j in range(wo):
                    _conv_window(x, w, bias, b, i, j, a0, a1, a2, a3)
                    for c in range(c_out):
                        g = grad[b, c, i, j] * quarter
                        t0, t1, t2, t3 = _tanh(a0[c]), _tanh(a1[c]), _tanh(a2[c]), _tanh(a3[c])
                        a0[c] = g * (one - t0 * t0)
                        a1[c] = g * (one - t1 * t1)
                        a2[c] = g * (one - t2 * t2)
                        a3[c] = g * (one - t3 * t3)
                        grad_b[t, c] += a0[c] + a1[c] + a2[c] + a3[c]
                    for ci in range(cin):
                        for ty in range(k):
                            for tx in range(k):
                                x0, x1, x2, x3 = _window_taps(x, b, ci, 2 * i + ty, 2 * j + tx)
                                for c in range(c_out):
                                    grad_w[t, ci, ty, tx, c] += (
                                        x0 * a0[c] + x1 * a1[c] + x2 * a2[c] + x3 * a3[c]
                                    )


@numba.njit(**_OPTIONS)
def dropout_apply(src, dst, seed, threshold, scale):  # pragma: no cover - compiled
    """``dst = src * scale`` where SplitMix64(seed, index)'s top 32 bits reach ``threshold``,
    else 0. The same call masks the gradient in the backward pass."""
    n = src.shape[0]
    seed = np.uint64(seed)
    threshold = np.uint64(threshold)
    scale = np.float32(scale)
    for block in numba.prange((n + _BLOCK - 1) // _BLOCK):
        for e in range(block * _BLOCK, min(n, (block + 1) * _BLOCK)):
            dst[e] = src[e] * scale if _keep(seed, e, threshold) else np.float32(0.0)


# -- batch norm (training) + residual add + ReLU, NCHW viewed as (B, C, H*W) -------------------


@numba.njit(**_OPTIONS)
def bn_stats(x, mean, var):  # pragma: no cover - compiled
    """Per-channel mean and biased variance of x (B, C, N) over B and N, float64 sums."""
    batch, channels, n = x.shape
    count = batch * n
    for c in numba.prange(channels):
        s = 0.0
        ss = 0.0
        for b in range(batch):
            for i in range(n):
                v = np.float64(x[b, c, i])
                s += v
                ss += v * v
        m = s / count
        mean[c] = m
        var[c] = max(ss / count - m * m, 0.0)


@numba.njit(**_OPTIONS)
def bn_act_forward(x, res, out, scale, shift, has_res, relu):  # pragma: no cover - compiled
    """``out = act(x * scale[c] + shift[c] (+ res))``, act = ReLU or identity; res is ignored
    unless ``has_res``."""
    batch, channels, n = x.shape
    zero = np.float32(0.0)
    for bc in numba.prange(batch * channels):
        b = bc // channels
        c = bc % channels
        sc = scale[c]
        sh = shift[c]
        if has_res:
            if relu:
                for i in range(n):
                    out[b, c, i] = max(x[b, c, i] * sc + sh + res[b, c, i], zero)
            else:
                for i in range(n):
                    out[b, c, i] = x[b, c, i] * sc + sh + res[b, c, i]
        elif relu:
            for i in range(n):
                out[b, c, i] = max(x[b, c, i] * sc + sh, zero)
        else:
            for i in range(n):
                out[b, c, i] = x[b, c, i] * sc + sh


@numba.njit(**_OPTIONS)
def bn_act_backward_sums(grad, out, x, mean, relu, sum_g, sum_gx):  # pragma: no cover - compiled
    """Per channel: ``sum_g = sum(g)`` and ``sum_gx = sum(g * (x - mean))`` of the gradient ``g``
    reaching the batch norm's output (``grad`` where ``out > 0`` after a ReLU)."""
    batch, channels, n = x.shape
    for c in numba.prange(channels):
        m = np.float32(mean[c])
        s1 = 0.0
        s2 = 0.0
        for b in range(batch):
            t1 = np.float32(0.0)
            t2 = np.float32(0.0)
            if relu:
                for i in range(n):
                    g = grad[b, c, i] if out[b, c, i] > 0 else np.float32(0.0)
                    t1 += g
                    t2 += g * (x[b, c, i] - m)
            else:
                for i in range(n):
                    g = grad[b, c, i]
                    t1 += g
                    t2 += g * (x[b, c, i] - m)
            s1 += t1
            s2 += t2
        sum_g[c] = s1
        sum_gx[c] = s2


@numba.njit(**_OPTIONS)
def bn_act_backward_apply(
    grad, out, x, grad_x, grad_res, coef_g, coef_x, coef_c, has_res, relu
):  # pragma: no cover - compiled
    """``grad_x = coef_g[c] * g + coef_x[c] * x + coef_c[c]`` (batch norm's input gradient, linear
    in g and x once the sums are known) and ``grad_res = g`` if ``has_res``."""
    batch, channels, n = x.shape
    zero = np.float32(0.0)
    for bc in numba.prange(batch * channels):
        b = bc // channels
        c = bc % channels
        kg = coef_g[c]
        kx = coef_x[c]
        kc = coef_c[c]
        for i in range(n):
            g = grad[b, c, i]
            if relu and not out[b, c, i] > 0:
                g = zero
            grad_x[b, c, i] = kg * g + kx * x[b, c, i] + kc
            if has_res:
                grad_res[b, c, i] = g


# -- the same for channels_last, viewed as (B*H*W, C) ------------------------------------------


@numba.njit(**_OPTIONS)
def bn_stats_rows(x, sums, squares):  # pragma: no cover - compiled
    """Partial per-channel sums and sums of squares of x (M, C), one row of ``sums`` /
    ``squares`` (T, C), float64, per chunk of rows."""
    rows, channels = x.shape
    chunks = sums.shape[0]
    for t in numba.prange(chunks):
        for m in range(t * rows // chunks, (t + 1) * rows // chunks):
            for c in range(channels):
                v = np.float64(x[m, c])
                sums[t, c] += v
                squares[t, c] += v * v


@numba.njit(**_OPTIONS)
def bn_act_forward_rows(x, res, out, scale, shift, has_res, relu):  # pragma: no cover - compiled
    """:func:`bn_act_forward` on (M, C) rows."""
    rows, channels = x.shape
    zero = np.float32(0.0)
    for m in numba.prange(rows):
        for c in range(channels):
            v = x[m, c] * scale[c] + shift[c]
            if has_res:
                v += res[m, c]
            out[m, c] = max(v, zero) if relu else v


@numba.njit(**_OPTIONS)
def bn_act_backward_sums_rows(grad, out, x, mean, relu, sum_g, sum_gx):  # pragma: no cover
    """:func:`bn_act_backward_sums` on (M, C) rows, partial sums (T, C) per chunk of rows."""
    rows, channels = x.shape
    chunks = sum_g.shape[0]
    zero = np.float32(0.0)
    for t in numba.prange(chunks):
        for m in range(t * rows // chunks, (t + 1) * rows // chunks):
            for c in range(channels):
                g = grad[m, c]
                if relu and not out[m, c] > 0:
                    g = zero
                sum_g[t, c] += g
                sum_gx[t, c] += g * (x[m, c] - mean[c])


@numba.njit(**_OPTIONS)
def bn_act_backward_apply_rows(
    grad, out, x, grad_x, grad_res, coef_g, coef_x, coef_c, has_res, relu
):  # pragma: no cover - compiled
    """:func:`bn_act_backward_apply` on (M, C) rows."""
    rows, channels = x.shape
    zero = np.float32(0.0)
    for m in numba.prange(rows):
        for c in range(channels):
            g = grad[m, c]
            if relu and not out[m, c] > 0:
                g = zero
            grad_x[m, c] = coef_g[c] * g + coef_x[c] * x[m, c] + coef_c[c]
            if has_res:
                grad_res[m, c] = g
