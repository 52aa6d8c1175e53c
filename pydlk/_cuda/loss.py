"""Classification losses on the GPU with csrc/loss.cpp's formulas: cross-entropy fused with its
log-softmax (one block per sample, or one thread per sample where the samples interleave,
see _common.by_column: max, log-sum-exp in double, the loss; the backward rebuilds
p = e^{x - lse} in the same pass that writes the gradient), NLL and the multi-class hinge.

Forwards return the per-sample losses, the sum of losses and the divisor of 'mean' as
``pydlk._C`` does, but the sum and (where it depends on the data) the divisor as 0-d float64
device arrays, not Python floats; backwards take the scalar upstream gradient as a number or
such an array. So a training step reads nothing back to the host, and a captured CUDA graph
(pydlk.cuda.graphs) recomputes these values on every replay instead of freezing them.

Targets out of range raise ValueError naming the first one, as on the CPU, except while a
CUDA graph is being captured (no device value may be read then): there the kernels write NaN
for a sample whose class is out of range, and never read outside the input."""

import numpy as np

from ._common import (
    Source,
    by_column,
    capturing,
    check_float,
    check_int64,
    check_like,
    cupy,
    device_scalar,
    f64,
    i64,
    launch,
    launch_rows,
)

_CODE = r"""
__device__ __forceinline__ double wt(const T* w, i64 c) { return w ? (double)w[c] : 1.0; }

// x (outer, C, inner); sample m = o * inner + i; its classes are `inner` apart.
// target: class ids (tp) or probabilities (pp, x's shape). flags: 1 weight, 2 probability target.
// Two layouts share each body (as activation.py's softmax): BLOCK, the threads of a block split
// the sample's classes (c = threadIdx.x, + blockDim.x, ...; block reductions), for samples that
// interleave little (inner small, C large); or one thread per sample (c = 0, 1, ...) for
// interleaved samples (inner > 1), where neighbouring threads take neighbouring samples and a
// warp's loads are contiguous.
template <bool BLOCK>
__device__ __forceinline__ void ce_fwd_one(T* loss, T* lse, const T* x, const i64* tp,
                                           const T* pp, const T* w, i64 C, i64 inner, i64 m,
                                           i64 ignore_index, double eps, const double* wallp,
                                           int flags) {
  const i64 o = m / inner, i = m % inner, c0 = BLOCK ? threadIdx.x : 0, step = BLOCK ? blockDim.x : 1;
  const bool lead = !BLOCK || threadIdx.x == 0;
  const T* ww = (flags & 1) ? w : (const T*)0;
  const bool prob = (flags & 2) != 0;
  const T* xs = x + o * C * inner + i;
  if (!prob && tp[m] == ignore_index) {
    if (lead) { loss[m] = (T)0; lse[m] = (T)0; }
    return;
  }
  if (!prob && (tp[m] < 0 || tp[m] >= C)) {  // unchecked (graph capture): NaN, no stray read
    if (lead) { loss[m] = quiet_nan(); lse[m] = quiet_nan(); }
    return;
  }
  const double wall = *wallp;  // sum of the class weights (C without them)
  T mx = -pos_inf();
  for (i64 c = c0; c < C; c += step) { T v = xs[c * inner]; mx = (v > mx || v != v) ? v : mx; }
  if (BLOCK) mx = block_max(mx);
  double s = 0;
  for (i64 c = c0; c < C; c += step) s += (double)exp(xs[c * inner] - mx);
  if (BLOCK) s = block_sum(s);
  const double l = (double)mx + log(s);
  double v = 0;
  if (!prob) {
    double dot = 0;
    if (eps != 0)
      for (i64 c = c0; c < C; c += step) dot += wt(ww, c) * (double)xs[c * inner];
    if (BLOCK) dot = block_sum(dot);
    const i64 y = tp[m];
    v = (1 - eps) * wt(ww, y) * (l - (double)xs[y * inner]);
    if (eps != 0) v += eps / (double)C * (wall * l - dot);
  } else {
    const T* ts = pp + o * C * inner + i;
    double acc = 0;
    for (i64 c = c0; c < C; c += step) {
      const double tc = (1 - eps) * (double)ts[c * inner] + eps / (double)C;
      acc += wt(ww, c) * tc * (l - (double)xs[c * inner]);
    }
    v = BLOCK ? block_sum(acc) : acc;
  }
  if (lead) { loss[m] = (T)v; lse[m] = (T)l; }
}

// class target: dx[c] = (a + b W) p[c] - a [c == y] - b w[c], a = (1-eps) w[y] g, b = eps/C g
// probability target: dx[c] = g (S p[c] - w[c] t'[c]), S = sum_c w[c] t'[c].
template <bool BLOCK>
__device__ __forceinline__ void ce_bwd_one(T* dx, const T* dloss, const double* dscalar,
                                           const T* x, const T* lse, const i64* tp, const T* pp,
                                           const T* w, i64 C, i64 inner, i64 m, i64 ignore_index,
                                           double eps, const double* wallp, int flags) {
  const i64 o = m / inner, i = m % inner, c0 = BLOCK ? threadIdx.x : 0, step = BLOCK ? blockDim.x : 1;
  const T* ww = (flags & 1) ? w : (const T*)0;
  const bool prob = (flags & 2) != 0;
  const T* xs = x + o * C * inner + i;
  T* ds = dx + o * C * inner + i;
  if (!prob && tp[m] == ignore_index) {
    for (i64 c = c0; c < C; c += step) ds[c * inner] = (T)0;
    return;
  }
  if (!prob && (tp[m] < 0 || tp[m] >= C)) {  // unchecked (graph capture)
    for (i64 c = c0; c < C; c += step) ds[c * inner] = quiet_nan();
    return;
  }
  const double g = (flags & 4) ? (double)dloss[m] : *dscalar, wall = *wallp;
  const T l = lse[m];
  if (!prob) {
    const i64 y = tp[m];
    const double a = (1 - eps) * wt(ww, y) * g, b = eps / (double)C * g;
    const T cpv = (T)(a + b * wall), bw = (T)b;
    for (i64 c = c0; c < C; c += step) {
      T d = cpv * exp(xs[c * inner] - l) - bw * (T)wt(ww, c);
      if (c == y) d -= (T)a;
      ds[c * inner] = d;
    }
  } else {
    const T* ts = pp + o * C * inner + i;
    double S = 0;
    for (i64 c = c0; c < C; c += step)
      S += wt(ww, c) * ((1 - eps) * (double)ts[c * inner] + eps / (double)C);
    if (BLOCK) S = block_sum(S);
    const T gs = (T)(g * S), g1 = (T)(g * (1 - eps)), g2 = (T)(g * eps / (double)C);
    for (i64 c = c0; c < C; c += step)
      ds[c * inner] = gs * exp(xs[c * inner] - l) - (T)wt(ww, c) * (g1 * ts[c * inner] + g2);
  }
}

// One block per sample.
extern "C" __global__ void ce_fwd(T* loss, T* lse, const T* x, const i64* tp, const T* pp,
                                  const T* w, i64 C, i64 inner, i64 ignore_index, double eps,
                                  const double* wallp, int flags) {
  ce_fwd_one<true>(loss, lse, x, tp, pp, w, C, inner, blockIdx.x, ignore_index, eps, wallp, flags);
}
extern "C" __global__ void ce_bwd(T* dx, const T* dloss, const double* dscalar, const T* x,
                                  const T* lse, const i64* tp, const T* pp, const T* w, i64 C,
                                  i64 inner, i64 ignore_index, double eps, const double* wallp,
                                  int flags) {
  ce_bwd_one<true>(dx, dloss, dscalar, x, lse, tp, pp, w, C, inner, blockIdx.x, ignore_index, eps,
                   wallp, flags);
}
// One thread per sample, M = outer * inner of them.
extern "C" __global__ void ce_fwd_col(T* loss, T* lse, const T* x, const i64* tp, const T* pp,
                                      const T* w, i64 C, i64 inner, i64 ignore_index, double eps,
                                      const double* wallp, int flags, i64 M) {
  GRID_STRIDE(m, M)
    ce_fwd_one<false>(loss, lse, x, tp, pp, w, C, inner, m, ignore_index, eps, wallp, flags);
}
extern "C" __global__ void ce_bwd_col(T* dx, const T* dloss, const double* dscalar, const T* x,
                                      const T* lse, const i64* tp, const T* pp, const T* w, i64 C,
                                      i64 inner, i64 ignore_index, double eps, const double* wallp,
                                      int flags, i64 M) {
  GRID_STRIDE(m, M)
    ce_bwd_one<false>(dx, dloss, dscalar, x, lse, tp, pp, w, C, inner, m, ignore_index, eps, wallp,
                      flags);
}

extern "C" __global__ void nll_fwd(T* loss, const T* x, const i64* tp, const T* w, i64 C,
                                   i64 inner, i64 ignore_index, i64 M, int has_w) {
  GRID_STRIDE(m, M) {
    const i64 o = m / inner, i = m % inner, y = tp[m];
    loss[m] = y == ignore_index ? (T)0
              : y < 0 || y >= C ? quiet_nan()  // unchecked (graph capture)
                                : (T)(-(has_w ? (double)w[y] : 1.0) * (double)x[(o * C + y) * inner + i]);
  }
}

// dx (zeroed by the caller): dx[o, y, i] = -w[y] g for each sample.
extern "C" __global__ void nll_bwd(T* dx, const T* dloss, const double* dscalar, const i64* tp,
                                   const T* w, i64 C, i64 inner, i64 ignore_index, i64 M,
                                   int flags) {
  GRID_STRIDE(m, M) {
    const i64 o = m / inner, i = m % inner, y = tp[m];
    if (y == ignore_index || y < 0 || y >= C) continue;  // out of range: NaN loss, no write
    const double g = (flags & 4) ? (double)dloss[m] : *dscalar;
    dx[(o * C + y) * inner + i] = (T)(-((flags & 1) ? (double)w[y] : 1.0) * g);
  }
}

// Multi-class hinge, one block per sample: sum_{c != y} max(0, margin - x[y] + x[c])^p w[y] / C.
extern "C" __global__ void mm_fwd(T* loss, const T* x, const i64* tp, const T* w, i64 C, int p,
                                  double margin, int has_w) {
  const i64 n = blockIdx.x, y = tp[n];
  const T* xr = x + n * C;
  if (y < 0 || y >= C) {  // unchecked (graph capture)
    if (threadIdx.x == 0) loss[n] = quiet_nan();
    return;
  }
  const T base = (T)margin - xr[y];
  double acc = 0;
  for (i64 c = threadIdx.x; c < C; c += blockDim.x) {
    const T z = base + xr[c];
    if (z > (T)0 && c != y) acc += p == 1 ? (double)z : (double)z * (double)z;
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) loss[n] = (T)(acc * (has_w ? (double)w[y] : 1.0) / (double)C);
}

extern "C" __global__ void mm_bwd(T* dx, const T* dloss, const double* dscalar, const T* x,
                                  const i64* tp, const T* w, i64 C, int p, double margin,
                                  int flags) {
  const i64 n = blockIdx.x, y = tp[n];
  const T* xr = x + n * C;
  T* dr = dx + n * C;
  if (y < 0 || y >= C) {  // unchecked (graph capture)
    for (i64 c = threadIdx.x; c < C; c += blockDim.x) dr[c] = quiet_nan();
    return;
  }
  const double g = (flags & 4) ? (double)dloss[n] : *dscalar;
  const T h = (T)(g * ((flags & 1) ? (double)w[y] : 1.0) / (double)C);
  const T base = (T)margin - xr[y];
  double sum = 0;
  for (i64 c = threadIdx.x; c < C; c += blockDim.x) {
    const T z = base + xr[c];
    const T d = (z > (T)0 && c != y) ? (p == 1 ? h : h * (T)2 * z) : (T)0;
    if (c != y) dr[c] = d;
    sum += (double)d;
  }
  sum = block_sum(sum);
  if (threadIdx.x == 0) dr[y] = (T)(-sum);
}
"""

_SRC = Source(
    "loss",
    _CODE,
    ("ce_fwd", "ce_bwd", "ce_fwd_col", "ce_bwd_col", "nll_fwd", "nll_bwd", "mm_fwd", "mm_bwd"),
)


def _launch_per_sample(name, dt, M, C, inner, args, op):
    """Runs the cross-entropy kernel `name` over M samples: a block per sample, or (by_column)
    its _col variant, a thread per sample, which takes M after the same arguments."""
    if by_column(C, inner):
        launch(_SRC(name + "_col", dt), M, (*args, i64(M)))
    else:
        launch_rows(_SRC(name, dt), M, args, op=op)


def _view(x, op):
    if x.ndim < 2:
        raise ValueError(
            f"{op}: input must be (N, C) or (N, C, d1, ...), got shape {tuple(x.shape)}"
        )
    if x.shape[1] < 1:
        raise ValueError(f"{op}: input has no classes (shape {tuple(x.shape)})")
    inner = 1
    for d in x.shape[2:]:
        inner *= d
    per_sample = (x.shape[0],) + tuple(x.shape[2:])
    return x.shape[0], x.shape[1], inner, per_sample


def _class_target(t, C, per_sample, op, has_ignore, ignore_index):
    t = check_int64(t, op, "target")
    if tuple(t.shape) != per_sample:
        raise ValueError(
            f"{op}: target must have shape {per_sample} for input of {C} classes, "
            f"got {tuple(t.shape)}"
        )
    bad = (t < 0) | (t >= C)
    if has_ignore:
        bad &= t != ignore_index
    if t.size and not capturing() and bool(bad.any()):
        k = int(bad.ravel().argmax())
        raise ValueError(
            f"{op}: target has value {int(t.ravel()[k])} at flat index {k}, expected "
            f"a class in [0, {C})" + (f" or ignore_index ({ignore_index})" if has_ignore else "")
        )
    return t


def _weight(w, C, dt, op):
    return None if w is None else check_like(w, dt, op, "weight", (C,))


def _grad(g, per_sample, dt, op):
    return None if g is None else check_like(g, dt, op, "grad_output", per_sample)


def _target(target, x, C, per_sample, op, ignore_index):
    """(class ids, probabilities): one of them None."""
    if isinstance(target, __import__("cupy").ndarray) and target.dtype != np.int64:
        p = check_like(target, x.dtype, op, "target")
        if tuple(p.shape) != tuple(x.shape):
            raise ValueError(
                f"{op}: probability target must have the input's shape "
                f"{tuple(x.shape)}, got {tuple(p.shape)}"
            )
        return None, p
    return _class_target(target, C, per_sample, op, True, ignore_index), None


def _smoothing(eps, op):
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {eps}")


def _wall(w, C):
    """The sum of the class weights (C without them), on the device."""
    return device_scalar(w.sum(dtype=np.float64) if w is not None else C)


def _total(loss):
    """The sum of the per-sample losses in double, a 0-d device array."""
    return loss.sum(dtype=np.float64)


def _target_weight_sum(t, w, ignore_index):
    """The divisor of 'mean': the weights of the targets not ignored (their count without
    weights), a 0-d device array. A class out of range (unchecked only under graph capture)
    has a NaN loss, so the mean is NaN whatever it adds here."""
    cp = __import__("cupy")
    keep = t != ignore_index
    if w is None:
        return keep.sum(dtype=np.float64)
    keep &= (t >= 0) & (t < w.shape[0])
    return cp.where(keep, w.astype(cp.float64)[cp.where(keep, t, 0)], 0.0).sum()


def cross_entropy_forward(
    input, target, weight=None, ignore_index=-100, label_smoothing=0.0, grad_of="none"
):
    """(loss per sample, log-sum-exp per sample, sum of losses, divisor of 'mean'), and with
    ``grad_of`` 'sum' or 'mean' the gradient of that reduction for an upstream 1 (here by the
    backward kernel: a GPU has exponentials to spare)."""
    cp = __import__("cupy")
    op = "cross_entropy"
    if grad_of not in ("none", "sum", "mean"):
        raise ValueError(f"{op}: grad_of must be 'none', 'sum' or 'mean', got {grad_of!r}")
    x = check_float(input, op, "input")
    outer, C, inner, per_sample = _view(x, op)
    _smoothing(label_smoothing, op)
    t, p = _target(target, x, C, per_sample, op, ignore_index)
    w = _weight(weight, C, x.dtype, op)
    loss = cp.empty(per_sample, x.dtype)
    lse = cp.empty(per_sample, x.dtype)
    M = outer * inner
    flags = (1 if w is not None else 0) | (2 if p is not None else 0)
    dummy_t = cp.zeros(1, cp.int64)
    _launch_per_sample(
        "ce_fwd",
        x.dtype,
        M,
        C,
        inner,
        (
            loss,
            lse,
            x,
            t if t is not None else dummy_t,
            p if p is not None else x,
            w if w is not None else x,
            i64(C),
            i64(inner),
            i64(ignore_index),
            f64(label_smoothing),
            _wall(w, C),
            np.int32(flags),
        ),
        op,
    )
    total = _total(loss)
    denom = _target_weight_sum(t, w, ignore_index) if t is not None else float(M)
    if grad_of == "none":
        return loss, lse, total, denom
    # 1 / denom on the device: 1/0 = inf as the CPU kernel's
    scale = 1.0 if grad_of == "sum" else (1.0 / device_scalar(denom))
    dx = cross_entropy_backward(None, scale, x, lse, target, weight, ignore_index, label_smoothing)
    return loss, lse, total, denom, dx


def cross_entropy_backward(
    grad_output,
    grad_scalar,
    input,
    lse,
    target,
    weight=None,
    ignore_index=-100,
    label_smoothing=0.0,
):
    """grad_input of the per-sample losses (grad_output per sample, or grad_scalar for all)."""
    cp = __import__("cupy")
    op = "cross_entropy_backward"
    x = check_float(input, op, "input")
    outer, C, inner, per_sample = _view(x, op)
    _smoothing(label_smoothing, op)
    t, p = _target(target, x, C, per_sample, op, ignore_index)
    s = check_like(lse, x.dtype, op, "lse")
    if s.size != outer * inner:
        raise ValueError(f"{op}: lse must have one value per sample")
    w = _weight(weight, C, x.dtype, op)
    g = _grad(grad_output, per_sample, x.dtype, op)
    dx = cp.empty(x.shape, x.dtype)
    flags = (1 if w is not None else 0) | (2 if p is not None else 0) | (4 if g is not None else 0)
    _launch_per_sample(
        "ce_bwd",
        x.dtype,
        outer * inner,
        C,
        inner,
        (
            dx,
            g if g is not None else x,
            device_scalar(0.0 if g is not None else grad_scalar),
            x,
            s,
            t if t is not None else cp.zeros(1, cp.int64),
            p if p is not None else x,
            w if w is not None else x,
            i64(C),
            i64(inner),
            i64(ignore_index),
            f64(label_smoothing),
            _wall(w, C),
            np.int32(flags),
        ),
        op,
    )
    return dx


def nll_loss_forward(input, target, weight=None, ignore_index=-100):
    """(loss per sample, sum of losses, divisor of 'mean')."""
    cp = __import__("cupy")
    op = "nll_loss"
    x = check_float(input, op, "input")
    outer, C, inner, per_sample = _view(x, op)
    t = _class_target(target, C, per_sample, op, True, ignore_index)
    w = _weight(weight, C, x.dtype, op)
    loss = cp.empty(per_sample, x.dtype)
    M = outer * inner
    launch(
        _SRC("nll_fwd", x.dtype),
        M,
        (
            loss,
            x,
            t,
            w if w is not None else x,
            i64(C),
            i64(inner),
            i64(ignore_index),
            i64(M),
            np.int32(w is not None),
        ),
    )
    return loss, _total(loss), _target_weight_sum(t, w, ignore_index)


def nll_loss_backward(grad_output, grad_scalar, input, target, weight=None, ignore_index=-100):
    """grad_input of the per-sample NLL losses."""
    cp = __import__("cupy")
    op = "nll_loss_backward"
    x = check_float(input, op, "input")
    outer, C, inner, per_sample = _view(x, op)
    t = _class_target(target, C, per_sample, op, True, ignore_index)
    w = _weight(weight, C, x.dtype, op)
    g = _grad(grad_output, per_sample, x.dtype, op)
    dx = cp.zeros(x.shape, x.dtype)
    M = outer * inner
    flags = (1 if w is not None else 0) | (4 if g is not None else 0)
    launch(
        _SRC("nll_bwd", x.dtype),
        M,
        (
            dx,
            g if g is not None else x,
            device_scalar(0.0 if g is not None else grad_scalar),
            t,
            w if w is not None else x,
            i64(C),
            i64(inner),
            i64(ignore_index),
            i64(M),
            np.int32(flags),
        ),
    )
    return dx


def _check_mm(x, p, margin, op):
    import math

    if x.ndim != 2:
        raise ValueError(f"{op}: input must be 2-D, got shape {tuple(x.shape)}")
    if x.shape[1] < 1:
        raise ValueError(f"{op}: input has no classes (shape {tuple(x.shape)})")
    if p not in (1, 2):
        raise ValueError(f"{op}: p must be 1 or 2, got {p}")
    if not math.isfinite(margin):
        raise ValueError(f"{op}: margin must be finite")


def multi_margin_loss_forward(input, target, p=1, margin=1.0, weight=None):
    """(loss per sample, sum of losses, N)."""
    cp = __import__("cupy")
    op = "multi_margin_loss"
    x = check_float(input, op, "input")
    _check_mm(x, p, margin, op)
    N, C = x.shape
    t = _class_target(target, C, (N,), op, False, 0)
    w = _weight(weight, C, x.dtype, op)
    loss = cp.empty(N, x.dtype)
    launch_rows(
        _SRC("mm_fwd", x.dtype),
        N,
        (
            loss,
            x,
            t,
            w if w is not None else x,
            i64(C),
            np.int32(p),
            f64(margin),
            np.int32(w is not None),
        ),
        op=op,
    )
    return loss, _total(loss), float(N)


def multi_margin_loss_backward(
    grad_output, grad_scalar, input, target, p=1, margin=1.0, weight=None
):
    """grad_input of the per-sample hinge losses."""
    cp = __import__("cupy")
    op = "multi_margin_loss_backward"
    x = check_float(input, op, "input")
    _check_mm(x, p, margin, op)
    N, C = x.shape
    t = _class_target(target, C, (N,), op, False, 0)
    w = _weight(weight, C, x.dtype, op)
    g = _grad(grad_output, (N,), x.dtype, op)
    dx = cp.empty(x.shape, x.dtype)
    flags = (1 if w is not None else 0) | (4 if g is not None else 0)
    launch_rows(
        _SRC("mm_bwd", x.dtype),
        N,
        (
            dx,
            g if g is not None else x,
            device_scalar(0.0 if g is not None else grad_scalar),
            x,
            t,
            w if w is not None else x,
            i64(C),
            np.int32(p),
            f64(margin),
            np.int32(flags),
        ),
        op=op,
    )
    return dx


# ------------------------------------------------------------- binary cross-entropy on logits


def _bce_period(x, w, pw, op):
    """The CPU kernel's weight layouts: None, input's size, or its last dimension's."""
    n, last = x.size, (x.shape[-1] if x.ndim else 1)
    sizes = set()
    for a, name in ((w, "weight"), (pw, "pos_weight")):
        if a is None:
            continue
        check_like(a, x.dtype, op, name)
        if a.size not in (n, last):
            raise ValueError(
                f"{op}: {name} must hold input's {n} values or its last dimension's {last}, got "
                f"shape {tuple(a.shape)}"
            )
        sizes.add(a.size)
    if len(sizes) > 1:
        raise ValueError(f"{op}: weight and pos_weight must have one size")
    size = sizes.pop() if sizes else n
    shape = x.shape if size == n else (last,)
    return [None if a is None else a.reshape(shape) for a in (w, pw)]


def _bce_terms(x, t, w, pw):
    """(loss, d loss / dx) per element: w ((1 - t) x + lw sp(x)), w ((1 - t) - lw sigmoid(-x))."""
    cp = cupy()
    e = cp.exp(-cp.abs(x))
    sp = cp.log1p(e) + cp.maximum(-x, 0)
    sig_neg = cp.where(x >= 0, e / (1 + e), 1 / (1 + e))
    lw = 1 if pw is None else 1 + (pw - 1) * t
    loss, d = (1 - t) * x + lw * sp, (1 - t) - lw * sig_neg
    if w is not None:
        loss, d = loss * w, d * w
    return loss.astype(x.dtype, copy=False), d.astype(x.dtype, copy=False)


def bce_with_logits_forward(input, target, weight=None, pos_weight=None, per_element=True):
    """(loss per element or None, sum of the losses), as the CPU kernel; the sum is a 0-d
    device array (no host round trip)."""
    op = "bce_with_logits_forward"
    x = check_float(input, op, "input")
    t = check_like(target, x.dtype, op, "target", x.shape)
    w, pw = _bce_period(x, weight, pos_weight, op)
    loss, _ = _bce_terms(x, t, w, pw)
    return (loss if per_element else None), loss.sum(dtype=np.float64)


def bce_with_logits_backward(grad, input, target, weight=None, pos_weight=None, scale=1.0):
    """The input's gradient for grad of input's shape or one value, times scale."""
    op = "bce_with_logits_backward"
    x = check_float(input, op, "input")
    t = check_like(target, x.dtype, op, "target", x.shape)
    g = check_like(grad, x.dtype, op, "grad")
    if g.shape != x.shape and g.size != 1:
        raise ValueError(
            f"{op}: grad must have input's shape {tuple(x.shape)} or hold one value, got shape "
            f"{tuple(g.shape)}"
        )
    w, pw = _bce_period(x, weight, pos_weight, op)
    _, d = _bce_terms(x, t, w, pw)
    g = g if g.shape == x.shape else g.reshape(())
    return (d * (g * x.dtype.type(scale))).astype(x.dtype, copy=False)
