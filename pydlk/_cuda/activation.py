"""Activations on the GPU: the elementwise pairs of csrc/activation.cpp (same formulas, the
saved tensor each backward reads, parameter names and defaults), softmax/log_softmax along a
dim (max and sum in one kernel: one block per slice, or one thread per slice where the slices
interleave, see _common.by_column) and maxout."""

import math

import numpy as np

from ._common import (
    Source,
    by_column,
    check_float,
    check_int64,
    check_like,
    f64,
    i64,
    launch,
    launch_rows,
    out_or_new,
)

# Each op: forward y = F(x), backward dx = B(dy, s) with s the saved tensor; parameters p0..p3
# (doubles, converted to T once). Formulas follow csrc/activation.cpp line by line.
_OPS = {
    "relu": ("x < (T)0 ? (T)0 : x", "s <= (T)0 ? (T)0 : dy"),
    "leaky_relu": ("x > (T)0 ? x : x * (T)p0", "s > (T)0 ? dy : dy * (T)p0"),
    "hardtanh": (
        "x < (T)p0 ? (T)p0 : (x > (T)p1 ? (T)p1 : x)",
        "(s <= (T)p0 || s >= (T)p1) ? (T)0 : dy",
    ),
    "elu": (
        "x > (T)0 ? (T)p1 * x : (T)p1 * (T)p0 * expm1(x * (T)p2)",
        "s <= (T)0 ? (p3 != 0.0 ? dy * (T)p2 * (s + (T)p1 * (T)p0)"
        " : dy * (T)p2 * (T)p1 * (T)p0 * exp(s * (T)p2)) : dy * (T)p1",
    ),
    "sigmoid": ("sigmoid_(x)", "dy * s * ((T)1 - s)"),
    "tanh": ("tanh(x)", "dy * ((T)1 - s * s)"),
    "silu": ("x * sigmoid_(x)", "dy * sigmoid_(s) * ((T)1 + s * ((T)1 - sigmoid_(s)))"),
    "mish": ("x * mish_tsp(exp(x < (T)20 ? x : (T)20))", "mish_bwd(dy, s)"),
    "gelu": (
        "x * normal_cdf(x)",
        "dy * (normal_cdf(s) + s * (T)0.39894228040143267794 * exp((T)-0.5 * s * s))",
    ),
    "gelu_tanh": ("x * sigmoid_((T)2 * GK * (x + GC * x * x * x))", "gelu_tanh_bwd(dy, s)"),
    "softplus": (
        "x * (T)p0 > (T)p1 ? x : log1p(exp(x * (T)p0)) / (T)p0",
        "s * (T)p0 > (T)p1 ? dy : dy * sigmoid_(s * (T)p0)",
    ),
}

# name -> (saved argument name, forward params, backward params), as bind_activation.cpp's table.
_PARAMS = {
    "relu": ("output", [], []),
    "leaky_relu": ("saved", [("negative_slope", 0.01, False)], [("negative_slope", 0.01, False)]),
    "hardtanh": (
        "output",
        [("min_val", -1.0, False), ("max_val", 1.0, False)],
        [("min_val", -1.0, False), ("max_val", 1.0, False)],
    ),
    "elu": (
        "saved",
        [("alpha", 1.0, False), ("scale", 1.0, False), ("input_scale", 1.0, False)],
        [
            ("alpha", 1.0, False),
            ("scale", 1.0, False),
            ("input_scale", 1.0, False),
            ("is_result", 1.0, False),
        ],
    ),
    "sigmoid": ("output", [], []),
    "tanh": ("output", [], []),
    "silu": ("input", [], []),
    "mish": ("input", [], []),
    "gelu": ("input", [], []),
    "gelu_tanh": ("input", [], []),
    "softplus": (
        "input",
        [("beta", 1.0, True), ("threshold", 20.0, False)],
        [("beta", 1.0, True), ("threshold", 20.0, False)],
    ),
}

_HELPERS = r"""
#define GK ((T)0.79788456080286535588)
#define GC ((T)0.044715)
// Phi(x) through erfc so the left tail keeps its relative accuracy.
__device__ __forceinline__ T normal_cdf(T x) {
  T c = (T)0.5 * erfc(fabs(x) * (T)0.70710678118654752440);
  return x >= (T)0 ? (T)1 - c : c;
}
// tanh(softplus(x)) = n / (n + 2), n = e (e + 2), e = e^x capped at e^20.
__device__ __forceinline__ T mish_tsp(T e) { T n = e * (e + (T)2); return n / (n + (T)2); }
__device__ __forceinline__ T mish_bwd(T dy, T x) {
  T e = exp(x < (T)20 ? x : (T)20), t = mish_tsp(e);
  return dy * (t + x * (e / ((T)1 + e)) * ((T)1 - t * t));
}
__device__ __forceinline__ T gelu_tanh_bwd(T dy, T x) {
  T s = sigmoid_((T)2 * GK * (x + GC * x * x * x));
  return dy * (s + x * s * ((T)1 - s) * (T)2 * GK * ((T)1 + (T)3 * GC * x * x));
}
"""


def _eltwise_code():
    parts = [_HELPERS]
    for name, (fwd, bwd) in _OPS.items():
        parts.append(f"""
extern "C" __global__ void {name}_fwd(T* y, const T* xin, i64 n, double p0, double p1,
                                     double p2, double p3) {{
  GRID_STRIDE(i, n) {{ const T x = xin[i]; y[i] = {fwd}; }}
}}
extern "C" __global__ void {name}_bwd(T* dx, const T* dyin, const T* sin, i64 n, double p0,
                                     double p1, double p2, double p3) {{
  GRID_STRIDE(i, n) {{ const T dy = dyin[i], s = sin[i]; dx[i] = {bwd}; }}
}}
""")
    return "".join(parts)


_SOFTMAX = r"""
// Softmax of one slice of D values `inner` apart: max, then sum of e^{x - m} in double. Two
// layouts share this body: BLOCK, the threads of a block split the slice (d = threadIdx.x,
// + blockDim.x, ...; block reductions), for slices that interleave little (inner small, D
// large); or one thread per slice (d = 0, 1, ...), for interleaved slices (inner > 1), where
// neighbouring threads take neighbouring slices and a warp's loads are contiguous.
template <bool BLOCK>
__device__ __forceinline__ void softmax_slice(T* ys, const T* xs, i64 D, i64 inner, int log_) {
  const i64 d0 = BLOCK ? threadIdx.x : 0, step = BLOCK ? blockDim.x : 1;
  T m = -pos_inf();
  for (i64 d = d0; d < D; d += step) { T v = xs[d * inner]; m = (v > m || v != v) ? v : m; }
  if (BLOCK) m = block_max(m);
  double s = 0;
  for (i64 d = d0; d < D; d += step) s += (double)exp(xs[d * inner] - m);
  if (BLOCK) s = block_sum(s);
  if (log_) {
    const T ls = (T)log(s);
    for (i64 d = d0; d < D; d += step) ys[d * inner] = (xs[d * inner] - m) - ls;
  } else {
    const T r = (T)(1.0 / s);
    for (i64 d = d0; d < D; d += step) ys[d * inner] = exp(xs[d * inner] - m) * r;
  }
}
// softmax: dx = y (dy - sum dy y); log_softmax: dx = dy - e^y sum dy. Layouts as above.
template <bool BLOCK>
__device__ __forceinline__ void softmax_bwd_slice(T* dxs, const T* dys, const T* ys, i64 D,
                                                  i64 inner, int log_) {
  const i64 d0 = BLOCK ? threadIdx.x : 0, step = BLOCK ? blockDim.x : 1;
  double s = 0;
  for (i64 d = d0; d < D; d += step) {
    const i64 k = d * inner;
    s += log_ ? (double)dys[k] : (double)dys[k] * (double)ys[k];
  }
  if (BLOCK) s = block_sum(s);
  const T st = (T)s;
  for (i64 d = d0; d < D; d += step) {
    const i64 k = d * inner;
    dxs[k] = log_ ? dys[k] - exp(ys[k]) * st : ys[k] * (dys[k] - st);
  }
}
// One block per (o, i) slice.
extern "C" __global__ void softmax_fwd(T* y, const T* x, i64 D, i64 inner, int log_) {
  const i64 o = blockIdx.x / inner, i = blockIdx.x % inner, base = o * D * inner + i;
  softmax_slice<true>(y + base, x + base, D, inner, log_);
}
extern "C" __global__ void softmax_bwd(T* dx, const T* dy, const T* y, i64 D, i64 inner, int log_) {
  const i64 o = blockIdx.x / inner, i = blockIdx.x % inner, base = o * D * inner + i;
  softmax_bwd_slice<true>(dx + base, dy + base, y + base, D, inner, log_);
}
// One thread per slice t = o * inner + i, n = outer * inner of them.
extern "C" __global__ void softmax_fwd_col(T* y, const T* x, i64 D, i64 inner, i64 n, int log_) {
  GRID_STRIDE(t, n) {
    const i64 base = (t / inner) * D * inner + t % inner;
    softmax_slice<false>(y + base, x + base, D, inner, log_);
  }
}
extern "C" __global__ void softmax_bwd_col(T* dx, const T* dy, const T* y, i64 D, i64 inner, i64 n,
                                           int log_) {
  GRID_STRIDE(t, n) {
    const i64 base = (t / inner) * D * inner + t % inner;
    softmax_bwd_slice<false>(dx + base, dy + base, y + base, D, inner, log_);
  }
}
// maxout: x (outer, C*k, inner) -> y, idx (outer, C, inner); first max wins, the first NaN wins.
extern "C" __global__ void maxout_fwd(T* y, i64* idx, const T* x, i64 C, i64 k, i64 inner, i64 n) {
  GRID_STRIDE(t, n) {
    const i64 i = t % inner, r = t / inner;  // r = o * C + c
    const T* xr = x + r * k * inner + i;
    T b = xr[0];
    i64 bi = 0;
    for (i64 j = 1; j < k; ++j) {
      T v = xr[j * inner];
      bool take = v > b || (v != v && b == b);
      b = take ? v : b;
      bi = take ? j : bi;
    }
    y[t] = b;
    idx[t] = bi;
  }
}
extern "C" __global__ void maxout_bwd(T* dx, const T* dy, const i64* idx, i64 k, i64 inner, i64 n) {
  GRID_STRIDE(t, n) {  // t over dx: (outer*C, k, inner)
    const i64 i = t % inner, j = (t / inner) % k, r = t / (inner * k);
    const i64 s = r * inner + i;
    dx[t] = idx[s] == j ? dy[s] : (T)0;
  }
}
extern "C" __global__ void index_range_check(const i64* idx, i64 n, i64 hi, int* bad) {
  GRID_STRIDE(t, n) { if (idx[t] < 0 || idx[t] >= hi) *bad = 1; }
}
"""

_SRC = Source(
    "activation",
    _eltwise_code() + _SOFTMAX,
    tuple(f"{n}_{d}" for n in _OPS for d in ("fwd", "bwd"))
    + (
        "softmax_fwd",
        "softmax_bwd",
        "softmax_fwd_col",
        "softmax_bwd_col",
        "maxout_fwd",
        "maxout_bwd",
        "index_range_check",
    ),
)


def _params(op, spec, values):
    out = [0.0, 0.0, 0.0, 0.0]
    for k, ((pname, _, nonzero), v) in enumerate(zip(spec, values)):
        v = float(v)
        if not math.isfinite(v):
            raise ValueError(f"{op}: {pname} must be finite, got {v}")
        if nonzero and v == 0:
            raise ValueError(f"{op}: {pname} must not be 0")
        out[k] = v
    return [f64(v) for v in out]


def _run_forward(name, input, values, out):
    x = check_float(input, name, "input")
    y = out_or_new(out, x.shape, x.dtype, name)
    p = _params(name, _PARAMS[name][1], values)
    launch(_SRC(f"{name}_fwd", x.dtype), x.size, (y, x, i64(x.size), *p))
    return y


def _run_backward(name, grad_output, saved, values, out):
    op = name + "_backward"
    dy = check_float(grad_output, op, "grad_output")
    s = check_like(saved, dy.dtype, op, _PARAMS[name][0], dy.shape)
    dx = out_or_new(out, dy.shape, dy.dtype, op)
    p = _params(op, _PARAMS[name][2], values)
    launch(_SRC(f"{name}_bwd", dy.dtype), dy.size, (dx, dy, s, i64(dy.size), *p))
    return dx


# The public pairs, spelled out so that signatures match pydlk._C exactly.
def relu_forward(input, *, out=None):
    return _run_forward("relu", input, (), out)


def relu_backward(grad_output, output, *, out=None):
    return _run_backward("relu", grad_output, output, (), out)


def leaky_relu_forward(input, negative_slope=0.01, *, out=None):
    return _run_forward("leaky_relu", input, (negative_slope,), out)


def leaky_relu_backward(grad_output, saved, negative_slope=0.01, *, out=None):
    return _run_backward("leaky_relu", grad_output, saved, (negative_slope,), out)


def hardtanh_forward(input, min_val=-1.0, max_val=1.0, *, out=None):
    return _run_forward("hardtanh", input, (min_val, max_val), out)


def hardtanh_backward(grad_output, output, min_val=-1.0, max_val=1.0, *, out=None):
    return _run_backward("hardtanh", grad_output, output, (min_val, max_val), out)


def elu_forward(input, alpha=1.0, scale=1.0, input_scale=1.0, *, out=None):
    return _run_forward("elu", input, (alpha, scale, input_scale), out)


def elu_backward(
    grad_output, saved, alpha=1.0, scale=1.0, input_scale=1.0, is_result=1.0, *, out=None
):
    return _run_backward("elu", grad_output, saved, (alpha, scale, input_scale, is_result), out)


def sigmoid_forward(input, *, out=None):
    return _run_forward("sigmoid", input, (), out)


def sigmoid_backward(grad_output, output, *, out=None):
    return _run_backward("sigmoid", grad_output, output, (), out)


def tanh_forward(input, *, out=None):
    return _run_forward("tanh", input, (), out)


def tanh_backward(grad_output, output, *, out=None):
    return _run_backward("tanh", grad_output, output, (), out)


def silu_forward(input, *, out=None):
    return _run_forward("silu", input, (), out)


def silu_backward(grad_output, input, *, out=None):
    return _run_backward("silu", grad_output, input, (), out)


def mish_forward(input, *, out=None):
    return _run_forward("mish", input, (), out)


def mish_backward(grad_output, input, *, out=None):
    return _run_backward("mish", grad_output, input, (), out)


def gelu_forward(input, *, out=None):
    return _run_forward("gelu", input, (), out)


def gelu_backward(grad_output, input, *, out=None):
    return _run_backward("gelu", grad_output, input, (), out)


def gelu_tanh_forward(input, *, out=None):
    return _run_forward("gelu_tanh", input, (), out)


def gelu_tanh_backward(grad_output, input, *, out=None):
    return _run_backward("gelu_tanh", grad_output, input, (), out)


def softplus_forward(input, beta=1.0, threshold=20.0, *, out=None):
    return _run_forward("softplus", input, (beta, threshold), out)


def softplus_backward(grad_output, input, beta=1.0, threshold=20.0, *, out=None):
    return _run_backward("softplus", grad_output, input, (beta, threshold), out)


def _split(shape, dim, op):
    nd = len(shape)
    lim = max(nd, 1)
    if not -lim <= dim < lim:
        raise IndexError(
            f"{op}: dim {dim} is out of range for a {nd}-D input (expected -{lim} <= dim < {lim})"
        )
    d = dim + lim if dim < 0 else dim
    if nd == 0:
        return 1, 1, 1, d
    outer = 1
    for s in shape[:d]:
        outer *= s
    inner = 1
    for s in shape[d + 1 :]:
        inner *= s
    return outer, shape[d], inner, d


def softmax_forward(input, dim, log=False, *, out=None):
    """softmax (log_softmax if log) of input along dim."""
    op = "log_softmax" if log else "softmax"
    x = check_float(input, op, "input")
    outer, D, inner, _ = _split(x.shape, dim, op)
    y = out_or_new(out, x.shape, x.dtype, op)
    if x.size and by_column(D, inner):
        n = outer * inner
        launch(
            _SRC("softmax_fwd_col", x.dtype),
            n,
            (y, x, i64(D), i64(inner), i64(n), np.int32(bool(log))),
        )
    elif x.size:
        launch_rows(
            _SRC("softmax_fwd", x.dtype),
            outer * inner,
            (y, x, i64(D), i64(inner), np.int32(bool(log))),
            op=op,
        )
    return y


def softmax_backward(grad_output, output, dim, log=False, *, out=None):
    """grad_input of softmax (log_softmax if log) from grad_output and the saved output."""
    op = "log_softmax_backward" if log else "softmax_backward"
    dy = check_float(grad_output, op, "grad_output")
    y = check_like(output, dy.dtype, op, "output", dy.shape)
    outer, D, inner, _ = _split(y.shape, dim, op)
    dx = out_or_new(out, dy.shape, dy.dtype, op)
    if dy.size and by_column(D, inner):
        n = outer * inner
        launch(
            _SRC("softmax_bwd_col", dy.dtype),
            n,
            (dx, dy, y, i64(D), i64(inner), i64(n), np.int32(bool(log))),
        )
    elif dy.size:
        launch_rows(
            _SRC("softmax_bwd", dy.dtype),
            outer * inner,
            (dx, dy, y, i64(D), i64(inner), np.int32(bool(log))),
            op=op,
        )
    return dx


def maxout_forward(input, pool_size, dim=1):
    """(output, indices): max over groups of pool_size consecutive entries along dim."""
    cp = __import__("cupy")
    op = "maxout"
    x = check_float(input, op, "input")
    if x.ndim < 1:
        raise ValueError("maxout: input must have at least 1 dimension, got a scalar")
    if pool_size <= 0:
        raise ValueError(f"maxout: pool_size must be positive, got {pool_size}")
    outer, D, inner, d = _split(x.shape, dim, op)
    if D % pool_size:
        raise ValueError(
            f"maxout: pool_size {pool_size} does not divide input's size {D} along dim {d}"
        )
    shape = list(x.shape)
    shape[d] = D // pool_size
    y = cp.empty(shape, x.dtype)
    idx = cp.empty(shape, cp.int64)
    launch(
        _SRC("maxout_fwd", x.dtype),
        y.size,
        (y, idx, x, i64(D // pool_size), i64(pool_size), i64(inner), i64(y.size)),
    )
    return y, idx


def maxout_backward(grad_output, indices, pool_size, dim=1):
    """grad_input of maxout: grad_output routed to the arg-max of each group, 0 elsewhere."""
    cp = __import__("cupy")
    op = "maxout_backward"
    dy = check_float(grad_output, op, "grad_output")
    idx = check_int64(indices, op, "indices", dy.shape)
    if dy.ndim < 1:
        raise ValueError("maxout_backward: grad_output must have at least 1 dimension")
    if pool_size <= 0:
        raise ValueError(f"maxout_backward: pool_size must be positive, got {pool_size}")
    outer, C, inner, d = _split(dy.shape, dim, op)
    bad = cp.zeros(1, cp.int32)
    launch(_SRC("index_range_check", dy.dtype), idx.size, (idx, i64(idx.size), i64(pool_size), bad))
    if int(bad[0]):
        raise ValueError("maxout_backward: indices must lie in [0, pool_size)")
    shape = list(dy.shape)
    shape[d] *= pool_size
    dx = cp.empty(shape, dy.dtype)
    launch(
        _SRC("maxout_bwd", dy.dtype),
        dx.size,
        (dx, dy, idx, i64(pool_size), i64(inner), i64(dx.size)),
    )
    return dx
