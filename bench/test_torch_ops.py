"""The torch-compatibility ops, forward+backward where differentiable, at realistic sizes:
pydlk (autograd as users call it), plain NumPy where there is a natural NumPy formulation
(forward and hand-written backward, fresh temporaries each call), and torch (autograd, same
thread count). Each step includes allocating its outputs and gradients, for all three.

  gather / scatter_add / index_select   (4096, 1024) float32, dim 1 (index_select: 4096 rows)
  topk (k=10) / sort                     (4096, 1000) float32, dim 1
  einsum 'bij,bjk->bik'                  (64, 128, 128) x (64, 128, 128)
  pad (1,1,1,1) constant and reflect,    (64, 32, 32, 32)
  interpolate x2 nearest and bilinear
  interpolate antialias bilinear and     (32, 3, 224, 224) -> (112, 112) (torchvision's Resize
    bicubic                              on tensors); NumPy: dense PIL-style weight matrices
  interpolate uint8 bilinear, bicubic    (32, 3, 224, 224) uint8 -> (112, 112), forward only
  conv1d                                 N 64, 64 -> 64 channels, L 256, k 3, padding 1
  conv_transpose2d                       N 64, 32 -> 16 channels, 16x16, k 4, stride 2, pad 1
  cosine_similarity                      (4096, 256) x (4096, 256), dim 1
  LSTMCell / GRUCell, one step           batch 64, 128 -> 256
  TransformerEncoderLayer                seq 64, batch 32, d_model 128, 4 heads, torch's
                                         defaults otherwise (dim_feedforward 2048, dropout 0.1)
  Adadelta step                          one 16M-float32 parameter

test_numpy_contender_is_right checks every NumPy formulation against torch on small inputs:
a wrong contender would make the comparison mean nothing.
"""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import pydlk
import pydlk.functional as F

f32 = np.float32
TOPK = 10


# ----------------------------------------------------------------------------- data


def _idx_data(rng, small):
    N, M = (6, 5) if small else (4096, 1024)
    return {
        "x": rng.standard_normal((N, M)).astype(f32),
        "src": rng.standard_normal((N, M)).astype(f32),
        "idx": rng.integers(0, M, (N, M)),
        "rows": rng.integers(0, N, N),
        "dy": rng.standard_normal((N, M)).astype(f32),
    }


def _sel_data(rng, small):
    N, M = (5, 12) if small else (4096, 1000)
    return {
        "x": rng.standard_normal((N, M)).astype(f32),
        "dy_topk": rng.standard_normal((N, TOPK)).astype(f32),
        "dy": rng.standard_normal((N, M)).astype(f32),
    }


def _einsum_data(rng, small):
    B, n = (2, 5) if small else (64, 128)
    return {k: rng.standard_normal((B, n, n)).astype(f32) for k in ("a", "b", "dy")}


def _img_data(rng, small):
    N, C, H = (2, 3, 4) if small else (64, 32, 32)
    return {
        "x": rng.standard_normal((N, C, H, H)).astype(f32),
        "dy_pad": rng.standard_normal((N, C, H + 2, H + 2)).astype(f32),
        "dy_up": rng.standard_normal((N, C, 2 * H, 2 * H)).astype(f32),
    }


def _aa_data(rng, small):
    N, C, H = (2, 3, 9) if small else (32, 3, 224)
    return {
        "x": rng.standard_normal((N, C, H, H)).astype(f32),
        "dy": rng.standard_normal((N, C, H // 2, H // 2)).astype(f32),
    }


def _u8_data(rng, small):
    N, C, H = (2, 3, 9) if small else (32, 3, 224)
    return {"x": rng.integers(0, 256, (N, C, H, H)).astype(np.uint8)}


def _conv1d_data(rng, small):
    N, C, L = (2, 3, 7) if small else (64, 64, 256)
    s = 1 / np.sqrt(3 * C)
    return {
        "x": rng.standard_normal((N, C, L)).astype(f32),
        "w": rng.uniform(-s, s, (C, C, 3)).astype(f32),
        "b": rng.uniform(-s, s, C).astype(f32),
        "dy": rng.standard_normal((N, C, L)).astype(f32),
    }


def _convt_data(rng, small):
    N, Ci, Co, H = (2, 3, 2, 4) if small else (64, 32, 16, 16)
    s = 1 / np.sqrt(16 * Co)
    return {
        "x": rng.standard_normal((N, Ci, H, H)).astype(f32),
        "w": rng.uniform(-s, s, (Ci, Co, 4, 4)).astype(f32),
        "b": rng.uniform(-s, s, Co).astype(f32),
        "dy": rng.standard_normal((N, Co, 2 * H, 2 * H)).astype(f32),
    }


def _cos_data(rng, small):
    N, D = (5, 7) if small else (4096, 256)
    return {
        "a": rng.standard_normal((N, D)).astype(f32),
        "b": rng.standard_normal((N, D)).astype(f32),
        "dy": rng.standard_normal(N).astype(f32),
    }


def _cell_data(rng, small):
    N, I, H = (3, 4, 5) if small else (64, 128, 256)
    s = 1 / np.sqrt(H)
    return {
        "x": rng.standard_normal((N, I)).astype(f32),
        "h": rng.standard_normal((N, H)).astype(f32),
        "c": rng.standard_normal((N, H)).astype(f32),
        "w_ih": rng.uniform(-s, s, (4 * H, I)).astype(f32),
        "w_hh": rng.uniform(-s, s, (4 * H, H)).astype(f32),
        "b_ih": rng.uniform(-s, s, 4 * H).astype(f32),
        "b_hh": rng.uniform(-s, s, 4 * H).astype(f32),
        "dy": rng.standard_normal((N, H)).astype(f32),
    }


def _tf_data(rng, small):
    S, N, D = (5, 2, 8) if small else (64, 32, 128)
    return {k: rng.standard_normal((S, N, D)).astype(f32) for k in ("x", "dy")}


def _opt_data(rng, small):
    n = 7 if small else 16 * 1024 * 1024
    return {
        "p": rng.standard_normal(n).astype(f32),
        "g": (rng.standard_normal(n) * 1e-3).astype(f32),
    }


# ----------------------------------------------------------------------------- helpers


def _leaves(lib, d, names):
    """Leaves that require grad, in pydlk or torch, holding d's arrays (copies)."""
    if lib == "pydlk":
        return [pydlk.tensor(d[k].copy(), requires_grad=True) for k in names]
    import torch

    return [torch.tensor(d[k]).requires_grad_() for k in names]


def _const(lib, a):
    if lib == "pydlk":
        return pydlk.tensor(a)
    import torch

    return torch.tensor(a)


def _autograd(lib, d, names, fn, dy_key="dy"):
    """A step: clear the leaves' grads, y = fn(*leaves), y.backward(dy); returns y and grads."""
    xs = _leaves(lib, d, names)
    dy = _const(lib, d[dy_key].astype(f32))

    def step():
        for x in xs:
            x.grad = None
        y = fn(*xs)
        y.backward(dy)
        return [y] + [x.grad for x in xs]

    return step


def _mod(lib):
    """The functional namespace, the top-level namespace and nn of pydlk or torch."""
    if lib == "pydlk":
        return F, pydlk, pydlk.nn
    import torch

    return torch.nn.functional, torch, torch.nn


# ----------------------------------------------------------------------------- indexing


def gather(lib, d):
    _, T, _ = _mod(lib)
    idx = _const(lib, d["idx"])
    return _autograd(lib, d, ["x"], lambda x: T.gather(x, 1, idx))


def gather_np(d):
    x, idx, dy = d["x"], d["idx"], d["dy"]
    N, M = x.shape
    flat = (idx + np.arange(N)[:, None] * M).ravel()

    def step():
        y = np.take_along_axis(x, idx, 1)
        dx = np.bincount(flat, weights=dy.ravel(), minlength=N * M).reshape(N, M).astype(f32)
        return [y, dx]

    return step


def scatter_add(lib, d):
    _, T, _ = _mod(lib)
    idx = _const(lib, d["idx"])
    return _autograd(lib, d, ["x", "src"], lambda x, s: T.scatter_add(x, 1, idx, s))


def scatter_add_np(d):
    x, src, idx, dy = d["x"], d["src"], d["idx"], d["dy"]
    N, M = x.shape
    flat = (idx + np.arange(N)[:, None] * M).ravel()

    def step():
        y = x + np.bincount(flat, weights=src.ravel(), minlength=N * M).reshape(N, M).astype(f32)
        return [y, dy.copy(), np.take_along_axis(dy, idx, 1)]

    return step


def index_select(lib, d):
    _, T, _ = _mod(lib)
    rows = _const(lib, d["rows"])
    return _autograd(lib, d, ["x"], lambda x: T.index_select(x, 0, rows))


def index_select_np(d):
    x, rows, dy = d["x"], d["rows"], d["dy"]

    def step():
        y = x[rows]
        dx = np.zeros_like(x)
        np.add.at(dx, rows, dy)
        return [y, dx]

    return step


# ----------------------------------------------------------------------------- selection


def topk(lib, d):
    _, T, _ = _mod(lib)
    return _autograd(lib, d, ["x"], lambda x: T.topk(x, TOPK, dim=1).values, "dy_topk")


def topk_np(d):
    x, dy = d["x"], d["dy_topk"]

    def step():
        part = np.argpartition(-x, TOPK, axis=1)[:, :TOPK]
        order = np.argsort(-np.take_along_axis(x, part, 1), axis=1)
        idx = np.take_along_axis(part, order, 1)
        y = np.take_along_axis(x, idx, 1)
        dx = np.zeros_like(x)
        np.put_along_axis(dx, idx, dy, 1)
        return [y, dx]

    return step


def sort(lib, d):
    _, T, _ = _mod(lib)
    return _autograd(lib, d, ["x"], lambda x: T.sort(x, dim=1).values)


def sort_np(d):
    x, dy = d["x"], d["dy"]

    def step():
        idx = np.argsort(x, axis=1)
        y = np.take_along_axis(x, idx, 1)
        dx = np.empty_like(x)
        np.put_along_axis(dx, idx, dy, 1)
        return [y, dx]

    return step


# ----------------------------------------------------------------------------- einsum


def einsum(lib, d):
    _, T, _ = _mod(lib)
    return _autograd(lib, d, ["a", "b"], lambda a, b: T.einsum("bij,bjk->bik", a, b))


def einsum_np(d):
    a, b, dy = d["a"], d["b"], d["dy"]

    def step():  # the batched matmul einsum names, and its two products for the gradients
        return [a @ b, dy @ b.transpose(0, 2, 1), a.transpose(0, 2, 1) @ dy]

    return step


# ----------------------------------------------------------------------------- pad, interpolate


def pad_constant(lib, d):
    Fn, _, _ = _mod(lib)
    return _autograd(lib, d, ["x"], lambda x: Fn.pad(x, (1, 1, 1, 1)), "dy_pad")


def pad_constant_np(d):
    x, dy = d["x"], d["dy_pad"]

    def step():
        y = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        return [y, np.ascontiguousarray(dy[:, :, 1:-1, 1:-1])]

    return step


def pad_reflect(lib, d):
    Fn, _, _ = _mod(lib)
    return _autograd(lib, d, ["x"], lambda x: Fn.pad(x, (1, 1, 1, 1), mode="reflect"), "dy_pad")


def up_nearest(lib, d):
    Fn, _, _ = _mod(lib)
    return _autograd(lib, d, ["x"], lambda x: Fn.interpolate(x, scale_factor=2), "dy_up")


def up_nearest_np(d):
    x, dy = d["x"], d["dy_up"]
    N, C, H, W = x.shape

    def step():
        y = x.repeat(2, axis=2).repeat(2, axis=3)
        return [y, dy.reshape(N, C, H, 2, W, 2).sum((3, 5))]

    return step


def up_bilinear(lib, d):
    Fn, _, _ = _mod(lib)
    return _autograd(
        lib, d, ["x"], lambda x: Fn.interpolate(x, scale_factor=2, mode="bilinear"), "dy_up"
    )


def _aa(mode):
    def make(lib, d):
        Fn, _, _ = _mod(lib)
        o = d["dy"].shape[2:]
        return _autograd(
            lib, d, ["x"], lambda x: Fn.interpolate(x, size=o, mode=mode, antialias=True)
        )

    return make


def _u8(mode):
    """uint8 images resized without antialias (torch's separable integer path), no gradient."""

    def make(lib, d):
        Fn, _, _ = _mod(lib)
        x = _const(lib, d["x"])
        o = (x.shape[2] // 2, x.shape[3] // 2)
        return lambda: [Fn.interpolate(x, size=o, mode=mode)]

    return make


def _aa_np(mode):
    """What a NumPy user writes: PIL's filter as a dense (out, in) matrix per axis, built once,
    y = Wh @ x @ Ww^T and dx = Wh^T @ dy @ Ww."""

    def weights(n_in, n_out):
        s = n_in / n_out
        stretch, a = max(s, 1.0), -0.5
        t = np.abs((np.arange(n_in) + 0.5 - s * (np.arange(n_out)[:, None] + 0.5)) / stretch)
        if mode == "bilinear":
            w = np.maximum(1 - t, 0)
        else:
            near = ((a + 2) * t - (a + 3)) * t * t + 1
            far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
            w = np.where(t < 1, near, np.where(t < 2, far, 0))
        return (w / w.sum(1, keepdims=True)).astype(f32)

    def make(d):
        x, dy = d["x"], d["dy"]
        wh = weights(x.shape[2], dy.shape[2])
        ww = weights(x.shape[3], dy.shape[3])

        def step():
            return [wh @ x @ ww.T, wh.T @ dy @ ww]

        return step

    return make


# ----------------------------------------------------------------------------- convolutions


def conv1d(lib, d):
    Fn, _, _ = _mod(lib)
    return _autograd(lib, d, ["x", "w", "b"], lambda x, w, b: Fn.conv1d(x, w, b, padding=1))


def conv1d_np(d):
    """im2col by sliding_window_view and einsum (BLAS via optimize): y, dx (the full
    correlation of dy with the flipped kernel), dw, db."""
    x, w, b, dy = d["x"], d["w"], d["b"], d["dy"]
    wf = np.ascontiguousarray(w[:, :, ::-1])

    def step():
        cols = sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1))), 3, axis=2)
        y = np.einsum("nclk,ock->nol", cols, w, optimize=True) + b[:, None]
        dcols = sliding_window_view(np.pad(dy, ((0, 0), (0, 0), (1, 1))), 3, axis=2)
        dx = np.einsum("nolk,ock->ncl", dcols, wf, optimize=True)
        dw = np.einsum("nol,nclk->ock", dy, cols, optimize=True)
        return [y, dx, dw, dy.sum((0, 2))]

    return step


def conv_transpose2d(lib, d):
    Fn, _, _ = _mod(lib)
    return _autograd(
        lib,
        d,
        ["x", "w", "b"],
        lambda x, w, b: Fn.conv_transpose2d(x, w, b, stride=2, padding=1),
    )


# ----------------------------------------------------------------------------- similarity


def cosine_similarity(lib, d):
    Fn, _, _ = _mod(lib)
    return _autograd(lib, d, ["a", "b"], lambda a, b: Fn.cosine_similarity(a, b, dim=1))


def cosine_similarity_np(d):
    a, b, dy = d["a"], d["b"], d["dy"]
    eps = f32(1e-8)

    def step():  # torch 2.x: each norm clamped at eps
        na = np.maximum(np.sqrt((a * a).sum(1)), eps)[:, None]
        nb = np.maximum(np.sqrt((b * b).sum(1)), eps)[:, None]
        y = (a * b).sum(1, keepdims=True) / (na * nb)
        g = dy[:, None]
        da = g * (b / (na * nb) - y * a / (na * na))
        db = g * (a / (na * nb) - y * b / (nb * nb))
        return [y[:, 0], da, db]

    return step


# ----------------------------------------------------------------------------- recurrent cells


def _cell(lib, d, kind):
    _, T, nn = _mod(lib)
    I, H = d["x"].shape[1], d["h"].shape[1]
    cls = {"lstm": nn.LSTMCell, "gru": nn.GRUCell}[kind]
    m = cls(I, H)
    rows = (4 if kind == "lstm" else 3) * H  # the data holds LSTM's four gates; GRU uses three
    sd = {f"{k[0]}_{k[2:]}": d[k][:rows] for k in ("w_ih", "w_hh", "b_ih", "b_hh")}
    sd = {("weight" if k[0] == "w" else "bias") + k[1:]: v for k, v in sd.items()}
    m.load_state_dict(sd if lib == "pydlk" else {k: T.tensor(v) for k, v in sd.items()})
    x, h, c = _leaves(lib, d, ["x", "h", "c"])
    dy = _const(lib, d["dy"])

    def step():
        m.zero_grad()
        x.grad = h.grad = c.grad = None
        y = m(x, (h, c))[0] if kind == "lstm" else m(x, h)
        y.backward(dy)
        return [y, x.grad, h.grad, c.grad, m.weight_ih.grad, m.weight_hh.grad, m.bias_ih.grad]

    return step


def lstm_cell(lib, d):
    return _cell(lib, d, "lstm")


def gru_cell(lib, d):
    return _cell(lib, d, "gru")


def _sig(v):
    return 1 / (1 + np.exp(-v))


def lstm_cell_np(d):
    """One LSTM step and its backward from dh' (torch's gate order i, f, g, o)."""
    x, h, c, dh = d["x"], d["h"], d["c"], d["dy"]
    w_ih, w_hh, bias = d["w_ih"], d["w_hh"], d["b_ih"] + d["b_hh"]

    def step():
        i, f, g, o = np.split(x @ w_ih.T + h @ w_hh.T + bias, 4, axis=1)
        i, f, g, o = _sig(i), _sig(f), np.tanh(g), _sig(o)
        c2 = f * c + i * g
        tc = np.tanh(c2)
        h2 = o * tc
        dc2 = dh * o * (1 - tc * tc)
        dgates = np.concatenate(
            [
                dc2 * g * i * (1 - i),
                dc2 * c * f * (1 - f),
                dc2 * i * (1 - g * g),
                dh * tc * o * (1 - o),
            ],
            axis=1,
        )
        dx, dh_in, dc = dgates @ w_ih, dgates @ w_hh, dc2 * f
        return [h2, dx, dh_in, dc, dgates.T @ x, dgates.T @ h, dgates.sum(0)]

    return step


# ----------------------------------------------------------------------------- transformer


def encoder_layer(lib, d):
    _, T, nn = _mod(lib)
    D = d["x"].shape[2]
    m = nn.TransformerEncoderLayer(D, 4)
    m.train()
    (x,) = _leaves(lib, d, ["x"])
    dy = _const(lib, d["dy"])

    def step():
        m.zero_grad()
        x.grad = None
        y = m(x)
        y.backward(dy)
        return [y, x.grad]

    return step


# ----------------------------------------------------------------------------- Adadelta


def adadelta(lib, d):
    _, T, nn = _mod(lib)
    if lib == "pydlk":
        p = nn.Parameter(d["p"].copy())
        p.grad = d["g"]
        o = pydlk.optim.Adadelta([p])
    else:
        p = nn.Parameter(T.tensor(d["p"]))
        p.grad = T.tensor(d["g"])
        o = T.optim.Adadelta([p], foreach=True)

    def step():
        o.step()
        return [p]

    return step


def adadelta_np(d):
    """In place, the way people write it: lr 1, rho 0.9, eps 1e-6 (torch's defaults)."""
    p, g = d["p"].copy(), d["g"]
    v, u = np.zeros_like(p), np.zeros_like(p)
    rho, eps = f32(0.9), f32(1e-6)

    def step():
        v[...] = rho * v + (1 - rho) * g * g
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u[...] = rho * u + (1 - rho) * delta * delta
        p[...] -= delta
        return [p]

    return step


# ----------------------------------------------------------------------------- the table

# name -> (group, data, contestant for pydlk/torch, NumPy contestant or None, useful bytes)
OPS = {
    "gather": ("gather fwd+bwd (4096, 1024) dim 1", _idx_data, gather, gather_np, None),
    "scatter_add": (
        "scatter_add fwd+bwd (4096, 1024) dim 1",
        _idx_data,
        scatter_add,
        scatter_add_np,
        None,
    ),
    "index_select": (
        "index_select fwd+bwd (4096, 1024) dim 0",
        _idx_data,
        index_select,
        index_select_np,
        None,
    ),
    "topk": (f"topk k={TOPK} fwd+bwd (4096, 1000) dim 1", _sel_data, topk, topk_np, None),
    "sort": ("sort fwd+bwd (4096, 1000) dim 1", _sel_data, sort, sort_np, None),
    "einsum": ("einsum bij,bjk->bik fwd+bwd (64, 128, 128)", _einsum_data, einsum, einsum_np, None),
    "pad_constant": (
        "pad constant (1,1,1,1) fwd+bwd (64, 32, 32, 32)",
        _img_data,
        pad_constant,
        pad_constant_np,
        None,
    ),
    "pad_reflect": (
        "pad reflect (1,1,1,1) fwd+bwd (64, 32, 32, 32)",
        _img_data,
        pad_reflect,
        None,
        None,
    ),
    "up_nearest": (
        "interpolate nearest x2 fwd+bwd (64, 32, 32, 32)",
        _img_data,
        up_nearest,
        up_nearest_np,
        None,
    ),
    "up_bilinear": (
        "interpolate bilinear x2 fwd+bwd (64, 32, 32, 32)",
        _img_data,
        up_bilinear,
        None,
        None,
    ),
    "antialias_bilinear": (
        "interpolate bilinear antialias 224->112 fwd+bwd (32, 3, 224, 224)",
        _aa_data,
        _aa("bilinear"),
        _aa_np("bilinear"),
        None,
    ),
    "antialias_bicubic": (
        "interpolate bicubic antialias 224->112 fwd+bwd (32, 3, 224, 224)",
        _aa_data,
        _aa("bicubic"),
        _aa_np("bicubic"),
        None,
    ),
    "uint8_bilinear": (
        "interpolate bilinear uint8 224->112 fwd (32, 3, 224, 224)",
        _u8_data,
        _u8("bilinear"),
        None,
        None,
    ),
    "uint8_bicubic": (
        "interpolate bicubic uint8 224->112 fwd (32, 3, 224, 224)",
        _u8_data,
        _u8("bicubic"),
        None,
        None,
    ),
    "conv1d": ("conv1d fwd+bwd N64 64->64 L256 k3", _conv1d_data, conv1d, conv1d_np, None),
    "conv_transpose2d": (
        "conv_transpose2d fwd+bwd N64 32->16 16x16 k4 s2 p1",
        _convt_data,
        conv_transpose2d,
        None,
        None,
    ),
    "cosine_similarity": (
        "cosine_similarity fwd+bwd (4096, 256) dim 1",
        _cos_data,
        cosine_similarity,
        cosine_similarity_np,
        None,
    ),
    "lstm_cell": ("LSTMCell step fwd+bwd 64, 128->256", _cell_data, lstm_cell, lstm_cell_np, None),
    "gru_cell": ("GRUCell step fwd+bwd 64, 128->256", _cell_data, gru_cell, None, None),
    "encoder_layer": (
        "TransformerEncoderLayer fwd+bwd seq64 batch32 d128 h4",
        _tf_data,
        encoder_layer,
        None,
        None,
    ),
    # Adadelta's compulsory traffic: read p, g, v, u and write p, v, u: 28 B/param
    "adadelta": ("Adadelta step 16M float32", _opt_data, adadelta, adadelta_np, 28 * 2**24),
}
WHO = ["pydlk", "numpy", "torch"]


@pytest.fixture(scope="module")
def datasets():
    cache = {}

    def get(maker, small=False):
        key = (maker, small)
        if key not in cache:
            if not small:  # one large set alive at a time
                cache.clear()
            cache[key] = maker(np.random.default_rng(0), small)
        return cache[key]

    return get


# op-major order: one group's contestants run back to back, so a change in the machine's load
# hits them alike
@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.parametrize("op,who", [(op, who) for op in OPS for who in WHO])
def test_op(benchmark, datasets, op, who, record_bandwidth):
    group, data, make, make_np, nbytes = OPS[op]
    if who == "torch":
        pytest.importorskip("torch")
    if who == "numpy" and make_np is None:
        pytest.skip(f"{op}: no natural NumPy formulation")
    benchmark.group = group
    d = datasets(data)
    step = make_np(d) if who == "numpy" else make(who, d)
    step()  # warm: first-call allocations and lazy set-up outside the timing
    benchmark(step)
    if nbytes:
        record_bandwidth(nbytes, "GB/s (useful)")


def _np_of(v):
    if isinstance(v, pydlk.Tensor):
        return np.asarray(v)
    return v.detach().numpy() if hasattr(v, "detach") else np.asarray(v)


@pytest.mark.parametrize("op", [op for op in OPS if OPS[op][3] is not None])
def test_numpy_contender_is_right(datasets, op):
    """The NumPy formulation computes what torch's autograd computes, on small inputs."""
    pytest.importorskip("torch")
    _, data, make, make_np, _ = OPS[op]
    d = datasets(data, small=True)
    np_step, torch_step = make_np(d), make("torch", d)
    got, want = np_step(), torch_step()
    if op == "adadelta":
        got, want = np_step(), torch_step()  # the second step too: u is no longer 0
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, _np_of(w), rtol=1e-4, atol=1e-5, err_msg=f"{op} output {i}")
