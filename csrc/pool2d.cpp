// 2-D pooling on NCHW planes: max, average, adaptive average, adaptive max; forward and backward.
// Every loop is parallel over the N*C planes (each thread writes whole planes of its own, so the
// scatter-adds of the backward passes need no atomics). Inside a plane the inner loops run over
// output columns so that they vectorise; 2x2 / stride 2 without padding (the common
// downsampling layer) has its own straight-line fast path, forward and backward.
#include "pool2d.h"

#include <algorithm>
#include <cstring>
#include <limits>

#define PYDLK_INLINE inline __attribute__((always_inline))

namespace pydlk {
namespace {

constexpr index_t kChunk = 128;  // output columns handled together on the vector path

// torch's max rule: v replaces the running max m when it is larger or when it is NaN.
template <typename T>
PYDLK_INLINE bool beats(T v, T m) { return v > m || v != v; }

bool is_2x2s2(const Pool2d& p) {
  return p.kH == 2 && p.kW == 2 && p.sH == 2 && p.sW == 2 && p.pH == 0 && p.pW == 0 &&
         p.dH == 1 && p.dW == 1 && 2 * p.OH <= p.H && 2 * p.OW <= p.W;
}

// Output columns [lo, hi) whose whole window lies inside the row (no padding, no overhang):
// ow*s - p >= 0 and ow*s - p + (k-1)*d <= W-1.
void interior(index_t& lo, index_t& hi, index_t W, index_t OW, index_t k, index_t s, index_t p,
              index_t d) {
  lo = std::min(OW, (p + s - 1) / s);
  hi = std::max(lo, std::min(OW, floor_div(W - 1 - (k - 1) * d + p, s) + 1));
}

// ---- max pool, forward ------------------------------------------------------------------------

// 2x2 stride 2, one plane. Window (a b / c d) in torch's order a, b, c, d.
template <typename T>
PYDLK_INLINE void max2x2_plane(T* y, int64_t* idx, const T* x, index_t W, index_t OH, index_t OW) {
  for (index_t oh = 0; oh < OH; ++oh) {
    const T* r0 = x + 2 * oh * W;
    const T* r1 = r0 + W;
    T* yr = y + oh * OW;
    if (idx) {
      int64_t* ir = idx + oh * OW;
      const int64_t base = 2 * oh * W;
      for (index_t ow = 0; ow < OW; ++ow) {
        T m = r0[2 * ow];
        int64_t k = 0;
        T v = r0[2 * ow + 1];
        bool t = beats(v, m); m = t ? v : m; k = t ? 1 : k;
        v = r1[2 * ow];
        t = beats(v, m); m = t ? v : m; k = t ? W : k;
        v = r1[2 * ow + 1];
        t = beats(v, m); m = t ? v : m; k = t ? W + 1 : k;
        yr[ow] = m;
        ir[ow] = base + 2 * ow + k;
      }
    } else {
      for (index_t ow = 0; ow < OW; ++ow) {
        T m = r0[2 * ow];
        T v = r0[2 * ow + 1]; m = beats(v, m) ? v : m;
        v = r1[2 * ow];       m = beats(v, m) ? v : m;
        v = r1[2 * ow + 1];   m = beats(v, m) ? v : m;
        yr[ow] = m;
      }
    }
  }
}

// One window exactly as torch walks it (used at the borders, where padding clips the window).
template <typename T>
PYDLK_INLINE void max_window(T& out, int64_t& oidx, const T* x, const Pool2d& p, index_t oh,
                             index_t ow) {
  index_t ih0 = oh * p.sH - p.pH, iw0 = ow * p.sW - p.pW;
  index_t ih1 = std::min(ih0 + (p.kH - 1) * p.dH + 1, p.H);
  index_t iw1 = std::min(iw0 + (p.kW - 1) * p.dW + 1, p.W);
  while (ih0 < 0) ih0 += p.dH;
  while (iw0 < 0) iw0 += p.dW;
  int64_t mi = ih0 * p.W + iw0;
  T m = -std::numeric_limits<T>::infinity();
  for (index_t ih = ih0; ih < ih1; ih += p.dH)
    for (index_t iw = iw0; iw < iw1; iw += p.dW) {
      T v = x[ih * p.W + iw];
      if (beats(v, m)) { m = v; mi = ih * p.W + iw; }
    }
  out = m;
  oidx = mi;
}

// Interior columns [c0, c0+n) of output row oh, n <= kChunk, the window rows clipped to the
// input. The loop over (kh, kw) in window order is outside, the loop over output columns inside
// (it vectorises); S is the column stride when known at compile time (0: p.sW at run time).
template <typename T, int S>
PYDLK_INLINE void max_interior(T* yr, int64_t* ir, const T* x, const Pool2d& p, index_t oh,
                               index_t c0, index_t n) {
  const index_t s = S ? S : p.sW;
  T m[kChunk];
  int64_t k[kChunk];
  index_t ih0 = oh * p.sH - p.pH;
  const index_t ih1 = std::min(ih0 + (p.kH - 1) * p.dH + 1, p.H);
  while (ih0 < 0) ih0 += p.dH;
  for (index_t j = 0; j < n; ++j) {
    m[j] = -std::numeric_limits<T>::infinity();
    k[j] = ih0 * p.W + (c0 + j) * s - p.pW;
  }
  for (index_t ih = ih0; ih < ih1; ih += p.dH) {
    for (index_t kw = 0; kw < p.kW; ++kw) {
      const index_t off = c0 * s - p.pW + kw * p.dW;
      const T* xr = x + ih * p.W + off;
      const int64_t base = ih * p.W + off;
      for (index_t j = 0; j < n; ++j) {
        T v = xr[j * s];
        bool t = beats(v, m[j]);
        m[j] = t ? v : m[j];
        k[j] = t ? base + j * s : k[j];
      }
    }
  }
  for (index_t j = 0; j < n; ++j) yr[c0 + j] = m[j];
  if (ir)
    for (index_t j = 0; j < n; ++j) ir[c0 + j] = k[j];
}

template <typename T, int S>
PYDLK_INLINE void max_plane(T* y, int64_t* idx, const T* x, const Pool2d& p) {
  index_t lo, hi;
  interior(lo, hi, p.W, p.OW, p.kW, p.sW, p.pW, p.dW);
  int64_t dummy;
  for (index_t oh = 0; oh < p.OH; ++oh) {
    T* yr = y + oh * p.OW;
    int64_t* ir = idx ? idx + oh * p.OW : nullptr;
    for (index_t ow = 0; ow < lo; ++ow) max_window(yr[ow], ir ? ir[ow] : dummy, x, p, oh, ow);
    for (index_t c = lo; c < hi; c += kChunk)
      max_interior<T, S>(yr, ir, x, p, oh, c, std::min(kChunk, hi - c));
    for (index_t ow = hi; ow < p.OW; ++ow) max_window(yr[ow], ir ? ir[ow] : dummy, x, p, oh, ow);
  }
}

// ---- average pool -----------------------------------------------------------------------------

template <typename T>
PYDLK_INLINE void avg2x2_plane(T* y, const T* x, index_t W, index_t OH, index_t OW, double inv) {
  for (index_t oh = 0; oh < OH; ++oh) {
    const T* r0 = x + 2 * oh * W;
    const T* r1 = r0 + W;
    T* yr = y + oh * OW;
    for (index_t ow = 0; ow < OW; ++ow)
      yr[ow] = T(((double)r0[2 * ow] + (double)r0[2 * ow + 1] + (double)r1[2 * ow] +
                  (double)r1[2 * ow + 1]) * inv);
  }
}

// Window rows of output row oh (and likewise columns): [i0, i1) clipped to the input, and the
// count torch divides by when padding counts: the window clipped to the padded input.
struct Span { index_t i0, i1, padded; };
PYDLK_INLINE Span avg_span(index_t o, index_t s, index_t p, index_t k, index_t n) {
  index_t a = o * s - p;
  index_t b = std::min(a + k, n + p);
  Span r{std::max(a, index_t(0)), std::min(b, n), b - a};
  return r;
}

PYDLK_INLINE double avg_divisor(const Span& h, const Span& w, bool include_pad, index_t override_) {
  if (override_) return (double)override_;
  if (include_pad) return (double)(h.padded * w.padded);
  return (double)((h.i1 - h.i0) * (w.i1 - w.i0));
}

template <typename T, int S>
PYDLK_INLINE void avg_plane(T* y, const T* x, const Pool2d& p, bool include_pad, index_t ovr) {
  const index_t s = S ? S : p.sW;
  index_t lo, hi;
  interior(lo, hi, p.W, p.OW, p.kW, p.sW, p.pW, 1);
  double acc[kChunk];
  for (index_t oh = 0; oh < p.OH; ++oh) {
    const Span sh = avg_span(oh, p.sH, p.pH, p.kH, p.H);
    T* yr = y + oh * p.OW;
    auto border = [&](index_t ow) {
      const Span sw = avg_span(ow, p.sW, p.pW, p.kW, p.W);
      if (sh.i0 >= sh.i1 || sw.i0 >= sw.i1) { yr[ow] = T(0); return; }
      double sum = 0;
      for (index_t ih = sh.i0; ih < sh.i1; ++ih)
        for (index_t iw = sw.i0; iw < sw.i1; ++iw) sum += x[ih * p.W + iw];
      yr[ow] = T(sum / avg_divisor(sh, sw, include_pad, ovr));
    };
    for (index_t ow = 0; ow < lo; ++ow) border(ow);
    if (lo < hi) {
      // Interior columns: the whole window width lies inside the row.
      const Span sw{0, p.kW, p.kW};
      const double inv = sh.i0 < sh.i1 ? 1.0 / avg_divisor(sh, sw, include_pad, ovr) : 0.0;
      for (index_t c0 = lo; c0 < hi; c0 += kChunk) {
        const index_t n = std::min(kChunk, hi - c0);
        for (index_t j = 0; j < n; ++j) acc[j] = 0;
        for (index_t ih = sh.i0; ih < sh.i1; ++ih)
          for (index_t kw = 0; kw < p.kW; ++kw) {
            const T* xr = x + ih * p.W + c0 * s - p.pW + kw;
            for (index_t j = 0; j < n; ++j) acc[j] += (double)xr[j * s];
          }
        for (index_t j = 0; j < n; ++j) yr[c0 + j] = T(acc[j] * inv);
      }
    }
    for (index_t ow = hi; ow < p.OW; ++ow) border(ow);
  }
}

}  // namespace

// ---- kernels ----------------------------------------------------------------------------------

template <typename T>
PYDLK_SIMD void maxpool2d_forward(T* y, int64_t* idx, const T* x, const Pool2d& p) {
  // x: (NC, H, W) -> y, idx: (NC, OH, OW). One plane per iteration.
  const index_t HW = p.H * p.W, OHW = p.OH * p.OW;
  const bool fast = is_2x2s2(p);
#pragma omp parallel for schedule(static) if (parallel_worth_it(p.NC * HW))
  for (index_t c = 0; c < p.NC; ++c) {
    T* yc = y + c * OHW;
    int64_t* ic = idx ? idx + c * OHW : nullptr;
    const T* xc = x + c * HW;
    if (fast) max2x2_plane(yc, ic, xc, p.W, p.OH, p.OW);
    else if (p.sW == 1) max_plane<T, 1>(yc, ic, xc, p);
    else if (p.sW == 2) max_plane<T, 2>(yc, ic, xc, p);
    else max_plane<T, 0>(yc, ic, xc, p);
  }
}

template <typename T>
PYDLK_SIMD void maxpool2d_backward(T* dx, const T* dy, const int64_t* idx, const Pool2d& p) {
  // dy, idx: (NC, OH, OW) -> dx: (NC, H, W). dx = d(sum_o dy[o] * x[idx[o]]) / dx.
  const index_t HW = p.H * p.W, OHW = p.OH * p.OW;
  const bool fast = is_2x2s2(p);
#pragma omp parallel for schedule(static) if (parallel_worth_it(p.NC * HW))
  for (index_t c = 0; c < p.NC; ++c) {
    T* dxc = dx + c * HW;
    const T* dyc = dy + c * OHW;
    const int64_t* ic = idx + c * OHW;
    if (fast) {
      // Windows tile the plane without overlap: each dx element is written once, with dy where
      // the window's arg-max sits and 0 elsewhere; rows/columns left over by an odd size are 0.
      const index_t W = p.W;
      for (index_t oh = 0; oh < p.OH; ++oh) {
        T* r0 = dxc + 2 * oh * W;
        T* r1 = r0 + W;
        const T* g = dyc + oh * p.OW;
        const int64_t* ir = ic + oh * p.OW;
        const int64_t base = 2 * oh * W;
        for (index_t ow = 0; ow < p.OW; ++ow) {
          const int64_t k = ir[ow] - base - 2 * ow;
          const T v = g[ow];
          r0[2 * ow] = k == 0 ? v : T(0);
          r0[2 * ow + 1] = k == 1 ? v : T(0);
          r1[2 * ow] = k == W ? v : T(0);
          r1[2 * ow + 1] = k == W + 1 ? v : T(0);
        }
        for (index_t iw = 2 * p.OW; iw < W; ++iw) r0[iw] = r1[iw] = T(0);
      }
      for (index_t i = 2 * p.OH * W; i < HW; ++i) dxc[i] = T(0);
    } else {
      std::memset(dxc, 0, sizeof(T) * HW);
      for (index_t o = 0; o < OHW; ++o) {
        const int64_t i = ic[o];
        if (i >= 0 && i < HW) dxc[i] += dyc[o];
      }
    }
  }
}

template <typename T>
PYDLK_SIMD void avgpool2d_forward(T* y, const T* x, const Pool2d& p, bool count_include_pad,
                                  index_t divisor_override) {
  // x: (NC, H, W) -> y: (NC, OH, OW).
  const index_t HW = p.H * p.W, OHW = p.OH * p.OW;
  const bool fast = is_2x2s2(p);
  const double inv4 = 1.0 / (divisor_override ? (double)divisor_override : 4.0);
#pragma omp parallel for schedule(static) if (parallel_worth_it(p.NC * HW))
  for (index_t c = 0; c < p.NC; ++c) {
    T* yc = y + c * OHW;
    const T* xc = x + c * HW;
    if (fast) avg2x2_plane(yc, xc, p.W, p.OH, p.OW, inv4);
    else if (p.sW == 1) avg_plane<T, 1>(yc, xc, p, count_include_pad, divisor_override);
    else if (p.sW == 2) avg_plane<T, 2>(yc, xc, p, count_include_pad, divisor_override);
    else avg_plane<T, 0>(yc, xc, p, count_include_pad, divisor_override);
  }
}

template <typename T>
PYDLK_SIMD void avgpool2d_backward(T* dx, const T* dy, const Pool2d& p, bool count_include_pad,
                                   index_t divisor_override) {
  // dy: (NC, OH, OW) -> dx: (NC, H, W). y[o] = sum_{i in window(o)} x[i] / div(o), so
  // dx[i] = sum_{o : i in window(o)} dy[o] / div(o): scatter each dy[o] / div(o) over its window.
  const index_t HW = p.H * p.W, OHW = p.OH * p.OW;
  const bool fast = is_2x2s2(p);
  const double inv4 = 1.0 / (divisor_override ? (double)divisor_override : 4.0);
#pragma omp parallel for schedule(static) if (parallel_worth_it(p.NC * HW))
  for (index_t c = 0; c < p.NC; ++c) {
    T* dxc = dx + c * HW;
    const T* dyc = dy + c * OHW;
    const index_t W = p.W;
    if (fast) {
      for (index_t oh = 0; oh < p.OH; ++oh) {
        T* r0 = dxc + 2 * oh * W;
        T* r1 = r0 + W;
        const T* g = dyc + oh * p.OW;
        for (index_t ow = 0; ow < p.OW; ++ow) {
          const T v = T(g[ow] * inv4);
          r0[2 * ow] = v; r0[2 * ow + 1] = v; r1[2 * ow] = v; r1[2 * ow + 1] = v;
        }
        for (index_t iw = 2 * p.OW; iw < W; ++iw) r0[iw] = r1[iw] = T(0);
      }
      for (index_t i = 2 * p.OH * W; i < HW; ++i) dxc[i] = T(0);
      continue;
    }
    std::memset(dxc, 0, sizeof(T) * HW);
    for (index_t oh = 0; oh < p.OH; ++oh) {
      const Span sh = avg_span(oh, p.sH, p.pH, p.kH, p.H);
      for (index_t ow = 0; ow < p.OW; ++ow) {
        const Span sw = avg_span(ow, p.sW, p.pW, p.kW, p.W);
        if (sh.i0 >= sh.i1 || sw.i0 >= sw.i1) continue;
        const T v = T(dyc[oh * p.OW + ow] / avg_divisor(sh, sw, count_include_pad, divisor_override));
        for (index_t ih = sh.i0; ih < sh.i1; ++ih)
          for (index_t iw = sw.i0; iw < sw.i1; ++iw) dxc[ih * W + iw] += v;
      }
    }
  }
}

template <typename T>
PYDLK_SIMD void adaptive_avgpool2d_forward(T* y, const T* x, const Pool2d& p) {
  // x: (NC, H, W) -> y: (NC, OH, OW), y = mean of the adaptive window, summed in double.
  const index_t HW = p.H * p.W, OHW = p.OH * p.OW;
#pragma omp parallel for schedule(static) if (parallel_worth_it(p.NC * HW))
  for (index_t c = 0; c < p.NC; ++c) {
    const T* xc = x + c * HW;
    for (index_t oh = 0; oh < p.OH; ++oh) {
      const index_t h0 = adaptive_start(oh, p.OH, p.H), h1 = adaptive_end(oh, p.OH, p.H);
      for (index_t ow = 0; ow < p.OW; ++ow) {
        const index_t w0 = adaptive_start(ow, p.OW, p.W), w1 = adaptive_end(ow, p.OW, p.W);
        double sum = 0;
        for (index_t ih = h0; ih < h1; ++ih) {
          const T* xr = xc + ih * p.W;
          for (index_t iw = w0; iw < w1; ++iw) sum += xr[iw];
        }
        y[c * OHW + oh * p.OW + ow] = T(sum / (double)((h1 - h0) * (w1 - w0)));
      }
    }
  }
}

template <typename T>
PYDLK_SIMD void adaptive_avgpool2d_backward(T* dx, const T* dy, const Pool2d& p) {
  // dx[i] = sum over the adaptive windows o containing i of dy[o] / |window(o)|.
  const index_t HW = p.H * p.W, OHW = p.OH * p.OW;
#pragma omp parallel for schedule(static) if (parallel_worth_it(p.NC * HW))
  for (index_t c = 0; c < p.NC; ++c) {
    T* dxc = dx + c * HW;
    std::memset(dxc, 0, sizeof(T) * HW);
    for (index_t oh = 0; oh < p.OH; ++oh) {
      const index_t h0 = adaptive_start(oh, p.OH, p.H), h1 = adaptive_end(oh, p.OH, p.H);
      for (index_t ow = 0; ow < p.OW; ++ow) {
        const index_t w0 = adaptive_start(ow, p.OW, p.W), w1 = adaptive_end(ow, p.OW, p.W);
        const T v = T(dy[c * OHW + oh * p.OW + ow] / (double)((h1 - h0) * (w1 - w0)));
        for (index_t ih = h0; ih < h1; ++ih) {
          T* r = dxc + ih * p.W;
          for (index_t iw = w0; iw < w1; ++iw) r[iw] += v;
        }
      }
    }
  }
}

template <typename T>
PYDLK_SIMD void adaptive_maxpool2d_forward(T* y, int64_t* idx, const T* x, const Pool2d& p) {
  // x: (NC, H, W) -> y, idx: (NC, OH, OW); torch's max rule (first max, NaN wins).
  const index_t HW = p.H * p.W, OHW = p.OH * p.OW;
#pragma omp parallel for schedule(static) if (parallel_worth_it(p.NC * HW))
  for (index_t c = 0; c < p.NC; ++c) {
    const T* xc = x + c * HW;
    for (index_t oh = 0; oh < p.OH; ++oh) {
      const index_t h0 = adaptive_start(oh, p.OH, p.H), h1 = adaptive_end(oh, p.OH, p.H);
      for (index_t ow = 0; ow < p.OW; ++ow) {
        const index_t w0 = adaptive_start(ow, p.OW, p.W), w1 = adaptive_end(ow, p.OW, p.W);
        T m = -std::numeric_limits<T>::infinity();
        int64_t mi = h0 * p.W + w0;
        for (index_t ih = h0; ih < h1; ++ih)
          for (index_t iw = w0; iw < w1; ++iw) {
            const T v = xc[ih * p.W + iw];
            if (beats(v, m)) { m = v; mi = ih * p.W + iw; }
          }
        y[c * OHW + oh * p.OW + ow] = m;
        if (idx) idx[c * OHW + oh * p.OW + ow] = mi;
      }
    }
  }
}

#define PYDLK_POOL_INSTANTIATE(T)                                                                \
  template void maxpool2d_forward<T>(T*, int64_t*, const T*, const Pool2d&);                     \
  template void maxpool2d_backward<T>(T*, const T*, const int64_t*, const Pool2d&);              \
  template void avgpool2d_forward<T>(T*, const T*, const Pool2d&, bool, index_t);                \
  template void avgpool2d_backward<T>(T*, const T*, const Pool2d&, bool, index_t);               \
  template void adaptive_avgpool2d_forward<T>(T*, const T*, const Pool2d&);                      \
  template void adaptive_avgpool2d_backward<T>(T*, const T*, const Pool2d&);                     \
  template void adaptive_maxpool2d_forward<T>(T*, int64_t*, const T*, const Pool2d&);
PYDLK_POOL_INSTANTIATE(float)
PYDLK_POOL_INSTANTIATE(double)

}  // namespace pydlk
