"""2-D pooling on NCHW planes on the GPU: max (indices flat within each H*W plane, first maximum
wins, NaN wins), average (torch's divisors: count_include_pad, divisor_override, windows clipped
to the padded input), adaptive average and adaptive max, with csrc/pool2d.cpp's geometry.

Forwards run one thread per output element, except adaptive average pooling with large windows
(global average pooling): a warp per output. Backwards of max and average pooling scatter each
output's gradient with atomicAdd into a zeroed grad_input (windows may overlap), so float32 sums
are added in an unspecified order: equal to the CPU's within rounding, not bit for bit. Adaptive
average pooling's backward gathers instead, a thread per input value, in the CPU's order."""

import numpy as np

from ._common import (
    Source,
    check_float,
    check_int64,
    i64,
    int_pair,
    launch,
    launch_warps,
    out_or_new,
)

_CODE = r"""
// x (NC, H, W) -> y, idx (NC, OH, OW): torch's max window walk.
extern "C" __global__ void max_fwd(T* y, i64* idx, const T* x, i64 H, i64 W, i64 OH, i64 OW,
                                   int kH, int kW, int sH, int sW, int pH, int pW, int dH, int dW,
                                   i64 n, int want_idx) {
  GRID_STRIDE(t, n) {
    const i64 ow = t % OW, oh = (t / OW) % OH, c = t / (OW * OH);
    const T* xc = x + c * H * W;
    i64 ih0 = oh * sH - pH, iw0 = ow * sW - pW;
    const i64 ih1 = min(ih0 + (i64)(kH - 1) * dH + 1, H), iw1 = min(iw0 + (i64)(kW - 1) * dW + 1, W);
    while (ih0 < 0) ih0 += dH;
    while (iw0 < 0) iw0 += dW;
    i64 mi = ih0 * W + iw0;
    T m = -pos_inf();
    for (i64 ih = ih0; ih < ih1; ih += dH)
      for (i64 iw = iw0; iw < iw1; iw += dW) {
        const T v = xc[ih * W + iw];
        if (v > m || v != v) { m = v; mi = ih * W + iw; }
      }
    y[t] = m;
    if (want_idx) idx[t] = mi;
  }
}

// dx (NC, H*W) zeroed; each output adds its gradient at its arg-max (ignored when out of range).
extern "C" __global__ void max_bwd(T* dx, const T* dy, const i64* idx, i64 HW, i64 OHW, i64 n) {
  GRID_STRIDE(t, n) {
    const i64 c = t / OHW, i = idx[t];
    if (i >= 0 && i < HW) atomicAdd(dx + c * HW + i, dy[t]);
  }
}

// Window rows [i0, i1) clipped to the input; `padded` the count clipped to the padded input.
__device__ __forceinline__ void avg_span(i64 o, int s, int p, int k, i64 n, i64& i0, i64& i1,
                                         i64& padded) {
  const i64 a = o * s - p, b = min(a + k, n + p);
  i0 = max(a, (i64)0); i1 = min(b, n); padded = b - a;
}

__device__ __forceinline__ double avg_div(i64 h0, i64 h1, i64 hp, i64 w0, i64 w1, i64 wp,
                                          int include_pad, i64 ovr) {
  if (ovr) return (double)ovr;
  if (include_pad) return (double)(hp * wp);
  return (double)((h1 - h0) * (w1 - w0));
}

extern "C" __global__ void avg_fwd(T* y, const T* x, i64 H, i64 W, i64 OH, i64 OW, int kH, int kW,
                                   int sH, int sW, int pH, int pW, int include_pad, i64 ovr, i64 n) {
  GRID_STRIDE(t, n) {
    const i64 ow = t % OW, oh = (t / OW) % OH, c = t / (OW * OH);
    i64 h0, h1, hp, w0, w1, wp;
    avg_span(oh, sH, pH, kH, H, h0, h1, hp);
    avg_span(ow, sW, pW, kW, W, w0, w1, wp);
    if (h0 >= h1 || w0 >= w1) { y[t] = (T)0; continue; }
    const T* xc = x + c * H * W;
    double s = 0;
    for (i64 ih = h0; ih < h1; ++ih)
      for (i64 iw = w0; iw < w1; ++iw) s += (double)xc[ih * W + iw];
    y[t] = (T)(s / avg_div(h0, h1, hp, w0, w1, wp, include_pad, ovr));
  }
}

extern "C" __global__ void avg_bwd(T* dx, const T* dy, i64 H, i64 W, i64 OH, i64 OW, int kH, int kW,
                                   int sH, int sW, int pH, int pW, int include_pad, i64 ovr, i64 n) {
  GRID_STRIDE(t, n) {
    const i64 ow = t % OW, oh = (t / OW) % OH, c = t / (OW * OH);
    i64 h0, h1, hp, w0, w1, wp;
    avg_span(oh, sH, pH, kH, H, h0, h1, hp);
    avg_span(ow, sW, pW, kW, W, w0, w1, wp);
    if (h0 >= h1 || w0 >= w1) continue;
    const T v = (T)((double)dy[t] / avg_div(h0, h1, hp, w0, w1, wp, include_pad, ovr));
    T* dxc = dx + c * H * W;
    for (i64 ih = h0; ih < h1; ++ih)
      for (i64 iw = w0; iw < w1; ++iw) atomicAdd(dxc + ih * W + iw, v);
  }
}

// Adaptive windows (torch): output i covers [floor(i*in/out), ceil((i+1)*in/out)).
__device__ __forceinline__ i64 ad_start(i64 i, i64 out, i64 in) { return (i / out) * in + ((i % out) * in) / out; }
__device__ __forceinline__ i64 ad_end(i64 i, i64 out, i64 in) { return 1 + ((i + 1) * in - 1) / out; }

extern "C" __global__ void adavg_fwd(T* y, const T* x, i64 H, i64 W, i64 OH, i64 OW, i64 n) {
  GRID_STRIDE(t, n) {
    const i64 ow = t % OW, oh = (t / OW) % OH, c = t / (OW * OH);
    const i64 h0 = ad_start(oh, OH, H), h1 = ad_end(oh, OH, H);
    const i64 w0 = ad_start(ow, OW, W), w1 = ad_end(ow, OW, W);
    const T* xc = x + c * H * W;
    double s = 0;
    for (i64 ih = h0; ih < h1; ++ih)
      for (i64 iw = w0; iw < w1; ++iw) s += (double)xc[ih * W + iw];
    y[t] = (T)(s / (double)((h1 - h0) * (w1 - w0)));
  }
}

// Large windows (global average pooling's one window of H*W values, the common network head):
// a warp per output, its lanes reading the window side by side (coalesced; a full-width window
// is one contiguous span), then a warp sum; 8 outputs per 256-thread block, grid-stride over
// warps. lanes = min(blockDim.x, 32): one lane per thread below a warp (the host emulation).
extern "C" __global__ void adavg_fwd_warp(T* y, const T* x, i64 H, i64 W, i64 OH, i64 OW, i64 n) {
  const i64 lanes = blockDim.x < 32 ? blockDim.x : 32, lane = threadIdx.x % lanes;
  const i64 warps = (i64)gridDim.x * blockDim.x / lanes;
  for (i64 t = ((i64)blockIdx.x * blockDim.x + threadIdx.x) / lanes; t < n; t += warps) {
    const i64 ow = t % OW, oh = (t / OW) % OH, c = t / (OW * OH);
    const i64 h0 = ad_start(oh, OH, H), h1 = ad_end(oh, OH, H);
    const i64 w0 = ad_start(ow, OW, W), w1 = ad_end(ow, OW, W);
    const i64 ww = w1 - w0, area = (h1 - h0) * ww;
    const T* xw = x + c * H * W + h0 * W + w0;
    double s = 0;
    if (ww == W) {
      for (i64 j = lane; j < area; j += lanes) s += (double)xw[j];
    } else {
      Walk2 k(lane, lanes, ww);
      for (i64 j = lane; j < area; j += lanes, k.next()) s += (double)xw[k.r * W + k.q];
    }
    s = warp_sum(s);
    if (lane == 0) y[t] = (T)(s / (double)area);
  }
}

// dx[i] = sum over the windows o containing i of dy[o] / |window(o)|, gathered: a thread per
// input value (coalesced writes, no atomics, no zeroing pass; global pooling's backward is a
// broadcast). Row ih lies in the windows oh of [floor(ih OH / H), ceil((ih + 1) OH / H)) (the
// window bounds with in and out swapped), columns alike; the terms are added in the CPU's
// (oh, ow) order, in T, so the sums are the CPU's bit for bit.
extern "C" __global__ void adavg_bwd(T* dx, const T* dy, i64 H, i64 W, i64 OH, i64 OW, i64 n) {
  const i64 HW = H * W;
  GRID_STRIDE(i, n) {
    if (OH == 1 && OW == 1) {  // global pooling: one division per value, not the bounds' ten
      dx[i] = (T)((double)dy[i / HW] / (double)HW);
      continue;
    }
    const i64 iw = i % W, ih = (i / W) % H, c = i / HW;
    const i64 oh0 = ad_start(ih, H, OH), oh1 = ad_end(ih, H, OH);
    const i64 ow0 = ad_start(iw, W, OW), ow1 = ad_end(iw, W, OW);
    const T* g = dy + c * OH * OW;
    T s = 0;
    for (i64 oh = oh0; oh < oh1; ++oh) {
      const i64 kh = ad_end(oh, OH, H) - ad_start(oh, OH, H);
      for (i64 ow = ow0; ow < ow1; ++ow) {
        const i64 kw = ad_end(ow, OW, W) - ad_start(ow, OW, W);
        s += (T)((double)g[oh * OW + ow] / (double)(kh * kw));
      }
    }
    dx[i] = s;
  }
}

extern "C" __global__ void admax_fwd(T* y, i64* idx, const T* x, i64 H, i64 W, i64 OH, i64 OW,
                                     i64 n, int want_idx) {
  GRID_STRIDE(t, n) {
    const i64 ow = t % OW, oh = (t / OW) % OH, c = t / (OW * OH);
    const i64 h0 = ad_start(oh, OH, H), h1 = ad_end(oh, OH, H);
    const i64 w0 = ad_start(ow, OW, W), w1 = ad_end(ow, OW, W);
    const T* xc = x + c * H * W;
    T m = -pos_inf();
    i64 mi = h0 * W + w0;
    for (i64 ih = h0; ih < h1; ++ih)
      for (i64 iw = w0; iw < w1; ++iw) {
        const T v = xc[ih * W + iw];
        if (v > m || v != v) { m = v; mi = ih * W + iw; }
      }
    y[t] = m;
    if (want_idx) idx[t] = mi;
  }
}
"""

_SRC = Source(
    "pool2d",
    _CODE,
    (
        "max_fwd",
        "max_bwd",
        "avg_fwd",
        "avg_bwd",
        "adavg_fwd",
        "adavg_fwd_warp",
        "adavg_bwd",
        "admax_fwd",
    ),
)


def _floor_div(a, b):
    return a // b  # Python's // floors, as csrc/pool2d.h's floor_div


def _out_size(n, k, s, p, d, ceil_mode):
    out = _floor_div(n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0), s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _pair(v, op, name, low):
    a, b = int_pair(v, op, name)
    if a < low or b < low:
        raise ValueError(
            f"{op}: {name} must be {'>= 0' if low == 0 else 'positive'}, got ({a}, {b})"
        )
    return a, b


def _geometry(H, W, kernel_size, stride, padding, dilation, ceil_mode, op):
    k = _pair(kernel_size, op, "kernel_size", 1)
    s = k if stride is None else _pair(stride, op, "stride", 1)
    p = _pair(padding, op, "padding", 0)
    d = _pair(dilation, op, "dilation", 1)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(
            f"{op}: padding must be at most half of kernel_size, got padding {p} "
            f"and kernel_size {k}"
        )
    OH = _out_size(H, k[0], s[0], p[0], d[0], ceil_mode)
    OW = _out_size(W, k[1], s[1], p[1], d[1], ceil_mode)
    if OH < 1 or OW < 1:
        raise ValueError(
            f"{op}: output size ({OH}, {OW}) is too small for input size (H, W) = "
            f"({H}, {W}) with kernel_size {k}, stride {s}, padding {p} and "
            f"dilation {d}"
        )
    return k, s, p, d, OH, OW


def _input(x, op, name="input"):
    x = check_float(x, op, name)
    if x.ndim != 4:
        raise ValueError(f"{op}: {name} must be 4-D (N, C, H, W), got shape {tuple(x.shape)}")
    if min(x.shape[1:]) <= 0:
        raise ValueError(
            f"{op}: {name} must have non-zero C, H and W (only N may be 0), got "
            f"shape {tuple(x.shape)}"
        )
    return x


def _grad(dy, OH, OW, op):
    dy = check_float(dy, op, "grad_output")
    if dy.ndim != 4:
        raise ValueError(f"{op}: grad_output must be 4-D, got shape {tuple(dy.shape)}")
    if dy.shape[2:] != (OH, OW):
        raise ValueError(
            f"{op}: grad_output has spatial size {tuple(dy.shape[2:])}, the pooling "
            f"gives ({OH}, {OW})"
        )
    if dy.shape[1] <= 0:
        raise ValueError(f"{op}: grad_output must have C > 0, got shape {tuple(dy.shape)}")
    return dy


def _index_out(indices, shape, op):
    cp = __import__("cupy")
    if indices is None:
        return cp.empty(shape, cp.int64)
    a = check_int64(indices, op, "indices", shape)
    if a is not indices:
        raise ValueError(f"{op}: indices must be C-contiguous")
    return a


def _zeroed(grad_input, shape, dt, op):
    dx = out_or_new(grad_input, shape, dt, op, "grad_input")
    dx.fill(0)
    return dx


def _ints(*v):
    return tuple(np.int32(a) for a in v)


def max_pool2d_forward(
    input,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode=False,
    return_indices=True,
    *,
    out=None,
    indices=None,
):
    """(output, indices or None) of max pooling over input (N, C, H, W)."""
    op = "max_pool2d"
    x = _input(input, op)
    N, C, H, W = x.shape
    k, s, p, d, OH, OW = _geometry(H, W, kernel_size, stride, padding, dilation, ceil_mode, op)
    y = out_or_new(out, (N, C, OH, OW), x.dtype, op)
    want = return_indices or indices is not None
    idx = _index_out(indices, (N, C, OH, OW), op) if want else None
    launch(
        _SRC("max_fwd", x.dtype),
        y.size,
        (
            y,
            idx if want else __import__("cupy").empty(1, np.int64),
            x,
            i64(H),
            i64(W),
            i64(OH),
            i64(OW),
            *_ints(*k, *s, *p, *d),
            i64(y.size),
            np.int32(want),
        ),
    )
    return y, idx


def max_pool2d_backward(
    grad_output,
    indices,
    input_size,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode=False,
    *,
    grad_input=None,
):
    """grad_input (N, C, H, W): each grad_output element goes to its arg-max."""
    op = "max_pool2d_backward"
    H, W = _pair(input_size, op, "input_size", 1)
    _, _, _, _, OH, OW = _geometry(H, W, kernel_size, stride, padding, dilation, ceil_mode, op)
    dy = _grad(grad_output, OH, OW, op)
    idx = check_int64(indices, op, "indices", dy.shape)
    dx = _zeroed(grad_input, (dy.shape[0], dy.shape[1], H, W), dy.dtype, op)
    launch(
        _SRC("max_bwd", dy.dtype), dy.size, (dx, dy, idx, i64(H * W), i64(OH * OW), i64(dy.size))
    )
    return dx


def _divisor(d, op):
    if d is None:
        return 0
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise TypeError(f"{op}: divisor_override must be an int or None, got {d!r}")
    if d == 0:
        raise ValueError(f"{op}: divisor_override must not be zero")
    if not -(2**31) <= d < 2**31:
        raise ValueError(f"{op}: divisor_override is too large")
    return int(d)


def avg_pool2d_forward(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
    *,
    out=None,
):
    """Average pooling over input (N, C, H, W), sums in double."""
    op = "avg_pool2d"
    x = _input(input, op)
    N, C, H, W = x.shape
    ovr = _divisor(divisor_override, op)
    k, s, p, _, OH, OW = _geometry(H, W, kernel_size, stride, padding, 1, ceil_mode, op)
    y = out_or_new(out, (N, C, OH, OW), x.dtype, op)
    launch(
        _SRC("avg_fwd", x.dtype),
        y.size,
        (
            y,
            x,
            i64(H),
            i64(W),
            i64(OH),
            i64(OW),
            *_ints(*k, *s, *p, count_include_pad),
            i64(ovr),
            i64(y.size),
        ),
    )
    return y


def avg_pool2d_backward(
    grad_output,
    input_size,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
    *,
    grad_input=None,
):
    """grad_input (N, C, H, W) of average pooling."""
    op = "avg_pool2d_backward"
    H, W = _pair(input_size, op, "input_size", 1)
    ovr = _divisor(divisor_override, op)
    k, s, p, _, OH, OW = _geometry(H, W, kernel_size, stride, padding, 1, ceil_mode, op)
    dy = _grad(grad_output, OH, OW, op)
    dx = _zeroed(grad_input, (dy.shape[0], dy.shape[1], H, W), dy.dtype, op)
    launch(
        _SRC("avg_bwd", dy.dtype),
        dy.size,
        (
            dx,
            dy,
            i64(H),
            i64(W),
            i64(OH),
            i64(OW),
            *_ints(*k, *s, *p, count_include_pad),
            i64(ovr),
            i64(dy.size),
        ),
    )
    return dx


def _adaptive_grad(dy, op):
    dy = check_float(dy, op, "grad_output")
    if dy.ndim != 4:
        raise ValueError(f"{op}: grad_output must be 4-D, got shape {tuple(dy.shape)}")
    if min(dy.shape[1:]) <= 0:
        raise ValueError(
            f"{op}: grad_output must have non-zero C, OH and OW, got shape {tuple(dy.shape)}"
        )
    return dy


#: Windows of at least this many values (about: ceil(H / OH) * ceil(W / OW)) are summed by a
#: warp each; smaller ones by a thread each, which then reads few values and idles no lanes.
_WARP_WINDOW = 32


def adaptive_avg_pool2d_forward(input, output_size, *, out=None):
    """Adaptive average pooling of input (N, C, H, W) to output_size."""
    op = "adaptive_avg_pool2d"
    x = _input(input, op)
    N, C, H, W = x.shape
    OH, OW = _pair(output_size, op, "output_size", 1)
    y = out_or_new(out, (N, C, OH, OW), x.dtype, op)
    args = (y, x, i64(H), i64(W), i64(OH), i64(OW), i64(y.size))
    if -(-H // OH) * -(-W // OW) >= _WARP_WINDOW:
        launch_warps(_SRC("adavg_fwd_warp", x.dtype), y.size, args)
    else:
        launch(_SRC("adavg_fwd", x.dtype), y.size, args)
    return y


def adaptive_avg_pool2d_backward(grad_output, input_size, *, grad_input=None):
    """grad_input (N, C, H, W) of adaptive average pooling, input_size = (H, W)."""
    op = "adaptive_avg_pool2d_backward"
    H, W = _pair(input_size, op, "input_size", 1)
    dy = _adaptive_grad(grad_output, op)
    N, C, OH, OW = dy.shape
    dx = out_or_new(grad_input, (N, C, H, W), dy.dtype, op, "grad_input")
    launch(
        _SRC("adavg_bwd", dy.dtype),
        dx.size,
        (dx, dy, i64(H), i64(W), i64(OH), i64(OW), i64(dx.size)),
    )
    return dx


def adaptive_max_pool2d_forward(input, output_size, return_indices=True, *, out=None, indices=None):
    """(output, indices or None) of adaptive max pooling."""
    op = "adaptive_max_pool2d"
    x = _input(input, op)
    N, C, H, W = x.shape
    OH, OW = _pair(output_size, op, "output_size", 1)
    y = out_or_new(out, (N, C, OH, OW), x.dtype, op)
    want = return_indices or indices is not None
    idx = _index_out(indices, (N, C, OH, OW), op) if want else None
    launch(
        _SRC("admax_fwd", x.dtype),
        y.size,
        (
            y,
            idx if want else __import__("cupy").empty(1, np.int64),
            x,
            i64(H),
            i64(W),
            i64(OH),
            i64(OW),
            i64(y.size),
            np.int32(want),
        ),
    )
    return y, idx


def adaptive_max_pool2d_backward(grad_output, indices, input_size, *, grad_input=None):
    """grad_input (N, C, H, W): each grad_output element goes to its arg-max."""
    op = "adaptive_max_pool2d_backward"
    H, W = _pair(input_size, op, "input_size", 1)
    dy = _adaptive_grad(grad_output, op)
    idx = check_int64(indices, op, "indices", dy.shape)
    N, C, OH, OW = dy.shape
    dx = _zeroed(grad_input, (N, C, H, W), dy.dtype, op)
    launch(
        _SRC("max_bwd", dy.dtype), dy.size, (dx, dy, idx, i64(H * W), i64(OH * OW), i64(dy.size))
    )
    return dx
