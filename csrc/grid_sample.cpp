// grid_sample on images (k = 2) and volumes (k = 3): each output pixel reads a few input pixels
// ("taps": 1 for 'nearest', 2^k for (bi/tri)linear) with weights set by the grid. Coordinates,
// padding modes and the handling of non-finite ones follow pydlk/functional/grid_sampling.py
// (torch's grid_sampler formulas), which keeps the array-code version (bicubic, the GPU).
//
// Taps are computed for a block of 64 output pixels at a time and kept in L1 while every
// channel uses them: the forward gathers, the input gradient scatters (one task per sample and
// channel range, so no two threads write one plane), the grid gradient sums over channels
// (one task per sample and pixel block).
//
// Trapping math is off, as in activation.cpp: the coordinate loops compare possible NaNs, which
// GCC keeps scalar under -ftrapping-math; no FP exception is ever unmasked here.
#pragma GCC optimize("no-trapping-math")
#include "grid_sample.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace pydlk {

namespace {

constexpr int kBlock = 64;

// Clamp to [0, size - 1]; the derivative is 0 at and beyond either border (torch's
// clip_coordinates_set_grad).
template <typename T>
PYDLK_INLINE T clip_grad(T c, int size, T* d) {
  const T hi = T(size - 1);
  if (c <= 0) {
    *d = 0;
    return 0;
  }
  if (c >= hi) {
    *d = 0;
    return hi;
  }
  *d = 1;
  return c;
}

// Mirror c about low and high (given doubled so half-integers stay exact) until it lies
// between them; *d the derivative, +1 or -1 (torch's reflect_coordinates_set_grad).
template <typename T>
PYDLK_INLINE T reflect_grad(T c, int twice_low, int twice_high, T* d) {
  if (twice_low == twice_high) {
    *d = 0;
    return 0;
  }
  const T low = T(twice_low) / 2, span = T(twice_high - twice_low) / 2;
  T v = c - low, sign = 1;
  if (v < 0) sign = -1, v = -v;
  const T extra = std::fmod(v, span);
  const bool even = std::fmod(std::floor(v / span), T(2)) == 0;
  *d = even ? sign : -sign;
  return even ? extra + low : span - extra + low;
}

// A coordinate that is not finite or beyond int range becomes -100, outside the image (torch's
// safe_downgrade_to_int_range); used for the tap positions only, so a NaN coordinate still
// gives NaN weights.
template <typename T>
PYDLK_INLINE T safe(T c) {
  // One select (NaN fails both comparisons), so the loops over a block vectorise. The upper
  // bound is INT_MAX - 1 where T holds it, else the largest float below 2^31, so the floor
  // always converts to int32.
  constexpr T hi = sizeof(T) == 4 ? T(2147483520.0) : T(2147483646.0);
  return (c >= T(-2147483648.0)) & (c <= hi) ? c : T(-100);
}

// The taps of up to kBlock output pixels, laid out tap-major so the loops over pixels vectorise.
template <typename T, int K>
struct TapBlock {
  static constexpr int kTaps = 1 << K;
  int32_t idx[kTaps][kBlock];  // flat index into the plane, -1 outside
  T w[kTaps][kBlock];
  T dw[K][kTaps][kBlock];  // d w / d grid coordinate along each axis (x first)
};

// Pixel coordinates of the block along axis a after padding, and their slopes (d coordinate /
// d grid value). One pass per axis and padding mode: branch-free loops the compiler vectorises.
template <typename T>
PYDLK_INLINE void block_coords(T* c, T* slope, const T* g, int stride, int count, int size,
                               const GridSampleOpts& o) {
  const T m = o.align_corners ? T(size - 1) / 2 : T(size) / 2;
  if (o.align_corners) {
    for (int i = 0; i < count; ++i) c[i] = (g[(index_t)i * stride] + 1) / 2 * T(size - 1);
  } else {
    for (int i = 0; i < count; ++i) c[i] = ((g[(index_t)i * stride] + 1) * T(size) - 1) / 2;
  }
  if (o.pad == GridPad::zeros) {
    for (int i = 0; i < count; ++i) slope[i] = m;
    return;
  }
  for (int i = 0; i < count; ++i) {
    T d = 1, v = c[i];
    if (o.pad == GridPad::reflection)
      v = o.align_corners ? reflect_grad(v, 0, 2 * (size - 1), &d)
                          : reflect_grad(v, -1, 2 * size - 1, &d);
    T dc;
    c[i] = clip_grad(v, size, &dc);
    slope[i] = d * dc * m;
  }
}

// The taps of output pixels p0 .. p0 + count - 1 of one sample (grid_n: its grid). Inlined
// into each kernel clone (its AVX-512 copy too), with 32-bit tap arithmetic, so that every loop
// over the block vectorises: out of line, it ran as scalar baseline code and took two thirds
// of a 3-channel image's forward.
template <typename T, int K>
PYDLK_INLINE void compute_taps(TapBlock<T, K>& tb, const T* grid_n, index_t p0, int count,
                               const GridSampleShape& s, const GridSampleOpts& o, bool want_dw) {
  constexpr int kTaps = TapBlock<T, K>::kTaps;
  T c[K][kBlock], slope[K][kBlock], f[K][kBlock];
  int32_t lo[K][kBlock];  // safe() keeps the floor within int32
  for (int a = 0; a < K; ++a) {
    block_coords(c[a], slope[a], grid_n + p0 * K + a, K, count, s.in_size[a], o);
    if (o.nearest) {
      for (int i = 0; i < count; ++i) {
        const T fl = std::nearbyint(safe(c[a][i]));  // ties to even, as torch
        lo[a][i] = (int32_t)fl;
        f[a][i] = c[a][i] - fl;
      }
    } else {
      for (int i = 0; i < count; ++i) {
        const T fl = std::floor(safe(c[a][i]));
        lo[a][i] = (int32_t)fl;
        f[a][i] = c[a][i] - fl;  // NaN for a NaN coordinate: NaN weights, a NaN sample
      }
    }
  }
  const int taps = o.nearest ? 1 : kTaps;
  uint32_t size[K];  // unsigned: a position outside wraps (defined) and is masked below
  for (int a = 0; a < K; ++a) size[a] = (uint32_t)s.in_size[a];
  for (int t = 0; t < taps; ++t) {
    for (int i = 0; i < count; ++i) {  // ((z * H) + y) * W + x
      bool inside = true;
      uint32_t flat = 0;
      for (int a = K - 1; a >= 0; --a) {
        const uint32_t pos = (uint32_t)lo[a][i] + (uint32_t)((t >> a) & 1);
        inside &= pos < size[a];  // a negative position is a huge unsigned one
        flat = flat * size[a] + pos;
      }
      tb.idx[t][i] = inside ? (int32_t)flat : -1;
    }
    if (o.nearest) {
      for (int i = 0; i < count; ++i) tb.w[0][i] = 1;
      break;
    }
    // the product outermost axis first (z, y, x), as the array code's
    for (int i = 0; i < count; ++i) {
      T wt = ((t >> (K - 1)) & 1) ? f[K - 1][i] : 1 - f[K - 1][i];
      for (int a = K - 2; a >= 0; --a) wt *= ((t >> a) & 1) ? f[a][i] : 1 - f[a][i];
      tb.w[t][i] = wt;
    }
    if (!want_dw) continue;
    for (int b = 0; b < K; ++b)
      for (int i = 0; i < count; ++i) {
        T v = 1;
        for (int a = K - 1; a >= 0; --a) {
          const bool hi = (t >> a) & 1;
          const T factor =
              a == b ? (hi ? slope[a][i] : -slope[a][i]) : (hi ? f[a][i] : 1 - f[a][i]);
          v = a == K - 1 ? factor : v * factor;
        }
        tb.dw[b][t][i] = v;
      }
  }
}

// The value a tap reads: the plane's pixel, or 0 outside (idx -1). Branch-free (a select after
// an always-valid load): with many taps outside, a branch here mispredicts. Multiplying by a
// 0/1 mask instead would let an inf or NaN at pixel 0 leak into zero-padded samples.
template <typename T>
PYDLK_INLINE T tap_value(const T* plane, int32_t j) {
  const T v = plane[j < 0 ? 0 : j];
  return j < 0 ? T(0) : v;
}

// plane[j] += v for a tap inside; outside taps add 0 to pixel 0 (branch-free, as tap_value).
template <typename T>
PYDLK_INLINE void scatter_tap(T* plane, int32_t j, T v) {
  plane[j < 0 ? 0 : j] += j < 0 ? T(0) : v;
}

#if defined(__x86_64__) && defined(__GNUC__)
// One float32 channel of a block: y[i] = sum over taps of x[idx[t][i]] w[t][i], 16 pixels per
// hardware gather (masked: a tap outside the image loads nothing and adds 0 * w, so a NaN or
// inf weight still gives NaN, as the scalar select does). GCC's generic tuning emulates
// gathers with one scalar load and insert per lane, which took most of a 3-channel image's
// forward.
PYDLK_AVX512 void gather_taps_f32(float* y, const float* x, const int32_t* idx, const float* w,
                                  int taps, int count) {
  const __m512i zero = _mm512_setzero_si512();
  for (int i = 0; i < count; i += 16) {
    const __mmask16 m = count - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (count - i)) - 1);
    __m512 acc = _mm512_setzero_ps();
    for (int t = 0; t < taps; ++t) {
      const __m512i j = _mm512_maskz_loadu_epi32(m, idx + t * kBlock + i);
      const __mmask16 in = _mm512_mask_cmpge_epi32_mask(m, j, zero);
      const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), in, j, x, 4);
      acc = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, w + t * kBlock + i), acc);
    }
    _mm512_mask_storeu_ps(y + i, m, acc);
  }
}
constexpr bool kHaveGather512 = true;
#else
inline void gather_taps_f32(float*, const float*, const int32_t*, const float*, int, int) {}
constexpr bool kHaveGather512 = false;
#endif

template <typename T, int K, int kTapsUsed>
PYDLK_SIMD void forward_k(T* y, const T* x, const T* grid, const GridSampleShape& s,
                          const GridSampleOpts& o) {
  const index_t nblocks = (s.out_plane + kBlock - 1) / kBlock, tasks = s.n * nblocks;
  const bool gather512 = std::is_same_v<T, float> && kHaveGather512 && cpu_has_avx512();
#pragma omp parallel for schedule( \
        dynamic, 4) if (parallel_worth_it(s.n * s.c * s.out_plane * kTapsUsed))
  for (index_t task = 0; task < tasks; ++task) {
    const index_t n = task / nblocks, p0 = (task % nblocks) * kBlock;
    const int count = (int)std::min<index_t>(kBlock, s.out_plane - p0);
    TapBlock<T, K> tb;
    compute_taps(tb, grid + n * s.out_plane * K, p0, count, s, o, false);
    for (index_t c = 0; c < s.c; ++c) {
      const T* xc = x + (n * s.c + c) * s.in_plane;
      T* yc = y + (n * s.c + c) * s.out_plane + p0;
      if constexpr (std::is_same_v<T, float>) {
        if (gather512) {
          gather_taps_f32(yc, xc, &tb.idx[0][0], &tb.w[0][0], kTapsUsed, count);
          continue;
        }
      }
      // taps outer, pixels inner: masked gathers over the pixels (measured faster here than
      // a scalar loop per pixel; the backward's scatter stays scalar)
      T acc[kBlock];
      for (int i = 0; i < count; ++i) acc[i] = 0;
      for (int t = 0; t < kTapsUsed; ++t)
        for (int i = 0; i < count; ++i) acc[i] += tap_value(xc, tb.idx[t][i]) * tb.w[t][i];
      for (int i = 0; i < count; ++i) yc[i] = acc[i];
    }
  }
}

// dx: one task per (sample, channel range); each recomputes the taps of its sample.
template <typename T, int K>
PYDLK_SIMD void input_grad_k(T* dx, const T* dy, const T* grid, const GridSampleShape& s,
                             const GridSampleOpts& o) {
  const int taps = o.nearest ? 1 : TapBlock<T, K>::kTaps;
  const index_t work = s.n * s.c * s.out_plane * taps;
  const int nt = parallel_worth_it(work) ? num_threads() : 1;
  // enough tasks for every thread (twice over, for balance), no more channel ranges than needed
  const index_t ranges = std::min<index_t>(s.c, std::max<index_t>(1, (2 * nt + s.n - 1) / s.n));
  const index_t per = (s.c + ranges - 1) / ranges, tasks = s.n * ranges;
#pragma omp parallel for schedule(dynamic, 1) if (nt > 1)
  for (index_t task = 0; task < tasks; ++task) {
    const index_t n = task / ranges, c0 = (task % ranges) * per;
    const index_t c1 = std::min(s.c, c0 + per);
    if (c0 >= c1) continue;
    std::memset(dx + (n * s.c + c0) * s.in_plane, 0, sizeof(T) * (c1 - c0) * s.in_plane);
    TapBlock<T, K> tb;
    for (index_t p0 = 0; p0 < s.out_plane; p0 += kBlock) {
      const int count = (int)std::min<index_t>(kBlock, s.out_plane - p0);
      compute_taps(tb, grid + n * s.out_plane * K, p0, count, s, o, false);
      for (index_t c = c0; c < c1; ++c) {
        T* dxc = dx + (n * s.c + c) * s.in_plane;
        const T* gc = dy + (n * s.c + c) * s.out_plane + p0;
        for (int i = 0; i < count; ++i)
          for (int t = 0; t < taps; ++t) scatter_tap(dxc, tb.idx[t][i], gc[i] * tb.w[t][i]);
      }
    }
  }
}

// dgrid: one task per (sample, pixel block): per tap the channel sum of dy times the tapped
// value, times the derivatives of the tap's weight.
template <typename T, int K>
PYDLK_SIMD void grid_grad_k(T* dgrid, const T* dy, const T* x, const T* grid,
                            const GridSampleShape& s, const GridSampleOpts& o) {
  constexpr int kTaps = TapBlock<T, K>::kTaps;
  const index_t nblocks = (s.out_plane + kBlock - 1) / kBlock, tasks = s.n * nblocks;
#pragma omp parallel for schedule(dynamic, \
                                      4) if (parallel_worth_it(s.n * s.c * s.out_plane * kTaps))
  for (index_t task = 0; task < tasks; ++task) {
    const index_t n = task / nblocks, p0 = (task % nblocks) * kBlock;
    const int count = (int)std::min<index_t>(kBlock, s.out_plane - p0);
    TapBlock<T, K> tb;
    compute_taps(tb, grid + n * s.out_plane * K, p0, count, s, o, true);
    T sum[kTaps][kBlock] = {};
    for (index_t c = 0; c < s.c; ++c) {
      const T* xc = x + (n * s.c + c) * s.in_plane;
      const T* gc = dy + (n * s.c + c) * s.out_plane + p0;
      for (int i = 0; i < count; ++i)
        for (int t = 0; t < kTaps; ++t) sum[t][i] += tap_value(xc, tb.idx[t][i]) * gc[i];
    }
    T* out = dgrid + (n * s.out_plane + p0) * K;
    for (int i = 0; i < count; ++i)
      for (int b = 0; b < K; ++b) {
        T acc = 0;
        for (int t = 0; t < kTaps; ++t) acc += sum[t][i] * tb.dw[b][t][i];
        out[i * K + b] = acc;
      }
  }
}

// Both gradients in one pass when each thread can take whole samples: the taps are computed
// once and the same pixels of x (gathered) and dx (scattered) are touched together.
template <typename T, int K>
PYDLK_SIMD void backward_fused_k(T* dx, T* dgrid, const T* dy, const T* x, const T* grid,
                                 const GridSampleShape& s, const GridSampleOpts& o, int nt) {
  constexpr int kTaps = TapBlock<T, K>::kTaps;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
  for (index_t n = 0; n < s.n; ++n) {
    std::memset(dx + n * s.c * s.in_plane, 0, sizeof(T) * s.c * s.in_plane);
    TapBlock<T, K> tb;
    for (index_t p0 = 0; p0 < s.out_plane; p0 += kBlock) {
      const int count = (int)std::min<index_t>(kBlock, s.out_plane - p0);
      compute_taps(tb, grid + n * s.out_plane * K, p0, count, s, o, true);
      T sum[kTaps][kBlock] = {};
      for (index_t c = 0; c < s.c; ++c) {
        const T* xc = x + (n * s.c + c) * s.in_plane;
        T* dxc = dx + (n * s.c + c) * s.in_plane;
        const T* gc = dy + (n * s.c + c) * s.out_plane + p0;
        for (int i = 0; i < count; ++i)  // scalar: measured faster than masked gathers here
          for (int t = 0; t < kTaps; ++t) {
            const int32_t j = tb.idx[t][i];
            sum[t][i] += tap_value(xc, j) * gc[i];
            scatter_tap(dxc, j, gc[i] * tb.w[t][i]);
          }
      }
      T* out = dgrid + (n * s.out_plane + p0) * K;
      for (int i = 0; i < count; ++i)
        for (int b = 0; b < K; ++b) {
          T acc = 0;
          for (int t = 0; t < kTaps; ++t) acc += sum[t][i] * tb.dw[b][t][i];
          out[i * K + b] = acc;
        }
    }
  }
}

}  // namespace

template <typename T>
void grid_sample_forward(T* y, const T* x, const T* grid, const GridSampleShape& s,
                         const GridSampleOpts& o) {
  if (s.k == 2 && o.nearest) forward_k<T, 2, 1>(y, x, grid, s, o);
  else if (s.k == 2) forward_k<T, 2, 4>(y, x, grid, s, o);
  else if (o.nearest) forward_k<T, 3, 1>(y, x, grid, s, o);
  else forward_k<T, 3, 8>(y, x, grid, s, o);
}

template <typename T>
void grid_sample_backward(T* dx, T* dgrid, const T* dy, const T* x, const T* grid,
                          const GridSampleShape& s, const GridSampleOpts& o) {
  const int taps = o.nearest ? 1 : (1 << s.k);
  const int nt = parallel_worth_it(s.n * s.c * s.out_plane * taps) ? num_threads() : 1;
  if (dx != nullptr && dgrid != nullptr && !o.nearest && (nt == 1 || s.n >= 2 * nt)) {
    if (s.k == 2) backward_fused_k<T, 2>(dx, dgrid, dy, x, grid, s, o, nt);
    else backward_fused_k<T, 3>(dx, dgrid, dy, x, grid, s, o, nt);
    return;
  }
  if (dx != nullptr) {
    if (s.k == 2) input_grad_k<T, 2>(dx, dy, grid, s, o);
    else input_grad_k<T, 3>(dx, dy, grid, s, o);
  }
  if (dgrid == nullptr) return;
  if (o.nearest) {  // piecewise constant in the grid
    std::memset(dgrid, 0, sizeof(T) * s.n * s.out_plane * s.k);
  } else if (s.k == 2) {
    grid_grad_k<T, 2>(dgrid, dy, x, grid, s, o);
  } else {
    grid_grad_k<T, 3>(dgrid, dy, x, grid, s, o);
  }
}

template void grid_sample_forward<float>(float*, const float*, const float*, const GridSampleShape&,
                                         const GridSampleOpts&);
template void grid_sample_forward<double>(double*, const double*, const double*,
                                          const GridSampleShape&, const GridSampleOpts&);
template void grid_sample_backward<float>(float*, float*, const float*, const float*, const float*,
                                          const GridSampleShape&, const GridSampleOpts&);
template void grid_sample_backward<double>(double*, double*, const double*, const double*,
                                           const double*, const GridSampleShape&,
                                           const GridSampleOpts&);

}  // namespace pydlk
