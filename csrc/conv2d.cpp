// 2-D convolution, NCHW, torch's weight layout (K, C/G, R, S): stride, zero padding, dilation,
// groups. Three algorithms, chosen per shape by conv2d_plan:
//
// * gemm: im2col + BLAS. A chunk of nb samples of one group is unrolled into
//   col (C/G*R*S, nb*OH*OW) and multiplied by the group's weight (K/G, C/G*R*S). Small images are
//   batched (nb > 1) so that each GEMM has enough columns to run near the BLAS's speed; chunks are
//   split over the OpenMP team, each thread running single-threaded GEMMs (gemm1) in its own
//   workspace slice. With fewer chunks than threads (one large image) the chunks run in turn
//   and the GEMM itself is split (pydlk::gemm).
// * direct: for depthwise convolution (one input channel and at most kDirectMaxKg outputs per
//   group). There each GEMM has a single row and the im2col copy costs as much as the
//   product, so a plain loop over taps wins: for stride 1 the output plane is computed on a
//   "wide" grid whose row pitch is the padded input width, so each tap is ONE contiguous axpy
//   over (OH-1)*Wp + OW elements (vectorises fully, no per-row loop), blocked so that the
//   outputs stay in registers across the taps; the extra columns are dropped on the way out.
//   Measured (1 thread, CPU time on the shared 2-core machine, N=64, 32 channels, 3x3 pad 1):
//   16x16 forward direct 0.63 ms against gemm 0.76, backward 1.32 against 1.61; 32x32 stride 2
//   forward 1.9 against 3.4. With 2 outputs per channel gemm already wins (1->2 on 28x28, 5x5:
//   forward 0.10 ms against 0.15), and so it does on LeNet conv1 (1 -> 6): forward 0.17 against
//   0.45, backward 0.38 against 1.08. Backward takes direct only for stride 1 and kernels up
//   to 3x3 (5x5 with padding 2 measured 9.2 ms gemm against 12.7 direct).
// * direct, blocked (direct_forward_multi): float32 forward with stride 1 and 2 ... 16 outputs
//   per group, any C/G up to 256 taps (C/G*R*S): blocks of up to 6 outputs share each input
//   load over the same wide grid, so no im2col. Where the wide grid wastes more than 40% of its
//   positions (small images: 12x12 -> 8x8) gemm stays. Measured (2 threads, float32, forward):
//   LeNet conv2 on 14x14, N=256: 1.18 ms against gemm's 1.75-1.86; N=64: 0.30 against 0.36-0.46;
//   LeNet conv1 (1 -> 6, 28x28, N=64): 0.10-0.13 against 0.13-0.14.
// * direct, dense (conv2d_direct512.cpp): float32 forward with 2+ outputs per group on CPUs
//   with AVX-512, any stride, one input channel per group included: chosen before the two
//   above where the wide grid wastes little and the kernel is larger than 1x1. Measured
//   against gemm, interleaved, N=64, 2 threads: ResNet's 16->32 32x32 and 32->64 16x16
//   stride-2 3x3 layers 0.81-0.95 / 0.89-1.03 ms against 1.53-1.71 / 1.11-1.25 (torch
//   0.96-1.17 / 0.78-1.00); LeNet conv2 (6->16, 14x14, 5x5) 0.20-0.34 against the blocked
//   kernel above; LeNet conv1 (1 -> 6, 5x5, 32x32) 0.104 against gemm's 0.153 (N=256: 0.41
//   against 0.60); depthwise with 2 outputs per channel (32 channels, 3x3, 16x16) 0.54
//   against the blocked kernel's 0.56, with 4 (8 channels, 5x5, 28x28) 0.77 against 0.98.
// * narrow dw (conv2d_dw512.cpp): the float32 weight gradient of gemm-path layers with one
//   group on CPUs with AVX-512: 9-16 outputs with a 3x3 or 5x5 kernel (LeNet conv2: 0.48 ->
//   0.15 ms at batch 64), 1-8 outputs at stride 1 with a kernel larger than 1x1 (LeNet
//   conv1: 0.19-0.22 -> 0.12-0.14).
// * narrow dx (conv2d_dx512.cpp): the float32 input gradient of stride-1 gemm-path layers
//   with at most 16 outputs, one group, a 3x3 or 5x5 kernel and images at most 32 wide, on
//   CPUs with AVX-512 (LeNet conv2: see that file for the measurements).
// * stride-2 rows (conv2d_s2_rows.h): the gemm path's im2col and col2im for ResNet's stride-2
//   3x3 layers (padding 1 along W) and 1x1 shortcuts (no padding), even widths 8, 16, 32, in
//   vector registers, a row at a time. N=64, 2 threads, dx / dw alone: 16->32 32x32 3x3
//   1.14 / 1.13 -> 0.72 / 0.83 ms, 32->64 16x16 0.85 / 0.98 -> 0.61 / 0.76; 1x1 16->32 32x32
//   forward 0.20 -> 0.18, backward 0.32 -> 0.31.
#include "conv2d.h"

// conv2d_s2_rows.h's vector types only live inside always-inline helpers: no ABI is involved.
#pragma GCC diagnostic ignored "-Wpsabi"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "blas.h"
#include "conv2d_direct512.h"
#include "conv2d_dw512.h"
#include "conv2d_dx512.h"
#include "conv2d_s2_rows.h"
#include "conv2d_winograd.h"

namespace pydlk {

namespace {

// Tuning of the gemm path: a chunk aims at kTargetCols GEMM columns and at most kColBytes of
// im2col buffer per thread. Measured with OpenBLAS (SkylakeX kernels) on LeNet conv2's product
// (16 x 150 @ 150 x Q): 112 GFLOP/s at Q = 256-384 (col 150-230 KB), 70 at 512, 46 at 1024:
// keeping col well inside L2 matters more than long GEMMs.
constexpr index_t kTargetCols = 256;
constexpr size_t kColBytes = size_t(256) << 10;
// The direct path is chosen for one input channel per group and at most this many outputs per
// group (see the top of this file).
constexpr index_t kDirectMaxKg = 1;
// Backward splits the batch into at most this many blocks, each with its own dw partial.
constexpr index_t kBlocks = 8;
// The narrow weight-gradient kernel's blocks: samples, at most kBlocks (fixed by the shape,
// so that the sum's order does not depend on the threads).
inline index_t narrow_blocks(const ConvShape& s) {
  return std::max<index_t>(1, std::min<index_t>(s.N, kBlocks));
}

inline size_t align64(size_t n) { return (n + 63) / 64 * 64; }

inline index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }

// C = alpha op(A) op(B) + beta C on this thread (inner) or split over the team (pydlk::gemm).
template <typename T>
inline void mm(bool inner, bool ta, bool tb, index_t M, index_t N, index_t K, const T* A,
               index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // C = beta C
    for (index_t i = 0; i < M; ++i)
      for (index_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  if (inner)
    gemm1(ta, tb, (int)M, (int)N, (int)K, T(1), A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
  else gemm(ta, tb, (int)M, (int)N, (int)K, T(1), A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

// ---------------------------------------------------------------------------------- im2col
// Both work on zero-padded planes (pad: (nb, Cg, H + 2ph, W + 2pw), built in the workspace when
// there is padding), so that every row they copy is whole: no bounds checks in the inner loops.
struct Planes {
  index_t cstride, plane, pitch;  // plane (i, c) starts at (i*cstride + c)*plane; row pitch
};

// rows x OW block copies between a dense block (pitch OW) and a plane (pitch `pitch`), stride 1.
// Common widths get a compile-time OW: for the small images of LeNet/CIFAR (OW = 8 ... 32) a
// runtime-length row loop spent more time on loop control than on copying (im2col and col2im
// were 44% of LeNet conv2's time before this).
template <typename T, int OW>
inline void rows_get(T* dst, const T* src, index_t rows, index_t pitch) {
  for (index_t r = 0; r < rows; ++r)
    for (int j = 0; j < OW; ++j) dst[r * OW + j] = src[r * pitch + j];
}
template <typename T, int OW>
inline void rows_add(T* dst, const T* src, index_t rows, index_t pitch) {
  for (index_t r = 0; r < rows; ++r)
    for (int j = 0; j < OW; ++j) dst[r * pitch + j] += src[r * OW + j];
}
template <typename T>
inline void rows_get_any(T* dst, const T* src, index_t rows, index_t OW, index_t pitch) {
  switch (OW) {
    case 4: return rows_get<T, 4>(dst, src, rows, pitch);
    case 8: return rows_get<T, 8>(dst, src, rows, pitch);
    case 12: return rows_get<T, 12>(dst, src, rows, pitch);
    case 14: return rows_get<T, 14>(dst, src, rows, pitch);
    case 16: return rows_get<T, 16>(dst, src, rows, pitch);
    case 24: return rows_get<T, 24>(dst, src, rows, pitch);
    case 28: return rows_get<T, 28>(dst, src, rows, pitch);
    case 32: return rows_get<T, 32>(dst, src, rows, pitch);
    default:
      for (index_t r = 0; r < rows; ++r)
        for (index_t j = 0; j < OW; ++j) dst[r * OW + j] = src[r * pitch + j];
  }
}
template <typename T>
inline void rows_add_any(T* dst, const T* src, index_t rows, index_t OW, index_t pitch) {
  switch (OW) {
    case 4: return rows_add<T, 4>(dst, src, rows, pitch);
    case 8: return rows_add<T, 8>(dst, src, rows, pitch);
    case 12: return rows_add<T, 12>(dst, src, rows, pitch);
    case 14: return rows_add<T, 14>(dst, src, rows, pitch);
    case 16: return rows_add<T, 16>(dst, src, rows, pitch);
    case 24: return rows_add<T, 24>(dst, src, rows, pitch);
    case 28: return rows_add<T, 28>(dst, src, rows, pitch);
    case 32: return rows_add<T, 32>(dst, src, rows, pitch);
    default:
      for (index_t r = 0; r < rows; ++r)
        for (index_t j = 0; j < OW; ++j) dst[r * pitch + j] += src[r * OW + j];
  }
}

// The same copies for stride 2 along W (the stride-2 convolutions of a ResNet): with the
// stride known at compile time the loops vectorise (even-lane permutes) instead of running one
// element at a time; im2col was a quarter of a stride-2 3x3 forward's time before this.
template <typename T, int OW>
inline void rows_get2(T* dst, const T* src, index_t rows, index_t pitch) {
  for (index_t r = 0; r < rows; ++r)
    for (int j = 0; j < OW; ++j) dst[r * OW + j] = src[r * pitch + 2 * j];
}
template <typename T, int OW>
inline void rows_add2(T* dst, const T* src, index_t rows, index_t pitch) {
  for (index_t r = 0; r < rows; ++r)
    for (int j = 0; j < OW; ++j) dst[r * pitch + 2 * j] += src[r * OW + j];
}
// false: OW has no compiled copy (the caller loops).
template <typename T>
inline bool rows_get2_any(T* dst, const T* src, index_t rows, index_t OW, index_t pitch) {
  switch (OW) {
    case 4: return rows_get2<T, 4>(dst, src, rows, pitch), true;
    case 7: return rows_get2<T, 7>(dst, src, rows, pitch), true;
    case 8: return rows_get2<T, 8>(dst, src, rows, pitch), true;
    case 14: return rows_get2<T, 14>(dst, src, rows, pitch), true;
    case 16: return rows_get2<T, 16>(dst, src, rows, pitch), true;
    case 28: return rows_get2<T, 28>(dst, src, rows, pitch), true;
    case 32: return rows_get2<T, 32>(dst, src, rows, pitch), true;
    case 56: return rows_get2<T, 56>(dst, src, rows, pitch), true;
    default: return false;
  }
}
template <typename T>
inline bool rows_add2_any(T* dst, const T* src, index_t rows, index_t OW, index_t pitch) {
  switch (OW) {
    case 4: return rows_add2<T, 4>(dst, src, rows, pitch), true;
    case 7: return rows_add2<T, 7>(dst, src, rows, pitch), true;
    case 8: return rows_add2<T, 8>(dst, src, rows, pitch), true;
    case 14: return rows_add2<T, 14>(dst, src, rows, pitch), true;
    case 16: return rows_add2<T, 16>(dst, src, rows, pitch), true;
    case 28: return rows_add2<T, 28>(dst, src, rows, pitch), true;
    case 32: return rows_add2<T, 32>(dst, src, rows, pitch), true;
    case 56: return rows_add2<T, 56>(dst, src, rows, pitch), true;
    default: return false;
  }
}

// x: the chunk's first sample (nb samples of (C, H, W)); c0: the group's first channel.
// col: (Cg*R*S, nb*OH*OW), row (c, r, s), column (i, oh, ow):
// col[(c, r, s), (i, oh, ow)] = x[i, c0 + c, oh*sh + r*dh - ph, ow*sw + s*dw - pw] (0 outside).
template <typename T>
PYDLK_SIMD void im2col(T* col, const T* x, T* pad, index_t nb, index_t c0, const ConvShape& s) {
  if (s2rows::im2col(col, x, nb, c0, s)) return;  // ResNet's stride-2 3x3 and 1x1 layers
  const index_t HW = s.H * s.W, OHW = s.OH * s.OW, Q = nb * OHW, Cg = s.Cg();
  const T* base = x + c0 * HW;
  Planes P{s.C, HW, s.W};
  if (s.ph || s.pw) {
    const index_t Hp = s.H + 2 * s.ph, Wp = s.W + 2 * s.pw;
    for (index_t i = 0; i < nb; ++i)
      for (index_t c = 0; c < Cg; ++c) {
        T* d = pad + (i * Cg + c) * Hp * Wp;
        const T* xc = x + (i * s.C + c0 + c) * HW;
        std::fill(d, d + s.ph * Wp, T(0));
        for (index_t h = 0; h < s.H; ++h) {
          T* row = d + (h + s.ph) * Wp;
          for (index_t j = 0; j < s.pw; ++j) row[j] = T(0);
          std::memcpy(row + s.pw, xc + h * s.W, sizeof(T) * size_t(s.W));
          for (index_t j = s.pw + s.W; j < Wp; ++j) row[j] = T(0);
        }
        std::fill(d + (s.ph + s.H) * Wp, d + Hp * Wp, T(0));
      }
    base = pad;
    P = Planes{Cg, Hp * Wp, Wp};
  }
  for (index_t c = 0; c < Cg; ++c)
    for (index_t r = 0; r < s.R; ++r)
      for (index_t q = 0; q < s.S; ++q) {
        T* row = col + ((c * s.R + r) * s.S + q) * Q;
        for (index_t i = 0; i < nb; ++i) {
          const T* src0 = base + (i * P.cstride + c) * P.plane + r * s.dh * P.pitch + q * s.dw;
          T* dst0 = row + i * OHW;
          if (s.sw == 1) {
            rows_get_any(dst0, src0, s.OH, s.OW, s.sh * P.pitch);
            continue;
          }
          if (s.sw == 2 && rows_get2_any(dst0, src0, s.OH, s.OW, s.sh * P.pitch)) continue;
          for (index_t oh = 0; oh < s.OH; ++oh) {
            const T* src = src0 + oh * s.sh * P.pitch;
            T* dst = dst0 + oh * s.OW;
            for (index_t ow = 0; ow < s.OW; ++ow) dst[ow] = src[ow * s.sw];
          }
        }
      }
}

// The adjoint of im2col: dx[i, c0 + c] = sum over (r, s, oh, ow) of col[(c, r, s), (i, oh, ow)]
// at (oh*sh + r*dh - ph, ow*sw + s*dw - pw). Overwrites the group's planes of the chunk's dx.
template <typename T>
PYDLK_SIMD void col2im(T* dx, const T* col, T* pad, index_t nb, index_t c0, const ConvShape& s) {
  if (s2rows::col2im(dx, col, nb, c0, s)) return;  // ResNet's stride-2 3x3 and 1x1 layers
  const index_t HW = s.H * s.W, OHW = s.OH * s.OW, Q = nb * OHW, Cg = s.Cg();
  const bool padded = s.ph || s.pw;
  const index_t Hp = s.H + 2 * s.ph, Wp = s.W + 2 * s.pw;
  T* base = dx + c0 * HW;
  Planes P{s.C, HW, s.W};
  if (padded) {
    base = pad;
    P = Planes{Cg, Hp * Wp, Wp};
    std::fill(pad, pad + nb * Cg * Hp * Wp, T(0));
  } else {
    for (index_t i = 0; i < nb; ++i)
      std::fill(base + i * s.C * HW, base + i * s.C * HW + Cg * HW, T(0));
  }
  for (index_t i = 0; i < nb; ++i)
    for (index_t c = 0; c < Cg; ++c) {
      T* d0 = base + (i * P.cstride + c) * P.plane;
      for (index_t r = 0; r < s.R; ++r)
        for (index_t q = 0; q < s.S; ++q) {
          const T* src0 = col + ((c * s.R + r) * s.S + q) * Q + i * OHW;
          T* d1 = d0 + r * s.dh * P.pitch + q * s.dw;
          if (s.sw == 1) {
            rows_add_any(d1, src0, s.OH, s.OW, s.sh * P.pitch);
            continue;
          }
          if (s.sw == 2 && rows_add2_any(d1, src0, s.OH, s.OW, s.sh * P.pitch)) continue;
          for (index_t oh = 0; oh < s.OH; ++oh) {
            T* d = d1 + oh * s.sh * P.pitch;
            const T* src = src0 + oh * s.OW;
            for (index_t ow = 0; ow < s.OW; ++ow) d[ow * s.sw] += src[ow];
          }
        }
    }
  if (padded)
    for (index_t i = 0; i < nb; ++i)
      for (index_t c = 0; c < Cg; ++c) {
        const T* sp = pad + (i * Cg + c) * Hp * Wp + s.ph * Wp + s.pw;
        T* d = dx + (i * s.C + c0 + c) * HW;
        for (index_t h = 0; h < s.H; ++h)
          std::memcpy(d + h * s.W, sp + h * Wp, sizeof(T) * size_t(s.W));
      }
}

inline bool is_pointwise(const ConvShape& s) {
  return s.R == 1 && s.S == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0;
}

// Per-thread workspace slices of the gemm path: col (Cg*R*S, nb*OHW) and tmp (K/G, nb*OHW).
struct GemmWs {
  size_t col, tmp, pad, slice;
};
inline GemmWs gemm_ws(const ConvShape& s, index_t nb, size_t esz) {
  GemmWs g;
  g.col = align64(size_t(s.Cg() * s.R * s.S * nb * s.OH * s.OW) * esz);
  g.tmp = align64(size_t(s.Kg() * nb * s.OH * s.OW) * esz);
  g.pad =
      (s.ph || s.pw) ? align64(size_t(nb * s.Cg() * (s.H + 2 * s.ph) * (s.W + 2 * s.pw)) * esz) : 0;
  g.slice = g.col + g.tmp + g.pad;
  return g;
}

// Per-thread slices of the direct path: padded input plane, wide output/grad plane, padded dx.
struct DirectWs {
  index_t Hp, Wp, plane;
  size_t slice;
};
inline DirectWs direct_ws(const ConvShape& s, size_t esz) {
  DirectWs d;
  d.Hp = s.H + 2 * s.ph;
  d.Wp = s.W + 2 * s.pw;
  d.plane = std::max(d.Hp * d.Wp, s.OH * std::max(d.Wp, s.OW));
  d.slice = 3 * align64(size_t(d.plane) * esz);
  return d;
}

// ------------------------------------------------------------------------------ gemm path
// y (N, K, OH, OW): per chunk of nb samples and group g,
//   y[chunk, g] (K/G, nb*OHW) = w[g] (K/G, Cg*R*S) @ im2col(x[chunk, g]) + b[g].
template <typename T>
PYDLK_SIMD void gemm_forward(T* y, const T* x, const T* w, const T* b, char* ws, const ConvShape& s,
                             const ConvPlan& p) {
  const index_t Cg = s.Cg(), Kg = s.Kg(), CRS = Cg * s.R * s.S, HW = s.H * s.W, OHW = s.OH * s.OW;
  const index_t nchunks = ceil_div(s.N, p.nb);
  const bool pw1 = is_pointwise(s);
  const GemmWs L = gemm_ws(s, p.nb, sizeof(T));
  auto chunk = [&](index_t ci, char* slice, bool inner) PYDLK_LAMBDA_INLINE {
    T* col = reinterpret_cast<T*>(slice);
    T* tmp = reinterpret_cast<T*>(slice + L.col);
    T* pad = reinterpret_cast<T*>(slice + L.col + L.tmp);
    const index_t n0 = ci * p.nb, m = std::min(p.nb, s.N - n0), Q = m * OHW;
    for (index_t g = 0; g < s.G; ++g) {
      const T* B = col;
      index_t ldb = Q;
      if (pw1 && m == 1) {
        B = x + (n0 * s.C + g * Cg) * HW;  // a 1x1 convolution reads x as it is
        ldb = HW;
      } else {
        im2col(col, x + n0 * s.C * HW, pad, m, g * Cg, s);
      }
      const T* wg = w + g * Kg * CRS;
      if (m == 1) {  // straight into y, which starts at the bias (beta = 1) if there is one
        T* yg = y + (n0 * s.K + g * Kg) * OHW;
        if (b)
          for (index_t k = 0; k < Kg; ++k)
            for (index_t i = 0; i < OHW; ++i) yg[k * OHW + i] = b[g * Kg + k];
        mm(inner, false, false, Kg, OHW, CRS, wg, CRS, B, ldb, b ? T(1) : T(0), yg, OHW);
      } else {  // into tmp (K/G, m*OHW), then out to NCHW with the bias
        mm(inner, false, false, Kg, Q, CRS, wg, CRS, B, ldb, T(0), tmp, Q);
        for (index_t i = 0; i < m; ++i)
          for (index_t k = 0; k < Kg; ++k) {
            T* yk = y + ((n0 + i) * s.K + g * Kg + k) * OHW;
            const T* tk = tmp + k * Q + i * OHW;
            const T bk = b ? b[g * Kg + k] : T(0);
            for (index_t j = 0; j < OHW; ++j) yk[j] = tk[j] + bk;
          }
      }
    }
  };
  if (p.parallel) {
    // static: the samples split in contiguous halves as in the layers around (core affinity;
    // docs/ARCHITECTURE.md, "Threads")
#pragma omp parallel for num_threads(p.nt) schedule(static)
    for (index_t ci = 0; ci < nchunks; ++ci) chunk(ci, ws + thread_id() * L.slice, true);
  } else {
    for (index_t ci = 0; ci < nchunks; ++ci) chunk(ci, ws, p.nt == 1);
  }
}

// Backward of y[chunk, g] = w[g] @ col + b[g], with col = im2col(x[chunk, g]):
//   dw[g] += dy[chunk, g] (K/G, nb*OHW) @ col^T     (summed over chunks: per-thread partials)
//   dcol   = w[g]^T (Cg*R*S, K/G) @ dy[chunk, g];  dx[chunk, g] = col2im(dcol)
// dcol reuses the col buffer once dw has consumed it.
// For stride 1, dx is also a forward convolution of dy with the flipped, transposed weight
// (wt[c, k, r, s] = w[k, c, R-1-r, S-1-s], padding d*(R-1) - p), which reuses the forward's
// im2col + GEMM and has no col2im. Measured against this path (float32, 1 thread, CPU time,
// dx only, N=64, 3x3 pad 1): 64->64 32x32 65.0 ms against 60.2; 32->64 16x16 8.26 against
// 7.12; 64->64 8x8 3.77 against 3.71; 16->16 32x32 6.25 against 5.51; LeNet conv2 (6->16
// 14x14, 5x5) 1.71 against 0.67. Both are bound by the GEMM (same FLOPs; col2im's adds are a
// small part), so w^T @ dy + col2im stays for every shape.
template <typename T>
PYDLK_SIMD void gemm_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, char* ws,
                              const ConvShape& s, const ConvPlan& p) {
  const index_t Cg = s.Cg(), Kg = s.Kg(), CRS = Cg * s.R * s.S, HW = s.H * s.W, OHW = s.OH * s.OW,
                WN = s.K * CRS;
  const index_t nchunks = ceil_div(s.N, p.nb);
  const bool pw1 = is_pointwise(s);
  const GemmWs L = gemm_ws(s, p.nb, sizeof(T));
  // chunk ci; part: where its dw goes, (K, CRS); first: overwrite part instead of adding.
  auto chunk = [&](index_t ci, char* slice, T* part, bool first, bool inner) PYDLK_LAMBDA_INLINE {
    T* col = reinterpret_cast<T*>(slice);
    T* tmp = reinterpret_cast<T*>(slice + L.col);
    T* pad = reinterpret_cast<T*>(slice + L.col + L.tmp);
    const index_t n0 = ci * p.nb, m = std::min(p.nb, s.N - n0), Q = m * OHW;
    for (index_t g = 0; g < s.G; ++g) {
      // dy[chunk, g] as (K/G, m*OHW): in place for one sample, gathered into tmp for several.
      const T* D = dy + (n0 * s.K + g * Kg) * OHW;
      index_t ldd = OHW;
      if (m > 1) {
        for (index_t k = 0; k < Kg; ++k)
          for (index_t i = 0; i < m; ++i)
            std::memcpy(tmp + k * Q + i * OHW, dy + ((n0 + i) * s.K + g * Kg + k) * OHW,
                        sizeof(T) * size_t(OHW));
        D = tmp;
        ldd = Q;
      }
      const T* wg = w + g * Kg * CRS;
      const bool direct_x = pw1 && m == 1;
      if (part) {
        const T* B = col;
        index_t ldb = Q;
        if (direct_x) {
          B = x + (n0 * s.C + g * Cg) * HW;
          ldb = HW;
        } else {
          im2col(col, x + n0 * s.C * HW, pad, m, g * Cg, s);
        }
        // dw[g]^T (Cg*R*S, K/G) (+)= col (Cg*R*S, m*OHW) @ dy[chunk, g]^T
        mm(inner, false, true, CRS, Kg, Q, B, ldb, D, ldd, first ? T(0) : T(1), part + g * CRS * Kg,
           Kg);
      }
      if (dx) {
        if (direct_x) {
          mm(inner, true, false, Cg, HW, Kg, wg, CRS, D, ldd, T(0), dx + (n0 * s.C + g * Cg) * HW,
             HW);
        } else {
          mm(inner, true, false, CRS, Q, Kg, wg, CRS, D, ldd, T(0), col, Q);
          col2im(dx + n0 * s.C * HW, col, pad, m, g * Cg, s);
        }
      }
    }
  };
  // dw: one partial per block of consecutive chunks, kept transposed (G, Cg*R*S, K/G):
  // OpenBLAS runs the product with the short K/G side as columns about twice as fast (measured
  // 80 against 40 GFLOP/s on LeNet's conv2). Each block's sum is the same whichever thread
  // runs it. Summed over blocks in a fixed order, in double, and transposed back at the end.
  const index_t nblk = p.nblk;
  const int slices = p.parallel ? p.nt : 1;
  T* parts = reinterpret_cast<T*>(ws + slices * L.slice);
  auto block = [&](index_t j, char* slice, bool inner) PYDLK_LAMBDA_INLINE {
    const index_t c0 = j * nchunks / nblk, c1 = (j + 1) * nchunks / nblk;
    for (index_t ci = c0; ci < c1; ++ci)
      chunk(ci, slice, dw ? parts + j * WN : nullptr, ci == c0, inner);
  };
  if (p.parallel) {
    // static: the samples split in contiguous halves as in the layers around (core affinity;
    // docs/ARCHITECTURE.md, "Threads")
#pragma omp parallel for num_threads(p.nt) schedule(static)
    for (index_t j = 0; j < nblk; ++j) block(j, ws + thread_id() * L.slice, true);
  } else {
    for (index_t j = 0; j < nblk; ++j) block(j, ws, p.nt == 1);
  }
  if (dw) {
    // dw[g*Kg + k, j] = sum_b parts[b][g, j, k]; threads split the rows of dw they write.
#pragma omp parallel for num_threads(p.nt) if (p.nt > 1 && parallel_worth_it(WN * nblk))
    for (index_t gk = 0; gk < s.K; ++gk) {
      const index_t g = gk / Kg, k = gk % Kg;
      for (index_t j = 0; j < CRS; ++j) {
        double acc = 0;
        for (index_t b = 0; b < nblk; ++b) acc += parts[b * WN + (g * CRS + j) * Kg + k];
        dw[gk * CRS + j] = T(acc);
      }
    }
  }
}

// ---------------------------------------------------------------------------- direct path
// One input channel per group (C/G == 1): group c holds input channel c and outputs
// k = c*K/G ... (c+1)*K/G - 1. xp is the zero-padded input plane (Hp, Wp).
// Stride 1 ("wide"): output element (oh, ow) sits at oh*Wp + ow of a plane with pitch Wp, so tap
// (r, s) is out[i] += w[k, r, s] * xp[i + r*dh*Wp + s*dw] for i < (OH-1)*Wp + OW, one loop.
// Otherwise rows: out[oh, ow] += w[k, r, s] * xp[(oh*sh + r*dh)*Wp + s*dw + ow*sw].

// The zero-padded plane, or x's own plane when there is no padding.
template <typename T>
inline const T* padded_plane(T* buf, const T* xc, const ConvShape& s, index_t Wp) {
  if (s.ph == 0 && s.pw == 0) return xc;
  const index_t Hp = s.H + 2 * s.ph;
  std::fill(buf, buf + Hp * Wp, T(0));
  for (index_t h = 0; h < s.H; ++h)
    std::memcpy(buf + (h + s.ph) * Wp + s.pw, xc + h * s.W, sizeof(T) * size_t(s.W));
  return buf;
}

template <typename T>
PYDLK_SIMD void direct_forward(T* y, const T* x, const T* w, const T* b, char* ws,
                               const ConvShape& s, const ConvPlan& p) {
  const DirectWs L = direct_ws(s, sizeof(T));
  const index_t Kg = s.Kg(), RS = s.R * s.S, HW = s.H * s.W, OHW = s.OH * s.OW, Wp = L.Wp;
  const size_t third = L.slice / 3;
  const bool wide = s.sh == 1 && s.sw == 1;
  const index_t len = (s.OH - 1) * Wp + s.OW;  // wide plane length
  // y[n, k] for k in group c, written by the thread that owns item (n, c).
  // static: the samples split in contiguous halves as in the layers around (core affinity;
  // docs/ARCHITECTURE.md, "Threads")
#pragma omp parallel for num_threads(p.nt) schedule(static) if (p.parallel)
  for (index_t it = 0; it < s.N * s.C; ++it) {
    char* slice = ws + thread_id() * L.slice;
    T* xbuf = reinterpret_cast<T*>(slice);
    T* buf = reinterpret_cast<T*>(slice + third);
    const index_t n = it / s.C, c = it % s.C;
    const T* xp = padded_plane(xbuf, x + it * HW, s, Wp);
    for (index_t kk = 0; kk < Kg; ++kk) {
      const index_t k = c * Kg + kk;
      const T* wk = w + k * RS;
      const T bk = b ? b[k] : T(0);
      T* yk = y + (n * s.K + k) * OHW;
      if (wide) {
        // Blocks of kB outputs stay in registers across all taps (one load and one FMA per
        // vector and tap); the remainder takes the plain loop.
        constexpr index_t kB = 256 / sizeof(T);
        index_t i0 = 0;
        for (; i0 + kB <= len; i0 += kB) {
          T acc[kB];
          for (index_t j = 0; j < kB; ++j) acc[j] = bk;
          for (index_t r = 0; r < s.R; ++r)
            for (index_t q = 0; q < s.S; ++q) {
              const T wv = wk[r * s.S + q];
              const T* src = xp + r * s.dh * Wp + q * s.dw + i0;
              for (index_t j = 0; j < kB; ++j) acc[j] += wv * src[j];
            }
          for (index_t j = 0; j < kB; ++j) buf[i0 + j] = acc[j];
        }
        for (index_t i = i0; i < len; ++i) buf[i] = bk;
        for (index_t r = 0; r < s.R; ++r)
          for (index_t q = 0; q < s.S; ++q) {
            const T wv = wk[r * s.S + q];
            const T* src = xp + r * s.dh * Wp + q * s.dw;
            for (index_t i = i0; i < len; ++i) buf[i] += wv * src[i];
          }
        for (index_t oh = 0; oh < s.OH; ++oh)
          std::memcpy(yk + oh * s.OW, buf + oh * Wp, sizeof(T) * size_t(s.OW));
      } else {
        for (index_t i = 0; i < OHW; ++i) yk[i] = bk;
        for (index_t oh = 0; oh < s.OH; ++oh) {
          T* yr = yk + oh * s.OW;
          for (index_t r = 0; r < s.R; ++r)
            for (index_t q = 0; q < s.S; ++q) {
              const T wv = wk[r * s.S + q];
              const T* src = xp + (oh * s.sh + r * s.dh) * Wp + q * s.dw;
              for (index_t ow = 0; ow < s.OW; ++ow) yr[ow] += wv * src[ow * s.sw];
            }
        }
      }
    }
  }
}

// Forward with several outputs per input channel (C/G == 1, K/G > 1, stride 1, wide layout):
// the per-output loop above reloads the input plane for every output, so with LeNet's conv1
// (1 -> 6) it ran at a third of the gemm path's speed. Here blocks of KB outputs share each
// input load: a block of 2 vectors of positions holds KB x 2 accumulators in registers across
// all R*S taps (per tap: 2 loads, 2*KB FMAs). 256-bit vectors, native in both clones (KB <= 6
// keeps the accumulators within AVX2's 16 registers).
template <typename T>
struct Vec8;
template <>
struct Vec8<float> {
  typedef float type __attribute__((vector_size(32)));
};
template <>
struct Vec8<double> {
  typedef double type __attribute__((vector_size(32)));
};
constexpr int kMultiKB = 6;
// Taken for stride 1, 2 to kMultiMaxKg outputs per group and at most kMultiTaps taps (C/G*R*S).
constexpr index_t kMultiTaps = 256;
constexpr index_t kMultiMaxKg = 16;
// float32 only: float64 (gradient checks) keeps gemm, whose sums tests compare to 1e-12.
inline bool uses_multi(const ConvShape& s, size_t esz) {
  if (esz != sizeof(float) || s.Kg() <= 1 || s.Kg() > kMultiMaxKg || s.sh != 1 || s.sw != 1 ||
      s.Cg() * s.R * s.S > kMultiTaps)
    return false;
  // The wide plane computes (OH-1)*Wp + OW positions for OH*OW outputs; where that wastes more
  // than 40% gemm stays faster (LeNet conv2 on 12x12: 92 for 64, 0.25 ms against gemm's 0.16;
  // on 14x14: 136 for 100, 0.30 against 0.36).
  const index_t Wp = s.W + 2 * s.pw, len = (s.OH - 1) * Wp + s.OW;
  return len * 10 <= s.OH * s.OW * 14;
}
inline size_t multi_slice(const ConvShape& s, size_t esz) {
  const DirectWs d = direct_ws(s, esz);
  return align64(size_t(s.Cg() * d.Hp * d.Wp) * esz) + kMultiKB * align64(size_t(d.plane) * esz);
}

// buf[kk][i] for kk < KB, i < len (wide plane, pitch bp) = bias[kk] + sum_t wk[kk*RS + t] *
// xp[i + off[t]].
template <typename T, int KB>
PYDLK_INLINE void wide_multi(T* buf, index_t bp, const T* xp, const T* wk, const T* bias,
                             const index_t* off, index_t RS, index_t len) {
  typedef typename Vec8<T>::type V;
  constexpr index_t L = sizeof(V) / sizeof(T), B = 2 * L;
  index_t i0 = 0;
  for (; i0 + B <= len; i0 += B) {
    V acc[KB][2];
    for (int k = 0; k < KB; ++k) acc[k][0] = acc[k][1] = V{} + bias[k];
    for (index_t t = 0; t < RS; ++t) {
      const T* src = xp + off[t] + i0;
      V x0, x1;
      std::memcpy(&x0, src, sizeof(V));
      std::memcpy(&x1, src + L, sizeof(V));
      for (int k = 0; k < KB; ++k) {
        const T wv = wk[k * RS + t];
        acc[k][0] += wv * x0;
        acc[k][1] += wv * x1;
      }
    }
    for (int k = 0; k < KB; ++k) {
      std::memcpy(buf + k * bp + i0, &acc[k][0], sizeof(V));
      std::memcpy(buf + k * bp + i0 + L, &acc[k][1], sizeof(V));
    }
  }
  // The rest in single vectors, the last one ending at len (it may overlap the one before and
  // recompute a few positions: a scalar tail cost 4x the whole kernel on 12x12 images).
  for (; i0 < len && len >= L; i0 += L) {
    const index_t j = std::min(i0, len - L);
    V acc[KB];
    for (int k = 0; k < KB; ++k) acc[k] = V{} + bias[k];
    for (index_t t = 0; t < RS; ++t) {
      V x0;
      std::memcpy(&x0, xp + off[t] + j, sizeof(V));
      for (int k = 0; k < KB; ++k) acc[k] += wk[k * RS + t] * x0;
    }
    for (int k = 0; k < KB; ++k) std::memcpy(buf + k * bp + j, &acc[k], sizeof(V));
  }
  for (int k = 0; k < KB; ++k) {
    T* o = buf + k * bp;
    for (index_t i = i0; i < len; ++i) o[i] = bias[k];
    for (index_t t = 0; t < RS; ++t) {
      const T wv = wk[k * RS + t];
      const T* src = xp + off[t];
      for (index_t i = i0; i < len; ++i) o[i] += wv * src[i];
    }
  }
}

// y[n, k] for the K/G outputs of group g, per item (n, g), in blocks of up to kMultiKB outputs
// computed into the wide buffer (kMultiKB planes of pitch Wp) and copied out without the extra
// columns. The taps run over (c, r, s) of the group's C/G (zero-padded) input planes, so the
// weights are read in their own layout, w[k, j] with j = (c, r, s).
template <typename T>
PYDLK_SIMD void direct_forward_multi(T* y, const T* x, const T* w, const T* b, char* ws,
                                     const ConvShape& s, const ConvPlan& p) {
  const DirectWs L = direct_ws(s, sizeof(T));
  const index_t Cg = s.Cg(), Kg = s.Kg(), RS = s.R * s.S, CRS = Cg * RS, HW = s.H * s.W,
                OHW = s.OH * s.OW, Wp = L.Wp, Hp = L.Hp;
  const index_t len = (s.OH - 1) * Wp + s.OW, bp = L.plane;
  const bool padded = s.ph != 0 || s.pw != 0;
  const size_t xbytes = align64(size_t(Cg * Hp * Wp) * sizeof(T));
  const size_t slice = multi_slice(s, sizeof(T));
  index_t off[kMultiTaps];
  for (index_t c = 0; c < Cg; ++c)
    for (index_t r = 0; r < s.R; ++r)
      for (index_t q = 0; q < s.S; ++q)
        off[(c * s.R + r) * s.S + q] = c * Hp * Wp + r * s.dh * Wp + q * s.dw;
  // static: the samples split in contiguous halves as in the layers around (core affinity;
  // docs/ARCHITECTURE.md, "Threads")
#pragma omp parallel for num_threads(p.nt) schedule(static) if (p.parallel)
  for (index_t it = 0; it < s.N * s.G; ++it) {
    char* sl = ws + thread_id() * slice;
    T* xbuf = reinterpret_cast<T*>(sl);
    T* buf = reinterpret_cast<T*>(sl + xbytes);
    const index_t n = it / s.G, g = it % s.G;
    const T* xg = x + (n * s.C + g * Cg) * HW;  // the group's Cg planes
    const T* xp = xg;
    if (padded) {
      for (index_t c = 0; c < Cg; ++c) padded_plane(xbuf + c * Hp * Wp, xg + c * HW, s, Wp);
      xp = xbuf;
    }
    T zero[kMultiKB] = {};
    for (index_t k0 = 0; k0 < Kg; k0 += kMultiKB) {
      const index_t kb = std::min<index_t>(kMultiKB, Kg - k0), k = g * Kg + k0;
      const T* wk = w + k * CRS;
      const T* bias = b ? b + k : zero;
      switch (kb) {
        case 1: wide_multi<T, 1>(buf, bp, xp, wk, bias, off, CRS, len); break;
        case 2: wide_multi<T, 2>(buf, bp, xp, wk, bias, off, CRS, len); break;
        case 3: wide_multi<T, 3>(buf, bp, xp, wk, bias, off, CRS, len); break;
        case 4: wide_multi<T, 4>(buf, bp, xp, wk, bias, off, CRS, len); break;
        case 5: wide_multi<T, 5>(buf, bp, xp, wk, bias, off, CRS, len); break;
        default: wide_multi<T, 6>(buf, bp, xp, wk, bias, off, CRS, len); break;
      }
      for (index_t kk = 0; kk < kb; ++kk) {
        T* yk = y + (n * s.K + k + kk) * OHW;
        for (index_t oh = 0; oh < s.OH; ++oh)
          std::memcpy(yk + oh * s.OW, buf + kk * bp + oh * Wp, sizeof(T) * size_t(s.OW));
      }
    }
  }
}

// Backward of the direct path, per item (n, c):
//   dxp[pos(oh, ow) + off(r, s)] += w[k, r, s] * dy[n, k, oh, ow]   (scatter; dx = interior)
//   dw[k, r, s] += sum_{oh, ow} dy[n, k, oh, ow] * xp[pos(oh, ow) + off(r, s)]
// In the wide layout dy is first copied to pitch Wp with zeros in the extra columns, so both
// become single contiguous loops. dw: per-thread partials in double, summed at the end.
template <typename T>
PYDLK_SIMD void direct_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, char* ws,
                                const ConvShape& s, const ConvPlan& p) {
  const DirectWs L = direct_ws(s, sizeof(T));
  const index_t Kg = s.Kg(), RS = s.R * s.S, HW = s.H * s.W, OHW = s.OH * s.OW, Wp = L.Wp,
                Hp = L.Hp, WN = s.K * RS;
  const size_t third = L.slice / 3;
  const bool wide = s.sh == 1 && s.sw == 1;
  const bool padded = s.ph != 0 || s.pw != 0;
  const index_t len = (s.OH - 1) * Wp + s.OW;
  const int nt = p.parallel ? p.nt : 1;
  double* parts = reinterpret_cast<double*>(ws + nt * L.slice);
  // dw: one partial per block of consecutive planes (see gemm_backward), summed in a fixed
  // order.
  const index_t nblk = p.nblk, items = s.N * s.C;
  // static: the samples split in contiguous halves as in the layers around (core affinity;
  // docs/ARCHITECTURE.md, "Threads")
#pragma omp parallel for num_threads(nt) schedule(static) if (p.parallel)
  for (index_t blk = 0; blk < nblk; ++blk) {
    char* slice = ws + thread_id() * L.slice;
    T* xbuf = reinterpret_cast<T*>(slice);
    T* dyw = reinterpret_cast<T*>(slice + third);
    T* dxbuf = reinterpret_cast<T*>(slice + 2 * third);
    double* part = parts + blk * WN;
    if (dw) std::fill(part, part + WN, 0.0);
    for (index_t it = blk * items / nblk; it < (blk + 1) * items / nblk; ++it) {
      const index_t n = it / s.C, c = it % s.C;
      const T* xp = dw ? padded_plane(xbuf, x + it * HW, s, Wp) : nullptr;
      T* dxp = nullptr;
      if (dx) {
        dxp = padded ? dxbuf : dx + it * HW;
        std::fill(dxp, dxp + Hp * Wp, T(0));
      }
      for (index_t kk = 0; kk < Kg; ++kk) {
        const index_t k = c * Kg + kk;
        const T* wk = w + k * RS;
        const T* dyk = dy + (n * s.K + k) * OHW;
        if (wide) {
          const T* d = dyk;
          if (Wp != s.OW) {
            for (index_t oh = 0; oh < s.OH; ++oh) {
              std::memcpy(dyw + oh * Wp, dyk + oh * s.OW, sizeof(T) * size_t(s.OW));
              if (oh + 1 < s.OH) std::fill(dyw + oh * Wp + s.OW, dyw + (oh + 1) * Wp, T(0));
            }
            d = dyw;
          }
          for (index_t r = 0; r < s.R; ++r)
            for (index_t q = 0; q < s.S; ++q) {
              const index_t off = r * s.dh * Wp + q * s.dw;
              if (dxp) {
                const T wv = wk[r * s.S + q];
                T* o = dxp + off;
                for (index_t i = 0; i < len; ++i) o[i] += wv * d[i];
              }
              if (xp) {
                const T* src = xp + off;
                T acc = 0;
#pragma omp simd reduction(+ : acc)
                for (index_t i = 0; i < len; ++i) acc += d[i] * src[i];
                part[k * RS + r * s.S + q] += acc;
              }
            }
        } else {
          for (index_t r = 0; r < s.R; ++r)
            for (index_t q = 0; q < s.S; ++q) {
              const T wv = wk[r * s.S + q];
              T acc = 0;
              for (index_t oh = 0; oh < s.OH; ++oh) {
                const index_t base = (oh * s.sh + r * s.dh) * Wp + q * s.dw;
                const T* dr = dyk + oh * s.OW;
                if (dxp) {
                  T* o = dxp + base;
                  for (index_t ow = 0; ow < s.OW; ++ow) o[ow * s.sw] += wv * dr[ow];
                }
                if (xp) {
                  const T* src = xp + base;
#pragma omp simd reduction(+ : acc)
                  for (index_t ow = 0; ow < s.OW; ++ow) acc += dr[ow] * src[ow * s.sw];
                }
              }
              if (xp) part[k * RS + r * s.S + q] += acc;
            }
        }
      }
      if (dx && padded)
        for (index_t h = 0; h < s.H; ++h)
          std::memcpy(dx + it * HW + h * s.W, dxbuf + (h + s.ph) * Wp + s.pw,
                      sizeof(T) * size_t(s.W));
    }
  }
  if (dw) {
    for (index_t i = 0; i < WN; ++i) {
      double acc = 0;
      for (index_t b = 0; b < nblk; ++b) acc += parts[b * WN + i];
      dw[i] = T(acc);
    }
  }
}

}  // namespace

// ------------------------------------------------------------------------------------ plan
ConvPlan conv2d_plan(const ConvShape& s, bool backward, size_t esz, ConvAlgo algo) {
  ConvPlan p;
  const bool automatic = algo == ConvAlgo::automatic;
  if (automatic) {
    // direct backward scatters with a stride or, for large kernels, makes many passes over
    // the planes; measured slower than gemm there (see the top of this file).
    const bool direct_ok = backward ? s.sh == 1 && s.sw == 1 && s.R * s.S <= 9 : true;
    // Forward with several outputs per channel: the blocked kernel (direct_forward_multi).
    const bool multi_ok = !backward && uses_multi(s, esz);
    // Winograd first: where it is preferred it was measured faster than the blocked direct
    // forward too (16->16 on 8x8: see conv2d_winograd.cpp).
    // Float32 forwards with 2+ outputs per group: the AVX-512 direct kernel where the CPU has
    // it (stride-2 layers, 5x5 kernels, LeNet's conv1: see conv2d_direct512.cpp).
    p.dense = !backward && esz == sizeof(float) && dense_direct_preferred(s);
    algo = winograd_preferred(s, esz) ? ConvAlgo::winograd
           : p.dense || (s.Cg() == 1 && s.Kg() <= kDirectMaxKg && direct_ok) || multi_ok
               ? ConvAlgo::direct
               : ConvAlgo::gemm;
    if (algo == ConvAlgo::winograd) p.dense = false;
  } else {
    // algorithm='direct' with several input channels: the binding checked that the dense
    // kernel takes the shape.
    p.dense = algo == ConvAlgo::direct && !backward && s.Cg() > 1;
  }
  p.algo = algo;
  if (algo == ConvAlgo::winograd) {
    winograd_plan(p, s, backward, esz);
    return p;
  }
  const index_t OHW = s.OH * s.OW, CRS = s.Cg() * s.R * s.S;
  const index_t work = s.N * s.K * OHW * CRS;
  p.nt = parallel_worth_it(work) ? num_threads() : 1;
  if (algo == ConvAlgo::direct && p.dense) {
    p.nb = p.nblk = 1;
    p.parallel = p.nt > 1 && s.N * s.G > 1;
    p.ws_bytes = dense_direct_ws_bytes(s, p.parallel ? p.nt : 1);
    return p;
  }
  if (algo == ConvAlgo::direct) {
    p.nb = 1;
    p.parallel = p.nt > 1 && s.N * s.C > 1;
    const int slices = p.parallel ? p.nt : 1;
    p.nblk = std::max<index_t>(1, std::min<index_t>(s.N * s.C, kBlocks));
    const size_t slice =
        backward ? direct_ws(s, esz).slice : std::max(direct_ws(s, esz).slice, multi_slice(s, esz));
    p.ws_bytes = slices * slice +
                 (backward ? align64(size_t(p.nblk) * s.K * s.R * s.S * sizeof(double)) : 0);
    return p;
  }
  const size_t per_sample = std::max<size_t>(1, size_t(CRS * OHW) * esz);
  index_t nb = ceil_div(kTargetCols, std::max<index_t>(1, OHW));
  nb = std::min<index_t>(nb, std::max<index_t>(1, index_t(kColBytes / per_sample)));
  if (p.nt > 1) nb = std::min(nb, ceil_div(s.N, p.nt));
  nb = std::max<index_t>(1, std::min(nb, s.N));
  p.nb = nb;
  p.parallel = p.nt > 1 && ceil_div(s.N, nb) >= p.nt;
  const int slices = p.parallel ? p.nt : 1;
  p.nblk = std::max<index_t>(1, std::min<index_t>(ceil_div(s.N, nb), kBlocks));
  p.ws_bytes = slices * gemm_ws(s, nb, esz).slice +
               (backward ? align64(size_t(p.nblk) * s.K * CRS * esz) : 0);
  // Narrow float32 layers take dw from conv2d_dw512.cpp and, at stride 1, dx from
  // conv2d_dx512.cpp where the algorithm is automatic (algorithm='gemm' keeps im2col + GEMM for
  // all of it); one after the other, in the same workspace, and what they do not take runs
  // here.
  p.narrow_dw = automatic && backward && esz == sizeof(float) && narrow_dw_preferred(s);
  if (p.narrow_dw) p.ws_bytes = std::max(p.ws_bytes, narrow_dw_ws_bytes(s, p.nt, narrow_blocks(s)));
  p.narrow_dx = automatic && backward && esz == sizeof(float) && narrow_dx_preferred(s);
  if (p.narrow_dx) p.ws_bytes = std::max(p.ws_bytes, narrow_dx_ws_bytes(s, p.nt));
  return p;
}

// db[k] = sum over n, oh, ow of dy[n, k, oh, ow]. The threads split the samples, in the same
// contiguous halves as every layer around (schedule(static)): dy's planes are still in the cache
// of the core that wrote them. (Split by k, each thread read every sample, half of them from
// the other core: LeNet-5's training step at batch 64 spent about 90 us on its two bias
// gradients that way, 0.6 of its conv2d_backward time, against a few us now; Zen 5, 2 threads.)
// Each of at most kBlocks fixed blocks of samples adds its planes per k in double (each plane
// summed in T across vector lanes, at most OH*OW terms); the blocks are added in order, so the
// result does not depend on the thread count.
template <typename T>
PYDLK_SIMD void bias_grad(T* db, const T* dy, const ConvShape& s, const ConvPlan& plan) {
  const index_t OHW = s.OH * s.OW, nblk = std::max<index_t>(1, std::min<index_t>(s.N, kBlocks));
  std::vector<double> part(size_t(nblk * s.K), 0.0);
  double* parts = part.data();
#pragma omp parallel for num_threads(plan.nt) schedule(static) if (plan.nt > 1 && nblk > 1)
  for (index_t j = 0; j < nblk; ++j) {
    double* acc = parts + j * s.K;
    for (index_t n = j * s.N / nblk; n < (j + 1) * s.N / nblk; ++n)
      for (index_t k = 0; k < s.K; ++k) {
        const T* d = dy + (n * s.K + k) * OHW;
        T p = 0;
#pragma omp simd reduction(+ : p)
        for (index_t i = 0; i < OHW; ++i) p += d[i];
        acc[k] += double(p);
      }
  }
  for (index_t k = 0; k < s.K; ++k) {
    double a = 0;
    for (index_t j = 0; j < nblk; ++j) a += parts[j * s.K + k];
    db[k] = T(a);
  }
}

// ---------------------------------------------------------------------------------- kernels
template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, void* ws, const ConvShape& s,
                    const ConvPlan& plan) {
  if (s.N == 0 || s.K == 0) return;
  char* wsb = static_cast<char*>(ws);
  if (plan.algo == ConvAlgo::direct && plan.dense) {
    if constexpr (std::is_same<T, float>::value)
      dense_direct_forward(y, x, w, b, wsb, s, plan.nt, plan.parallel);
  } else if (plan.algo == ConvAlgo::direct)
    uses_multi(s, sizeof(T)) ? direct_forward_multi(y, x, w, b, wsb, s, plan)
                             : direct_forward(y, x, w, b, wsb, s, plan);
  else if (plan.algo == ConvAlgo::winograd) winograd_forward(y, x, w, b, wsb, s, plan);
  else gemm_forward(y, x, w, b, wsb, s, plan);
}

template <typename T>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, void* ws,
                     const ConvShape& s, const ConvPlan& plan) {
  const index_t WN = s.K * s.Cg() * s.R * s.S;
  if (db) bias_grad(db, dy, s, plan);
  if (!dx && !dw) return;
  if (s.N == 0) {
    if (dw) std::fill(dw, dw + WN, T(0));
    return;
  }
  if (s.K == 0) {  // nothing flows back
    if (dx) std::fill(dx, dx + s.N * s.C * s.H * s.W, T(0));
    return;
  }
  char* wsb = static_cast<char*>(ws);
  if (plan.narrow_dw && dw) {
    if constexpr (std::is_same<T, float>::value)
      narrow_dw_weight_grad(dw, dy, x, wsb, s, plan.nt, narrow_blocks(s));
    dw = nullptr;
    if (!dx) return;
  }
  if (plan.narrow_dx && dx) {
    if constexpr (std::is_same<T, float>::value) narrow_dx_input_grad(dx, dy, w, wsb, s, plan.nt);
    dx = nullptr;
    if (!dw) return;
  }
  if (plan.algo == ConvAlgo::direct) direct_backward(dx, dw, dy, x, w, wsb, s, plan);
  else if (plan.algo == ConvAlgo::winograd) winograd_backward(dx, dw, dy, x, w, wsb, s, plan);
  else gemm_backward(dx, dw, dy, x, w, wsb, s, plan);
}

template void conv2d_forward<float>(float*, const float*, const float*, const float*, void*,
                                    const ConvShape&, const ConvPlan&);
template void conv2d_forward<double>(double*, const double*, const double*, const double*, void*,
                                     const ConvShape&, const ConvPlan&);
template void conv2d_backward<float>(float*, float*, float*, const float*, const float*,
                                     const float*, void*, const ConvShape&, const ConvPlan&);
template void conv2d_backward<double>(double*, double*, double*, const double*, const double*,
                                      const double*, void*, const ConvShape&, const ConvPlan&);

}  // namespace pydlk
