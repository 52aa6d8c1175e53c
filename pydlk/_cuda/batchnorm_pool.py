"""Batch norm + ReLU + 2x2 / stride-2 max pool on the GPU (csrc/norm.cpp's fused section): the
forward pools each window straight from x and writes the pooled output and one byte per
window, its arg-max (0..3: top-left, top-right, bottom-left, bottom-right); the backward's
batch-norm sums run over the arg-maxes only, and dx is written from the bytes. The statistics
and the dx coefficients are batch norm's own (pydlk/_cuda/norm.py).
"""

import numpy as np

from ._common import Source, check_float, check_like, i64, is_cupy, launch, out_or_new
from .norm import (
    _batch_stats,
    _channel_sums,
    _dx_coefficients,
    _eps,
    _flag,
    _momentum,
    _need_batch,
    _opt,
    _ptr,
)

_CODE = r"""
// Batch norm + ReLU + 2x2 / stride-2 max pool (csrc/norm.cpp's bn_relu_pool_plane), one thread
// per pooled output o of the N*C planes of H x W: the window's four relu(bn(x)) values in
// max_pool2d's order and rule (larger or NaN replaces), the maximum and its position q = 0..3.
extern "C" __global__ void bn_relu_pool(T* y, unsigned char* arg, const T* x, const T* mean,
                                        const T* rstd, const T* w, const T* b, i64 C, i64 H,
                                        i64 W, i64 OH, i64 OW, i64 n, int has_w, int has_b) {
  GRID_STRIDE(o, n) {
    const i64 plane = o / (OH * OW), r = o % (OH * OW), c = plane % C;
    const T a = (T)((has_w ? (double)w[c] : 1.0) * (double)rstd[c]);
    const T m = mean[c], bc = has_b ? b[c] : (T)0;
    const T* p = x + plane * H * W + 2 * (r / OW) * W + 2 * (r % OW);
    const T v4[4] = {p[0], p[1], p[W], p[W + 1]};
    T mx = 0;
    int q = 0;
    for (int k = 0; k < 4; ++k) {
      T v = (v4[k] - m) * a + bc;
      v = v < 0 ? (T)0 : v;
      if (k == 0 || v > mx || v != v) {
        mx = v;
        q = k;
      }
    }
    y[o] = mx;
    arg[o] = (unsigned char)q;
  }
}

// Its backward's sums per channel over the windows' arg-maxes (the pool's gradient is 0
// elsewhere): gm = dy masked by the relu (bn of the arg-max's input <= 0), sdy = sum gm,
// sdyx = sum gm (x - mu). a, b: the forward's coefficients. Stage 1 of a two-stage sum as
// norm.py's bn_part_bwd: the channel's N*OH*OW pooled outputs cut into P chunks, one block each
// (block = c*P + p), neighbouring threads on neighbouring outputs of a plane, (n, oh, ow)
// carried from step to step without division; norm.py's sum_parts adds the P partials.
extern "C" __global__ void bn_relu_pool_part(double* part, const T* dy, const unsigned char* arg,
                                             const T* x, const T* mean, const T* a, const T* b,
                                             i64 N, i64 C, i64 H, i64 W, i64 OH, i64 OW, i64 P) {
  const i64 c = blockIdx.x / P, p = blockIdx.x % P, OS = OH * OW, M = N * OS;
  const i64 L = (M + P - 1) / P, j1 = min(M, (p + 1) * L), step = blockDim.x;
  const T m = mean[c], ac = a[c], bc = b[c];
  i64 j = p * L + threadIdx.x;
  // j = n * OS + oh * OW + ow, and the step split the same way (OS, OW > 0: H, W >= 2)
  i64 n = j / OS, oh = (j % OS) / OW, ow = j % OW;
  const i64 dn = step / OS, doh = (step % OS) / OW, dow = step % OW;
  double s1 = 0, s2 = 0;
  for (; j < j1; j += step) {
    const i64 plane = n * C + c, o = plane * OS + oh * OW + ow;
    const int q = arg[o] & 3;
    const T xs = x[plane * H * W + (2 * oh + q / 2) * W + 2 * ow + q % 2];
    const T v = (xs - m) * ac + bc;
    const double g = v <= 0 ? 0.0 : (double)dy[o];
    s1 += g;
    s2 += g * ((double)xs - (double)m);
    ow += dow;
    if (ow >= OW) { ow -= OW; ++oh; }
    oh += doh;
    if (oh >= OH) { oh -= OH; ++n; }
    n += dn;
  }
  s1 = block_sum(s1);
  s2 = block_sum(s2);
  if (threadIdx.x == 0) { part[2 * blockIdx.x] = s1; part[2 * blockIdx.x + 1] = s2; }
}

// dx = k1 gm + k2 (x - mu) + kc per input value, gm the masked pooled gradient where the value
// is its window's arg-max and 0 elsewhere (also past the last whole window).
extern "C" __global__ void bn_relu_pool_dx(T* dx, const T* dy, const unsigned char* arg,
                                           const T* x, const T* mean, const T* a, const T* b,
                                           const T* k1, const T* k2, const T* kc, i64 C, i64 H,
                                           i64 W, i64 OH, i64 OW, i64 n) {
  GRID_STRIDE(i, n) {
    const i64 plane = i / (H * W), h = (i % (H * W)) / W, wi = i % W, c = plane % C;
    const T m = mean[c];
    T gm = 0;
    if (h < 2 * OH && wi < 2 * OW) {
      const i64 o = plane * OH * OW + (h / 2) * OW + wi / 2;
      if ((arg[o] & 3) == 2 * (h % 2) + wi % 2) {
        const T v = (x[i] - m) * a[c] + b[c];
        gm = v <= 0 ? (T)0 : dy[o];
      }
    }
    dx[i] = k1[c] * gm + k2[c] * (x[i] - m) + kc[c];
  }
}
"""

_SRC = Source("batchnorm_pool", _CODE, ("bn_relu_pool", "bn_relu_pool_part", "bn_relu_pool_dx"))


def _pool_input(input, op):
    x = check_float(input, op, "input")
    if x.ndim != 4 or x.shape[2] < 2 or x.shape[3] < 2:
        raise ValueError(
            f"{op}: input must be 4-D (N, C, H, W) with H and W at least 2 (the 2x2 pool's "
            f"window), got shape {tuple(x.shape)}"
        )
    return x


def batchnorm_relu_maxpool2d_forward(
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
    """max_pool2d(relu(batch_norm(input)), 2) for input (N, C, H, W): returns (out, save_mean,
    save_rstd, argmax), argmax (N, C, H/2, W/2) uint8 each window's arg-max, 0..3 for its
    top-left, top-right, bottom-left, bottom-right value. The statistics' kernel, then one
    thread per pooled output (the full-size activation is never written), as on the CPU."""
    cp = __import__("cupy")
    op = "batch_norm_relu_max_pool2d"
    x = _pool_input(input, op)
    _eps(eps, op)
    _momentum(momentum, op)
    _need_batch(x, training, running_mean, running_var, op)
    N, C, H, W = x.shape
    OH, OW = H // 2, W // 2
    dt = x.dtype
    w = _opt(weight, C, dt, op, "weight")
    b = _opt(bias, C, dt, op, "bias")
    y = out_or_new(out, (N, C, OH, OW), dt, op)
    arg = cp.empty((N, C, OH, OW), cp.uint8)
    sm, sr = _batch_stats(
        x, running_mean, running_var, training, momentum, eps, save_mean, save_rstd, op
    )
    launch(
        _SRC("bn_relu_pool", dt),
        y.size,
        (y, arg, x, sm, sr, _ptr(w, sm), _ptr(b, sm), *map(i64, (C, H, W, OH, OW, y.size)))
        + (_flag(w), _flag(b)),
    )
    return y, sm, sr, arg


def batchnorm_relu_maxpool2d_backward(
    grad_output,
    argmax,
    input,
    weight,
    bias,
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
    """Backward of batchnorm_relu_maxpool2d_forward. Returns (grad_input, grad_weight,
    grad_bias); None where not asked for. Several blocks per channel sum over the windows'
    arg-maxes (two stages, as batchnorm_backward's), then one thread per input value writes
    dx."""
    cp = __import__("cupy")
    op = "batch_norm_relu_max_pool2d_backward"
    x = _pool_input(input, op)
    N, C, H, W = x.shape
    OH, OW = H // 2, W // 2
    dt = x.dtype
    dy = check_like(grad_output, dt, op, "grad_output", (N, C, OH, OW))
    if not is_cupy(argmax) or argmax.dtype != np.uint8:
        got = getattr(argmax, "dtype", type(argmax).__name__)
        raise TypeError(f"{op}: argmax must be a CuPy uint8 array, got {got}")
    if tuple(argmax.shape) != (N, C, OH, OW):
        raise ValueError(f"{op}: argmax must have shape {(N, C, OH, OW)}, got {argmax.shape}")
    arg = cp.ascontiguousarray(argmax)
    mean = check_like(save_mean, dt, op, "save_mean", (C,))
    rstd = check_like(save_rstd, dt, op, "save_rstd", (C,))
    w = _opt(weight, C, dt, op, "weight")
    b = _opt(bias, C, dt, op, "bias")
    dx = out_or_new(grad_input, x.shape, dt, op, "grad_input") if need_input else None
    dw = out_or_new(grad_weight, (C,), dt, op, "grad_weight") if need_weight else None
    db = out_or_new(grad_bias, (C,), dt, op, "grad_bias") if need_bias else None
    rs = rstd.astype(cp.float64)
    # the forward's coefficients, for the relu's mask: a = w rstd rounded to dt, b
    a = (rs * (w.astype(cp.float64) if w is not None else 1.0)).astype(dt)
    bb = b if b is not None else cp.zeros(C, dt)
    M = N * H * W
    sdy = sdyx = None
    if training or need_weight or need_bias:
        sdy, sdyx = _channel_sums(
            _SRC("bn_relu_pool_part", dt),
            C,
            N * OH * OW,
            (dy, arg, x, mean, a, bb, *map(i64, (N, C, H, W, OH, OW))),
            dt,
            op,
        )
        if dw is not None:
            dw[...] = (rs * sdyx).astype(dt)
        if db is not None:
            db[...] = sdy.astype(dt)
    if dx is not None:
        k1, k2, kc = _dx_coefficients(w, rs, sdy, sdyx, training, M, dt)
        launch(
            _SRC("bn_relu_pool_dx", dt),
            x.size,
            (dx, dy, arg, x, mean, a, bb, k1, k2, kc, *map(i64, (C, H, W, OH, OW, x.size))),
        )
    return dx, dw, db
