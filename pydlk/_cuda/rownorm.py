"""Layer, group and instance norm on the GPU: statistics per contiguous row of D values (a
sample for layer norm, a (sample, group) for group norm, a (sample, channel) for instance norm),
with the math of csrc/norm.cpp (batch norm: norm.py). A row's statistics and its backward's sums
are one block's pass over its contiguous values, shifted sums in double around the row's first
value.
"""

import numpy as np

from ._common import Source, check_float, check_like, f64, i64, launch, launch_rows, out_or_new
from .norm import _eps, _flag, _momentum, _need_nc, _opt, _ptr, _spatial

_CODE = r"""
// Row statistics, one block per row r of D contiguous values: shifted sums in double around
// the row's first value, then mean and rstd; var_out (if want_var) the biased variance.
extern "C" __global__ void row_stats(T* mean, T* rstd, T* var_out, const T* x, i64 D, double eps,
                                     int want_var) {
  const i64 r = blockIdx.x;
  const T* xr = x + r * D;
  const double K = D > 0 ? (double)xr[0] : 0.0;
  double s1 = 0, s2 = 0;
  for (i64 j = threadIdx.x; j < D; j += blockDim.x) {
    const double d = (double)xr[j] - K;
    s1 += d;
    s2 += d * d;
  }
  s1 = block_sum(s1);
  s2 = block_sum(s2);
  if (threadIdx.x == 0) {
    double mu = 0, var = 0;
    if (D > 0) {
      const double dm = s1 / (double)D;
      var = s2 / (double)D - dm * dm;
      if (var < 0) var = 0;
      mu = K + dm;
    }
    mean[r] = (T)mu;
    rstd[r] = (T)(1.0 / sqrt(var + eps));
    if (want_var) var_out[r] = (T)var;
  }
}

// Row norm: row r of D = K*S values; weight index (r % G) * K + (j / S).
extern "C" __global__ void row_apply(T* y, const T* x, const T* mean, const T* rstd, const T* w,
                                     const T* b, i64 D, i64 G, i64 K, i64 S, i64 n, int has_w,
                                     int has_b) {
  GRID_STRIDE(i, n) {
    const i64 r = i / D, j = i % D, q = (r % G) * K + j / S;
    T v = (x[i] - mean[r]) * rstd[r];
    if (has_w) v = v * w[q];
    if (has_b) v = v + b[q];
    y[i] = v;
  }
}

// Row norm backward, one block per row: s1 = sum gh, s2 = sum gh (x - mu), then dx.
extern "C" __global__ void row_dx(T* dx, const T* dy, const T* x, const T* w, const T* mean,
                                  const T* rstd, i64 D, i64 G, i64 K, i64 S, int has_w) {
  const i64 r = blockIdx.x, base = r * D;
  const double mu = (double)mean[r], rs = (double)rstd[r];
  double s1 = 0, s2 = 0;
  for (i64 j = threadIdx.x; j < D; j += blockDim.x) {
    const double gh = (double)dy[base + j] * (has_w ? (double)w[(r % G) * K + j / S] : 1.0);
    s1 += gh;
    s2 += gh * ((double)x[base + j] - mu);
  }
  s1 = block_sum(s1);
  s2 = block_sum(s2);
  const double a = rs * s1 / (double)D, c = rs * rs * rs * s2 / (double)D;
  for (i64 j = threadIdx.x; j < D; j += blockDim.x) {
    const double gh = (double)dy[base + j] * (has_w ? (double)w[(r % G) * K + j / S] : 1.0);
    dx[base + j] = (T)(rs * gh - a - c * ((double)x[base + j] - mu));
  }
}
"""

_SRC = Source("rownorm", _CODE, ("row_stats", "row_apply", "row_dx"))


def _rownorm_forward(x, w, b, R, G, K, S, eps, stat_shape, out, mean, rstd, op, want_var=False):
    dt = x.dtype
    D = K * S
    y = out_or_new(out, x.shape, dt, op)
    m = out_or_new(mean, stat_shape, dt, op, "mean")
    r = out_or_new(rstd, stat_shape, dt, op, "rstd")
    var = __import__("cupy").empty(R, dt) if want_var else None
    launch_rows(
        _SRC("row_stats", dt),
        R,
        (m, r, _ptr(var, m), x, i64(D), f64(eps), np.int32(1 if want_var else 0)),
        op=op,
    )
    launch(
        _SRC("row_apply", dt),
        x.size,
        (
            y,
            x,
            m,
            r,
            _ptr(w, m),
            _ptr(b, m),
            i64(D),
            i64(G),
            i64(K),
            i64(S),
            i64(x.size),
            _flag(w),
            _flag(b),
        ),
    )
    return y, m, r, var


def _rownorm_backward(dy, x, w, mean, rstd, R, G, K, S, need_x, need_w, need_b, gx, gw, gb, op):
    cp = __import__("cupy")
    dt = x.dtype
    D = K * S
    dx = out_or_new(gx, x.shape, dt, op, "grad_input") if need_x else None
    dw = out_or_new(gw, (G * K,), dt, op, "grad_weight") if need_w else None
    db = out_or_new(gb, (G * K,), dt, op, "grad_bias") if need_b else None
    if dx is not None:
        launch_rows(
            _SRC("row_dx", dt),
            R,
            (dx, dy, x, _ptr(w, mean), mean, rstd, i64(D), i64(G), i64(K), i64(S), _flag(w)),
            op=op,
        )
    if dw is not None or db is not None:
        N = R // G if G else 0
        g4 = dy.reshape(N, G, K, S).astype(cp.float64)
        if dw is not None:
            xh = (x.reshape(R, D).astype(cp.float64) - mean.reshape(R, 1)) * rstd.reshape(
                R, 1
            ).astype(cp.float64)
            dw[...] = (g4 * xh.reshape(N, G, K, S)).sum(axis=(0, 3)).reshape(G * K).astype(dt)
        if db is not None:
            db[...] = g4.sum(axis=(0, 3)).reshape(G * K).astype(dt)
    return dx, dw, db


def layernorm_forward(input, weight=None, bias=None, eps=1e-05, out=None, mean=None, rstd=None):
    """Layer norm of each row of input (M, D). Returns (out, mean, rstd), stats (M,)."""
    op = "layer_norm"
    x = check_float(input, op, "input")
    if x.ndim != 2:
        raise ValueError(f"{op}: input must be 2-D, got shape {tuple(x.shape)}")
    _eps(eps, op)
    M, D = x.shape
    w = _opt(weight, D, x.dtype, op, "weight")
    b = _opt(bias, D, x.dtype, op, "bias")
    y, m, r, _ = _rownorm_forward(x, w, b, M, 1, D, 1, eps, (M,), out, mean, rstd, op)
    return y, m, r


def layernorm_backward(
    grad_output,
    input,
    weight,
    mean,
    rstd,
    need_input=True,
    need_weight=True,
    need_bias=True,
    grad_input=None,
    grad_weight=None,
    grad_bias=None,
):
    """Returns (grad_input, grad_weight (D,), grad_bias (D,)); None where not asked for."""
    op = "layer_norm_backward"
    x = check_float(input, op, "input")
    if x.ndim != 2:
        raise ValueError(f"{op}: input must be 2-D, got shape {tuple(x.shape)}")
    dt = x.dtype
    dy = check_like(grad_output, dt, op, "grad_output", x.shape)
    M, D = x.shape
    w = _opt(weight, D, dt, op, "weight")
    m = check_like(mean, dt, op, "mean", (M,))
    r = check_like(rstd, dt, op, "rstd", (M,))
    return _rownorm_backward(
        dy,
        x,
        w,
        m,
        r,
        M,
        1,
        D,
        1,
        need_input,
        need_weight,
        need_bias,
        grad_input,
        grad_weight,
        grad_bias,
        op,
    )


def _check_groups(x, G, op):
    if G <= 0:
        raise ValueError(f"{op}: num_groups must be positive, got {G}")
    if x.shape[1] % G:
        raise ValueError(
            f"{op}: num_groups={G} must divide the number of channels, input has "
            f"{x.shape[1]} (shape {tuple(x.shape)})"
        )


def groupnorm_forward(
    input, num_groups, weight=None, bias=None, eps=1e-05, out=None, mean=None, rstd=None
):
    """Group norm of input (N, C, *); returns (out, mean, rstd), stats (N, num_groups)."""
    op = "group_norm"
    x = check_float(input, op, "input")
    _need_nc(x, op)
    _eps(eps, op)
    _check_groups(x, num_groups, op)
    N, C, S, G = x.shape[0], x.shape[1], _spatial(x), num_groups
    if N * (C // G) * S == 1:
        raise ValueError(
            f"{op}: Expected more than 1 value per channel when training, got input "
            f"size {list(x.shape)}"
        )
    w = _opt(weight, C, x.dtype, op, "weight")
    b = _opt(bias, C, x.dtype, op, "bias")
    y, m, r, _ = _rownorm_forward(x, w, b, N * G, G, C // G, S, eps, (N, G), out, mean, rstd, op)
    return y, m, r


def groupnorm_backward(
    grad_output,
    input,
    num_groups,
    weight,
    mean,
    rstd,
    need_input=True,
    need_weight=True,
    need_bias=True,
    grad_input=None,
    grad_weight=None,
    grad_bias=None,
):
    """Returns (grad_input, grad_weight (C,), grad_bias (C,)); None where not asked for."""
    op = "group_norm_backward"
    x = check_float(input, op, "input")
    _need_nc(x, op)
    _check_groups(x, num_groups, op)
    dt = x.dtype
    dy = check_like(grad_output, dt, op, "grad_output", x.shape)
    N, C, S, G = x.shape[0], x.shape[1], _spatial(x), num_groups
    w = _opt(weight, C, dt, op, "weight")
    m = check_like(mean, dt, op, "mean", (N, G))
    r = check_like(rstd, dt, op, "rstd", (N, G))
    return _rownorm_backward(
        dy,
        x,
        w,
        m,
        r,
        N * G,
        G,
        C // G,
        S,
        need_input,
        need_weight,
        need_bias,
        grad_input,
        grad_weight,
        grad_bias,
        op,
    )


def instancenorm_forward(
    input,
    weight=None,
    bias=None,
    running_mean=None,
    running_var=None,
    momentum=0.1,
    eps=1e-05,
    out=None,
    mean=None,
    rstd=None,
):
    """Instance norm of input (N, C, *); returns (out, mean, rstd), stats (N, C); running
    buffers (C,), if given, get the batch average of the per-instance mean and unbiased
    variance."""
    cp = __import__("cupy")
    op = "instance_norm"
    x = check_float(input, op, "input")
    _need_nc(x, op)
    _eps(eps, op)
    _momentum(momentum, op)
    N, C, S = x.shape[0], x.shape[1], _spatial(x)
    if S == 1:
        raise ValueError(
            f"{op}: Expected more than 1 spatial element when training, got input "
            f"size {list(x.shape)}"
        )
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")
    dt = x.dtype
    w = _opt(weight, C, dt, op, "weight")
    b = _opt(bias, C, dt, op, "bias")
    rm = _opt(running_mean, C, dt, op, "running_mean", True)
    rv = _opt(running_var, C, dt, op, "running_var", True)
    y, m, r, var = _rownorm_forward(
        x, w, b, N * C, C, 1, S, eps, (N, C), out, mean, rstd, op, want_var=rm is not None
    )
    if rm is not None and N > 0:
        sm = m.astype(cp.float64).mean(axis=0)
        sv = var.reshape(N, C).astype(cp.float64).mean(axis=0)
        if S > 1:
            sv = sv * S / (S - 1)
        rm[...] = ((1 - momentum) * rm.astype(cp.float64) + momentum * sm).astype(dt)
        rv[...] = ((1 - momentum) * rv.astype(cp.float64) + momentum * sv).astype(dt)
    return y, m, r
