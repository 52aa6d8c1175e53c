// Normalisation kernels: batch norm (statistics per channel over N and the spatial positions)
// and row norm (statistics per contiguous row: layer norm, group norm, instance norm).
//
// Shared math. For a set of M values x with mean mu and biased variance var,
//   rstd = 1 / sqrt(var + eps),  xhat = (x - mu) * rstd,  y = w * xhat + b.
// Backward, with g = dL/dy and gh = dL/dxhat = w * g (w constant over the set for batch norm,
// varying per value for layer/group norm):
//   dL/dx_i = rstd * (gh_i - mean(gh) - xhat_i * mean(gh * xhat))
// (differentiate xhat_j = (x_j - mu) rstd: d mu/dx_i = 1/M, d rstd/dx_i = -rstd^3 (x_i - mu)/M,
//  so d xhat_j/dx_i = rstd (delta_ij - 1/M - xhat_i xhat_j / M); sum over j against gh_j.)
// With s1 = sum(gh) and s2 = sum(gh * (x - mu)) = sum(gh * xhat) / rstd:
//   dx_i = rstd * gh_i - rstd * s1 / M - rstd^3 * s2 / M * (x_i - mu)
// and dw = sum(g * xhat), db = sum(g) over the values that share a weight.
//
// Statistics are summed from a shifted origin (the set's first value): s1 = sum(x-K),
// s2 = sum((x-K)^2), mean = K + s1/M, var = s2/M - (s1/M)^2. One pass over memory, and the shift
// removes the cancellation of the textbook E[x^2] - E[x]^2 when |mean| >> std. Sums are added in
// double, long ones in blocks that are summed in T first (see kSumBlock).
#include "norm.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include <immintrin.h>

#include "stream_store.h"

namespace pydlk {

namespace {

// Where per-row partial sums are kept per thread over many rows (batch norm on (N, C), layer
// norm's dw/db), they are added in T over at most kBlockRows rows, then into double partials:
// T partials are half the bytes of double ones (they stay in L1 with the rows) and need no
// conversion per element; kBlockRows terms in T lose no more than the inputs' own precision.
constexpr index_t kBlockRows = 16;

// Long sums (a row, a span) are added in blocks of kSumBlock values: within a block in T across
// the vector lanes (16 terms per lane for float), the blocks in double. A loop that converted
// every value to double would run its float arithmetic at half the vector width.
constexpr index_t kSumBlock = 256;

inline index_t block_end(index_t i0, index_t n) { return n - i0 < kSumBlock ? n : i0 + kSumBlock; }

// float32 sums, the same blocks: a block's sums stay in the 16 lanes of two vector accumulators
// each (two, so that consecutive additions do not wait on each other), and go into per-lane
// double partials; the lanes are added once per call. (An omp simd reduction per block ended
// every 256 values with 16 scalar additions in a row, GCC's horizontal sum: LayerNorm's forward
// on (4096, 1024) spent more time there than on its memory traffic.)
typedef float F16 __attribute__((vector_size(64)));
typedef double D8 __attribute__((vector_size(64)));

// v = p[0, 16). (Vectors pass by reference: by value they would change the calling convention
// between the baseline and AVX-512 builds of the kernels, GCC's -Wpsabi.)
inline __attribute__((always_inline)) void load16(F16& v, const float* p) {
  std::memcpy(&v, p, sizeof(v));
}
// acc += v's 16 lanes, as 8 double lanes.
inline __attribute__((always_inline)) void add_lanes(D8& acc, const F16& v) {
  acc += __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7), D8) +
         __builtin_convertvector(__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15), D8);
}
inline __attribute__((always_inline)) double lane_sum(const D8& v) {
  return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

// The float sums of the three helpers below: s1 += sum of the first terms, s2 += sum of the
// second over [0, n); vterm(i, a, q) adds both terms at i .. i+15 to a and q, sterm the
// scalar ones at i (a block's last values when it is not a multiple of 32 long).
template <typename VT, typename ST>
inline __attribute__((always_inline)) void float_sums(index_t n, double& s1, double& s2, VT vterm,
                                                      ST sterm) {
  D8 A = D8{}, Q = D8{};
  for (index_t i0 = 0; i0 < n; i0 += kSumBlock) {
    const index_t i1 = block_end(i0, n), v1 = i0 + (i1 - i0) / 32 * 32;
    F16 a0 = F16{}, a1 = F16{}, q0 = F16{}, q1 = F16{};
    for (index_t i = i0; i < v1; i += 32) {
      vterm(i, a0, q0);
      vterm(i + 16, a1, q1);
    }
    float ra = 0, rq = 0;
    for (index_t i = v1; i < i1; ++i) sterm(i, ra, rq);
    add_lanes(A, a0 + a1);
    add_lanes(Q, q0 + q1);
    A[0] += double(ra);
    Q[0] += double(rq);
  }
  s1 += lane_sum(A);
  s2 += lane_sum(Q);
}

// Shifted one-pass sums over p[0..n) (see above), accumulated into s1, s2. K is a value of x,
// so T(K) == K.
template <typename T>
inline __attribute__((always_inline)) void shifted_sums(const T* p, index_t n, double K, double& s1,
                                                        double& s2) {
  const T Kt = T(K);
  if constexpr (std::is_same_v<T, float>) {
    float_sums(n, s1, s2, [&](index_t i, F16& a, F16& q) PYDLK_LAMBDA_INLINE {
      F16 d;
      load16(d, p + i);
      d -= Kt;
      a += d;
      q += d * d;
    }, [&](index_t i, float& a, float& q) PYDLK_LAMBDA_INLINE {
      const float d = p[i] - Kt;
      a += d;
      q += d * d;
    });
    return;
  }
  for (index_t i0 = 0; i0 < n; i0 += kSumBlock) {
    const index_t i1 = block_end(i0, n);
    T a = 0, q = 0;
#pragma omp simd reduction(+ : a, q)
    for (index_t i = i0; i < i1; ++i) {
      const T d = p[i] - Kt;
      a += d;
      q += d * d;
    }
    s1 += double(a);
    s2 += double(q);
  }
}

// Batch norm's value before the add and the ReLU of the fused forward, y = (x - m) a + b (m the
// mean, a = w rstd rounded to T, b the bias). One expression for the forward and for the
// backward that recomputes it (kMaskIn below), so that both round it the same way. (Out
// parameter and references: a vector passed or returned by value would change the calling
// convention between the baseline and AVX-512 builds, GCC's -Wpsabi.)
template <typename V, typename S>
PYDLK_INLINE void bn_value(V& v, const V& x, S m, S a, S b) {
  v = (x - m) * a + b;
}

// Where the fused batch norm + ReLU backward takes the ReLU's mask from: nowhere (plain batch
// norm), the forward's output y (kMaskOut), or y's sign recomputed from x with the forward's
// own coefficients (kMaskIn: bn_value, bitwise the forward's, without reading y).
enum MaskFrom : int { kNoMask = 0, kMaskOut = 1, kMaskIn = 2 };

// g masked in place as relu_backward masks it, g = (y <= 0 ? 0 : g), one value or a vector:
// y read (kMaskOut) or recomputed from x (kMaskIn; m, a, b as bn_value's).
template <int kM, typename V, typename S>
PYDLK_INLINE void relu_mask(V& g, const V& y, const V& x, S m, S a, S b) {
  if constexpr (kM == kMaskOut) {
    g = y <= 0 ? V{} : g;
  } else if constexpr (kM == kMaskIn) {
    V v;
    bn_value(v, x, m, a, b);
    g = v <= 0 ? V{} : g;
  }
}

// s1 += sum(g), s2 += sum(g (p - mt)) over [0, n), in blocks as above. With kM, g is first
// masked as relu_backward masks it (relu_mask: by y, or by bn_value(p, mt, fa, fb)): the same
// terms in the same order, so bitwise the sums of a masked copy.
template <typename T, int kM = kNoMask>
inline __attribute__((always_inline)) void grad_sums(const T* g, const T* p, T mt, index_t n,
                                                     double& s1, double& s2, const T* y = nullptr,
                                                     T fa = 0, T fb = 0) {
  if constexpr (std::is_same_v<T, float>) {
    float_sums(n, s1, s2, [&](index_t i, F16& a, F16& q) PYDLK_LAMBDA_INLINE {
      F16 gv, pv, yv = F16{};
      load16(gv, g + i);
      load16(pv, p + i);
      if constexpr (kM == kMaskOut) load16(yv, y + i);
      relu_mask<kM>(gv, yv, pv, mt, fa, fb);
      a += gv;
      q += gv * (pv - mt);
    }, [&](index_t i, float& a, float& q) PYDLK_LAMBDA_INLINE {
      float gm = g[i];
      relu_mask<kM>(gm, kM == kMaskOut ? y[i] : 0.0f, p[i], mt, fa, fb);
      a += gm;
      q += gm * (p[i] - mt);
    });
    return;
  }
  for (index_t i0 = 0; i0 < n; i0 += kSumBlock) {
    const index_t i1 = block_end(i0, n);
    T a = 0, q = 0;
#pragma omp simd reduction(+ : a, q)
    for (index_t i = i0; i < i1; ++i) {
      T gm = g[i];
      relu_mask<kM>(gm, kM == kMaskOut ? y[i] : T(0), p[i], mt, fa, fb);
      a += gm;
      q += gm * (p[i] - mt);
    }
    s1 += double(a);
    s2 += double(q);
  }
}

inline void mean_var(double s1, double s2, double K, index_t M, double& mu, double& var) {
  if (M == 0) {
    mu = 0;
    var = 0;
    return;
  }
  double dm = s1 / double(M);
  var = s2 / double(M) - dm * dm;
  if (var < 0) var = 0;  // rounding
  mu = K + dm;
}

// q = ((p - mu) * rs) * w + b over a row, w and b per element (layer norm, S == 1).
template <typename T, bool HW, bool HB>
inline __attribute__((always_inline)) void affine_row(T* q, const T* p, const T* w, const T* b,
                                                      T mu, T rs, index_t n) {
#pragma omp simd
  for (index_t i = 0; i < n; ++i) {
    T v = (p[i] - mu) * rs;
    if constexpr (HW) v *= w[i];
    if constexpr (HB) v += b[i];
    q[i] = v;
  }
}

// q = (p - mu) * a + c over a span, a and c constant (bn_value's expression: batch norm's plain
// forward rounds as the fused one does).
template <typename T>
inline __attribute__((always_inline)) void affine_span(T* q, const T* p, T mu, T a, T c,
                                                       index_t n) {
#pragma omp simd
  for (index_t i = 0; i < n; ++i) bn_value(q[i], p[i], mu, a, c);
}

// pw += fw, pb += fb, and the T partials start again from 0.
template <typename T>
inline __attribute__((always_inline)) void flush_partials(double* pw, double* pb, T* fw, T* fb,
                                                          index_t n) {
#pragma omp simd
  for (index_t i = 0; i < n; ++i) {
    pw[i] += double(fw[i]);
    pb[i] += double(fb[i]);
    fw[i] = T(0);
    fb[i] = T(0);
  }
}

}  // namespace

// ------------------------------------------------------------------------------- batch norm
//
// x is (N, C, S): channel c is N spans of S values, C*S values apart. Walking one channel at a
// time jumps from span to span (for (64, 32, 32, 32) float, one 4 KiB page each) and the hardware
// prefetcher starts over at every jump; measured here, a single pass that way ran 2.5x slower
// than a copy. So both kernels walk x in memory order, twice:
//   pass 1: threads take contiguous ranges of spans and add each span's sums into their own
//           per-channel partials (slices of ws, no atomics); the partials are then added up per
//           channel (in thread order: the result does not depend on timing);
//   pass 2: threads take contiguous ranges of spans again and write y (or dx).
// The second read of x comes from cache when the tensor fits in L3 (as here, 8 MiB).

namespace {

// Contiguous range [*b, *e) of n items for thread t of team.
inline void thread_range(index_t n, int t, int team, index_t* b, index_t* e) {
  *b = n * t / team;
  *e = n * (t + 1) / team;
}

inline int team_size() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

// y = relu(((x - m) * a + b) + r) over n values (r null: no add; relu false: no clamp). The
// coefficients are per value (cs = 1, a (N, C) row) or one for the span (cs = 0).
template <typename T>
inline __attribute__((always_inline)) void bn_add_relu_span(T* y, const T* x, const T* m,
                                                            const T* a, const T* b, const T* r,
                                                            bool relu, index_t n, index_t cs) {
  if (r && relu) {
#pragma omp simd
    for (index_t i = 0; i < n; ++i) {
      T v;
      bn_value(v, x[i], m[i * cs], a[i * cs], b[i * cs]);
      v = v + r[i];
      y[i] = v < 0 ? T(0) : v;
    }
  } else if (r) {
#pragma omp simd
    for (index_t i = 0; i < n; ++i) {
      T v;
      bn_value(v, x[i], m[i * cs], a[i * cs], b[i * cs]);
      y[i] = v + r[i];
    }
  } else {
#pragma omp simd
    for (index_t i = 0; i < n; ++i) {
      T v;
      bn_value(v, x[i], m[i * cs], a[i * cs], b[i * cs]);
      y[i] = v < 0 ? T(0) : v;
    }
  }
}

// g = dy masked by the relu's output (relu_backward's y <= 0 ? 0 : dy), into out.
template <typename T>
inline __attribute__((always_inline)) void relu_mask_span(T* out, const T* dy, const T* y,
                                                          index_t n) {
#pragma omp simd
  for (index_t i = 0; i < n; ++i) out[i] = y[i] <= 0 ? T(0) : dy[i];
}

// ---- batch norm + ReLU + 2x2 / stride-2 max pool, one H x W plane (conv-BN-ReLU-pool) ----
// Each window (a b / c d) is pooled straight from x: its four values relu(bn_value(x)) as
// bn_add_relu_span computes them, compared in max_pool2d's order and by its rule (larger, or
// NaN, replaces; ties keep the first), so the pooled plane is bitwise the separate ops'. The
// window's arg-max is kept as one byte q = 0..3 (a, b, c, d) where max_pool2d returns an int64
// flat index (the backward reads its low two bits only: any byte names a value of its window).
// Rows and columns past the last whole window (odd H or W) pool nowhere.
//
// The float planes run 8 windows at a time on GCC vectors (GCC vectorised none of the scalar
// loops below: the byte stores and the selects between four loads stopped it), over a "row" of
// windows: the two input rows of an output row, or, for planes too narrow for 8 windows a row
// (LeNet's 10x10), all even rows and all odd rows copied one after another (as max_pool2d does,
// pool2d.cpp). 256-bit vectors: native in both clones.

// v = relu(bn_value(x)), as bn_add_relu_span rounds it.
template <typename T>
PYDLK_INLINE void bn_relu_value(T& v, T x, T m, T a, T b) {
  bn_value(v, x, m, a, b);
  v = v < 0 ? T(0) : v;
}

// The arg-max's input value of window (e, o, j) by its byte q.
template <typename T>
PYDLK_INLINE T argmax_input(const T* e, const T* o, index_t j, int32_t q) {
  const T xa = e[2 * j], xb = e[2 * j + 1], xc = o[2 * j], xd = o[2 * j + 1];
  return q == 0 ? xa : q == 1 ? xb : q == 2 ? xc : xd;
}

// Windows [j0, j1) of a row, one at a time (any T; the float tails and odd geometries).
template <typename T>
PYDLK_INLINE void pool_windows(T* y, uint8_t* arg, const T* e, const T* o, index_t j0, index_t j1,
                               T m, T a, T b) {
  for (index_t j = j0; j < j1; ++j) {
    T va, vb, vc, vd;
    bn_relu_value(va, e[2 * j], m, a, b);
    bn_relu_value(vb, e[2 * j + 1], m, a, b);
    bn_relu_value(vc, o[2 * j], m, a, b);
    bn_relu_value(vd, o[2 * j + 1], m, a, b);
    T mx = va;
    uint8_t q = 0;
    if ((vb > mx) | (vb != vb)) mx = vb, q = 1;
    if ((vc > mx) | (vc != vc)) mx = vc, q = 2;
    if ((vd > mx) | (vd != vd)) mx = vd, q = 3;
    y[j] = mx;
    arg[j] = q;
  }
}

// The backward's sums (s1 += sum(gm), s2 += sum(gm (x - m))) over windows [j0, j1): max_pool2d's
// backward puts dy at the arg-maxes and 0 elsewhere, so only arg-maxes add terms; gm is dy masked
// as relu_backward masks it (relu_mask's kMaskIn: the arg-max's bn_value recomputed).
template <typename T>
PYDLK_INLINE void pool_sums_windows(T& s1, T& s2, const T* dy, const uint8_t* arg, const T* e,
                                    const T* o, index_t j0, index_t j1, T m, T a, T b) {
  for (index_t j = j0; j < j1; ++j) {
    const T p = argmax_input(e, o, j, int32_t(arg[j] & 3));
    T gm = dy[j];
    relu_mask<kMaskIn>(gm, T(0), p, m, a, b);
    s1 += gm;
    s2 += gm * (p - m);
  }
}

// dx of windows [j0, j1) into rows de, dn (for input rows e, o): batchnorm_backward_passes'
// t1 gm + t2 (x - m) + tc, gm at the window's arg-max and 0 at its other three values.
template <typename T>
PYDLK_INLINE void pool_dx_windows(T* de, T* dn, const T* dy, const uint8_t* arg, const T* e,
                                  const T* o, index_t j0, index_t j1, T m, T a, T b, T t1, T t2,
                                  T tc) {
  for (index_t j = j0; j < j1; ++j) {
    const int32_t q = arg[j] & 3;
    const T xa = e[2 * j], xb = e[2 * j + 1], xc = o[2 * j], xd = o[2 * j + 1];
    T gm = dy[j];
    relu_mask<kMaskIn>(gm, T(0), argmax_input(e, o, j, q), m, a, b);
    de[2 * j] = t1 * (q == 0 ? gm : T(0)) + t2 * (xa - m) + tc;
    de[2 * j + 1] = t1 * (q == 1 ? gm : T(0)) + t2 * (xb - m) + tc;
    dn[2 * j] = t1 * (q == 2 ? gm : T(0)) + t2 * (xc - m) + tc;
    dn[2 * j + 1] = t1 * (q == 3 ? gm : T(0)) + t2 * (xd - m) + tc;
  }
}

// dx of values no window covers: t1 * 0 + t2 (x - m) + tc.
template <typename T>
PYDLK_INLINE void unpooled_dx(T* dx, const T* x, index_t n, T m, T t1, T t2, T tc) {
#pragma omp simd
  for (index_t i = 0; i < n; ++i) dx[i] = t1 * T(0) + t2 * (x[i] - m) + tc;
}

typedef float F8 __attribute__((vector_size(32)));
typedef int32_t I8 __attribute__((vector_size(32)));
typedef double D4 __attribute__((vector_size(32)));

PYDLK_INLINE F8 pick8(const I8& t, const F8& a, const F8& b) {
  return (F8)(((I8)a & t) | ((I8)b & ~t));
}
// even, odd = the even and odd values of r[0, 16): the left and right columns of 8 windows.
PYDLK_INLINE void split8(F8& even, F8& odd, const float* r) {
  F8 lo, hi;
  std::memcpy(&lo, r, sizeof(lo));
  std::memcpy(&hi, r + 8, sizeof(hi));
  even = __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14);
  odd = __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15);
}
// r[0, 16) = even and odd interleaved back.
PYDLK_INLINE void store8(float* r, const F8& even, const F8& odd) {
  const F8 lo = __builtin_shufflevector(even, odd, 0, 8, 1, 9, 2, 10, 3, 11);
  const F8 hi = __builtin_shufflevector(even, odd, 4, 12, 5, 13, 6, 14, 7, 15);
  std::memcpy(r, &lo, sizeof(lo));
  std::memcpy(r + 8, &hi, sizeof(hi));
}
// The same where keep has all ones (the window's lane); elsewhere r keeps its values.
PYDLK_INLINE void merge8(float* r, const F8& even, const F8& odd, const I8& keep) {
  F8 lo = __builtin_shufflevector(even, odd, 0, 8, 1, 9, 2, 10, 3, 11);
  F8 hi = __builtin_shufflevector(even, odd, 4, 12, 5, 13, 6, 14, 7, 15);
  const I8 klo = __builtin_shufflevector(keep, keep, 0, 0, 1, 1, 2, 2, 3, 3);
  const I8 khi = __builtin_shufflevector(keep, keep, 4, 4, 5, 5, 6, 6, 7, 7);
  F8 olo, ohi;
  std::memcpy(&olo, r, sizeof(olo));
  std::memcpy(&ohi, r + 8, sizeof(ohi));
  lo = pick8(klo, lo, olo);
  hi = pick8(khi, hi, ohi);
  std::memcpy(r, &lo, sizeof(lo));
  std::memcpy(r + 8, &hi, sizeof(hi));
}
// 8 bytes widened to int32 lanes and back (AVX2 instructions, in both clones:
// __builtin_convertvector and byte shuffles between them went through scalar registers).
PYDLK_INLINE void load_arg8(I8& q, const uint8_t* p) {
  q = (I8)_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))) & 3;
}
PYDLK_INLINE void store_arg8(uint8_t* p, const I8& q) {
  // each 128-bit half: its four int32 lanes' low bytes to its first four bytes
  const __m256i pick =
      _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1,
                       -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i b = _mm256_shuffle_epi8((__m256i)q, pick);
  const __m128i v = _mm_unpacklo_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(p), v);
}
// The blocks of 8 windows covering [0, n), n >= 8: body(j, moved, fresh) for windows j .. j+7;
// the last block is moved back to end at n (moved true) and `fresh` has all ones in the lanes
// of its windows that no earlier block took.
template <typename F>
PYDLK_INLINE void blocks8(index_t n, F body) {
  const I8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
  index_t j = 0;
  for (; j + 8 <= n; j += 8) body(j, false, lane >= 0);
  if (j < n) body(n - 8, true, lane >= int32_t(j - (n - 8)));
}

// The vector forms of pool_windows, pool_sums_windows and pool_dx_windows over a whole row of
// n >= 8 windows, bitwise and term for term the scalar ones (the sums' order aside).
PYDLK_INLINE void pool_row8(float* y, uint8_t* arg, const float* e, const float* o, index_t n,
                            float m, float a, float b) {
  blocks8(n, [&](index_t j, bool, const I8&) PYDLK_LAMBDA_INLINE {
    F8 va, vb, vc, vd;
    split8(va, vb, e + 2 * j);
    split8(vc, vd, o + 2 * j);
    bn_value(va, va, m, a, b);
    bn_value(vb, vb, m, a, b);
    bn_value(vc, vc, m, a, b);
    bn_value(vd, vd, m, a, b);
    va = va < 0 ? F8{} : va;
    vb = vb < 0 ? F8{} : vb;
    vc = vc < 0 ? F8{} : vc;
    vd = vd < 0 ? F8{} : vd;
    F8 mx = va;
    I8 q = I8{};
    I8 t = (vb > mx) | (vb != vb);
    mx = pick8(t, vb, mx);
    q = (t & 1) | (q & ~t);
    t = (vc > mx) | (vc != vc);
    mx = pick8(t, vc, mx);
    q = (t & 2) | (q & ~t);
    t = (vd > mx) | (vd != vd);
    mx = pick8(t, vd, mx);
    q = (t & 3) | (q & ~t);
    std::memcpy(y + j, &mx, sizeof(mx));
    store_arg8(arg + j, q);
  });
}

// The arg-maxes' inputs and the masked gradient of windows j .. j+7 (see pool_sums_windows).
PYDLK_INLINE void argmax8(F8& xs, F8& gm, I8& q, F8 (&xv)[4], const float* dy, const uint8_t* arg,
                          const float* e, const float* o, index_t j, float m, float a, float b) {
  split8(xv[0], xv[1], e + 2 * j);
  split8(xv[2], xv[3], o + 2 * j);
  load_arg8(q, arg + j);
  xs = pick8(q == 0, xv[0], pick8(q == 1, xv[1], pick8(q == 2, xv[2], xv[3])));
  std::memcpy(&gm, dy + j, sizeof(gm));
  relu_mask<kMaskIn>(gm, F8{}, xs, m, a, b);
}

// Into float lanes A, Q, which the caller adds into double lanes every kFlushBlocks blocks or
// so (kept in registers: adding each row's lanes into doubles in memory made the sums wait on
// store forwarding).
PYDLK_INLINE void pool_sums_row8(F8& A, F8& Q, const float* dy, const uint8_t* arg, const float* e,
                                 const float* o, index_t n, float m, float a, float b) {
  blocks8(n, [&](index_t j, bool, const I8& fresh) PYDLK_LAMBDA_INLINE {
    F8 xs, gm, xv[4];
    I8 q;
    argmax8(xs, gm, q, xv, dy, arg, e, o, j, m, a, b);
    gm = pick8(fresh, gm, F8{});
    A += gm;
    Q += gm * (xs - m);
  });
}

constexpr index_t kFlushBlocks = 32;

// d += v's 8 lanes (A or Q), v = 0.
PYDLK_INLINE void flush8(D4& d, F8& v) {
  d += __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3), D4) +
       __builtin_convertvector(__builtin_shufflevector(v, v, 4, 5, 6, 7), D4);
  v = F8{};
}

PYDLK_INLINE double sum4(const D4& v) { return (v[0] + v[1]) + (v[2] + v[3]); }

PYDLK_INLINE void pool_dx_row8(float* de, float* dn, const float* dy, const uint8_t* arg,
                               const float* e, const float* o, index_t n, float m, float a, float b,
                               float t1, float t2, float tc) {
  blocks8(n, [&](index_t j, bool moved, const I8& fresh) PYDLK_LAMBDA_INLINE {
    F8 xs, gm, xv[4];
    I8 q;
    argmax8(xs, gm, q, xv, dy, arg, e, o, j, m, a, b);
    F8 r[4];
    for (int k = 0; k < 4; ++k) r[k] = t1 * pick8(q == k, gm, F8{}) + t2 * (xv[k] - m) + tc;
    if (moved) {  // it re-read inputs its predecessor may have overwritten (dx over x): only
                  // its fresh windows are stored
      merge8(de + 2 * j, r[0], r[1], fresh);
      merge8(dn + 2 * j, r[2], r[3], fresh);
    } else {
      store8(de + 2 * j, r[0], r[1]);
      store8(dn + 2 * j, r[2], r[3]);
    }
  });
}

// Planes narrow enough to take as one row of windows: W = 2 * OW, fewer than 8 windows a row,
// at least 8 in all, and the copied rows fit kNarrow values each.
constexpr index_t kNarrow = 1024;
inline bool narrow_plane(index_t W, index_t OH, index_t OW) {
  return OW < 8 && W == 2 * OW && OH * OW >= 8 && OH * W <= kNarrow;
}
// ev, od = the even and the odd rows (0, 2, ... and 1, 3, ...) of the 2*OH first, one after
// another (W <= 14 here).
PYDLK_INLINE void split_rows(float* ev, float* od, const float* x, index_t W, index_t OH) {
  for (index_t oh = 0; oh < OH; ++oh) {
    copy_short_row(ev + oh * W, x + 2 * oh * W, W);
    copy_short_row(od + oh * W, x + (2 * oh + 1) * W, W);
  }
}

template <typename T>
PYDLK_INLINE void bn_relu_pool_plane(T* y, uint8_t* arg, const T* x, T m, T a, T b, index_t W,
                                     index_t OH, index_t OW) {
  if constexpr (std::is_same_v<T, float>) {
    if (OW >= 8) {
      for (index_t oh = 0; oh < OH; ++oh)
        pool_row8(y + oh * OW, arg + oh * OW, x + 2 * oh * W, x + (2 * oh + 1) * W, OW, m, a, b);
      return;
    }
    if (narrow_plane(W, OH, OW)) {
      alignas(64) float ev[kNarrow], od[kNarrow];
      split_rows(ev, od, x, W, OH);
      pool_row8(y, arg, ev, od, OH * OW, m, a, b);
      return;
    }
  }
  for (index_t oh = 0; oh < OH; ++oh)
    pool_windows(y + oh * OW, arg + oh * OW, x + 2 * oh * W, x + (2 * oh + 1) * W, 0, OW, m, a, b);
}

template <typename T>
PYDLK_INLINE void bn_relu_pool_sums(double& s1, double& s2, const T* dy, const uint8_t* arg,
                                    const T* x, T m, T a, T b, index_t W, index_t OH, index_t OW) {
  if constexpr (std::is_same_v<T, float>) {
    F8 A = F8{}, Q = F8{};
    D4 d1 = D4{}, d2 = D4{};
    if (OW >= 8) {
      const index_t rows = std::max<index_t>(1, kFlushBlocks * 8 / OW);  // per flush
      for (index_t oh = 0; oh < OH; ++oh) {
        pool_sums_row8(A, Q, dy + oh * OW, arg + oh * OW, x + 2 * oh * W, x + (2 * oh + 1) * W, OW,
                       m, a, b);
        if ((oh + 1) % rows == 0) {
          flush8(d1, A);
          flush8(d2, Q);
        }
      }
    } else if (narrow_plane(W, OH, OW)) {  // at most kNarrow / 16 blocks
      alignas(64) float ev[kNarrow], od[kNarrow];
      split_rows(ev, od, x, W, OH);
      pool_sums_row8(A, Q, dy, arg, ev, od, OH * OW, m, a, b);
    }
    if (OW >= 8 || narrow_plane(W, OH, OW)) {
      flush8(d1, A);
      flush8(d2, Q);
      s1 += sum4(d1);
      s2 += sum4(d2);
      return;
    }
  }
  for (index_t oh = 0; oh < OH; ++oh) {  // per output row in T, rows in double
    T sa = 0, sq = 0;
    pool_sums_windows(sa, sq, dy + oh * OW, arg + oh * OW, x + 2 * oh * W, x + (2 * oh + 1) * W, 0,
                      OW, m, a, b);
    s1 += double(sa);
    s2 += double(sq);
  }
}

// dx over one plane; a, b are the forward's coefficients (for the mask), t1, t2, tc the
// backward's.
template <typename T>
PYDLK_INLINE void bn_relu_pool_dx(T* dx, const T* dy, const uint8_t* arg, const T* x, T m, T a, T b,
                                  T t1, T t2, T tc, index_t H, index_t W, index_t OH, index_t OW) {
  bool done = false;
  if constexpr (std::is_same_v<T, float>) {
    if (OW >= 8) {
      for (index_t oh = 0; oh < OH; ++oh) {
        const index_t r = 2 * oh * W;
        pool_dx_row8(dx + r, dx + r + W, dy + oh * OW, arg + oh * OW, x + r, x + r + W, OW, m, a, b,
                     t1, t2, tc);
        unpooled_dx(dx + r + 2 * OW, x + r + 2 * OW, W - 2 * OW, m, t1, t2, tc);
        unpooled_dx(dx + r + W + 2 * OW, x + r + W + 2 * OW, W - 2 * OW, m, t1, t2, tc);
      }
      done = true;
    } else if (narrow_plane(W, OH, OW)) {
      alignas(64) float ev[kNarrow], od[kNarrow], de[kNarrow], dn[kNarrow];
      split_rows(ev, od, x, W, OH);
      pool_dx_row8(de, dn, dy, arg, ev, od, OH * OW, m, a, b, t1, t2, tc);
      for (index_t oh = 0; oh < OH; ++oh) {
        copy_short_row(dx + 2 * oh * W, de + oh * W, W);
        copy_short_row(dx + (2 * oh + 1) * W, dn + oh * W, W);
      }
      done = true;
    }
  }
  if (!done) {
    for (index_t oh = 0; oh < OH; ++oh) {
      const index_t r = 2 * oh * W;
      pool_dx_windows(dx + r, dx + r + W, dy + oh * OW, arg + oh * OW, x + r, x + r + W, 0, OW, m,
                      a, b, t1, t2, tc);
      unpooled_dx(dx + r + 2 * OW, x + r + 2 * OW, W - 2 * OW, m, t1, t2, tc);
      unpooled_dx(dx + r + W + 2 * OW, x + r + W + 2 * OW, W - 2 * OW, m, t1, t2, tc);
    }
  }
  unpooled_dx(dx + 2 * OH * W, x + 2 * OH * W, (H - 2 * OH) * W, m, t1, t2, tc);
}

}  // namespace

template <typename T>
PYDLK_SIMD void batchnorm_forward(T* y, T* save_mean, T* save_rstd, T* running_mean, T* running_var,
                                  const T* x, const T* w, const T* b, index_t N, index_t C,
                                  index_t S, bool training, double momentum, double eps, double* ws,
                                  int ws_threads, const T* residual, bool relu, index_t pool_width,
                                  uint8_t* pool_argmax) {
  // x, y: (N, C, S). Per channel: shifted sums around K = x[0, c, 0] (see the top of the file).
  const index_t M = N * S, spans = N * C;
  int nt = parallel_worth_it(N * C * S) ? num_threads() : 1;
  if (nt > ws_threads) nt = ws_threads;
  double* coef = ws + 2 * C * nt;  // per channel: mean, a = w * rstd, b (3*C doubles)
  if (training) {
    for (index_t i = 0; i < 2 * C * nt; ++i) ws[i] = 0;  // every slice, whatever the team size
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      const int t = thread_id();
      double* p1 = ws + 2 * C * t;
      double* p2 = p1 + C;
      index_t jb, je;
      if (S == 1) {  // (N, C): rows of C values; vectorise over the channels
        T* f1 = reinterpret_cast<T*>(ws + 2 * C * nt + 4 * C + 2 * C * t);
        T* f2 = f1 + C;
        for (index_t c = 0; c < C; ++c) f1[c] = f2[c] = T(0);
        thread_range(N, t, team_size(), &jb, &je);
        index_t in_block = 0;
        for (index_t n = jb; n < je; ++n) {
          const T* xn = x + n * C;
#pragma omp simd
          for (index_t c = 0; c < C; ++c) {
            const T d = xn[c] - x[c];
            f1[c] += d;
            f2[c] += d * d;
          }
          if (++in_block == kBlockRows || n + 1 == je) {
            flush_partials(p1, p2, f1, f2, C);
            in_block = 0;
          }
        }
      } else {
        // no spans to sum when the spatial size is 0 (x is empty: x[c * S] is not there)
        thread_range(S > 0 ? spans : 0, t, team_size(), &jb, &je);
        for (index_t j = jb; j < je; ++j) {
          const index_t c = j % C;
          shifted_sums(x + j * S, S, double(x[c * S]), p1[c], p2[c]);
        }
      }
    }
    for (index_t c = 0; c < C; ++c) {
      double s1 = 0, s2 = 0, mu, var;
      for (int t = 0; t < nt; ++t) {
        s1 += ws[2 * C * t + c];
        s2 += ws[2 * C * t + C + c];
      }
      const double K = M > 0 ? double(x[c * S]) : 0.0;
      mean_var(s1, s2, K, M, mu, var);
      const double rs = 1.0 / std::sqrt(var + eps);
      if (M > 0 && running_mean)
        running_mean[c] = T((1 - momentum) * double(running_mean[c]) + momentum * mu);
      if (M > 1 && running_var)  // unbiased variance for the running estimate, as torch
        running_var[c] =
            T((1 - momentum) * double(running_var[c]) + momentum * var * double(M) / double(M - 1));
      save_mean[c] = T(mu);
      save_rstd[c] = T(rs);
    }
  } else {
    for (index_t c = 0; c < C; ++c) {
      save_mean[c] = running_mean[c];
      save_rstd[c] = T(1.0 / std::sqrt(double(running_var[c]) + eps));
    }
  }
  // y = (x - mu) * (w * rs) + b, coefficients rounded to T once per channel.
  T* cm = reinterpret_cast<T*>(coef);
  T* ca = cm + C;
  T* cb = ca + C;
  for (index_t c = 0; c < C; ++c) {
    cm[c] = save_mean[c];
    ca[c] = T((w ? double(w[c]) : 1.0) * double(save_rstd[c]));
    cb[c] = b ? b[c] : T(0);
  }
  // With a residual and/or relu (the fused batch norm + add + ReLU of a ResNet block):
  // y = relu(bn(x) + r), each step rounded as the separate ops round it, so the fused output is
  // bitwise the unfused one; relu is relu_forward's (x < 0 ? 0 : x: NaN and -0 pass).
  const bool plain = !residual && !relu;
  const bool bounce = store_aliases_ahead(y, x) || store_aliases_ahead(y, residual);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    alignas(64) T buf[kBounceBuf<T>];
    index_t jb, je;
    if (S == 1) {
      thread_range(N, thread_id(), team_size(), &jb, &je);
      for (index_t n = jb; n < je; ++n) {
        const T* xn = x + n * C;
        const T* rn = residual ? residual + n * C : nullptr;
        write_chunks(y + n * C, C, bounce, buf,
                     [&](T* q, index_t i0, index_t m) PYDLK_LAMBDA_INLINE {
          if (plain) {
#pragma omp simd
            for (index_t c = 0; c < m; ++c)
              bn_value(q[c], xn[i0 + c], cm[i0 + c], ca[i0 + c], cb[i0 + c]);
          } else {
            bn_add_relu_span(q, xn + i0, cm + i0, ca + i0, cb + i0, rn ? rn + i0 : nullptr, relu, m,
                             1);
          }
        });
      }
    } else if (pool_width) {  // y and pool_argmax: (N, C, H/2, W/2)
      const index_t W = pool_width, OH = S / W / 2, OW = W / 2, OS = OH * OW;
      thread_range(spans, thread_id(), team_size(), &jb, &je);
      for (index_t j = jb; j < je; ++j) {
        const index_t c = j % C;
        bn_relu_pool_plane(y + j * OS, pool_argmax + j * OS, x + j * S, cm[c], ca[c], cb[c], W, OH,
                           OW);
      }
    } else {
      thread_range(spans, thread_id(), team_size(), &jb, &je);
      for (index_t j = jb; j < je; ++j) {
        const index_t c = j % C;
        const T* xj = x + j * S;
        const T* rj = residual ? residual + j * S : nullptr;
        write_chunks(y + j * S, S, bounce, buf,
                     [&](T* q, index_t i0, index_t m) PYDLK_LAMBDA_INLINE {
          if (plain) affine_span(q, xj + i0, cm[c], ca[c], cb[c], m);
          else
            bn_add_relu_span(q, xj + i0, cm + c, ca + c, cb + c, rj ? rj + i0 : nullptr, relu, m,
                             0);
        });
      }
    }
  }
}

namespace {

// batchnorm_backward's two passes (sums, then dx), on dy or, with kM, on relu_backward's
// masked gradient gm = (y <= 0 ? 0 : dy), formed as each pass reads dy: y read (kMaskOut, y:
// relu_out) or its sign recomputed from x (kMaskIn; fa, fb: the forward's a = w rstd and b
// per channel).
template <typename T, int kM>
PYDLK_SIMD void batchnorm_backward_passes(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                                          const T* save_mean, const T* save_rstd, index_t N,
                                          index_t C, index_t S, bool training, double* ws, int nt,
                                          bool sums, index_t M, const T* y, const T* fa,
                                          const T* fb, index_t pool_width,
                                          const uint8_t* pool_argmax) {
  const index_t spans = N * C;
  // Pooled (kMaskIn only): dy is the pooled output's gradient, (N, C, OH, OW), and
  // pool_argmax each window's arg-max (bn_relu_pool_plane's bytes).
  const index_t PW = kM == kMaskIn ? pool_width : 0, PH = PW ? S / PW : 0;
  const index_t OH = PH / 2, OW = PW / 2, OS = OH * OW;
  double* coef = ws + 2 * C * nt;
  if (sums) {
    for (index_t i = 0; i < 2 * C * nt; ++i) ws[i] = 0;  // every slice, whatever the team size
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      const int t = thread_id();
      double* p1 = ws + 2 * C * t;
      double* p2 = p1 + C;
      index_t jb, je;
      if (S == 1) {  // as in the forward: T partials over kBlockRows rows, then double
        T* f1 = reinterpret_cast<T*>(ws + 2 * C * nt + 4 * C + 2 * C * t);
        T* f2 = f1 + C;
        for (index_t c = 0; c < C; ++c) f1[c] = f2[c] = T(0);
        thread_range(N, t, team_size(), &jb, &je);
        index_t in_block = 0;
        for (index_t n = jb; n < je; ++n) {
          const T* g = dy + n * C;
          const T* p = x + n * C;
          if constexpr (kM != kNoMask) {
            const T* yr = kM == kMaskOut ? y + n * C : nullptr;
#pragma omp simd
            for (index_t c = 0; c < C; ++c) {
              T gm = g[c];
              relu_mask<kM>(gm, kM == kMaskOut ? yr[c] : T(0), p[c], save_mean[c],
                            kM == kMaskIn ? fa[c] : T(0), kM == kMaskIn ? fb[c] : T(0));
              f1[c] += gm;
              f2[c] += gm * (p[c] - save_mean[c]);
            }
          } else {
#pragma omp simd
            for (index_t c = 0; c < C; ++c) {
              f1[c] += g[c];
              f2[c] += g[c] * (p[c] - save_mean[c]);
            }
          }
          if (++in_block == kBlockRows || n + 1 == je) {
            flush_partials(p1, p2, f1, f2, C);
            in_block = 0;
          }
        }
      } else {
        thread_range(spans, t, team_size(), &jb, &je);
        for (index_t j = jb; j < je; ++j) {
          const index_t c = j % C;
          if (PW) {
            bn_relu_pool_sums(p1[c], p2[c], dy + j * OS, pool_argmax + j * OS, x + j * S,
                              save_mean[c], fa[c], fb[c], PW, OH, OW);
            continue;
          }
          grad_sums<T, kM>(dy + j * S, x + j * S, save_mean[c], S, p1[c], p2[c],
                           kM == kMaskOut ? y + j * S : nullptr, kM == kMaskIn ? fa[c] : T(0),
                           kM == kMaskIn ? fb[c] : T(0));
        }
      }
    }
  }
  T* cm = reinterpret_cast<T*>(coef);
  T* c1 = cm + C;
  T* c2 = c1 + C;
  T* cc = c2 + C;
  for (index_t c = 0; c < C; ++c) {
    double sdy = 0, sdyx = 0;
    for (int t = 0; sums && t < nt; ++t) {
      sdy += ws[2 * C * t + c];
      sdyx += ws[2 * C * t + C + c];
    }
    const double rs = double(save_rstd[c]);
    if (dw) dw[c] = T(rs * sdyx);
    if (db) db[c] = T(sdy);
    const double k1 = (w ? double(w[c]) : 1.0) * rs;
    double k2 = 0, kc = 0;
    if (training && M > 0) {
      k2 = -k1 * rs * rs * sdyx / double(M);
      kc = -k1 * sdy / double(M);
    }
    cm[c] = save_mean[c];
    c1[c] = T(k1);
    c2[c] = T(k2);
    cc[c] = T(kc);
  }
  if (!dx) return;
  const bool bounce =
      store_aliases_ahead(dx, dy) || store_aliases_ahead(dx, x) || store_aliases_ahead(dx, y);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    alignas(64) T buf[kBounceBuf<T>];
    index_t jb, je;
    if (S == 1) {
      thread_range(N, thread_id(), team_size(), &jb, &je);
      for (index_t n = jb; n < je; ++n) {
        const T* g = dy + n * C;
        const T* p = x + n * C;
        const T* yr = kM == kMaskOut ? y + n * C : nullptr;
        write_chunks(dx + n * C, C, bounce, buf,
                     [&](T* o, index_t i0, index_t m) PYDLK_LAMBDA_INLINE {
          if constexpr (kM != kNoMask) {
#pragma omp simd
            for (index_t c = i0; c < i0 + m; ++c) {
              T gm = g[c];
              relu_mask<kM>(gm, kM == kMaskOut ? yr[c] : T(0), p[c], cm[c],
                            kM == kMaskIn ? fa[c] : T(0), kM == kMaskIn ? fb[c] : T(0));
              o[c - i0] = c1[c] * gm + c2[c] * (p[c] - cm[c]) + cc[c];
            }
          } else {
#pragma omp simd
            for (index_t c = i0; c < i0 + m; ++c)
              o[c - i0] = c1[c] * g[c] + c2[c] * (p[c] - cm[c]) + cc[c];
          }
        });
      }
    } else {
      thread_range(spans, thread_id(), team_size(), &jb, &je);
      for (index_t j = jb; j < je; ++j) {
        const index_t c = j % C;
        const T* g = dy + j * S;
        const T* p = x + j * S;
        if (PW) {
          bn_relu_pool_dx(dx + j * S, dy + j * OS, pool_argmax + j * OS, p, cm[c], fa[c], fb[c],
                          c1[c], c2[c], cc[c], PH, PW, OH, OW);
          continue;
        }
        const T* yr = kM == kMaskOut ? y + j * S : nullptr;
        const T t1 = c1[c], t2 = c2[c], tc = cc[c], mt = cm[c];
        const T ta = kM == kMaskIn ? fa[c] : T(0), tb = kM == kMaskIn ? fb[c] : T(0);
        write_chunks(dx + j * S, S, bounce, buf,
                     [&](T* o, index_t i0, index_t m) PYDLK_LAMBDA_INLINE {
          if constexpr (kM != kNoMask) {
#pragma omp simd
            for (index_t s = i0; s < i0 + m; ++s) {
              T gm = g[s];
              relu_mask<kM>(gm, kM == kMaskOut ? yr[s] : T(0), p[s], mt, ta, tb);
              o[s - i0] = t1 * gm + t2 * (p[s] - mt) + tc;
            }
          } else {
#pragma omp simd
            for (index_t s = i0; s < i0 + m; ++s) o[s - i0] = t1 * g[s] + t2 * (p[s] - mt) + tc;
          }
        });
      }
    }
  }
}

}  // namespace

template <typename T>
PYDLK_SIMD void batchnorm_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                                   const T* save_mean, const T* save_rstd, index_t N, index_t C,
                                   index_t S, bool training, double* ws, int ws_threads,
                                   const T* relu_out, T* dres, bool relu_from_input, const T* bias,
                                   index_t pool_width, const uint8_t* pool_argmax) {
  // dy, x, dx: (N, C, S); per channel (pass 1, as in the forward):
  //   sdy = sum(dy), sdyx = sum(dy * (x - mu)), so dw = rs * sdyx, db = sdy.
  // training (mu, rs are the batch statistics, M = N*S; from the header's formula with gh = w dy):
  //   dx = (w rs / M) (M dy - sum(dy) - xhat sum(dy xhat))
  //      = k1 dy + k2 (x - mu) + kc,  k1 = w rs,  k2 = -k1 rs^2 sdyx / M,  kc = -k1 sdy / M
  // inference (mu, rs are constants from the running stats): dx = w rs dy.
  // Fused relu (relu_out given): the gradient is relu_backward's masked one, gm = (y <= 0 ? 0 :
  // dy), so the results are bitwise those of relu_backward + batchnorm_backward. Without the
  // residual's gradient, gm is formed inside the sums pass and again inside the dx pass (no
  // masked copy: a third less memory traffic, LeNet's (64, 6, 28, 28) 137-143 -> 118-124 us and
  // (64, 32, 32, 32) 1.61-1.76 -> 1.26-1.32 ms, 2 threads); with it (dres: a ResNet block's
  // shortcut), dy is masked into dres first and both passes run on dres (forming gm in the sums
  // pass and storing it there measured slower on the small shapes). relu_from_input (no
  // residual in the forward, no dres): y's sign is recomputed from x with the forward's own
  // coefficients instead of read (bitwise the same mask, a third less traffic again: LeNet's
  // (64, 6, 28, 28) 95 -> 58-ish us, the plain batch norm backward's time).
  const index_t M = N * S;
  int nt = parallel_worth_it(N * C * S) ? num_threads() : 1;
  if (nt > ws_threads) nt = ws_threads;
  const bool sums = training || dw || db;
  if (relu_out && dres) {  // the residual's gradient asked for: mask into it, run on it
    const index_t total = N * C * S, chunk = 4096;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (index_t i0 = 0; i0 < total; i0 += chunk)
      relu_mask_span(dres + i0, dy + i0, relu_out + i0, std::min(chunk, total - i0));
    dy = dres;
    relu_out = nullptr;
  }
  if (!sums && !dx) return;
  if (relu_from_input) {
    // The forward's a and b per channel (batchnorm_forward's ca, cb), after the workspace's
    // other parts (batchnorm_workspace counts them).
    T* fa = reinterpret_cast<T*>(ws + 4 * C * ws_threads + 4 * C);
    T* fb = fa + C;
    for (index_t c = 0; c < C; ++c) {
      fa[c] = T((w ? double(w[c]) : 1.0) * double(save_rstd[c]));
      fb[c] = bias ? bias[c] : T(0);
    }
    batchnorm_backward_passes<T, kMaskIn>(dx, dw, db, dy, x, w, save_mean, save_rstd, N, C, S,
                                          training, ws, nt, sums, M, nullptr, fa, fb, pool_width,
                                          pool_argmax);
  } else if (relu_out) {
    batchnorm_backward_passes<T, kMaskOut>(dx, dw, db, dy, x, w, save_mean, save_rstd, N, C, S,
                                           training, ws, nt, sums, M, relu_out, nullptr, nullptr, 0,
                                           nullptr);
  } else {
    batchnorm_backward_passes<T, kNoMask>(dx, dw, db, dy, x, w, save_mean, save_rstd, N, C, S,
                                          training, ws, nt, sums, M, nullptr, nullptr, nullptr, 0,
                                          nullptr);
  }
}

// ------------------------------------------------------------------------------- row norm

template <typename T>
PYDLK_SIMD void rownorm_forward(T* y, T* mean, T* rstd, T* var, const T* x, const T* w, const T* b,
                                index_t R, index_t G, index_t K, index_t S, double eps) {
  // x, y: (R, K*S), rows contiguous; threads own rows. A large float output is computed row
  // by row into a buffer and streamed out (stream_store.h).
  const index_t D = K * S;
  const bool stream =
      std::is_same_v<T, float> && D <= kStreamRow && stream_output(size_t(R * D) * sizeof(T));
  // An out= that aliases x (stream_store.h): rows through the buffer, copied out.
  const bool bounce = !stream && D <= kStreamRow && store_aliases_ahead(y, x);
#pragma omp parallel if (parallel_worth_it(R * D))
  {
    alignas(64) T row[kRowSlot<T>];
#pragma omp for schedule(static) nowait
    for (index_t r = 0; r < R; ++r) {
      const T* p = x + r * D;
      T* q = stream ? row : bounce ? bounce_slot(row, y + r * D) : y + r * D;
      const double Kz = D > 0 ? double(p[0]) : 0.0;
      double s1 = 0, s2 = 0, mu, v;
      shifted_sums(p, D, Kz, s1, s2);
      mean_var(s1, s2, Kz, D, mu, v);
      const double rs = 1.0 / std::sqrt(v + eps);
      mean[r] = T(mu);
      rstd[r] = T(rs);
      if (var) var[r] = T(v);
      const index_t off = (r % G) * K;
      const T mt = T(mu), rt = T(rs);
      if (S == 1) {  // affine per element
        const T* wr = w ? w + off : nullptr;
        const T* br = b ? b + off : nullptr;
        if (w && b) affine_row<T, true, true>(q, p, wr, br, mt, rt, D);
        else if (w) affine_row<T, true, false>(q, p, wr, br, mt, rt, D);
        else if (b) affine_row<T, false, true>(q, p, wr, br, mt, rt, D);
        else affine_row<T, false, false>(q, p, wr, br, mt, rt, D);
      } else {  // affine per block of S values (a channel)
        for (index_t k = 0; k < K; ++k) {
          const T a = T((w ? double(w[off + k]) : 1.0) * rs), c = b ? b[off + k] : T(0);
          affine_span(q + k * S, p + k * S, mt, a, c, S);
        }
      }
      if constexpr (std::is_same_v<T, float>)
        if (stream) stream_copy(y + r * D, row, D);
      if (bounce) std::memcpy(y + r * D, q, size_t(D) * sizeof(T));
    }
    if (stream) stream_fence();
  }
}

// One row's s1 = sum(w dy) and s2 = sum(w dy (x - mu)) (S == 1: w per element), and, when pw
// is not null, its dw/db contributions added into the partials pw[i] += dy (x - mu) rs,
// pb[i] += dy.
template <typename T, bool HW>
inline __attribute__((always_inline)) void row_sums1_(const T* g, const T* p, const T* w, T mt,
                                                      double rs, index_t D, double* pw, double* pb,
                                                      double& s1, double& s2) {
  double a = 0, q = 0;
  if (pw) {
#pragma omp simd reduction(+ : a, q)
    for (index_t i = 0; i < D; ++i) {
      const double gi = double(g[i]), di = double(p[i] - mt);
      const double wi = HW ? double(w[i]) : 1.0;
      a += wi * gi;
      q += wi * gi * di;
      pb[i] += gi;
      pw[i] += gi * di * rs;
    }
  } else {
    for (index_t i0 = 0; i0 < D; i0 += kSumBlock) {  // blocks as in grad_sums
      const index_t i1 = block_end(i0, D);
      T ab = 0, qb = 0;
#pragma omp simd reduction(+ : ab, qb)
      for (index_t i = i0; i < i1; ++i) {
        const T gi = HW ? g[i] * w[i] : g[i];
        ab += gi;
        qb += gi * (p[i] - mt);
      }
      a += double(ab);
      q += double(qb);
    }
  }
  s1 = a;
  s2 = q;
}

// One row's dx (S == 1) with its dw/db contributions added into partials fw, fb of type T:
// dx = rs w dy + k2 (x - mu) + kc; fw += dy (x - mu) rs; fb += dy. The T partials hold at most
// kBlockRows rows before they are added into the double ones: half the bytes of double partials,
// so that the row, its dx and the partials all stay in L1.

template <typename T, bool HW>
inline __attribute__((always_inline)) void row_dx_partials(T* o, const T* g, const T* p, const T* w,
                                                           T mt, T rt, T k2, T kc, index_t D, T* fw,
                                                           T* fb) {
#pragma omp simd
  for (index_t i = 0; i < D; ++i) {
    const T gi = g[i], di = p[i] - mt;
    const T sb = fb[i] + gi, sw = fw[i] + gi * di * rt;
    o[i] = (HW ? rt * w[i] : rt) * gi + k2 * di + kc;
    fb[i] = sb;
    fw[i] = sw;
  }
}

// Layer norm's dx over a block of nb <= kDxBlock float rows (S == 1, G == 1), with the rows'
// dw/db terms added into the partials fw, fb: row_dx_partials' arithmetic, row after row for
// each value, but chunk by chunk of columns: a chunk of fw and fb is loaded into registers once,
// takes the nb rows' terms and is stored once. (Row by row, each dx vector was stored beside an
// fw and an fb vector. Stores leave in program order, so the partials' stores, which hit L1,
// queued behind the dx stores, which wait for their lines; the pass took twice as long as the
// same pass without the partials.) Row j: dx o[j], dy g[j], x p[j], constants c[j] =
// {mean, rstd, k2, kc}.
constexpr index_t kDxBlock = 4;

template <bool HW, int NV>
inline __attribute__((always_inline)) void chunk_dx_partials(float* const* o, const float* const* g,
                                                             const float* const* p, const float* w,
                                                             const float (*c)[4], index_t nb,
                                                             index_t i, float* fw, float* fb) {
  F16 aw[NV], ab[NV], wv[NV];
  for (int v = 0; v < NV; ++v) {
    load16(aw[v], fw + i + 16 * v);
    load16(ab[v], fb + i + 16 * v);
    if constexpr (HW) load16(wv[v], w + i + 16 * v);
  }
  for (index_t j = 0; j < nb; ++j) {
    const float mt = c[j][0], rt = c[j][1], k2 = c[j][2], kc = c[j][3];
    for (int v = 0; v < NV; ++v) {
      F16 gi, di;
      load16(gi, g[j] + i + 16 * v);
      load16(di, p[j] + i + 16 * v);
      di -= mt;
      ab[v] += gi;
      aw[v] += gi * di * rt;
      F16 scale = F16{} + rt;
      if constexpr (HW) scale = rt * wv[v];
      const F16 out = scale * gi + k2 * di + kc;
      std::memcpy(o[j] + i + 16 * v, &out, sizeof(out));
    }
  }
  for (int v = 0; v < NV; ++v) {
    std::memcpy(fw + i + 16 * v, &aw[v], sizeof(F16));
    std::memcpy(fb + i + 16 * v, &ab[v], sizeof(F16));
  }
}

template <bool HW>
inline __attribute__((always_inline)) void block_dx_partials(float* const* o, const float* const* g,
                                                             const float* const* p, const float* w,
                                                             const float (*c)[4], index_t nb,
                                                             index_t D, float* fw, float* fb) {
  index_t i = 0;
  for (; i + 64 <= D; i += 64) chunk_dx_partials<HW, 4>(o, g, p, w, c, nb, i, fw, fb);
  for (; i + 16 <= D; i += 16) chunk_dx_partials<HW, 1>(o, g, p, w, c, nb, i, fw, fb);
  for (; i < D; ++i)
    for (index_t j = 0; j < nb; ++j) {
      const float mt = c[j][0], rt = c[j][1], k2 = c[j][2], kc = c[j][3];
      const float gi = g[j][i], di = p[j][i] - mt;
      fb[i] += gi;
      fw[i] += gi * di * rt;
      o[j][i] = (HW ? rt * w[i] : rt) * gi + k2 * di + kc;
    }
}

// Dispatch on whether there is a weight (a branch inside the loops would cost masked loads).
template <typename T>
inline __attribute__((always_inline)) void row_sums1(const T* g, const T* p, const T* w, T mt,
                                                     double rs, index_t D, double* pw, double* pb,
                                                     double& s1, double& s2) {
  if (w) row_sums1_<T, true>(g, p, w, mt, rs, D, pw, pb, s1, s2);
  else row_sums1_<T, false>(g, p, w, mt, rs, D, pw, pb, s1, s2);
}

template <typename T>
PYDLK_SIMD void rownorm_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                                 const T* mean, const T* rstd, index_t R, index_t G, index_t K,
                                 index_t S, double* ws, int ws_threads) {
  // dy, x, dx: (R, K*S). Per row (D = K*S values, gh = w dy with w per block of S):
  //   s1 = sum(gh), s2 = sum(gh (x - mu));  dx = rs gh - rs s1 / D - rs^3 s2 / D (x - mu).
  // dw[g*K + k] and db[g*K + k] sum over every row of group g: each thread takes a contiguous
  // range of rows and adds them into its own slice of ws (4*G*K + 32 doubles: dw partials,
  // db partials, then room for layer norm's T partials); a second loop, over the parameters it writes, adds the slices up. No atomics, and
  // for a given thread count the result does not depend on timing.
  const index_t D = K * S, P = G * K;
  const bool want_p = (dw || db) && P > 0;
  // A large float dx is computed row by row into a buffer and streamed out (stream_store.h).
  const bool stream =
      std::is_same_v<T, float> && dx && D <= kStreamRow && stream_output(size_t(R * D) * sizeof(T));
  const bool bounce = !stream && dx && D <= kStreamRow &&
                      (store_aliases_ahead(dx, dy) || store_aliases_ahead(dx, x));
  int nt = parallel_worth_it(R * D) ? num_threads() : 1;
  if (want_p && nt > ws_threads) nt = ws_threads;
  if (want_p)
    for (int t = 0; t < nt; ++t)
      for (index_t i = 0; i < 2 * P; ++i) ws[(4 * P + 32) * t + i] = 0;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int t = thread_id(), team = team_size();
    double* pw = want_p ? ws + (4 * P + 32) * t : nullptr;
    double* pb = want_p ? pw + P : nullptr;
    // Layer norm's T partials (see row_dx_partials), after the double ones in this slice.
    // Offset by a few doubles so that fw, fb, pw and pb (each P values long, often 4 KiB)
    // do not start at the same address modulo 4 KiB.
    T* fw = want_p ? reinterpret_cast<T*>(pb + P + 2) : nullptr;
    T* fb = want_p ? reinterpret_cast<T*>(pb + P + 4) + P : nullptr;
    index_t in_block = 0;
    if (want_p && G == 1 && S == 1)
      for (index_t i = 0; i < P; ++i) fw[i] = fb[i] = T(0);
    // kDxBlock rows for the blocked layer norm below; the first for the others.
    alignas(64) T row[(std::is_same_v<T, float> ? kDxBlock : 1) * kRowSlot<T>];
    const index_t rb = R * t / team, re = R * (t + 1) / team;  // this thread's rows
    index_t r = rb;
    if constexpr (std::is_same_v<T, float>) {
      if (S == 1 && G == 1 && want_p && dx && D > 0) {  // layer norm with dw or db: in blocks
        const float *gs[kDxBlock], *ps[kDxBlock];
        float* os[kDxBlock];
        float c[kDxBlock][4];
        for (; r < re; r += kDxBlock) {
          const index_t nb = std::min(kDxBlock, re - r);
          for (index_t j = 0; j < nb; ++j) {
            gs[j] = dy + (r + j) * D;
            ps[j] = x + (r + j) * D;
            T* slot = row + j * kRowSlot<T>;
            os[j] = stream ? slot : bounce ? bounce_slot(slot, dx + (r + j) * D) : dx + (r + j) * D;
            const float mt = mean[r + j];
            const double rs = double(rstd[r + j]);
            double s1, s2;
            row_sums1(gs[j], ps[j], w, mt, rs, D, nullptr, nullptr, s1, s2);
            c[j][0] = mt;
            c[j][1] = float(rs);
            c[j][2] = float(-rs * rs * rs * s2 / double(D));
            c[j][3] = float(-rs * s1 / double(D));
          }
          if (w) block_dx_partials<true>(os, gs, ps, w, c, nb, D, fw, fb);
          else block_dx_partials<false>(os, gs, ps, w, c, nb, D, fw, fb);
          if (stream)
            for (index_t j = 0; j < nb; ++j) stream_copy(dx + (r + j) * D, os[j], D);
          if (bounce)
            for (index_t j = 0; j < nb; ++j)
              std::memcpy(dx + (r + j) * D, os[j], size_t(D) * sizeof(float));
          in_block += nb;
          if (in_block >= kBlockRows || r + nb >= re) {
            flush_partials(pw, pb, fw, fb, D);
            in_block = 0;
          }
        }
      }
    }
    while (r < re) {
      // Sums of row r (and its dw/db partials).
      double s1, s2;
      const index_t off = (r % G) * K;
      const T* g = dy + r * D;
      const T* p = x + r * D;
      const T mt = mean[r];
      const double rs = double(rstd[r]);
      // S == 1 with dx wanted: the dw/db partials are added in the dx loop below, where the
      // row is in L1 again; the sums loop then reads only the row.
      const bool late_p = S == 1 && G == 1 && want_p && dx && D > 0;
      if (S == 1) {
        row_sums1(g, p, w ? w + off : nullptr, mt, rs, D, want_p && !late_p ? pw + off : nullptr,
                  want_p && !late_p ? pb + off : nullptr, s1, s2);
      } else {
        s1 = s2 = 0;
        for (index_t k = 0; k < K; ++k) {
          const T* gk = g + k * S;
          const T* pk = p + k * S;
          double a = 0, q = 0;
          grad_sums(gk, pk, mt, S, a, q);
          const double wk = w ? double(w[off + k]) : 1.0;
          s1 += wk * a;
          s2 += wk * q;
          if (want_p) {
            pb[off + k] += a;
            pw[off + k] += q * rs;
          }
        }
      }
      // dx of the same row (still in cache).
      if (dx && D > 0) {
        const T k2 = T(-rs * rs * rs * s2 / double(D)), kc = T(-rs * s1 / double(D));
        T* o = stream ? row : bounce ? bounce_slot(row, dx + r * D) : dx + r * D;
        if (S == 1) {
          const T rt = T(rs);
          if (late_p) {
            if (w) row_dx_partials<T, true>(o, g, p, w, mt, rt, k2, kc, D, fw, fb);
            else row_dx_partials<T, false>(o, g, p, w, mt, rt, k2, kc, D, fw, fb);
            if (++in_block == kBlockRows || r + 1 == re) {
              flush_partials(pw, pb, fw, fb, D);
              in_block = 0;
            }
          } else if (w) {
            const T* wr = w + off;
#pragma omp simd
            for (index_t i = 0; i < D; ++i) o[i] = rt * wr[i] * g[i] + k2 * (p[i] - mt) + kc;
          } else {
#pragma omp simd
            for (index_t i = 0; i < D; ++i) o[i] = rt * g[i] + k2 * (p[i] - mt) + kc;
          }
        } else {
          for (index_t k = 0; k < K; ++k) {
            const T a = T((w ? double(w[off + k]) : 1.0) * rs);
            const T* gk = g + k * S;
            const T* pk = p + k * S;
            T* ok = o + k * S;
#pragma omp simd
            for (index_t s = 0; s < S; ++s) ok[s] = a * gk[s] + k2 * (pk[s] - mt) + kc;
          }
        }
        if constexpr (std::is_same_v<T, float>)
          if (stream) stream_copy(dx + r * D, row, D);
        if (bounce) std::memcpy(dx + r * D, o, size_t(D) * sizeof(T));
      }
      ++r;
    }
    if (stream) stream_fence();
  }
  if (!want_p) return;
  // Add up the per-thread slices; threads split the parameters they write.
#pragma omp parallel for schedule(static) if (parallel_worth_it(P * nt))
  for (index_t i = 0; i < P; ++i) {
    double sw = 0, sb = 0;
    for (int t = 0; t < nt; ++t) {
      sw += ws[(4 * P + 32) * t + i];
      sb += ws[(4 * P + 32) * t + P + i];
    }
    if (dw) dw[i] = T(sw);
    if (db) db[i] = T(sb);
  }
}

template <typename T>
void instancenorm_update_running(T* running_mean, T* running_var, const T* mean, const T* var,
                                 index_t N, index_t C, index_t S, double momentum) {
  // mean, var: (N, C). Small (N*C values): one thread.
  if (N == 0) return;
  for (index_t c = 0; c < C; ++c) {
    double sm = 0, sv = 0;
    for (index_t n = 0; n < N; ++n) {
      sm += double(mean[n * C + c]);
      sv += double(var[n * C + c]);
    }
    sm /= double(N);
    sv = S > 1 ? sv / double(N) * double(S) / double(S - 1) : sv / double(N);
    if (running_mean) running_mean[c] = T((1 - momentum) * double(running_mean[c]) + momentum * sm);
    if (running_var) running_var[c] = T((1 - momentum) * double(running_var[c]) + momentum * sv);
  }
}

#define PYDLK_NORM_INSTANTIATE(T)                                                                  \
  template void batchnorm_forward<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, index_t,    \
                                     index_t, index_t, bool, double, double, double*, int,         \
                                     const T*, bool, index_t, uint8_t*);                           \
  template void batchnorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,          \
                                      const T*, index_t, index_t, index_t, bool, double*, int,     \
                                      const T*, T*, bool, const T*, index_t, const uint8_t*);      \
  template void rownorm_forward<T>(T*, T*, T*, T*, const T*, const T*, const T*, index_t, index_t, \
                                   index_t, index_t, double);                                      \
  template void rownorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,  \
                                    index_t, index_t, index_t, index_t, double*, int);             \
  template void instancenorm_update_running<T>(T*, T*, const T*, const T*, index_t, index_t,       \
                                               index_t, double);
PYDLK_NORM_INSTANTIATE(float)
PYDLK_NORM_INSTANTIATE(double)

}  // namespace pydlk
