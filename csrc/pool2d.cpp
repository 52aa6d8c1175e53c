// 2-D pooling on NCHW planes: max, average, adaptive average, adaptive max; forward and backward.
// Every loop is parallel over the N*C planes (each thread writes whole planes of its own, so the
// scatter-adds of the backward passes need no atomics). Inside a plane the inner loops run over
// output columns so that they vectorise:
//  - 2x2 / stride 2 without padding (the common downsampling layer) has a special-cased fast
//    path, forward and backward, max and avg: the windows tile the plane, so the backward writes
//    each dx element exactly once (no zeroing pass, no scatter); on float32 it runs 8 outputs at
//    a time with GCC vector extensions, and planes with rows of fewer than 8 outputs that the
//    windows tile exactly (LeNet's 10x10) are taken many at a time as one taller plane.
//  - other max pools: interior columns (window fully inside the row) in 8-output vector blocks
//    on float32, border columns one window at a time exactly as torch walks them.
//  - other avg pools: separable row passes (column sums of the window rows, then the columns).
// Scalar code keeps torch's rules (first maximum on ties, NaN wins, its divisors) throughout.
#include "pool2d.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

// The vector types below only live inside always-inline helpers: no ABI is involved.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace pydlk {
namespace {

constexpr index_t kChunk = 128;  // output columns handled together on the vector path

// ---- 2x2 / stride 2 on float32: 8 outputs at a time with GCC vector extensions ----------------
// 256-bit vectors (native in both clones: wider generic vectors would be split into scalars in
// the always-inline helpers, which are compiled for the baseline before inlining). Two input rows
// r0, r1 give the windows (a b / c d): a, b are the even and odd lanes of 16 floats of r0, c, d
// of r1, separated with one shuffle each; the backward interleaves them back the same way. Each
// function handles the columns [0, 8 * floor(OW / 8)) of one output row and returns where the
// scalar loop takes over.
typedef float v8f __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef int32_t v4i __attribute__((vector_size(16)));
typedef int64_t v4l __attribute__((vector_size(32)));
#define PYDLK_EVEN 0, 2, 4, 6, 8, 10, 12, 14
#define PYDLK_ODD 1, 3, 5, 7, 9, 11, 13, 15
#define PYDLK_LO4 0, 1, 2, 3
#define PYDLK_HI4 4, 5, 6, 7
#define PYDLK_ALL8 0, 1, 2, 3, 4, 5, 6, 7
#define PYDLK_ZIP_LO 0, 8, 1, 9, 2, 10, 3, 11
#define PYDLK_ZIP_HI 4, 12, 5, 13, 6, 14, 7, 15

template <typename V, typename S>
PYDLK_INLINE V vload(const S* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <typename V, typename S>
PYDLK_INLINE void vstore(S* p, const V& v) {
  std::memcpy(p, &v, sizeof(V));
}

// Lane-wise t ? a : b for a mask t of all-ones / all-zeros lanes, as plain bit operations.
PYDLK_INLINE v8f sel(const v8i& t, const v8f& a, const v8f& b) {
  return (v8f)(((v8i)a & t) | ((v8i)b & ~t));
}
PYDLK_INLINE v8i sel(const v8i& t, const v8i& a, const v8i& b) { return (a & t) | (b & ~t); }
PYDLK_INLINE v4l sel(const v4l& t, const v4l& a, const v4l& b) { return (a & t) | (b & ~t); }

PYDLK_INLINE void split2(v8f& even, v8f& odd, const float* r) {
  const v8f lo = vload<v8f>(r), hi = vload<v8f>(r + 8);
  even = __builtin_shufflevector(lo, hi, PYDLK_EVEN);
  odd = __builtin_shufflevector(lo, hi, PYDLK_ODD);
}

PYDLK_INLINE v4d lo_d(const v8f& v) {
  return __builtin_convertvector(__builtin_shufflevector(v, v, PYDLK_LO4), v4d);
}
PYDLK_INLINE v4d hi_d(const v8f& v) {
  return __builtin_convertvector(__builtin_shufflevector(v, v, PYDLK_HI4), v4d);
}
PYDLK_INLINE v8f join_f(const v4d& lo, const v4d& hi) {
  const v4f a = __builtin_convertvector(lo, v4f), b = __builtin_convertvector(hi, v4f);
  return __builtin_shufflevector(a, b, PYDLK_ALL8);
}

PYDLK_INLINE index_t max2x2_row_vec(float* yr, int64_t* ir, const float* r0, const float* r1,
                                    index_t W, int64_t base, index_t OW) {
  if (W >= (index_t(1) << 30)) return 0;  // offsets are int32 lanes
  const v8i one = v8i{} + 1, vw = v8i{} + (int32_t)W, vw1 = vw + 1;
  const v8i ramp2 = {PYDLK_EVEN};
  // Every output goes through the vector block: when OW is not a multiple of 8 the last block
  // is moved back to end at OW, overlapping the previous one (the same values are written
  // again). LeNet's 28- and 10-wide maps would otherwise spend most time in scalar tails.
  if (OW < 8) return 0;
  for (index_t ow = 0;; ow += 8) {
    if (ow + 8 > OW) ow = OW - 8;
    v8f a, b, c, d;
    split2(a, b, r0 + 2 * ow);
    split2(c, d, r1 + 2 * ow);
    // torch's order a, b, c, d: replace when larger or NaN; k = offset of the max in the window
    v8f m = a;
    v8i k = v8i{};
    v8i t = (b > m) | (b != b);
    m = sel(t, b, m);
    k = sel(t, one, k);
    t = (c > m) | (c != c);
    m = sel(t, c, m);
    k = sel(t, vw, k);
    t = (d > m) | (d != d);
    m = sel(t, d, m);
    k = sel(t, vw1, k);
    vstore(yr + ow, m);
    if (ir) {
      const v8i pos = ramp2 + k;  // 2j + offset, within the two rows starting at column 2*ow
      const int64_t b0 = base + 2 * ow;
      vstore(ir + ow,
             __builtin_convertvector(__builtin_shufflevector(pos, pos, PYDLK_LO4), v4l) + b0);
      vstore(ir + ow + 4,
             __builtin_convertvector(__builtin_shufflevector(pos, pos, PYDLK_HI4), v4l) + b0);
    }
    if (ow + 8 == OW) return OW;
  }
}

PYDLK_INLINE index_t max2x2_row_back_vec(float* r0, float* r1, const float* g, const int64_t* ir,
                                         index_t W, int64_t base, index_t OW) {
  if (W >= (index_t(1) << 30)) return 0;  // offsets are int32 lanes
  const v8i vw = v8i{} + (int32_t)W, vw1 = vw + 1, zero = v8i{}, one = zero + 1;
  const v4l ramp_lo = {0, 2, 4, 6}, ramp_hi = ramp_lo + 8;
  const v4l lim = v4l{} + (int64_t)(W + 1), minus1 = v4l{} - 1;
  const v8f fz = v8f{};
  // Every output goes through the vector block: when OW is not a multiple of 8 the last block
  // is moved back to end at OW, overlapping the previous one (the same values are written
  // again). LeNet's 28- and 10-wide maps would otherwise spend most time in scalar tails.
  if (OW < 8) return 0;
  for (index_t ow = 0;; ow += 8) {
    if (ow + 8 > OW) ow = OW - 8;
    const v8f gv = vload<v8f>(g + ow);
    const int64_t b0 = base + 2 * ow;
    // offset of each arg-max from its window's corner; anything outside [0, W+1] matches nothing
    v4l k0 = vload<v4l>(ir + ow) - ramp_lo - b0, k1 = vload<v4l>(ir + ow + 4) - ramp_hi - b0;
    k0 = sel((k0 < 0) | (k0 > lim), minus1, k0);
    k1 = sel((k1 < 0) | (k1 > lim), minus1, k1);
    const v8i k = __builtin_shufflevector(__builtin_convertvector(k0, v4i),
                                          __builtin_convertvector(k1, v4i), PYDLK_ALL8);
    const v8f e0 = sel(k == zero, gv, fz), o0 = sel(k == one, gv, fz);
    const v8f e1 = sel(k == vw, gv, fz), o1 = sel(k == vw1, gv, fz);
    vstore(r0 + 2 * ow, __builtin_shufflevector(e0, o0, PYDLK_ZIP_LO));
    vstore(r0 + 2 * ow + 8, __builtin_shufflevector(e0, o0, PYDLK_ZIP_HI));
    vstore(r1 + 2 * ow, __builtin_shufflevector(e1, o1, PYDLK_ZIP_LO));
    vstore(r1 + 2 * ow + 8, __builtin_shufflevector(e1, o1, PYDLK_ZIP_HI));
    if (ow + 8 == OW) return OW;
  }
}

PYDLK_INLINE index_t avg2x2_row_vec(float* yr, const float* r0, const float* r1, double inv,
                                    index_t OW) {
  // Every output goes through the vector block: when OW is not a multiple of 8 the last block
  // is moved back to end at OW, overlapping the previous one (the same values are written
  // again). LeNet's 28- and 10-wide maps would otherwise spend most time in scalar tails.
  if (OW < 8) return 0;
  for (index_t ow = 0;; ow += 8) {
    if (ow + 8 > OW) ow = OW - 8;
    v8f a, b, c, d;
    split2(a, b, r0 + 2 * ow);
    split2(c, d, r1 + 2 * ow);
    const v4d lo = (lo_d(a) + lo_d(b) + lo_d(c) + lo_d(d)) * inv;  // the window sum in double
    const v4d hi = (hi_d(a) + hi_d(b) + hi_d(c) + hi_d(d)) * inv;
    vstore(yr + ow, join_f(lo, hi));
    if (ow + 8 == OW) return OW;
  }
}

PYDLK_INLINE index_t avg2x2_row_back_vec(float* r0, float* r1, const float* g, double inv,
                                         index_t OW) {
  // Every output goes through the vector block: when OW is not a multiple of 8 the last block
  // is moved back to end at OW, overlapping the previous one (the same values are written
  // again). LeNet's 28- and 10-wide maps would otherwise spend most time in scalar tails.
  if (OW < 8) return 0;
  for (index_t ow = 0;; ow += 8) {
    if (ow + 8 > OW) ow = OW - 8;
    const v8f gv = vload<v8f>(g + ow);
    const v8f v = join_f(lo_d(gv) * inv, hi_d(gv) * inv);
    const v8f lo = __builtin_shufflevector(v, v, PYDLK_ZIP_LO);
    const v8f hi = __builtin_shufflevector(v, v, PYDLK_ZIP_HI);
    vstore(r0 + 2 * ow, lo);
    vstore(r0 + 2 * ow + 8, hi);
    vstore(r1 + 2 * ow, lo);
    vstore(r1 + 2 * ow + 8, hi);
    if (ow + 8 == OW) return OW;
  }
}

// The generic element type has no vector row: the scalar loops do all columns.
template <typename T>
PYDLK_INLINE index_t max2x2_row(T*, int64_t*, const T*, const T*, index_t, int64_t, index_t) {
  return 0;
}
template <>
PYDLK_INLINE index_t max2x2_row<float>(float* y, int64_t* i, const float* r0, const float* r1,
                                       index_t W, int64_t base, index_t OW) {
  return max2x2_row_vec(y, i, r0, r1, W, base, OW);
}
template <typename T>
PYDLK_INLINE index_t max2x2_row_back(T*, T*, const T*, const int64_t*, index_t, int64_t, index_t) {
  return 0;
}
template <>
PYDLK_INLINE index_t max2x2_row_back<float>(float* r0, float* r1, const float* g, const int64_t* i,
                                            index_t W, int64_t base, index_t OW) {
  return max2x2_row_back_vec(r0, r1, g, i, W, base, OW);
}
template <typename T>
PYDLK_INLINE index_t avg2x2_row(T*, const T*, const T*, double, index_t) {
  return 0;
}
template <>
PYDLK_INLINE index_t avg2x2_row<float>(float* y, const float* r0, const float* r1, double inv,
                                       index_t OW) {
  return avg2x2_row_vec(y, r0, r1, inv, OW);
}
template <typename T>
PYDLK_INLINE index_t avg2x2_row_back(T*, T*, const T*, double, index_t) {
  return 0;
}
template <>
PYDLK_INLINE index_t avg2x2_row_back<float>(float* r0, float* r1, const float* g, double inv,
                                            index_t OW) {
  return avg2x2_row_back_vec(r0, r1, g, inv, OW);
}

// torch's max rule: v replaces the running max m when it is larger or when it is NaN.
template <typename T>
PYDLK_INLINE bool beats(T v, T m) {
  return (v > m) | (v != v);
}

// t ? a : b without a branch. A branch on data mispredicts about half the time, and GCC
// turned `t ? a : b` on floats into one here: LeNet's 10x10 -> 5x5 pool (64 x 16 planes, too
// narrow for the vector rows) took 0.36 ms forward and 0.23 backward on fresh data, 0.08 and
// 0.06 only when the same input repeated and the branch predictor had learnt it.
template <typename T>
PYDLK_INLINE T pick(bool t, T a, T b) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  U ua, ub;
  std::memcpy(&ua, &a, sizeof(T));
  std::memcpy(&ub, &b, sizeof(T));
  const U mask = U(0) - U(t);
  const U r = ub ^ ((ua ^ ub) & mask);
  T out;
  std::memcpy(&out, &r, sizeof(T));
  return out;
}

bool is_2x2s2(const Pool2d& p) {
  return p.kH == 2 && p.kW == 2 && p.sH == 2 && p.sW == 2 && p.pH == 0 && p.pW == 0 && p.dH == 1 &&
         p.dW == 1 && 2 * p.OH <= p.H && 2 * p.OW <= p.W;
}

// Output columns [lo, hi) whose whole window lies inside the row (no padding, no overhang):
// ow*s - p >= 0 and ow*s - p + (k-1)*d <= W-1.
void interior(index_t& lo, index_t& hi, index_t W, index_t OW, index_t k, index_t s, index_t p,
              index_t d) {
  lo = std::min(OW, (p + s - 1) / s);
  hi = std::max(lo, std::min(OW, floor_div(W - 1 - (k - 1) * d + p, s) + 1));
}

// ---- max pool, forward ------------------------------------------------------------------------

// A plane too narrow for the vector rows (OW < 8: LeNet's 10x10 -> 5x5) with an even width:
// its even rows copied one after another, and its odd rows, make two rows of OH*OW windows
// with nothing left over, which the vector row takes at once; the indices it gives for output
// j = oh*OW + ow are then oh*W short (its row 0 advances W per output row, the plane's 2W).
// False where this does not apply (the scalar loop runs).
template <typename T>
PYDLK_INLINE bool max2x2_narrow(T*, int64_t*, const T*, index_t, index_t, index_t) {
  return false;
}
template <>
PYDLK_INLINE bool max2x2_narrow<float>(float* y, int64_t* idx, const float* x, index_t W,
                                       index_t OH, index_t OW) {
  constexpr index_t kMax = 1024;  // floats per copied half-plane (on the stack)
  if (OW >= 8 || W != 2 * OW || OH * OW < 8 || OH * W > kMax) return false;
  float even[kMax], odd[kMax];
  for (index_t oh = 0; oh < OH; ++oh) {
    copy_short_row(even + oh * W, x + 2 * oh * W, W);
    copy_short_row(odd + oh * W, x + (2 * oh + 1) * W, W);
  }
  max2x2_row_vec(y, idx, even, odd, W, 0, OH * OW);
  if (idx)
    for (index_t oh = 1; oh < OH; ++oh)
      for (index_t ow = 0; ow < OW; ++ow) idx[oh * OW + ow] += oh * W;
  return true;
}

// The backward of max2x2_narrow over R output rows of consecutive planes (each OH rows high,
// H = 2*OH, W = 2*OW): the vector row writes the even and odd input rows of all of them into
// two buffers, which are then copied back in place. The indices are plane-relative; the
// vector row wants them relative to the buffers: output row r (row oh = r % OH of its plane)
// starts at r*W there and at 2*oh*W in its plane. False where this does not apply.
template <typename T>
PYDLK_INLINE bool max2x2_narrow_back(T*, const T*, const int64_t*, index_t, index_t, index_t,
                                     index_t) {
  return false;
}
template <>
PYDLK_INLINE bool max2x2_narrow_back<float>(float* dx, const float* dy, const int64_t* idx,
                                            index_t W, index_t OH, index_t OW, index_t R) {
  constexpr index_t kMax = 1024;  // floats per half-plane buffer (on the stack)
  if (OW >= 8 || W != 2 * OW || R * OW < 8 || R * W > kMax) return false;
  float even[kMax], odd[kMax];
  int64_t rel[kMax / 2];
  for (index_t r = 0; r < R; ++r) {
    const int64_t shift = int64_t(r - 2 * (r % OH)) * W;
    for (index_t ow = 0; ow < OW; ++ow) rel[r * OW + ow] = idx[r * OW + ow] + shift;
  }
  max2x2_row_back_vec(even, odd, dy, rel, W, 0, R * OW);
  for (index_t r = 0; r < R; ++r) {
    copy_short_row(dx + 2 * r * W, even + r * W, W);
    copy_short_row(dx + (2 * r + 1) * W, odd + r * W, W);
  }
  return true;
}

// Planes whose 2x2 windows tile them exactly and whose rows are too narrow for the vector rows
// (LeNet's 10x10 -> 5x5): consecutive planes are taken together, as one plane planes*H high,
// by max2x2_narrow and max2x2_narrow_back (one plane at a time took 36 us forward and, on the
// scalar loop, 44 backward for LeNet's 64 x 16 planes, 2 threads). Planes per chunk: as many
// as the narrow buffers hold.
inline index_t narrow_chunk(const Pool2d& p) {
  const bool tiles = p.H == 2 * p.OH && p.W == 2 * p.OW && p.OW < 8 && p.OH > 0;
  if (!tiles || p.OH * p.W > 1024) return 0;
  return std::max<index_t>(1, 1024 / (p.OH * p.W));
}

// 2x2 stride 2, one plane. Window (a b / c d) in torch's order a, b, c, d.
template <typename T>
PYDLK_INLINE void max2x2_plane(T* y, int64_t* idx, const T* x, index_t W, index_t OH, index_t OW) {
  if (max2x2_narrow(y, idx, x, W, OH, OW)) return;
  for (index_t oh = 0; oh < OH; ++oh) {
    const T* r0 = x + 2 * oh * W;
    const T* r1 = r0 + W;
    T* yr = y + oh * OW;
    const int64_t base = 2 * oh * W;
    const index_t ow0 = max2x2_row<T>(yr, idx ? idx + oh * OW : nullptr, r0, r1, W, base, OW);
    if (idx) {
      int64_t* ir = idx + oh * OW;
      for (index_t ow = ow0; ow < OW; ++ow) {
        T m = r0[2 * ow];
        int64_t k = 0;
        T v = r0[2 * ow + 1];
        bool t = beats(v, m);
        m = pick(t, v, m);
        k = pick<int64_t>(t, 1, k);
        v = r1[2 * ow];
        t = beats(v, m);
        m = pick(t, v, m);
        k = pick<int64_t>(t, W, k);
        v = r1[2 * ow + 1];
        t = beats(v, m);
        m = pick(t, v, m);
        k = pick<int64_t>(t, W + 1, k);
        yr[ow] = m;
        ir[ow] = base + 2 * ow + k;
      }
    } else {
      for (index_t ow = ow0; ow < OW; ++ow) {
        T m = r0[2 * ow];
        T v = r0[2 * ow + 1];
        m = pick(beats(v, m), v, m);
        v = r1[2 * ow];
        m = pick(beats(v, m), v, m);
        v = r1[2 * ow + 1];
        m = pick(beats(v, m), v, m);
        yr[ow] = m;
      }
    }
  }
}

// 2x2 stride 2 backward, one plane. Windows tile the plane without overlap: each dx element
// is written once, with dy where the window's arg-max sits and 0 elsewhere; rows/columns left
// over by an odd size are 0.
template <typename T>
PYDLK_INLINE void max2x2_plane_back(T* dxc, const T* dyc, const int64_t* ic, index_t W, index_t H,
                                    index_t OH, index_t OW) {
  for (index_t oh = 0; oh < OH; ++oh) {
    T* r0 = dxc + 2 * oh * W;
    T* r1 = r0 + W;
    const T* g = dyc + oh * OW;
    const int64_t* ir = ic + oh * OW;
    const int64_t base = 2 * oh * W;
    for (index_t ow = max2x2_row_back<T>(r0, r1, g, ir, W, base, OW); ow < OW; ++ow) {
      const int64_t k = ir[ow] - base - 2 * ow;
      const T v = g[ow];
      r0[2 * ow] = pick(k == 0, v, T(0));
      r0[2 * ow + 1] = pick(k == 1, v, T(0));
      r1[2 * ow] = pick(k == W, v, T(0));
      r1[2 * ow + 1] = pick(k == W + 1, v, T(0));
    }
    for (index_t iw = 2 * OW; iw < W; ++iw) r0[iw] = r1[iw] = T(0);
  }
  for (index_t i = 2 * OH * W; i < H * W; ++i) dxc[i] = T(0);
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
      if (beats(v, m)) {
        m = v;
        mi = ih * p.W + iw;
      }
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

// Float32 interior columns [lo, hi) of output row oh, 8 outputs per block with vector
// extensions (hi - lo >= 8; the last block overlaps the one before it, recomputing the same
// values). Lane j of a block at column c0 reads x[ih, (c0+j)*s - pW + kw*dW]; k holds each
// lane's arg-max as an int32 offset from the first window element of lane 0. Returns false when
// the offsets could overflow int32 (then the generic loop runs instead).
template <int S>
PYDLK_INLINE bool max_interior_f32(float* yr, int64_t* ir, const float* x, const Pool2d& p,
                                   index_t oh, index_t lo, index_t hi) {
  const index_t s = S ? S : p.sW;
  if (hi - lo < 8 || p.kH * p.dH * p.W + p.kW * p.dW + 8 * s >= (index_t(1) << 30)) return false;
  index_t ih0 = oh * p.sH - p.pH;
  const index_t ih1 = std::min(ih0 + (p.kH - 1) * p.dH + 1, p.H);
  while (ih0 < 0) ih0 += p.dH;
  const v8i ramp = v8i{0, 1, 2, 3, 4, 5, 6, 7} * (int32_t)s;
  const v8f ninf = v8f{} - std::numeric_limits<float>::infinity();
  for (index_t c = lo; c < hi; c += 8) {
    const index_t c0 = std::min(c, hi - 8);
    const index_t col0 = c0 * s - p.pW;
    v8f m = ninf;
    v8i k = ramp;  // torch starts each window's index at its first element inside the input
    for (index_t ih = ih0; ih < ih1; ih += p.dH) {
      for (index_t kw = 0; kw < p.kW; ++kw) {
        const float* xr = x + ih * p.W + col0 + kw * p.dW;
        v8f v;
        if (S == 1) {
          v = vload<v8f>(xr);
        } else if (S == 2) {  // lanes 0, 2, .., 14 of xr, without reading past xr[14]
          const v8f a = vload<v8f>(xr), b = vload<v8f>(xr + 7);
          v = __builtin_shufflevector(a, b, 0, 2, 4, 6, 9, 11, 13, 15);
        } else {
          for (int j = 0; j < 8; ++j) v[j] = xr[j * s];
        }
        const v8i pos = ramp + (int32_t)((ih - ih0) * p.W + kw * p.dW);
        const v8i t = (v > m) | (v != v);
        m = sel(t, v, m);
        k = sel(t, pos, k);
      }
    }
    vstore(yr + c0, m);
    if (ir) {
      const int64_t b0 = ih0 * p.W + col0;
      vstore(ir + c0, __builtin_convertvector(__builtin_shufflevector(k, k, PYDLK_LO4), v4l) + b0);
      vstore(ir + c0 + 4,
             __builtin_convertvector(__builtin_shufflevector(k, k, PYDLK_HI4), v4l) + b0);
    }
  }
  return true;
}

template <typename T, int S>
PYDLK_INLINE bool max_interior_vec(T*, int64_t*, const T*, const Pool2d&, index_t, index_t,
                                   index_t) {
  return false;
}
template <>
PYDLK_INLINE bool max_interior_vec<float, 1>(float* y, int64_t* i, const float* x, const Pool2d& p,
                                             index_t oh, index_t lo, index_t hi) {
  return max_interior_f32<1>(y, i, x, p, oh, lo, hi);
}
template <>
PYDLK_INLINE bool max_interior_vec<float, 2>(float* y, int64_t* i, const float* x, const Pool2d& p,
                                             index_t oh, index_t lo, index_t hi) {
  return max_interior_f32<2>(y, i, x, p, oh, lo, hi);
}
template <>
PYDLK_INLINE bool max_interior_vec<float, 0>(float* y, int64_t* i, const float* x, const Pool2d& p,
                                             index_t oh, index_t lo, index_t hi) {
  return max_interior_f32<0>(y, i, x, p, oh, lo, hi);
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
    if (!max_interior_vec<T, S>(yr, ir, x, p, oh, lo, hi))
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
    for (index_t ow = avg2x2_row<T>(yr, r0, r1, inv, OW); ow < OW; ++ow)
      yr[ow] = T(((double)r0[2 * ow] + (double)r0[2 * ow + 1] + (double)r1[2 * ow] +
                  (double)r1[2 * ow + 1]) *
                 inv);
  }
}

// Window rows of output row oh (and likewise columns): [i0, i1) clipped to the input, and the
// count torch divides by when padding counts: the window clipped to the padded input.
struct Span {
  index_t i0, i1, padded;
};
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
    auto border = [&](index_t ow) PYDLK_LAMBDA_INLINE {
      const Span sw = avg_span(ow, p.sW, p.pW, p.kW, p.W);
      if (sh.i0 >= sh.i1 || sw.i0 >= sw.i1) {
        yr[ow] = T(0);
        return;
      }
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

// General average pooling by separable passes over one output row (planes with W and OW up to
// kRowBuf; larger ones take avg_plane / the window scatter). The column spans of the windows and
// the reciprocal of their share of the divisor are tabulated once per plane (the divisor is a
// product of a row factor and a column factor, or the override; a multiply by the two
// reciprocals replaces the division, which dominated the time with small windows). Forward: v = the column sums of the window's
// input rows (a long vectorised loop over W, in double), then each output adds its window's
// columns of v. Backward, the transpose: e[iw] = sum over the outputs whose window covers column
// iw of dy/div, then e is added into each input row of the window.
constexpr index_t kRowBuf = 2048;

struct AvgCols {
  index_t w0[kRowBuf], w1[kRowBuf];
  double rw[kRowBuf];
};

PYDLK_INLINE void avg_cols(AvgCols& t, const Pool2d& p, bool include_pad, index_t ovr) {
  for (index_t ow = 0; ow < p.OW; ++ow) {
    const Span sw = avg_span(ow, p.sW, p.pW, p.kW, p.W);
    t.w0[ow] = sw.i0;
    t.w1[ow] = sw.i1;
    t.rw[ow] = ovr ? 1.0 : 1.0 / (double)(include_pad ? sw.padded : sw.i1 - sw.i0);
  }
}

PYDLK_INLINE double avg_row_recip(const Span& sh, bool include_pad, index_t ovr) {
  return 1.0 / (ovr ? (double)ovr : (double)(include_pad ? sh.padded : sh.i1 - sh.i0));
}

template <typename T>
PYDLK_INLINE void avg_plane_rows(T* y, const T* x, const Pool2d& p, bool include_pad, index_t ovr) {
  double v[kRowBuf];
  AvgCols t;
  avg_cols(t, p, include_pad, ovr);
  const index_t W = p.W;
  for (index_t oh = 0; oh < p.OH; ++oh) {
    const Span sh = avg_span(oh, p.sH, p.pH, p.kH, p.H);
    T* yr = y + oh * p.OW;
    if (sh.i0 >= sh.i1) {  // no input row in the window (torch writes 0)
      for (index_t ow = 0; ow < p.OW; ++ow) yr[ow] = T(0);
      continue;
    }
    for (index_t iw = 0; iw < W; ++iw) v[iw] = (double)x[sh.i0 * W + iw];
    for (index_t ih = sh.i0 + 1; ih < sh.i1; ++ih) {
      const T* xr = x + ih * W;
      for (index_t iw = 0; iw < W; ++iw) v[iw] += (double)xr[iw];
    }
    const double rh = avg_row_recip(sh, include_pad, ovr);
    for (index_t ow = 0; ow < p.OW; ++ow) {
      double sum = 0;
      for (index_t iw = t.w0[ow]; iw < t.w1[ow]; ++iw) sum += v[iw];
      yr[ow] = T(sum * (rh * t.rw[ow]));  // an empty column span gives sum = 0
    }
  }
}

template <typename T>
PYDLK_INLINE void avg_plane_rows_back(T* dx, const T* dy, const Pool2d& p, bool include_pad,
                                      index_t ovr) {
  double e[kRowBuf];
  AvgCols t;
  avg_cols(t, p, include_pad, ovr);
  const index_t W = p.W;
  for (index_t i = 0; i < p.H * W; ++i) dx[i] = T(0);
  for (index_t oh = 0; oh < p.OH; ++oh) {
    const Span sh = avg_span(oh, p.sH, p.pH, p.kH, p.H);
    if (sh.i0 >= sh.i1) continue;
    const double rh = avg_row_recip(sh, include_pad, ovr);
    const T* g = dy + oh * p.OW;
    for (index_t iw = 0; iw < W; ++iw) e[iw] = 0;
    for (index_t ow = 0; ow < p.OW; ++ow) {
      const double gv = (double)T(g[ow] * (rh * t.rw[ow]));
      for (index_t iw = t.w0[ow]; iw < t.w1[ow]; ++iw) e[iw] += gv;
    }
    for (index_t ih = sh.i0; ih < sh.i1; ++ih) {
      T* r = dx + ih * W;
      for (index_t iw = 0; iw < W; ++iw) r[iw] += T(e[iw]);
    }
  }
}

}  // namespace

// ---- kernels ----------------------------------------------------------------------------------

template <typename T>
PYDLK_SIMD void maxpool2d_forward(T* y, int64_t* idx, const T* x, const Pool2d& p) {
  // x: (NC, H, W) -> y, idx: (NC, OH, OW). One plane per iteration (narrow 2x2 planes: a chunk).
  const index_t HW = p.H * p.W, OHW = p.OH * p.OW;
  const bool fast = is_2x2s2(p);
  if (fast && std::is_same<T, float>::value && narrow_chunk(p) > 0) {
    // Chunks of narrow_chunk(p) planes (the last may have fewer). The loop is written out here
    // and in the backward, not in a shared helper: GCC compiles a parallel region as a function
    // of its own for its enclosing function's target, and in a helper it ran the baseline (SSE)
    // code instead of this AVX-512 clone's.
    const index_t P = narrow_chunk(p), chunks = (p.NC + P - 1) / P;
#pragma omp parallel for schedule(static) if (parallel_worth_it(p.NC * HW))
    for (index_t k = 0; k < chunks; ++k) {
      const index_t c0 = k * P, np = std::min(P, p.NC - c0);
      int64_t* ic = idx ? idx + c0 * OHW : nullptr;
      if (max2x2_narrow(y + c0 * OHW, ic, x + c0 * HW, p.W, np * p.OH, p.OW)) {
        if (ic)  // indices relative to the chunk's first plane: back to each plane's own
          for (index_t q = 1; q < np; ++q)
            for (index_t o = 0; o < OHW; ++o) ic[q * OHW + o] -= q * HW;
      } else {
        for (index_t c = c0; c < c0 + np; ++c)
          max2x2_plane(y + c * OHW, idx ? idx + c * OHW : nullptr, x + c * HW, p.W, p.OH, p.OW);
      }
    }
    return;
  }
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
  if (fast && std::is_same<T, float>::value && narrow_chunk(p) > 0) {  // as in the forward
    const index_t P = narrow_chunk(p), chunks = (p.NC + P - 1) / P;
#pragma omp parallel for schedule(static) if (parallel_worth_it(p.NC * HW))
    for (index_t k = 0; k < chunks; ++k) {
      const index_t c0 = k * P, np = std::min(P, p.NC - c0);
      if (!max2x2_narrow_back(dx + c0 * HW, dy + c0 * OHW, idx + c0 * OHW, p.W, p.OH, p.OW,
                              np * p.OH))
        for (index_t c = c0; c < c0 + np; ++c)
          max2x2_plane_back(dx + c * HW, dy + c * OHW, idx + c * OHW, p.W, p.H, p.OH, p.OW);
    }
    return;
  }
#pragma omp parallel for schedule(static) if (parallel_worth_it(p.NC * HW))
  for (index_t c = 0; c < p.NC; ++c) {
    T* dxc = dx + c * HW;
    const T* dyc = dy + c * OHW;
    const int64_t* ic = idx + c * OHW;
    if (fast) {
      max2x2_plane_back(dxc, dyc, ic, p.W, p.H, p.OH, p.OW);
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
    else if (p.W <= kRowBuf && p.OW <= kRowBuf)
      avg_plane_rows(yc, xc, p, count_include_pad, divisor_override);
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
        for (index_t ow = avg2x2_row_back<T>(r0, r1, g, inv4, p.OW); ow < p.OW; ++ow) {
          const T v = T(g[ow] * inv4);
          r0[2 * ow] = v;
          r0[2 * ow + 1] = v;
          r1[2 * ow] = v;
          r1[2 * ow + 1] = v;
        }
        for (index_t iw = 2 * p.OW; iw < W; ++iw) r0[iw] = r1[iw] = T(0);
      }
      for (index_t i = 2 * p.OH * W; i < HW; ++i) dxc[i] = T(0);
      continue;
    }
    if (W <= kRowBuf && p.OW <= kRowBuf) {
      avg_plane_rows_back(dxc, dyc, p, count_include_pad, divisor_override);
      continue;
    }
    std::memset(dxc, 0, sizeof(T) * HW);
    index_t lo, hi;
    interior(lo, hi, p.W, p.OW, p.kW, p.sW, p.pW, 1);
    double g[kChunk];
    for (index_t oh = 0; oh < p.OH; ++oh) {
      const Span sh = avg_span(oh, p.sH, p.pH, p.kH, p.H);
      if (sh.i0 >= sh.i1) continue;
      const T* dyr = dyc + oh * p.OW;
      auto border = [&](index_t ow) PYDLK_LAMBDA_INLINE {
        const Span sw = avg_span(ow, p.sW, p.pW, p.kW, p.W);
        if (sw.i0 >= sw.i1) return;
        const T v = T(dyr[ow] / avg_divisor(sh, sw, count_include_pad, divisor_override));
        for (index_t ih = sh.i0; ih < sh.i1; ++ih)
          for (index_t iw = sw.i0; iw < sw.i1; ++iw) dxc[ih * W + iw] += v;
      };
      for (index_t ow = 0; ow < lo; ++ow) border(ow);
      // Interior columns (whole window width inside the row, one divisor for the row): the
      // scaled row g is added into every (kh, kw) shift of the window, a loop over columns.
      const Span sw{0, p.kW, p.kW};
      const double div = avg_divisor(sh, sw, count_include_pad, divisor_override);
      for (index_t c0 = lo; c0 < hi; c0 += kChunk) {
        const index_t n = std::min(kChunk, hi - c0);
        for (index_t j = 0; j < n; ++j) g[j] = (double)T(dyr[c0 + j] / div);
        for (index_t ih = sh.i0; ih < sh.i1; ++ih)
          for (index_t kw = 0; kw < p.kW; ++kw) {
            T* xr = dxc + ih * W + c0 * p.sW - p.pW + kw;
            if (p.sW == 1)
              for (index_t j = 0; j < n; ++j) xr[j] += T(g[j]);
            else
              for (index_t j = 0; j < n; ++j) xr[j * p.sW] += T(g[j]);
          }
      }
      for (index_t ow = hi; ow < p.OW; ++ow) border(ow);
    }
  }
}

template <typename T>
PYDLK_SIMD void adaptive_avgpool2d_forward(T* y, const T* x, const Pool2d& p) {
  // x: (NC, H, W) -> y: (NC, OH, OW), y = mean of the adaptive window, summed in double.
  const index_t HW = p.H * p.W, OHW = p.OH * p.OW;
  if (OHW == 1) {
    // Global average pooling (a ResNet's head): each plane one contiguous span, its double sum
    // in vector lanes (an omp simd reduction). The general loop below, one chain of dependent
    // double additions, took 77 us for ResNet's (64, 64, 8, 8) -> (1, 1); this 16.
#pragma omp parallel for schedule(static) if (parallel_worth_it(p.NC * HW))
    for (index_t c = 0; c < p.NC; ++c) {
      const T* xc = x + c * HW;
      double sum = 0;
#pragma omp simd reduction(+ : sum)
      for (index_t i = 0; i < HW; ++i) sum += double(xc[i]);
      y[c] = T(sum / (double)HW);
    }
    return;
  }
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
  if (OHW == 1) {  // global: every value of plane c gets dy[c] / HW (60 -> 10 us as above)
#pragma omp parallel for schedule(static) if (parallel_worth_it(p.NC * HW))
    for (index_t c = 0; c < p.NC; ++c) {
      const T v = T(dy[c] / (double)HW);
      T* dxc = dx + c * HW;
#pragma omp simd
      for (index_t i = 0; i < HW; ++i) dxc[i] = v;
    }
    return;
  }
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
            if (beats(v, m)) {
              m = v;
              mi = ih * p.W + iw;
            }
          }
        y[c * OHW + oh * p.OW + ow] = m;
        if (idx) idx[c * OHW + oh * p.OW + ow] = mi;
      }
    }
  }
}

#define PYDLK_POOL_INSTANTIATE(T)                                                   \
  template void maxpool2d_forward<T>(T*, int64_t*, const T*, const Pool2d&);        \
  template void maxpool2d_backward<T>(T*, const T*, const int64_t*, const Pool2d&); \
  template void avgpool2d_forward<T>(T*, const T*, const Pool2d&, bool, index_t);   \
  template void avgpool2d_backward<T>(T*, const T*, const Pool2d&, bool, index_t);  \
  template void adaptive_avgpool2d_forward<T>(T*, const T*, const Pool2d&);         \
  template void adaptive_avgpool2d_backward<T>(T*, const T*, const Pool2d&);        \
  template void adaptive_maxpool2d_forward<T>(T*, int64_t*, const T*, const Pool2d&);
PYDLK_POOL_INSTANTIATE(float)
PYDLK_POOL_INSTANTIATE(double)

}  // namespace pydlk
