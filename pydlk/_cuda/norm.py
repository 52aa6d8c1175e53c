"""Batch norm on the GPU (statistics per channel over N and the spatial positions), with the
math of csrc/norm.cpp (layer, group and instance norm, a row's statistics: rownorm.py):

  rstd = 1 / sqrt(var + eps),  xhat = (x - mu) rstd,  y = w xhat + b
  dx = rstd gh - rstd s1 / M - rstd^3 s2 / M (x - mu),  gh = w dy,  s1 = sum gh,
  s2 = sum gh (x - mu);  dw = sum dy xhat,  db = sum dy.

Statistics are shifted sums in double around the channel's first value (no E[x^2] - E[x]^2
cancellation), in two stages (as the backward's sum dy, sum dy (x - mu)): several blocks per
channel each sum a chunk of it, walking its N rows of spatial values with neighbouring threads
on neighbouring values, then a thread per channel adds the partial sums (and updates the
running statistics).
"""

import numpy as np

from ._common import (
    Source,
    check_float,
    check_like,
    f64,
    i64,
    launch,
    launch_rows,
    need_finite,
    out_or_new,
)

_CODE = r"""
// Batch-norm sums in two stages, so that a few channels still fill the GPU. Channel c has
// M = N*S values: N rows of S contiguous values, C*S apart. Stage 1 cuts each channel's flat
// range [0, M) into P chunks, one block each (block b = c*P + p); a block's threads walk its
// chunk side by side (neighbouring threads on neighbouring values of a row: coalesced), row and
// column tracked without division (Walk2), four loads in flight per thread before their sums
// (a thread issues in order, so one load at a time leaves too few bytes in flight to reach the
// memory bandwidth). It writes the block's two double sums to part[2b], part[2b + 1]. Stage 2,
// a thread per channel, adds the channel's P partials in order (deterministic).

// Stage 1 of the statistics: sums of d = x - K and d^2, K = x[c, first value] (the shift keeps
// the variance free of E[x^2] - E[x]^2 cancellation).
extern "C" __global__ void bn_part_stats(double* part, const T* x, i64 C, i64 S, i64 N, i64 P) {
  const i64 c = blockIdx.x / P, p = blockIdx.x % P, M = N * S, CS = C * S;
  const i64 L = (M + P - 1) / P, j1 = min(M, (p + 1) * L), step = blockDim.x;
  const T* xc = x + c * S;
  const double K = M > 0 ? (double)xc[0] : 0.0;
  double s1 = 0, s2 = 0;
  i64 j = p * L + threadIdx.x;
  Walk2 w(j, step, S);
  for (; j + 3 * step < j1; j += 4 * step) {
    T v[4];
    for (int u = 0; u < 4; ++u) { v[u] = xc[w.r * CS + w.q]; w.next(); }
    for (int u = 0; u < 4; ++u) { const double d = (double)v[u] - K; s1 += d; s2 += d * d; }
  }
  for (; j < j1; j += step, w.next()) {
    const double d = (double)xc[w.r * CS + w.q] - K;
    s1 += d;
    s2 += d * d;
  }
  s1 = block_sum(s1);
  s2 = block_sum(s2);
  if (threadIdx.x == 0) { part[2 * blockIdx.x] = s1; part[2 * blockIdx.x + 1] = s2; }
}

// Stage 2 of the statistics, a thread per channel: mean, rstd, and the running statistics
// (flags 2: run_mean, 4: run_var) as torch updates them.
extern "C" __global__ void bn_stats_finish(T* mean, T* rstd, T* run_mean, T* run_var,
                                           const double* part, const T* x, i64 C, i64 S, i64 M,
                                           i64 P, double eps, double momentum, int flags) {
  GRID_STRIDE(c, C) {
    double s1 = 0, s2 = 0;
    for (i64 p = 0; p < P; ++p) { s1 += part[2 * (c * P + p)]; s2 += part[2 * (c * P + p) + 1]; }
    double mu = 0, var = 0;
    if (M > 0) {
      const double K = (double)x[c * S], dm = s1 / (double)M;
      var = s2 / (double)M - dm * dm;
      if (var < 0) var = 0;
      mu = K + dm;
    }
    mean[c] = (T)mu;
    rstd[c] = (T)(1.0 / sqrt(var + eps));
    if ((flags & 2) && M > 0) run_mean[c] = (T)((1 - momentum) * (double)run_mean[c] + momentum * mu);
    if ((flags & 4) && M > 1)  // unbiased variance for the running estimate, as torch
      run_var[c] = (T)((1 - momentum) * (double)run_var[c] + momentum * var * (double)M / (double)(M - 1));
  }
}

// Stage 2 of any two-sum reduction (the backward's, and batchnorm_pool's): a[c], b[c] = the sums
// of the channel's P partial pairs.
extern "C" __global__ void sum_parts(double* a, double* b, const double* part, i64 C, i64 P) {
  GRID_STRIDE(c, C) {
    double s1 = 0, s2 = 0;
    for (i64 p = 0; p < P; ++p) { s1 += part[2 * (c * P + p)]; s2 += part[2 * (c * P + p) + 1]; }
    a[c] = s1;
    b[c] = s2;
  }
}

// Inference statistics from the running buffers.
extern "C" __global__ void running_stats(T* mean, T* rstd, const T* run_mean, const T* run_var,
                                         i64 C, double eps) {
  GRID_STRIDE(c, C) {
    mean[c] = run_mean[c];
    rstd[c] = (T)(1.0 / sqrt((double)run_var[c] + eps));
  }
}

// Batch norm: y = (x - mu) (w rs) + b per channel c = (i / S) % C.
extern "C" __global__ void bn_apply(T* y, const T* x, const T* mean, const T* rstd, const T* w,
                                    const T* b, i64 C, i64 S, i64 n, int has_w, int has_b) {
  GRID_STRIDE(i, n) {
    const i64 c = (i / S) % C;
    const T a = (T)((has_w ? (double)w[c] : 1.0) * (double)rstd[c]);
    y[i] = (x[i] - mean[c]) * a + (has_b ? b[c] : (T)0);
  }
}

// Stage 1 of the backward's sums per channel, as bn_part_stats: sum dy and sum dy (x - mu).
extern "C" __global__ void bn_part_bwd(double* part, const T* dy, const T* x, const T* mean, i64 C,
                                       i64 S, i64 N, i64 P) {
  const i64 c = blockIdx.x / P, p = blockIdx.x % P, M = N * S, CS = C * S;
  const i64 L = (M + P - 1) / P, j1 = min(M, (p + 1) * L), step = blockDim.x;
  const T* dyc = dy + c * S;
  const T* xc = x + c * S;
  const double mu = (double)mean[c];
  double a = 0, b = 0;
  i64 j = p * L + threadIdx.x;
  Walk2 w(j, step, S);
  for (; j + 3 * step < j1; j += 4 * step) {
    T g[4], v[4];
    for (int u = 0; u < 4; ++u) {
      const i64 k = w.r * CS + w.q;
      g[u] = dyc[k];
      v[u] = xc[k];
      w.next();
    }
    for (int u = 0; u < 4; ++u) { a += (double)g[u]; b += (double)g[u] * ((double)v[u] - mu); }
  }
  for (; j < j1; j += step, w.next()) {
    const i64 k = w.r * CS + w.q;
    const double g = (double)dyc[k];
    a += g;
    b += g * ((double)xc[k] - mu);
  }
  a = block_sum(a);
  b = block_sum(b);
  if (threadIdx.x == 0) { part[2 * blockIdx.x] = a; part[2 * blockIdx.x + 1] = b; }
}

// dx = k1 dy + k2 (x - mu) + kc per channel.
extern "C" __global__ void bn_dx(T* dx, const T* dy, const T* x, const T* mean, const T* k1,
                                 const T* k2, const T* kc, i64 C, i64 S, i64 n) {
  GRID_STRIDE(i, n) {
    const i64 c = (i / S) % C;
    dx[i] = k1[c] * dy[i] + k2[c] * (x[i] - mean[c]) + kc[c];
  }
}

"""

_SRC = Source(
    "norm",
    _CODE,
    (
        "bn_part_stats",
        "bn_stats_finish",
        "sum_parts",
        "running_stats",
        "bn_apply",
        "bn_part_bwd",
        "bn_dx",
    ),
)


def _spatial(x):
    s = 1
    for d in x.shape[2:]:
        s *= d
    return s


def _need_nc(x, op):
    if x.ndim < 2:
        raise ValueError(f"{op}: input must be at least 2-D (N, C, *), got shape {tuple(x.shape)}")


def _eps(eps, op):
    need_finite(eps, op, "eps")


def _momentum(m, op):
    need_finite(m, op, "momentum", False)


def _opt(a, n, dt, op, name, writable=False):
    if a is None:
        return None
    c = check_like(a, dt, op, name, (n,))
    if writable and c is not a:
        raise ValueError(f"{op}: {name} must be C-contiguous (updated in place)")
    return c


def _flag(a):
    return np.int32(a is not None)


def _ptr(a, fallback):
    return a if a is not None else fallback


def batchnorm_forward(
    input,
    weight=None,
    bias=None,
    running_mean=None,
    running_var=None,
    training=False,
    momentum=0.1,
    eps=1e-05,
    out=None,
    save_mean=None,
    save_rstd=None,
):
    """Batch norm over input (N, C, *). Returns (out, save_mean, save_rstd), stats (C,)."""
    op = "batch_norm"
    x = check_float(input, op, "input")
    _need_nc(x, op)
    _eps(eps, op)
    _momentum(momentum, op)
    C, S = x.shape[1], _spatial(x)
    _need_batch(x, training, running_mean, running_var, op)
    dt = x.dtype
    w = _opt(weight, C, dt, op, "weight")
    b = _opt(bias, C, dt, op, "bias")
    y = out_or_new(out, x.shape, dt, op)
    sm, sr = _batch_stats(
        x, running_mean, running_var, training, momentum, eps, save_mean, save_rstd, op
    )
    launch(
        _SRC("bn_apply", dt),
        x.size,
        (y, x, sm, sr, _ptr(w, sm), _ptr(b, sm), i64(C), i64(S), i64(x.size), _flag(w), _flag(b)),
    )
    return y, sm, sr


#: Blocks the two-stage batch-norm sums aim at over all channels: about eight resident
#: 256-thread blocks on each of an H100's 132 SMs, so that few channels (64 in a ResNet's first
#: stage) still fill the GPU instead of leaving half its SMs idle with a block per channel.
_PART_BLOCKS = 1024
#: Values per block at least, so that a block's partial sums and the finishing pass stay a small
#: share of its work.
_MIN_CHUNK = 4096


def _parts(C, M):
    """P, the blocks per channel of a two-stage sum over M values in each of C channels."""
    return max(1, min(-(-_PART_BLOCKS // max(C, 1)), -(-M // _MIN_CHUNK)))


def _channel_sums(kernel, C, M, args, dt, op):
    """(a, b), float64 (C,) each: the two sums per channel of a two-stage reduction. ``kernel``
    is its stage 1 (arguments part, *args, P; C*P blocks, each writing its two partial sums),
    then sum_parts adds each channel's P pairs."""
    cp = __import__("cupy")
    P = _parts(C, M)
    part = cp.empty(2 * C * P, cp.float64)
    launch_rows(kernel, C * P, (part, *args, i64(P)), op=op)
    a, b = cp.empty(C, cp.float64), cp.empty(C, cp.float64)
    launch(_SRC("sum_parts", dt), C, (a, b, part, i64(C), i64(P)))
    return a, b


def _need_batch(x, training, running_mean, running_var, op):
    """Enough values per channel to train on; running statistics to evaluate with."""
    N, S = x.shape[0], _spatial(x)
    if training and N * S == 1:
        raise ValueError(
            f"{op}: Expected more than 1 value per channel when training, got input "
            f"size {list(x.shape)}"
        )
    if not training and (running_mean is None or running_var is None):
        raise ValueError(
            f"{op}: running_mean and running_var must be given in evaluation mode (training=False)"
        )


def _batch_stats(x, running_mean, running_var, training, momentum, eps, save_mean, save_rstd, op):
    """batchnorm_forward's statistics (save_mean, save_rstd), the running buffers updated in
    training; every argument is checked before the first launch."""
    N, C, S = x.shape[0], x.shape[1], _spatial(x)
    dt = x.dtype
    rm = _opt(running_mean, C, dt, op, "running_mean", True)
    rv = _opt(running_var, C, dt, op, "running_var", True)
    sm = out_or_new(save_mean, (C,), dt, op, "save_mean")
    sr = out_or_new(save_rstd, (C,), dt, op, "save_rstd")
    if training:
        flags = (2 if rm is not None else 0) | (4 if rv is not None else 0)
        M = N * S
        P = _parts(C, M)
        part = __import__("cupy").empty(2 * C * P, np.float64)
        launch_rows(
            _SRC("bn_part_stats", dt), C * P, (part, x, i64(C), i64(S), i64(N), i64(P)), op=op
        )
        launch(
            _SRC("bn_stats_finish", dt),
            C,
            (
                sm,
                sr,
                _ptr(rm, sm),
                _ptr(rv, sm),
                part,
                x,
                *map(i64, (C, S, M, P)),
                f64(eps),
                f64(momentum),
                np.int32(flags),
            ),
        )
    else:
        launch(_SRC("running_stats", dt), C, (sm, sr, rm, rv, i64(C), f64(eps)))
    return sm, sr


def batchnorm_backward(
    grad_output,
    input,
    weight,
    save_mean,
    save_rstd,
    training,
    need_input=True,
    need_weight=True,
    need_bias=True,
    grad_input=None,
    grad_weight=None,
    grad_bias=None,
):
    """Returns (grad_input, grad_weight, grad_bias); None where not asked for."""
    cp = __import__("cupy")
    op = "batch_norm_backward"
    x = check_float(input, op, "input")
    _need_nc(x, op)
    dt = x.dtype
    dy = check_like(grad_output, dt, op, "grad_output", x.shape)
    N, C, S = x.shape[0], x.shape[1], _spatial(x)
    M = N * S
    w = _opt(weight, C, dt, op, "weight")
    mean = check_like(save_mean, dt, op, "save_mean", (C,))
    rstd = check_like(save_rstd, dt, op, "save_rstd", (C,))
    dx = out_or_new(grad_input, x.shape, dt, op, "grad_input") if need_input else None
    dw = out_or_new(grad_weight, (C,), dt, op, "grad_weight") if need_weight else None
    db = out_or_new(grad_bias, (C,), dt, op, "grad_bias") if need_bias else None
    rs = rstd.astype(cp.float64)
    sdy = sdyx = None
    if training or need_weight or need_bias:
        sdy, sdyx = _channel_sums(
            _SRC("bn_part_bwd", dt), C, M, (dy, x, mean, i64(C), i64(S), i64(N)), dt, op
        )
        if dw is not None:
            dw[...] = (rs * sdyx).astype(dt)
        if db is not None:
            db[...] = sdy.astype(dt)
    if dx is not None:
        k1, k2, kc = _dx_coefficients(w, rs, sdy, sdyx, training, M, dt)
        launch(
            _SRC("bn_dx", dt),
            x.size,
            (dx, dy, x, mean, k1, k2, kc, i64(C), i64(S), i64(x.size)),
        )
    return dx, dw, db


def _dx_coefficients(w, rs, sdy, sdyx, training, M, dt):
    """dx = k1 g + k2 (x - mu) + kc per channel (csrc/norm.cpp's formula), in dt."""
    cp = __import__("cupy")
    C = rs.shape[0]
    k1 = (w.astype(cp.float64) if w is not None else 1.0) * rs
    if training and M > 0:
        k2 = -k1 * rs * rs * sdyx / M
        kc = -k1 * sdy / M
    else:
        k2 = cp.zeros(C, cp.float64)
        kc = cp.zeros(C, cp.float64)
    k1 = cp.ascontiguousarray(cp.broadcast_to(k1, (C,)))
    return k1.astype(dt), k2.astype(dt), kc.astype(dt)


def batchnorm_add_relu_forward(
    input,
    residual=None,
    weight=None,
    bias=None,
    running_mean=None,
    running_var=None,
    training=False,
    momentum=0.1,
    eps=1e-05,
    out=None,
    save_mean=None,
    save_rstd=None,
):
    """relu(batch_norm(input) + residual) (residual None: no add). Returns (out, save_mean,
    save_rstd). On the GPU the add and the relu run after batchnorm_forward, in place on its
    output: the same values as the CPU's fused pass, not yet one kernel."""
    cp = __import__("cupy")
    op = "batch_norm_add_relu"
    x = check_float(input, op, "input")
    r = None if residual is None else check_like(residual, x.dtype, op, "residual", x.shape)
    y, sm, sr = batchnorm_forward(
        x,
        weight,
        bias,
        running_mean,
        running_var,
        training,
        momentum,
        eps,
        out,
        save_mean,
        save_rstd,
    )
    if r is not None:
        cp.add(y, r, out=y)
    cp.copyto(y, 0, where=y < 0)  # relu_forward's x < 0 ? 0 : x (NaN and -0 pass)
    return y, sm, sr


def batchnorm_add_relu_backward(
    grad_output,
    output,
    input,
    weight,
    save_mean,
    save_rstd,
    training,
    need_input=True,
    need_weight=True,
    need_bias=True,
    need_residual=True,
    grad_input=None,
    grad_weight=None,
    grad_bias=None,
    grad_residual=None,
    bias=None,
):
    """Backward of batchnorm_add_relu_forward (output: its result). Returns (grad_input,
    grad_weight, grad_bias, grad_residual); None where not asked for. The GPU reads the relu's
    mask from output, which it needs (the CPU kernel may recompute it from input and bias)."""
    cp = __import__("cupy")
    op = "batch_norm_add_relu_backward"
    if output is None:
        raise ValueError(f"{op}: output is required on the GPU (the relu's mask is read from it)")
    x = check_float(input, op, "input")
    dy = check_like(grad_output, x.dtype, op, "grad_output", x.shape)
    y = check_like(output, x.dtype, op, "output", x.shape)
    g = out_or_new(grad_residual, x.shape, x.dtype, op, "grad_residual") if need_residual else None
    g = cp.where(y <= 0, cp.zeros((), x.dtype), dy) if g is None else _masked_into(g, dy, y)
    dx, dw, db = batchnorm_backward(
        g,
        x,
        weight,
        save_mean,
        save_rstd,
        training,
        need_input,
        need_weight,
        need_bias,
        grad_input,
        grad_weight,
        grad_bias,
    )
    return dx, dw, db, (g if need_residual else None)


def _masked_into(g, dy, y):
    """g = relu_backward's mask of dy by y (y <= 0 ? 0 : dy), written into g."""
    g[...] = dy
    g[y <= 0] = 0
    return g
