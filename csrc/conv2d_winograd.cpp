// Winograd F(4x4, 3x3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016), forward and both gradients, NCHW, float32 and float64.
//
// The output is cut into 4x4 tiles; each reads a 6x6 patch of the zero-padded input (patches
// overlap by 2). With the 6x6 transforms of the input patch d, V = B^T d B, and of the weight
// g, U = G g G^T, one tile is
//     Y = A^T [ sum_c U[k, c] (.) V[c] ] A          ((.) elementwise over the 6x6 positions)
// so the channel sum becomes 36 independent GEMMs, U[ab] (K, C) @ V[ab] (C, tiles), with 36
// multiplies per 16 outputs instead of 144: 4x fewer than im2col + GEMM. The GEMMs run on
// OpenBLAS; the transforms are short sums of scaled rows, vectorised over a plane's tiles (on
// images up to 16 wide, over all the tiles of a block's channel: input_small).
//
// The gradients are the exact adjoints of that linear map (the transposed transforms, and the
// GEMMs transposed):
//     dM = A dY A^T                 (dY: the tile's 4x4 output gradient)
//     dx patch += B [ sum_k U[k, c] (.) dM[k] ] B^T      (scattered back, patches overlap)
//     dw[k, c] = G^T [ sum_tiles dM[k] (.) V[c] ] G
//
// Precision: the transforms scale by up to 8 and 1/24, so float32 results carry more rounding
// than the direct sum: relative to the largest output about 5e-6 (against 2e-7) at 64 input
// channels, measured against a float64 reference (tests/test_conv2d_winograd.py bounds it).
// cuDNN and oneDNN offer the same algorithm on the same terms. algorithm='gemm' keeps the
// direct sum.
//
// Points 0, +-1, +-2 and infinity; the matrices (rows):
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
//
// Work is split into blocks of whole images (so that no two threads add into the same input
// gradient plane); a block's tiles are numbered t = (i*th + ti)*tw + tj for image i of the
// block and tile row ti, column tj. Workspace: U (36, K, C) and w transposed (9, K*C); per
// thread V (36, C, tiles) and M (36, K, tiles) of one block and the transforms' scratch; for
// the backward the weight-gradient partials (nblk, 36, K, C).
#include "conv2d_winograd.h"

// The vector types below only live inside always-inline helpers and kernel bodies: no ABI is
// involved.
#pragma GCC diagnostic ignored "-Wpsabi"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>

#include "blas.h"

namespace pydlk {

namespace {

constexpr int kAA = 36;  // positions of a 6x6 transformed tile
// A block aims at this many bytes of V + M per thread: big enough that each of the 36 GEMMs
// has hundreds of columns (OpenBLAS's call and packing overhead stays small), small enough to
// stay near the core's L2.
constexpr size_t kBlockBytes = size_t(1) << 20;
// The weight gradient is summed in at most kParts partials, each over a fixed run of blocks,
// so where the partials are shared out the result does not depend on the thread count. They
// take at most kPartBytes together (the binding keeps its workspace for the next call): with
// 512 channels each way one partial is 38 MB, and there a single partial runs the blocks in
// turn with each GEMM split over the threads instead (which can move the last bits, as in the
// gemm path).
constexpr index_t kParts = 8;
constexpr size_t kPartBytes = size_t(64) << 20;

// Tile geometry: th x tw tiles of 4x4 outputs per image; the patches cover padded input rows
// [0, rows) and columns [0, n4) (n4 = 4*(tw + 1), one spare tile of columns so that the
// patch of the last tile, 6 wide, stays inside).
struct Geo {
  index_t th, tw, tpi, W4, n4, rows;
};

Geo geometry(const ConvShape& s) {
  Geo g;
  g.th = (s.OH + 3) / 4;
  g.tw = (s.OW + 3) / 4;
  g.tpi = g.th * g.tw;
  g.W4 = g.tw + 1;
  g.n4 = 4 * g.W4;
  g.rows = 4 * g.th + 2;
  return g;
}

size_t align64(size_t n) { return (n + 63) / 64 * 64; }

// Per-thread slice: V, M, then scratch rows (the largest of the four transforms' needs).
struct Slice {
  size_t v, m, scratch, bytes;
};

Slice slice_layout(const ConvShape& s, const Geo& g, index_t tiles, size_t esz) {
  // scratch: the small-image transforms' 72 rows per tile of the block and one padded image
  // plane, the output transforms' 40 rows per tile, or the per-plane transforms' 12 row-phase
  // copies and one padded plane (under 64 per tile of one image, and a few rows)
  Slice L;
  L.v = align64(size_t(kAA) * s.C * tiles * esz);
  L.m = align64(size_t(kAA) * s.K * tiles * esz);
  L.scratch = align64((size_t(72) * tiles + 100 * g.tpi + 4 * g.n4 + 64) * esz);
  L.bytes = L.v + L.m + L.scratch;
  return L;
}

// ------------------------------------------------------------------------- 1-D transforms
// o = B^T d (6 -> 6)
template <typename T>
PYDLK_INLINE void bt6(T d0, T d1, T d2, T d3, T d4, T d5, T& o0, T& o1, T& o2, T& o3, T& o4,
                      T& o5) {
  o0 = T(4) * d0 - T(5) * d2 + d4;
  o1 = -T(4) * (d1 + d2) + d3 + d4;
  o2 = T(4) * (d1 - d2) - d3 + d4;
  o3 = T(2) * (d3 - d1) - d2 + d4;
  o4 = T(2) * (d1 - d3) - d2 + d4;
  o5 = T(4) * d1 - T(5) * d3 + d5;
}

// o = B v (6 -> 6), the adjoint of bt6
template <typename T>
PYDLK_INLINE void b6(T v0, T v1, T v2, T v3, T v4, T v5, T& o0, T& o1, T& o2, T& o3, T& o4, T& o5) {
  o0 = T(4) * v0;
  o1 = T(4) * (v2 - v1 + v5) + T(2) * (v4 - v3);
  o2 = -T(5) * v0 - T(4) * (v1 + v2) - v3 - v4;
  o3 = v1 - v2 + T(2) * (v3 - v4) - T(5) * v5;
  o4 = v0 + v1 + v2 + v3 + v4;
  o5 = v5;
}

// o = A^T m (6 -> 4)
template <typename T>
PYDLK_INLINE void at4(T m0, T m1, T m2, T m3, T m4, T m5, T& o0, T& o1, T& o2, T& o3) {
  const T s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
  o0 = m0 + s12 + s34;
  o1 = d12 + T(2) * d34;
  o2 = s12 + T(4) * s34;
  o3 = d12 + T(8) * d34 + m5;
}

// o = A g (4 -> 6), the adjoint of at4
template <typename T>
PYDLK_INLINE void a6(T g0, T g1, T g2, T g3, T& o0, T& o1, T& o2, T& o3, T& o4, T& o5) {
  const T e = g0 + g2, f = g1 + g3, e4 = g0 + T(4) * g2, f8 = T(2) * g1 + T(8) * g3;
  o0 = g0;
  o1 = e + f;
  o2 = e - f;
  o3 = e4 + f8;
  o4 = e4 - f8;
  o5 = g3;
}

// G (6x3), exact in double.
constexpr double kG[6][3] = {{0.25, 0, 0},
                             {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                             {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                             {1.0 / 24, 1.0 / 12, 1.0 / 6},
                             {1.0 / 24, -1.0 / 12, 1.0 / 6},
                             {0, 0, 1}};

// ------------------------------------------------------------------------- the transforms
// U[ab][kc] = (G w[kc] G^T)[a][b] = sum_{r,s} G[a][r] G[b][s] w[kc][r][s], for kc = k*C + c:
// w is first turned to (9, K*C) so that each of the 36 sums runs along kc (one vector loop);
// the sums are in double, rounded once.
template <typename T>
PYDLK_SIMD void transform_weight(T* U, const T* w, const ConvShape& s, T* scratch, int nt) {
  const index_t KC = s.K * s.C;
  T* wt = scratch;  // wt[rs*KC + kc] = w[kc*9 + rs]
  for (index_t kc = 0; kc < KC; ++kc)
    for (index_t rs = 0; rs < 9; ++rs) wt[rs * KC + kc] = w[kc * 9 + rs];
#pragma omp parallel for num_threads(nt) if (nt > 1 && parallel_worth_it(KC * kAA * 9))
  for (index_t ab = 0; ab < kAA; ++ab) {
    double c[9];
    for (index_t rs = 0; rs < 9; ++rs) c[rs] = kG[ab / 6][rs / 3] * kG[ab % 6][rs % 3];
    T* u = U + ab * KC;
#pragma omp simd
    for (index_t kc = 0; kc < KC; ++kc) {
      double acc = 0;
      for (index_t rs = 0; rs < 9; ++rs) acc += c[rs] * double(wt[rs * KC + kc]);
      u[kc] = T(acc);
    }
  }
}

// dw[kc] = G^T dU[kc] G, dU summed over the partials (PS elements apart) in double, in a fixed
// order: dw[kc][r][s] = sum_ab G[a][r] G[b][s] dU[ab][kc]. Runs along kc in runs of kRun, so
// that each sum is a vector loop and a run's dU stays in L1.
typedef double v8d __attribute__((vector_size(64)));
template <typename T>
PYDLK_SIMD void weight_gradient(T* dw, const T* parts, index_t nparts, index_t PS,
                                const ConvShape& s, int nt) {
  constexpr index_t kRun = 64;
  const index_t KC = s.K * s.C, runs = (KC + kRun - 1) / kRun;
  double cg[9][kAA];  // cg[rs][ab] = G[a][r] G[b][s]
  for (index_t rs = 0; rs < 9; ++rs)
    for (index_t ab = 0; ab < kAA; ++ab) cg[rs][ab] = kG[ab / 6][rs / 3] * kG[ab % 6][rs % 3];
#pragma omp parallel for num_threads(nt) if (nt > 1 && parallel_worth_it(KC * kAA * nparts))
  for (index_t run = 0; run < runs; ++run) {
    const index_t kc0 = run * kRun, n = std::min(kRun, KC - kc0);
    // Whole runs (a short last run padded with zeros), summed in explicit vectors of 8: as a
    // loop over j (with `omp simd`) GCC compiled the sums to scalar code, a tenth of a 64->64
    // 8x8 backward.
    double du[kAA][kRun], out[kRun];
    for (index_t ab = 0; ab < kAA; ++ab) {
      for (index_t j = 0; j < kRun; ++j) du[ab][j] = 0;
      for (index_t part = 0; part < nparts; ++part) {
        const T* src = parts + part * PS + ab * KC + kc0;
#pragma omp simd
        for (index_t j = 0; j < n; ++j) du[ab][j] += double(src[j]);
      }
    }
    for (index_t rs = 0; rs < 9; ++rs) {
      for (index_t jb = 0; jb < kRun; jb += 8) {
        v8d acc = {};
        for (index_t ab = 0; ab < kAA; ++ab) {
          v8d d;
          std::memcpy(&d, &du[ab][jb], sizeof d);
          acc += cg[rs][ab] * d;
        }
        std::memcpy(&out[jb], &acc, sizeof acc);
      }
      for (index_t j = 0; j < n; ++j) dw[(kc0 + j) * 9 + rs] = T(out[j]);
    }
  }
}

// The input and its gradient are transformed plane by plane (one image, one channel). A
// padded input row r is row r%4 of tile row r/4 and, for r%4 < 2, row r%4 + 4 of tile row
// r/4 - 1 (patches overlap by 2 rows and 2 columns). Rows are kept in "row-phase" order,
// [r%4][r/4][t] with t < tw, so that for every one of a tile's 6 rows the tiles (ti, t) of a
// plane sit at one constant offset plus ti*tw + t: both 6-point passes are then single vector
// loops over the whole plane. What is left per row (splitting a row by column phase and
// merging it back) runs with the row's tile count as a template argument TW for the common
// sizes (2, 4, 8: 8x8, 16x16 and 32x32 outputs), so that those short loops unroll into vector
// shuffles; TW = 0 takes the runtime count.

// One row merged from its column phases: lin[4t + p] = q[p*stride + t], t < n.
template <typename T, int N>
PYDLK_INLINE void merge4(T* lin, const T* q, index_t stride, index_t n_rt) {
  const index_t n = N ? N : n_rt;
  for (index_t t = 0; t < n; ++t)
    for (index_t p = 0; p < 4; ++p) lin[4 * t + p] = q[p * stride + t];
}

template <typename T, int N>
PYDLK_INLINE void copy_n(T* dst, const T* src, index_t n_rt) {
  const index_t n = N ? N : n_rt;
  for (index_t t = 0; t < n; ++t) dst[t] = src[t];
}

// Expands to call(TW) with TW = tw where tw is one of the common tile counts, else call(0).
#define PYDLK_WITH_TW(tw, call) \
  switch (tw) {                 \
    case 2: call(2); break;     \
    case 4: call(4); break;     \
    case 8: call(8); break;     \
    default: call(0);           \
  }

// The small-image transforms (input_small, grad_input_small) for 1 to 4 tiles per row.
#define PYDLK_WITH_SMALL_TW(tw, call) \
  switch (tw) {                       \
    case 1: call(1); break;           \
    case 2: call(2); break;           \
    case 3: call(3); break;           \
    default: call(4);                 \
  }

// A padded row of 8 tiles (32x32 outputs, the commonest plane: 36 floats) split into its 6
// columns per tile, dst[j*stride + t] = lin[4t + j], with vector shuffles (GCC vector
// extensions, 256-bit: native in both clones) instead of 48 strided scalar moves. Reads
// lin[0, 40); 4 tiles (16x16 outputs) read lin[0, 20). False for other types and widths (the
// caller's loop runs).
typedef float v8f __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
// The 4x4 transpose, o[p][t] = l[t][p]: four tiles' 4 columns split by column phase (and,
// being its own inverse, merged back).
PYDLK_INLINE void transpose4(const v4f l[4], v4f o[4]) {
  const v4f a = __builtin_shufflevector(l[0], l[1], 0, 4, 1, 5),
            b = __builtin_shufflevector(l[2], l[3], 0, 4, 1, 5),
            c = __builtin_shufflevector(l[0], l[1], 2, 6, 3, 7),
            d = __builtin_shufflevector(l[2], l[3], 2, 6, 3, 7);
  o[0] = __builtin_shufflevector(a, b, 0, 1, 4, 5);
  o[1] = __builtin_shufflevector(a, b, 2, 3, 6, 7);
  o[2] = __builtin_shufflevector(c, d, 0, 1, 4, 5);
  o[3] = __builtin_shufflevector(c, d, 2, 3, 6, 7);
}
// Eight tiles' 4 columns (a row of 32 floats in l) split by column phase, c[p][t] = row[4t + p].
PYDLK_INLINE void split8(const v8f l[4], v8f c[4]) {
  // a: columns 0..3 of tiles 0..3 (4 each), b: of tiles 4..7
  const v8f a01 = __builtin_shufflevector(l[0], l[1], 0, 4, 8, 12, 1, 5, 9, 13);
  const v8f a23 = __builtin_shufflevector(l[0], l[1], 2, 6, 10, 14, 3, 7, 11, 15);
  const v8f b01 = __builtin_shufflevector(l[2], l[3], 0, 4, 8, 12, 1, 5, 9, 13);
  const v8f b23 = __builtin_shufflevector(l[2], l[3], 2, 6, 10, 14, 3, 7, 11, 15);
  c[0] = __builtin_shufflevector(a01, b01, 0, 1, 2, 3, 8, 9, 10, 11);
  c[1] = __builtin_shufflevector(a01, b01, 4, 5, 6, 7, 12, 13, 14, 15);
  c[2] = __builtin_shufflevector(a23, b23, 0, 1, 2, 3, 8, 9, 10, 11);
  c[3] = __builtin_shufflevector(a23, b23, 4, 5, 6, 7, 12, 13, 14, 15);
}

template <typename T, int TW>
PYDLK_INLINE bool gather_row(T*, index_t, const T*) {
  return false;
}
template <>
PYDLK_INLINE bool gather_row<float, 4>(float* dst, index_t stride, const float* lin) {
  v4f l[5], o[6];
  std::memcpy(l, lin, sizeof l);
  transpose4(l, o);
  o[4] = __builtin_shufflevector(o[0], l[4], 1, 2, 3, 4);  // lin[4t + 4] = lin[4(t+1)]
  o[5] = __builtin_shufflevector(o[1], l[4], 1, 2, 3, 5);
  for (int j = 0; j < 6; ++j) std::memcpy(dst + j * stride, &o[j], sizeof(v4f));
  return true;
}
template <>
PYDLK_INLINE bool gather_row<float, 8>(float* dst, index_t stride, const float* lin) {
  v8f l[5], c[6];
  std::memcpy(l, lin, sizeof l);
  split8(l, c);
  // columns 4 and 5 of tile t are columns 0 and 1 of tile t + 1 (lin[32], lin[33] for t = 7)
  c[4] = __builtin_shufflevector(c[0], l[4], 1, 2, 3, 4, 5, 6, 7, 8);
  c[5] = __builtin_shufflevector(c[1], l[4], 1, 2, 3, 4, 5, 6, 7, 9);
  for (int j = 0; j < 6; ++j) std::memcpy(dst + j * stride, &c[j], sizeof(v8f));
  return true;
}

// Rows of whole tiles by column phase and back, straight between a row of the image and the
// phase rows: q[p*stride + t] = row[4t + p] (split_row) and row[4t + p] = q[p*stride + t] + add
// (merge_row), t < n. They replace a copy through a row buffer written with one store width
// and read back at once with another: a load that spans several stores still in flight is not
// forwarded from them but waits until they reach the cache, and those waits were a third of
// the output transform's time on 32x32 images. 4 and 8 tiles of float (16x16 and 32x32
// outputs) run as 4x4 and 4x8 transposes in vector shuffles.
template <typename T, int N>
PYDLK_INLINE void split_row(T* q, index_t stride, const T* row, index_t n_rt) {
  const index_t n = N ? N : n_rt;
  if constexpr (std::is_same_v<T, float> && N == 8) {
    v8f l[4], c[4];
    std::memcpy(l, row, sizeof l);
    split8(l, c);
    for (int p = 0; p < 4; ++p) std::memcpy(q + p * stride, &c[p], sizeof(v8f));
  } else if constexpr (std::is_same_v<T, float> && N == 4) {
    v4f l[4], o[4];
    std::memcpy(l, row, sizeof l);
    transpose4(l, o);
    for (int p = 0; p < 4; ++p) std::memcpy(q + p * stride, &o[p], sizeof(v4f));
  } else {
    for (index_t t = 0; t < n; ++t)
      for (index_t p = 0; p < 4; ++p) q[p * stride + t] = row[4 * t + p];
  }
}

// row[4t + p] = l[p][t] + add for 8 tiles, from registers.
PYDLK_INLINE void merge8(float* row, const v8f l[4], float add) {
  const v8f a = __builtin_shufflevector(l[0], l[1], 0, 8, 1, 9, 2, 10, 3, 11),  // tiles 0-3
      b = __builtin_shufflevector(l[2], l[3], 0, 8, 1, 9, 2, 10, 3, 11),
            c = __builtin_shufflevector(l[0], l[1], 4, 12, 5, 13, 6, 14, 7, 15),  // 4-7
      d = __builtin_shufflevector(l[2], l[3], 4, 12, 5, 13, 6, 14, 7, 15);
  const v8f o[4] = {__builtin_shufflevector(a, b, 0, 1, 8, 9, 2, 3, 10, 11) + add,
                    __builtin_shufflevector(a, b, 4, 5, 12, 13, 6, 7, 14, 15) + add,
                    __builtin_shufflevector(c, d, 0, 1, 8, 9, 2, 3, 10, 11) + add,
                    __builtin_shufflevector(c, d, 4, 5, 12, 13, 6, 7, 14, 15) + add};
  // one store per vector: a single copy of the array went through the stack as 256-bit stores
  // read back as 512-bit loads, the stall this code is here to avoid
  for (int k = 0; k < 4; ++k) std::memcpy(row + 8 * k, &o[k], sizeof(v8f));
}

template <typename T, int N>
PYDLK_INLINE void merge_row(T* row, const T* q, index_t stride, T add, index_t n_rt) {
  const index_t n = N ? N : n_rt;
  if constexpr (std::is_same_v<T, float> && N == 8) {
    v8f l[4];
    for (int p = 0; p < 4; ++p) std::memcpy(&l[p], q + p * stride, sizeof(v8f));
    merge8(row, l, add);
  } else if constexpr (std::is_same_v<T, float> && N == 4) {
    v4f l[4], o[4];
    for (int p = 0; p < 4; ++p) std::memcpy(&l[p], q + p * stride, sizeof(v4f));
    transpose4(l, o);
    for (int k = 0; k < 4; ++k) {
      o[k] += add;
      std::memcpy(row + 4 * k, &o[k], sizeof(v4f));
    }
  } else {
    for (index_t t = 0; t < n; ++t)
      for (index_t p = 0; p < 4; ++p) row[4 * t + p] = q[p * stride + t] + add;
  }
}

// V[ab][c][t] = (B^T d B)[a][b] for every tile t of the block's m images (x: the first one).
// Per plane: each padded row's 6 columns per tile gathered into S (row-phase order; columns 4
// and 5 are phases 0 and 1 one tile on), B^T across them (wo), then B^T down each tile's rows.
template <typename T, int TW>
PYDLK_INLINE void input_tw(T* V, const T* x, index_t m, index_t tiles, const ConvShape& s,
                           const Geo& g, T* scratch) {
  const index_t HW = s.H * s.W, tw = TW ? TW : g.tw, W4 = tw + 1, n4 = 4 * W4, plane = s.C * tiles,
                RP = (g.th + 1) * tw, R4 = 4 * RP, ld = n4 + 4;
  T* S = scratch;      // S[j*R4 + (r%4)*RP + (r/4)*tw + t] = padded[r][4t + j]
  T* wo = S + 6 * R4;  // B^T across them, same order: wo[b*R4 + ...]
  // The padded plane, rows ld apart (4 zeros past each, which gather_row reads). Whole before
  // its rows are split: a split right after its row was copied in waited for the copy's stores
  // (see merge_row). The padding is zeroed once: every plane writes the same interior.
  T* P = wo + 6 * R4;
  for (index_t j = 0; j < g.rows * ld; ++j) P[j] = T(0);
  for (index_t i = 0; i < m; ++i)
    for (index_t c = 0; c < s.C; ++c) {
      const T* xc = x + (i * s.C + c) * HW;
      for (index_t h = 0; h < s.H; ++h) copy_n<T, 0>(P + (h + s.ph) * ld + s.pw, xc + h * s.W, s.W);
      for (index_t r = 0; r < g.rows; ++r) {
        const T* lin = P + r * ld;
        T* row = S + (r % 4) * RP + (r / 4) * tw;
        if (!gather_row<T, TW>(row, R4, lin))
          for (index_t j = 0; j < 6; ++j) {
            T* dst = row + j * R4;
#pragma omp simd
            for (index_t t = 0; t < tw; ++t) dst[t] = lin[4 * t + j];
          }
      }
#pragma omp simd
      for (index_t k = 0; k < R4; ++k)
        bt6(S[k], S[R4 + k], S[2 * R4 + k], S[3 * R4 + k], S[4 * R4 + k], S[5 * R4 + k], wo[k],
            wo[R4 + k], wo[2 * R4 + k], wo[3 * R4 + k], wo[4 * R4 + k], wo[5 * R4 + k]);
      for (index_t b = 0; b < 6; ++b) {
        // tile row ti's rows 0..5 are row phases 0..3 of ti and phases 0, 1 of ti + 1
        const T* d = wo + b * R4;
        T* vb = V + b * plane + c * tiles + i * g.tpi;
#pragma omp simd
        for (index_t t = 0; t < g.tpi; ++t)
          bt6(d[t], d[RP + t], d[2 * RP + t], d[3 * RP + t], d[tw + t], d[RP + tw + t], vb[t],
              vb[6 * plane + t], vb[12 * plane + t], vb[18 * plane + t], vb[24 * plane + t],
              vb[30 * plane + t]);
      }
    }
}

// input_tw for images at most 16 wide (TW = 1 to 4 tiles per row): a plane has too few tiles
// to fill a vector (4 on an 8x8 image), and the per-plane loops ran on scalars with their six
// output pointers stepped in memory. Here each channel of the block's m images is transformed
// at once, vectorised over all m*tpi tiles. A patch's six rows are phases 0..3 of its quad-row
// and phases 0, 1 of the next: each padded row goes to row source p (its phase) of the tiles of
// its quad-row and, for phases 0 and 1, also to row source 4 + p of the tiles one quad-row up,
// so that all six sources are indexed by the tile itself. The same sums as input_tw, so the
// same bits.
template <typename T, int TW>
PYDLK_INLINE void input_small(T* V, const T* x, index_t m, index_t tiles, const ConvShape& s,
                              const Geo& g, T* scratch) {
  const index_t HW = s.H * s.W, plane = s.C * tiles, L = tiles;
  const index_t ld = g.n4 + 4;
  T* S = scratch;      // S[(j*6 + k)*L + t]: column j of row source k of tile t
  T* wb = S + 36 * L;  // B^T across the columns: wb[(b*6 + k)*L + t]
  T* P = wb + 36 * L;  // the padded plane, as in input_tw
  for (index_t j = 0; j < g.rows * ld; ++j) P[j] = T(0);
  auto split = [&](T* dst, const T* lin) PYDLK_LAMBDA_INLINE {
    if (!gather_row<T, TW>(dst, 6 * L, lin))
      for (index_t j = 0; j < 6; ++j)
        for (index_t t = 0; t < TW; ++t) dst[j * 6 * L + t] = lin[4 * t + j];
  };
  for (index_t c = 0; c < s.C; ++c) {
    for (index_t i = 0; i < m; ++i) {
      const T* xc = x + (i * s.C + c) * HW;
      for (index_t h = 0; h < s.H; ++h) copy_n<T, 0>(P + (h + s.ph) * ld + s.pw, xc + h * s.W, s.W);
      for (index_t r = 0; r < g.rows; ++r) {
        const index_t ph = r % 4, q = r / 4;
        const T* lin = P + r * ld;
        if (q < g.th) split(S + ph * L + i * g.tpi + q * TW, lin);  // own quad-row: source ph
        if (ph < 2 && q >= 1)  // the quad-row above: source 4 + ph
          split(S + (4 + ph) * L + i * g.tpi + (q - 1) * TW, lin);
      }
    }
#pragma omp simd
    for (index_t u = 0; u < 6 * L; ++u)  // u = k*L + t
      bt6(S[u], S[6 * L + u], S[12 * L + u], S[18 * L + u], S[24 * L + u], S[30 * L + u], wb[u],
          wb[6 * L + u], wb[12 * L + u], wb[18 * L + u], wb[24 * L + u], wb[30 * L + u]);
    for (index_t b = 0; b < 6; ++b) {
      const T* d = wb + b * 6 * L;
      T* vb = V + b * plane + c * tiles;
#pragma omp simd
      for (index_t t = 0; t < L; ++t)
        bt6(d[t], d[L + t], d[2 * L + t], d[3 * L + t], d[4 * L + t], d[5 * L + t], vb[t],
            vb[6 * plane + t], vb[12 * plane + t], vb[18 * plane + t], vb[24 * plane + t],
            vb[30 * plane + t]);
    }
  }
}

template <typename T>
PYDLK_SIMD void transform_input(T* V, const T* x, index_t m, index_t tiles, const ConvShape& s,
                                const Geo& g, T* scratch) {
#define PYDLK_SMALL(TW) input_small<T, TW>(V, x, m, tiles, s, g, scratch)
#define PYDLK_CALL(TW) input_tw<T, TW>(V, x, m, tiles, s, g, scratch)
  if (g.tw <= 4) PYDLK_WITH_SMALL_TW(g.tw, PYDLK_SMALL)
  else PYDLK_WITH_TW(g.tw, PYDLK_CALL)
#undef PYDLK_CALL
#undef PYDLK_SMALL
}

// y tiles = A^T M A + bias, written into the block's m images (y: the first one): A^T across
// each tile's 6 columns, then down its rows, both over every tile of the block at once.
template <typename T, int TW>
PYDLK_INLINE void output_tw(T* y, const T* M, const T* bias, index_t m, index_t tiles,
                            const ConvShape& s, const Geo& g, T* scratch) {
  const index_t OHW = s.OH * s.OW, tw = TW ? TW : g.tw, plane = s.K * tiles;
  T* z = scratch;          // A^T across each tile's 6 columns: z[(a*4 + o)*tiles + t]
  T* yq = z + 24 * tiles;  // then down the rows: yq[(p*4 + o)*tiles + t]
  for (index_t k = 0; k < s.K; ++k) {
    const T* mk = M + k * tiles;
    for (index_t a = 0; a < 6; ++a) {
      const T* ma = mk + a * 6 * plane;
      T* za = z + a * 4 * tiles;
#pragma omp simd
      for (index_t t = 0; t < tiles; ++t)
        at4(ma[t], ma[plane + t], ma[2 * plane + t], ma[3 * plane + t], ma[4 * plane + t],
            ma[5 * plane + t], za[t], za[tiles + t], za[2 * tiles + t], za[3 * tiles + t]);
    }
    for (index_t o = 0; o < 4; ++o) {
      const T* zo = z + o * tiles;
      T* yo = yq + o * tiles;
#pragma omp simd
      for (index_t t = 0; t < tiles; ++t)
        at4(zo[t], zo[4 * tiles + t], zo[8 * tiles + t], zo[12 * tiles + t], zo[16 * tiles + t],
            zo[20 * tiles + t], yo[t], yo[4 * tiles + t], yo[8 * tiles + t], yo[12 * tiles + t]);
    }
    const T bk = bias ? bias[k] : T(0);
    for (index_t i = 0; i < m; ++i)
      for (index_t h = 0; h < s.OH; ++h) {
        const T* q = yq + (h % 4) * 4 * tiles + (i * g.th + h / 4) * tw;
        T* yr = y + (i * s.K + k) * OHW + h * s.OW;
        if (s.OW == 4 * tw) {
          merge_row<T, TW>(yr, q, tiles, bk, tw);
        } else {  // the last tile of the row is cut short
          for (index_t j = 0; j < s.OW; ++j) yr[j] = q[(j % 4) * tiles + j / 4] + bk;
        }
      }
  }
}

template <typename T>
PYDLK_SIMD void transform_output(T* y, const T* M, const T* bias, index_t m, index_t tiles,
                                 const ConvShape& s, const Geo& g, T* scratch) {
#define PYDLK_CALL(TW) output_tw<T, TW>(y, M, bias, m, tiles, s, g, scratch)
  PYDLK_WITH_TW(g.tw, PYDLK_CALL)
#undef PYDLK_CALL
}

// dM[ab][k][t] = (A dY A^T)[a][b], dY the tile's 4x4 block of dy (zero past the output's edge):
// the adjoint of output_tw, A down each tile's 4 rows, then across its 4 columns.
template <typename T, int TW>
PYDLK_INLINE void grad_output_tw(T* dM, const T* dy, index_t m, index_t tiles, const ConvShape& s,
                                 const Geo& g, T* scratch) {
  const index_t OHW = s.OH * s.OW, tw = TW ? TW : g.tw, w4 = 4 * tw, plane = s.K * tiles;
  T* gq = scratch;          // gq[(p*4 + o)*tiles + t] = dY[p][o] of tile t
  T* zh = gq + 16 * tiles;  // A down the rows: zh[(a*4 + o)*tiles + t]
  for (index_t k = 0; k < s.K; ++k) {
    for (index_t i = 0; i < m; ++i)
      for (index_t h = 0; h < 4 * g.th; ++h) {
        const T* src = dy + (i * s.K + k) * OHW + h * s.OW;
        T* q = gq + (h % 4) * 4 * tiles + (i * g.th + h / 4) * tw;
        if (h < s.OH && s.OW == w4) {
          split_row<T, TW>(q, tiles, src, tw);
        } else {  // past the last row or the last column: zeros
          const index_t n = h < s.OH ? s.OW : 0;
          for (index_t j = 0; j < w4; ++j) q[(j % 4) * tiles + j / 4] = j < n ? src[j] : T(0);
        }
      }
    for (index_t o = 0; o < 4; ++o) {
      const T* go = gq + o * tiles;
      T* zo = zh + o * tiles;
#pragma omp simd
      for (index_t t = 0; t < tiles; ++t)
        a6(go[t], go[4 * tiles + t], go[8 * tiles + t], go[12 * tiles + t], zo[t],
           zo[4 * tiles + t], zo[8 * tiles + t], zo[12 * tiles + t], zo[16 * tiles + t],
           zo[20 * tiles + t]);
    }
    T* dk = dM + k * tiles;
    for (index_t a = 0; a < 6; ++a) {
      const T* za = zh + a * 4 * tiles;
      T* da = dk + a * 6 * plane;
#pragma omp simd
      for (index_t t = 0; t < tiles; ++t)
        a6(za[t], za[tiles + t], za[2 * tiles + t], za[3 * tiles + t], da[t], da[plane + t],
           da[2 * plane + t], da[3 * plane + t], da[4 * plane + t], da[5 * plane + t]);
    }
  }
}

template <typename T>
PYDLK_SIMD void transform_grad_output(T* dM, const T* dy, index_t m, index_t tiles,
                                      const ConvShape& s, const Geo& g, T* scratch) {
#define PYDLK_CALL(TW) grad_output_tw<T, TW>(dM, dy, m, tiles, s, g, scratch)
  PYDLK_WITH_TW(g.tw, PYDLK_CALL)
#undef PYDLK_CALL
}

// dx = the patches B dV B^T added up, for the block's m images (dx: the first one); the
// adjoint of input_tw, pass by pass in reverse: B down each tile's 6 rows (rows 4 and 5 of
// tile row ti are rows 0 and 1 of ti + 1: added on after), B across the 6 columns of every
// row, then per row the columns merged into place (4t+4 and 4t+5 are tile t+1's 0 and 1).
template <typename T, int TW>
PYDLK_INLINE void grad_input_tw(T* dx, const T* dV, index_t m, index_t tiles, const ConvShape& s,
                                const Geo& g, T* scratch) {
  const index_t HW = s.H * s.W, tw = TW ? TW : g.tw, W4 = tw + 1, n4 = 4 * W4, tpi = g.tpi,
                plane = s.C * tiles, RP = (g.th + 1) * tw, R4 = 4 * RP;
  T* wg = scratch;      // wg[b*R4 + ...]: per row (row-phase order), the 6 transformed columns
  T* D = wg + 6 * R4;   // D[j*R4 + ...]: B across them, column j of each tile
  T* e = D + 6 * R4;    // rows 4 and 5 of each tile, per column: e[2b*tpi + t], e[(2b+1)*tpi + t]
  T* q = e + 12 * tpi;  // one padded row by column phase: q[p*W4 + t] = padded[4t + p]
  T* rows = q + n4;     // the plane's padded rows, n4 apart, copied out once all are merged
  for (index_t i = 0; i < m; ++i)
    for (index_t c = 0; c < s.C; ++c) {
      // All six columns' rows first, then the overlaps added: an addition right after its b6
      // loop read w one tile row on from where that loop had just stored it, and waited for
      // those stores to reach the cache (see merge_row).
      for (index_t b = 0; b < 6; ++b) {
        const T* vb = dV + b * plane + c * tiles + i * tpi;
        T *w = wg + b * R4, *eb = e + 2 * b * tpi;
#pragma omp simd
        for (index_t t = 0; t < tpi; ++t)
          b6(vb[t], vb[6 * plane + t], vb[12 * plane + t], vb[18 * plane + t], vb[24 * plane + t],
             vb[30 * plane + t], w[t], w[RP + t], w[2 * RP + t], w[3 * RP + t], eb[t], eb[tpi + t]);
        for (index_t t = 0; t < tw; ++t) w[tpi + t] = w[RP + tpi + t] = T(0);  // r/4 == th
      }
      for (index_t b = 0; b < 6; ++b) {
        T *w = wg + b * R4, *eb = e + 2 * b * tpi;
#pragma omp simd
        for (index_t t = 0; t < tpi; ++t) {
          w[tw + t] += eb[t];
          w[RP + tw + t] += eb[tpi + t];
        }
      }
#pragma omp simd
      for (index_t k = 0; k < R4; ++k)
        b6(wg[k], wg[R4 + k], wg[2 * R4 + k], wg[3 * R4 + k], wg[4 * R4 + k], wg[5 * R4 + k], D[k],
           D[R4 + k], D[2 * R4 + k], D[3 * R4 + k], D[4 * R4 + k], D[5 * R4 + k]);
      T* dxc = dx + (i * s.C + c) * HW;
      for (index_t h = 0; h < s.H; ++h) {
        const index_t r = h + s.ph;
        const T* row = D + (r % 4) * RP + (r / 4) * tw;
        const T *c4 = row + 4 * R4, *c5 = row + 5 * R4;
        if constexpr (std::is_same_v<T, float> && TW == 8) {  // the same sums, in registers
          v8f l[4], e4, e5;
          for (int p = 0; p < 4; ++p) std::memcpy(&l[p], row + p * R4, sizeof(v8f));
          std::memcpy(&e4, c4, sizeof e4);
          std::memcpy(&e5, c5, sizeof e5);
          // tiles 1..7 of phases 0 and 1 add columns 4 and 5 of tiles 0..6; tile 0 adds none
          l[0] = __builtin_shufflevector(
              l[0], l[0] + __builtin_shufflevector(e4, e4, 0, 0, 1, 2, 3, 4, 5, 6), 0, 9, 10, 11,
              12, 13, 14, 15);
          l[1] = __builtin_shufflevector(
              l[1], l[1] + __builtin_shufflevector(e5, e5, 0, 0, 1, 2, 3, 4, 5, 6), 0, 9, 10, 11,
              12, 13, 14, 15);
          T* lin = rows + h * n4;
          merge8(lin, l, 0.f);
          lin[32] = 0.f + e4[7];  // tile 8: columns 4, 5 of tile 7 (as q[8] = 0, += c4[7])
          lin[33] = 0.f + e5[7];
          lin[34] = lin[35] = 0.f;
        } else {
          for (index_t p = 0; p < 4; ++p) {
            copy_n<T, TW>(q + p * W4, row + p * R4, tw);
            q[p * W4 + tw] = T(0);
          }
          for (index_t t = 0; t < tw; ++t) {
            q[t + 1] += c4[t];
            q[W4 + t + 1] += c5[t];
          }
          merge4<T, TW ? TW + 1 : 0>(rows + h * n4, q, W4, W4);
        }
      }
      for (index_t h = 0; h < s.H; ++h) copy_n<T, 0>(dxc + h * s.W, rows + h * n4 + s.pw, s.W);
    }
}

// grad_input_tw for images at most 16 wide, as input_small for the forward: both B passes over
// all the block's tiles of a channel at once (row sources as there: phases 0..3 of the tile's
// own quad-row, then phases 0, 1 of the next), the overlaps of neighbouring patches (their rows
// 4, 5 and columns 4, 5) added up only when a row of dx is assembled. Those additions come after
// the column transform here, before it in grad_input_tw: the same sum, rounded differently.
template <typename T, int TW>
PYDLK_INLINE void grad_input_small(T* dx, const T* dV, index_t m, index_t tiles, const ConvShape& s,
                                   const Geo& g, T* scratch) {
  const index_t HW = s.H * s.W, plane = s.C * tiles, L = tiles;
  T* wk = scratch;       // B down the rows: wk[(b*6 + k)*L + t], row source k of column b
  T* D = wk + 36 * L;    // then across the columns: D[(j*6 + k)*L + t]
  T* rows = D + 36 * L;  // an image's padded rows of dx, n4 apart (copied out once all are summed)
  for (index_t c = 0; c < s.C; ++c) {
    for (index_t b = 0; b < 6; ++b) {
      const T* vb = dV + b * plane + c * tiles;
      T* w = wk + b * 6 * L;
#pragma omp simd
      for (index_t t = 0; t < L; ++t)
        b6(vb[t], vb[6 * plane + t], vb[12 * plane + t], vb[18 * plane + t], vb[24 * plane + t],
           vb[30 * plane + t], w[t], w[L + t], w[2 * L + t], w[3 * L + t], w[4 * L + t],
           w[5 * L + t]);
    }
#pragma omp simd
    for (index_t u = 0; u < 6 * L; ++u)  // u = k*L + t
      b6(wk[u], wk[6 * L + u], wk[12 * L + u], wk[18 * L + u], wk[24 * L + u], wk[30 * L + u], D[u],
         D[6 * L + u], D[12 * L + u], D[18 * L + u], D[24 * L + u], D[30 * L + u]);
    for (index_t i = 0; i < m; ++i) {
      T* dxc = dx + (i * s.C + c) * HW;
      for (index_t h = 0; h < s.H; ++h) {
        const index_t r = h + s.ph, ph = r % 4, q = r / 4;
        // The row summed in registers, acc[p][t] = padded column 4t + p, each source adding
        // columns 4 and 5 of tile t - 1 and then column p of tile t (the order of a scalar
        // loop over the tiles' 6 columns, so the same bits), then written out by phase.
        T acc[4][TW + 1] = {};
        auto add = [&](const T* src) PYDLK_LAMBDA_INLINE {
          for (index_t t = 0; t < TW; ++t) {
            acc[0][t + 1] += src[4 * 6 * L + t];
            acc[1][t + 1] += src[5 * 6 * L + t];
          }
          for (index_t p = 0; p < 4; ++p)
            for (index_t t = 0; t < TW; ++t) acc[p][t] += src[p * 6 * L + t];
        };
        if (q < g.th) add(D + ph * L + i * g.tpi + q * TW);  // own quad-row: source ph
        if (ph < 2 && q >= 1)  // the tiles one quad-row up: source 4 + ph
          add(D + (4 + ph) * L + i * g.tpi + (q - 1) * TW);
        T* lin = rows + h * g.n4;
        for (index_t t = 0; t <= TW; ++t)
          for (index_t p = 0; p < 4; ++p) lin[4 * t + p] = acc[p][t];
      }
      for (index_t h = 0; h < s.H; ++h) copy_n<T, 0>(dxc + h * s.W, rows + h * g.n4 + s.pw, s.W);
    }
  }
}

template <typename T>
PYDLK_SIMD void transform_grad_input(T* dx, const T* dV, index_t m, index_t tiles,
                                     const ConvShape& s, const Geo& g, T* scratch) {
#define PYDLK_SMALL(TW) grad_input_small<T, TW>(dx, dV, m, tiles, s, g, scratch)
#define PYDLK_CALL(TW) grad_input_tw<T, TW>(dx, dV, m, tiles, s, g, scratch)
  if (g.tw <= 4) PYDLK_WITH_SMALL_TW(g.tw, PYDLK_SMALL)
  else PYDLK_WITH_TW(g.tw, PYDLK_CALL)
#undef PYDLK_CALL
#undef PYDLK_SMALL
}
#undef PYDLK_WITH_TW
#undef PYDLK_WITH_SMALL_TW

// C = op(A) @ op(B) (+ beta C) on this thread (inner) or split over the team.
template <typename T>
void mm(bool inner, bool ta, bool tb, index_t M, index_t N, index_t K, const T* A, index_t lda,
        const T* B, index_t ldb, T beta, T* C, index_t ldc) {
  if (inner)
    gemm1(ta, tb, (int)M, (int)N, (int)K, T(1), A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
  else gemm(ta, tb, (int)M, (int)N, (int)K, T(1), A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

}  // namespace

// --------------------------------------------------------------------------------- plan
bool winograd_fits(const ConvShape& s) {
  return s.R == 3 && s.S == 3 && s.sh == 1 && s.sw == 1 && s.dh == 1 && s.dw == 1 && s.G == 1;
}

namespace {
std::atomic<bool> g_winograd_allowed{true};
}

bool winograd_allowed() { return g_winograd_allowed.load(std::memory_order_relaxed); }
void set_winograd_allowed(bool allowed) { g_winograd_allowed.store(allowed); }

bool winograd_preferred(const ConvShape& s, size_t esz) {
  if (esz != sizeof(float) || !winograd_fits(s) || !winograd_allowed()) return false;
  // Few channels: the transforms cost as much as the products they save. Measured (N=64, 2
  // threads, forward + both gradients, ms, 'auto' without Winograd against Winograd): 3->16
  // 32x32 1.26 / 1.45, 8->8 32x32 2.24 / 1.65, 8->16 32x32 3.94 / 2.29, 8->8 8x8 0.26 / 0.28.
  if (s.C < 8 || s.K < 8) return false;
  // The weight transform (324 multiply-adds per input-output channel pair, in double, and U
  // read once per block) pays off only over enough tiles. Measured forward, 2 threads, ms,
  // gemm against Winograd: 512 channels on one 7x7 image (4 tiles) 2.8 / 16.1; 256 on 14x14
  // (16) 1.6 / 4.6; 64 on 8 8x8 images (32) 0.24 / 0.32; 64 on one 32x32 image (64) 0.53 / 0.44.
  const Geo g = geometry(s);
  if (s.N * g.tpi < 64) return false;
  // One image's V + M must fit a block: beyond that the workspace, not the product, grows.
  return size_t(kAA) * (s.C + s.K) * g.tpi * esz <= 4 * kBlockBytes;
}

void winograd_plan(ConvPlan& p, const ConvShape& s, bool backward, size_t esz) {
  const Geo g = geometry(s);
  const index_t work = s.N * s.K * s.OH * s.OW * s.C * 9;
  p.nt = parallel_worth_it(work) ? num_threads() : 1;
  const size_t per_image = std::max<size_t>(1, size_t(kAA) * (s.C + s.K) * g.tpi * esz);
  // Blocks do not depend on the thread count (nor do the GEMMs' shapes, and so the bits of the
  // result); at least 4 of them where the batch allows, to share out (at least 8 measured no
  // faster on ResNet-8's layers, within the noise, and makes 8x8 images' GEMMs thinner), and a
  // multiple of 4, the images shared out evenly (blocks of nb and nb - 1): 5 blocks of 14
  // (64->64 on 8x8, N=64) left one of two threads idle for a fifth of the forward (8 blocks
  // of 8: 0.66 -> 0.48 ms).
  index_t nb = std::max<index_t>(1, index_t(kBlockBytes / per_image));
  nb = std::max<index_t>(1, std::min(nb, s.N / 4));
  index_t nblocks = (s.N + nb - 1) / nb;
  if (nblocks % 4) nblocks = std::min(s.N, nblocks + 4 - nblocks % 4);
  nb = nblocks ? (s.N + nblocks - 1) / nblocks : 1;  // no images: no blocks
  p.nb = nb;
  p.nblocks = nblocks;
  const size_t u = align64(size_t(kAA) * s.K * s.C * esz),
               wt = align64(size_t(9) * s.K * s.C * esz);
  const index_t fit = index_t(kPartBytes / u);
  p.nblk = std::max<index_t>(1, std::min({nblocks, kParts, fit}));
  p.parallel = p.nt > 1 && (backward ? p.nblk : nblocks) >= p.nt;
  const int slices = p.parallel ? p.nt : 1;
  p.ws_bytes = u + wt + slices * slice_layout(s, g, nb * g.tpi, esz).bytes +
               (backward ? size_t(p.nblk) * u : 0);
}

// ------------------------------------------------------------------------------ kernels
namespace {
// Block bi covers images [block_start(bi), block_start(bi + 1)): p.nb or p.nb - 1 of them.
inline index_t block_start(index_t bi, const ConvShape& s, const ConvPlan& p) {
  return bi * s.N / p.nblocks;
}
}  // namespace

template <typename T>
void winograd_forward(T* y, const T* x, const T* w, const T* b, char* ws, const ConvShape& s,
                      const ConvPlan& p) {
  const Geo g = geometry(s);
  const index_t KC = s.K * s.C, nblocks = p.nblocks;
  const Slice L = slice_layout(s, g, p.nb * g.tpi, sizeof(T));
  const size_t u = align64(size_t(kAA) * KC * sizeof(T));
  T* U = reinterpret_cast<T*>(ws);
  T* wt = reinterpret_cast<T*>(ws + u);
  char* slices = ws + u + align64(size_t(9) * KC * sizeof(T));
  transform_weight(U, w, s, wt, p.nt);
  auto block = [&](index_t bi, char* slice, bool inner) PYDLK_LAMBDA_INLINE {
    const index_t n0 = block_start(bi, s, p), m = block_start(bi + 1, s, p) - n0, tiles = m * g.tpi;
    T* V = reinterpret_cast<T*>(slice);
    T* M = reinterpret_cast<T*>(slice + L.v);
    T* scratch = reinterpret_cast<T*>(slice + L.v + L.m);
    transform_input(V, x + n0 * s.C * s.H * s.W, m, tiles, s, g, scratch);
    for (index_t ab = 0; ab < kAA; ++ab)
      mm(inner, false, false, s.K, tiles, s.C, U + ab * KC, s.C, V + ab * s.C * tiles, tiles, T(0),
         M + ab * s.K * tiles, tiles);
    transform_output(y + n0 * s.K * s.OH * s.OW, M, b, m, tiles, s, g, scratch);
  };
  if (p.parallel) {
    // static: the samples split in contiguous halves as in the layers around (core affinity;
    // docs/ARCHITECTURE.md, "Threads")
#pragma omp parallel for num_threads(p.nt) schedule(static)
    for (index_t bi = 0; bi < nblocks; ++bi) block(bi, slices + thread_id() * L.bytes, true);
  } else {
    for (index_t bi = 0; bi < nblocks; ++bi) block(bi, slices, p.nt == 1);
  }
}

template <typename T>
void winograd_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, char* ws,
                       const ConvShape& s, const ConvPlan& p) {
  const Geo g = geometry(s);
  const index_t KC = s.K * s.C, nblocks = p.nblocks;
  const Slice L = slice_layout(s, g, p.nb * g.tpi, sizeof(T));
  const size_t u = align64(size_t(kAA) * KC * sizeof(T));
  const int nslices = p.parallel ? p.nt : 1;
  T* U = reinterpret_cast<T*>(ws);
  T* wt = reinterpret_cast<T*>(ws + u);
  char* slices = ws + u + align64(size_t(9) * KC * sizeof(T));
  T* parts = reinterpret_cast<T*>(slices + nslices * L.bytes);  // (nblk, 36, K, C)
  const index_t PS = u / sizeof(T);
  if (dx) transform_weight(U, w, s, wt, p.nt);
  auto block = [&](index_t bi, char* slice, T* part, bool first, bool inner) PYDLK_LAMBDA_INLINE {
    const index_t n0 = block_start(bi, s, p), m = block_start(bi + 1, s, p) - n0, tiles = m * g.tpi;
    T* V = reinterpret_cast<T*>(slice);
    T* dM = reinterpret_cast<T*>(slice + L.v);
    T* scratch = reinterpret_cast<T*>(slice + L.v + L.m);
    transform_grad_output(dM, dy + n0 * s.K * s.OH * s.OW, m, tiles, s, g, scratch);
    if (part) {  // dU[ab] (K, C) (+)= dM[ab] (K, tiles) @ V[ab]^T
      transform_input(V, x + n0 * s.C * s.H * s.W, m, tiles, s, g, scratch);
      for (index_t ab = 0; ab < kAA; ++ab)
        mm(inner, false, true, s.K, s.C, tiles, dM + ab * s.K * tiles, tiles, V + ab * s.C * tiles,
           tiles, first ? T(0) : T(1), part + ab * KC, s.C);
    }
    if (dx) {  // dV[ab] (C, tiles) = U[ab]^T @ dM[ab], into V's place once dU has used it
      for (index_t ab = 0; ab < kAA; ++ab)
        mm(inner, true, false, s.C, tiles, s.K, U + ab * KC, s.C, dM + ab * s.K * tiles, tiles,
           T(0), V + ab * s.C * tiles, tiles);
      transform_grad_input(dx + n0 * s.C * s.H * s.W, V, m, tiles, s, g, scratch);
    }
  };
  auto run = [&](index_t j, char* slice, bool inner) PYDLK_LAMBDA_INLINE {
    const index_t b0 = j * nblocks / p.nblk, b1 = (j + 1) * nblocks / p.nblk;
    for (index_t bi = b0; bi < b1; ++bi)
      block(bi, slice, dw ? parts + j * PS : nullptr, bi == b0, inner);
  };
  if (p.parallel) {
    // static: the samples split in contiguous halves as in the layers around (core affinity;
    // docs/ARCHITECTURE.md, "Threads")
#pragma omp parallel for num_threads(p.nt) schedule(static)
    for (index_t j = 0; j < p.nblk; ++j) run(j, slices + thread_id() * L.bytes, true);
  } else {
    for (index_t j = 0; j < p.nblk; ++j) run(j, slices, p.nt == 1);
  }
  if (dw) weight_gradient(dw, parts, p.nblk, PS, s, p.nt);
}

template void winograd_forward<float>(float*, const float*, const float*, const float*, char*,
                                      const ConvShape&, const ConvPlan&);
template void winograd_forward<double>(double*, const double*, const double*, const double*, char*,
                                       const ConvShape&, const ConvPlan&);
template void winograd_backward<float>(float*, float*, const float*, const float*, const float*,
                                       char*, const ConvShape&, const ConvPlan&);
template void winograd_backward<double>(double*, double*, const double*, const double*,
                                        const double*, char*, const ConvShape&, const ConvPlan&);

}  // namespace pydlk
