// The weight gradient of a float32 convolution with at most 16 outputs, on AVX-512. With 9-16
// outputs one vector holds a tap's gradient for all the outputs (below); with 8 or fewer a
// vector holds 16 output pixels instead (the "few outputs" section further down). The loops
// carry PYDLK_AVX512 (not the whole file: inline library templates instantiated here must
// stay baseline code), and narrow_dw_preferred() checks the CPU before any of them runs.
//
// Why: the gemm path computes dw^T (C*R*S x K) = im2col(x) (C*R*S x pixels) @ dy^T (pixels x K).
// With K = 16 that product is 16 columns wide, which OpenBLAS runs at about 80 GFLOP/s, and the
// im2col copy of x costs as much again: LeNet's conv2 (6->16, 5x5, 14x14, batch 64) spent
// 0.40 ms on dw, more than on its forward and input gradient together.
//
// Layout. Per sample, dy is transposed to dyT (pixels x 16: the outputs of one pixel in one
// vector, zeros past K) and x zero-padded to planes (C, Hp, Wp). For input channel c the R*S
// taps each keep one accumulator, lanes = outputs k, over all output pixels (oh, ow):
//   acc[r][s] += x_pad[c][oh*sh + r][ow*sw + s] * dyT[oh*OW + ow]
// a broadcast of one x value times one dy vector: per pixel one vector load serves all R*S
// taps (9 or 25 multiply-adds). The kernel size is a template argument, so the taps' offsets
// are constants and the accumulators stay in registers.
//
// The samples are split into nblk fixed blocks (as conv2d.cpp's gemm path), each thread taking
// a contiguous run of them; each block sums into its own partial, and the partials are added in
// a fixed order in double, so the result does not depend on the thread count.
#include "conv2d_dw512.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "conv2d_direct512.h"

namespace pydlk {

namespace {

constexpr index_t kL = 16;  // floats per vector: the outputs one accumulator holds
constexpr size_t kMaxSampleBytes = size_t(8) << 20;  // per-thread workspace at most (see below)

inline size_t align64(size_t n) { return (n + 63) / 64 * 64; }

typedef float V __attribute__((vector_size(64)));

struct Geo {
  index_t Hp, Wp;      // the padded plane
  size_t xbuf, dybuf;  // per-thread bytes: padded planes, transposed dy
  size_t part;         // floats of one block's partial: (C, R*S, 16)
};
Geo geometry(const ConvShape& s) {
  Geo g;
  g.Hp = s.H + 2 * s.ph;
  g.Wp = s.W + 2 * s.pw;
  g.xbuf = align64(size_t(s.C * g.Hp * g.Wp) * sizeof(float));
  g.dybuf = align64(size_t(s.OH * s.OW * kL) * sizeof(float));
  g.part = size_t(s.C * s.R * s.S * kL);
  return g;
}

// x (C, H, W) into planes (C, Hp, Wp) with the padding zero.
void pad_planes(float* xp, const float* x, const ConvShape& s, const Geo& g) {
  std::memset(xp, 0, size_t(s.C * g.Hp * g.Wp) * sizeof(float));
  for (index_t c = 0; c < s.C; ++c)
    for (index_t h = 0; h < s.H; ++h)
      std::memcpy(xp + (c * g.Hp + h + s.ph) * g.Wp + s.pw, x + (c * s.H + h) * s.W,
                  size_t(s.W) * sizeof(float));
}

// dy (K, OH*OW) into dyT (OH*OW, 16), zeros for k >= K: one gather per pixel.
PYDLK_AVX512 void transpose_dy(float* dyT, const float* dy, const ConvShape& s) {
  const index_t P = s.OH * s.OW;
  const __m512i rows =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(int(P)));
  const __mmask16 m = __mmask16((1u << s.K) - 1);
  for (index_t q = 0; q < P; ++q)
    _mm512_storeu_ps(dyT + q * kL,
                     _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, rows, dy + q, 4));
}

// part (R*S, 16) += sum over output pixels of x plane xc (row pitch Wp) times dyT, for one
// input channel.
template <int R, int S>
PYDLK_AVX512 void channel_taps(float* part, const float* xc, const float* dyT, const ConvShape& s,
                               index_t Wp) {
  V acc[R * S];
  for (int t = 0; t < R * S; ++t) acc[t] = V{};
  for (index_t oh = 0; oh < s.OH; ++oh) {
    const float* row = xc + oh * s.sh * Wp;
    const float* d = dyT + oh * s.OW * kL;
    for (index_t ow = 0; ow < s.OW; ++ow, d += kL) {
      V dv;
      std::memcpy(&dv, d, sizeof(V));
      const float* p = row + ow * s.sw;
      for (int r = 0; r < R; ++r)
        for (int q = 0; q < S; ++q) acc[r * S + q] += p[r * Wp + q] * dv;
    }
  }
  for (int t = 0; t < R * S; ++t) {
    V cur;
    std::memcpy(&cur, part + t * kL, sizeof(V));
    cur += acc[t];
    std::memcpy(part + t * kL, &cur, sizeof(V));
  }
}

PYDLK_AVX512 void sample_into(float* part, const float* xp, const float* dyT, const ConvShape& s,
                              const Geo& g) {
  const index_t RS = s.R * s.S;
  for (index_t c = 0; c < s.C; ++c) {
    const float* xc = xp + c * g.Hp * g.Wp;
    float* pc = part + c * RS * kL;
    if (s.R == 3) channel_taps<3, 3>(pc, xc, dyT, s, g.Wp);
    else channel_taps<5, 5>(pc, xc, dyT, s, g.Wp);
  }
}

// ------------------------------------------------ few outputs: output pixels as the lanes
// With 8 outputs or fewer (LeNet's conv1, 1->6 5x5 on 32x32) a vector of outputs would idle
// half its lanes or more, so here a vector holds 16 output pixels of one row instead. For a
// block of TB taps t = (c, r, q) and all K outputs, K*TB accumulators in registers sum
//   acc[k][t] += dy[k][oh][ow .. ow+15] * x_pad[c][oh + r][ow + q .. ow + q + 15]
// over the output rows and their 16-pixel pieces: per piece K + TB loads serve K*TB
// multiply-adds. Lanes past a row's end load zeros (masked loads: nothing from the next row
// or past the buffer, so a NaN in x reaches exactly the taps that see it). Stride 1 and
// dilation 1 keep a piece's pixels contiguous in x. Each tap's accumulators are added
// lane-wise into the block's partial; lanes and blocks are summed in double at the end, in a
// fixed order.

// Taps per register block: K*TB accumulators, K dy vectors and one x vector fit in the 32
// registers, and at most 12 taps (one output: an x load per multiply-add, so loads bound it
// however many taps share the dy load).
constexpr int few_tb(int K) { return std::min(12, (30 - K) / K); }

struct FewGeo {
  index_t Hp, Wp;       // x planes as the kernel reads them: padded copies, or x itself
  bool copy;            // padding: each sample's planes are copied into a zeroed buffer first
  size_t xbuf;          // per-thread bytes for that copy
  index_t tb, nblocks;  // taps per block, tap blocks (the last one padded with repeats)
  size_t part;          // floats of one sample block's partial: (nblocks * tb, K, 16)
};
FewGeo few_geometry(const ConvShape& s) {
  FewGeo g;
  g.Hp = s.H + 2 * s.ph;
  g.Wp = s.W + 2 * s.pw;
  g.copy = s.ph > 0 || s.pw > 0;
  g.xbuf = g.copy ? align64(size_t(s.C * g.Hp * g.Wp) * sizeof(float)) : 0;
  g.tb = few_tb(int(s.K));
  g.nblocks = (s.C * s.R * s.S + g.tb - 1) / g.tb;
  g.part = size_t(g.nblocks * g.tb * s.K * kL);
  return g;
}

// A 16-pixel piece of one output row: where it starts in dy's plane and in x's (padded)
// plane, and which lanes are pixels of the row.
struct Piece {
  index_t dy, x;
  __mmask16 m;
};

// part[(t * K + k) * 16 + lane] += lane sums of dy[k] * x shifted by off[t], t < TB, over the
// pieces of one sample (dyn: its K planes of P pixels each; xn: its planes). One loop over
// the pieces (not rows, then pieces in a row: in that nest GCC kept a copy of every
// accumulator on the stack, one store per multiply-add).
// One piece into the accumulators. Masked loads cost an extra uop on the multiply-add ports
// (a zeroing blend), so whole pieces load without a mask: LeNet conv1's dw 0.206 -> 0.180 ms
// on one thread.
template <int K, int TB, bool kMasked>
PYDLK_AVX512 __attribute__((always_inline)) inline void few_piece(V (&acc)[K][TB], const float* xn,
                                                                  const float* dyn,
                                                                  const index_t* off,
                                                                  const Piece& pc, index_t P) {
  V d[K];
  for (int k = 0; k < K; ++k) {
    if (kMasked) d[k] = V(_mm512_maskz_loadu_ps(pc.m, dyn + k * P + pc.dy));
    else std::memcpy(&d[k], dyn + k * P + pc.dy, sizeof(V));
  }
  for (int t = 0; t < TB; ++t) {
    V xv;
    if (kMasked) xv = V(_mm512_maskz_loadu_ps(pc.m, xn + off[t] + pc.x));
    else std::memcpy(&xv, xn + off[t] + pc.x, sizeof(V));
    for (int k = 0; k < K; ++k) acc[k][t] += d[k] * xv;
  }
}

// The whole pieces come first in the list, then those with idle lanes (row ends).
template <int K>
PYDLK_AVX512 __attribute__((always_inline)) inline void few_block(
    float* part, const float* xn, const float* dyn, const index_t* off, const Piece* pieces,
    index_t nfull, index_t npieces, index_t P) {
  constexpr int TB = few_tb(K);
  V acc[K][TB];
  for (int k = 0; k < K; ++k)
    for (int t = 0; t < TB; ++t) acc[k][t] = V{};
  for (index_t i = 0; i < nfull; ++i) few_piece<K, TB, false>(acc, xn, dyn, off, pieces[i], P);
  for (index_t i = nfull; i < npieces; ++i) few_piece<K, TB, true>(acc, xn, dyn, off, pieces[i], P);
  for (int t = 0; t < TB; ++t)
    for (int k = 0; k < K; ++k) {
      V cur;
      std::memcpy(&cur, part + (t * K + k) * kL, sizeof(V));
      cur += acc[k][t];
      std::memcpy(part + (t * K + k) * kL, &cur, sizeof(V));
    }
}

template <int K>
PYDLK_AVX512 void few_sample(float* part, const float* xn, const float* dyn, const index_t* off,
                             const Piece* pieces, index_t nfull, index_t npieces,
                             const ConvShape& s, const FewGeo& g) {
  for (index_t b = 0; b < g.nblocks; ++b)
    few_block<K>(part + b * g.tb * K * kL, xn, dyn, off + b * g.tb, pieces, nfull, npieces,
                 s.OH * s.OW);
}

PYDLK_AVX512 void few_sample_any(float* part, const float* xn, const float* dyn, const index_t* off,
                                 const Piece* pieces, index_t nfull, index_t npieces,
                                 const ConvShape& s, const FewGeo& g) {
  switch (s.K) {
    case 1: return few_sample<1>(part, xn, dyn, off, pieces, nfull, npieces, s, g);
    case 2: return few_sample<2>(part, xn, dyn, off, pieces, nfull, npieces, s, g);
    case 3: return few_sample<3>(part, xn, dyn, off, pieces, nfull, npieces, s, g);
    case 4: return few_sample<4>(part, xn, dyn, off, pieces, nfull, npieces, s, g);
    case 5: return few_sample<5>(part, xn, dyn, off, pieces, nfull, npieces, s, g);
    case 6: return few_sample<6>(part, xn, dyn, off, pieces, nfull, npieces, s, g);
    case 7: return few_sample<7>(part, xn, dyn, off, pieces, nfull, npieces, s, g);
    default: return few_sample<8>(part, xn, dyn, off, pieces, nfull, npieces, s, g);
  }
}

// dw[k][t] = sum over the lanes of (sum over blocks j of part_j[t][k][lane]), in double and
// in that fixed order: the blocks in vectors of 8 lanes, so a weight is not a chain of
// 16 * nblk dependent scalar additions.
PYDLK_AVX512 void few_sum_parts(float* dw, const float* parts, const ConvShape& s, const FewGeo& g,
                                index_t nblk) {
  typedef float F8 __attribute__((vector_size(32)));
  typedef double D8 __attribute__((vector_size(64)));
  const index_t T = s.C * s.R * s.S;
  for (index_t t = 0; t < T; ++t)
    for (index_t k = 0; k < s.K; ++k) {
      D8 lo = D8{}, hi = D8{};
      for (index_t j = 0; j < nblk; ++j) {
        F8 a, b;
        const float* p = parts + j * g.part + (t * s.K + k) * kL;
        std::memcpy(&a, p, sizeof(F8));
        std::memcpy(&b, p + 8, sizeof(F8));
        lo += __builtin_convertvector(a, D8);
        hi += __builtin_convertvector(b, D8);
      }
      const D8 sum = lo + hi;
      double acc = 0;
      for (int l = 0; l < 8; ++l) acc += sum[l];
      dw[k * T + t] = float(acc);
    }
}

// Measured against the gemm path (dw only, Xeon, 2 threads, batch 64, interleaved): LeNet
// conv1 (1->6 5x5 on 32x32) 0.19-0.22 -> 0.12-0.14 ms (batch 256: 0.75 -> 0.46-0.51; on
// 28x28 0.135-0.147 -> 0.109-0.114), 3->4 3x3 on 32x32 0.20 -> 0.12, 3->8 0.27 -> 0.24, 1->2
// 5x5 0.105 -> 0.06, 6->6 3x3 on 14x14 0.18 -> 0.10-0.13, 2->8 3x3 on 64x64 1.03 -> 0.95-1.01.
// 1x1 kernels stay a plain GEMM; a partial of more than 256 KB (C*R*S*K > 4096) would leave
// L2 once per sample.
bool few_dw_preferred(const ConvShape& s) {
  if (!(s.G == 1 && s.K >= 1 && s.K <= 8 && s.sh == 1 && s.sw == 1 && s.dh == 1 && s.dw == 1 &&
        s.R * s.S > 1 && s.C * s.R * s.S * s.K <= 4096 && s.N > 0))
    return false;
  const FewGeo g = few_geometry(s);
  return g.xbuf <= kMaxSampleBytes && dense_direct_allowed() && dense_direct_supported();
}

void few_dw_weight_grad(float* dw, const float* dy, const float* x, char* ws, const ConvShape& s,
                        int nt, index_t nblk) {
  const FewGeo g = few_geometry(s);
  const index_t HW = s.H * s.W, P = s.OH * s.OW, plane = g.Hp * g.Wp;
  // Tap t = (c, r, q) reads x_pad[c][oh + r][ow + q]: offset c*plane + r*Wp + q from pixel
  // (oh, ow)'s row start; the last block's padding taps repeat tap 0 (their sums unused).
  std::vector<index_t> off(size_t(g.nblocks * g.tb), 0);
  for (index_t c = 0; c < s.C; ++c)
    for (index_t r = 0; r < s.R; ++r)
      for (index_t q = 0; q < s.S; ++q)
        off[size_t((c * s.R + r) * s.S + q)] = c * plane + r * g.Wp + q;
  std::vector<Piece> pieces;  // whole ones first
  for (int whole = 1; whole >= 0; --whole)
    for (index_t oh = 0; oh < s.OH; ++oh)
      for (index_t ow = 0; ow < s.OW; ow += kL) {
        const index_t lanes = std::min(kL, s.OW - ow);
        if ((lanes == kL) == bool(whole))
          pieces.push_back({oh * s.OW + ow, oh * g.Wp + ow, __mmask16((1u << lanes) - 1)});
      }
  const index_t npieces = index_t(pieces.size()), nfull = s.OH * (s.OW / kL);
  float* parts = reinterpret_cast<float*>(ws + size_t(nt) * g.xbuf);
  // static: the samples split in contiguous halves as in the layers around (core affinity;
  // docs/ARCHITECTURE.md, "Threads")
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (index_t j = 0; j < nblk; ++j) {
    float* xp = reinterpret_cast<float*>(ws + size_t(thread_id()) * g.xbuf);
    float* part = parts + j * g.part;
    std::memset(part, 0, g.part * sizeof(float));
    if (g.copy) std::memset(xp, 0, g.xbuf);  // the padding; the interior is rewritten per sample
    for (index_t n = j * s.N / nblk; n < (j + 1) * s.N / nblk; ++n) {
      const float* xn = x + n * s.C * HW;
      if (g.copy) {
        for (index_t c = 0; c < s.C; ++c)
          for (index_t h = 0; h < s.H; ++h)
            std::memcpy(xp + c * plane + (h + s.ph) * g.Wp + s.pw, xn + (c * s.H + h) * s.W,
                        size_t(s.W) * sizeof(float));
        xn = xp;
      }
      few_sample_any(part, xn, dy + n * s.K * P, off.data(), pieces.data(), nfull, npieces, s, g);
    }
  }
  few_sum_parts(dw, parts, s, g, nblk);
}

}  // namespace

bool narrow_dw_preferred(const ConvShape& s) {
  // Measured against the gemm path (dw only, Xeon, 2 threads, batch 64, alternating): LeNet
  // conv2 (6->16 5x5 on 14x14) 0.48 -> 0.15 ms (batch 256: 1.47 -> 0.42), ResNet stem (3->16
  // 3x3 on 32x32) 0.33 -> 0.29, 6->16 3x3 on 32x32 0.78 -> 0.60, 4->16 5x5 on 28x28 1.51 ->
  // 0.64, 8->16 3x3 stride 2 0.11 -> 0.06. With 8 outputs or fewer most lanes idle and the
  // gemm path stays faster (LeNet conv1, 1->6: 0.13 against 0.15; 3->8: 0.20 against 0.23).
  // A sample's padded planes and transposed dy are the per-thread workspace: large images stay
  // on the gemm path, which works in chunks of bounded size.
  if (s.K <= 8) return few_dw_preferred(s);
  const bool kernel = (s.R == 3 && s.S == 3) || (s.R == 5 && s.S == 5);
  if (!(s.G == 1 && s.K > 8 && s.K <= kL && kernel && s.dh == 1 && s.dw == 1 && s.N > 0))
    return false;
  const Geo g = geometry(s);
  return g.xbuf + g.dybuf <= kMaxSampleBytes && dense_direct_allowed() && dense_direct_supported();
}

size_t narrow_dw_ws_bytes(const ConvShape& s, int nt, index_t nblk) {
  if (s.K <= 8) {
    const FewGeo g = few_geometry(s);
    return size_t(nt) * g.xbuf + align64(size_t(nblk) * g.part * sizeof(float));
  }
  const Geo g = geometry(s);
  return size_t(nt) * (g.xbuf + g.dybuf) + align64(size_t(nblk) * g.part * sizeof(float));
}

void narrow_dw_weight_grad(float* dw, const float* dy, const float* x, char* ws, const ConvShape& s,
                           int nt, index_t nblk) {
  if (s.K <= 8) return few_dw_weight_grad(dw, dy, x, ws, s, nt, nblk);
  const Geo g = geometry(s);
  const index_t RS = s.R * s.S, HW = s.H * s.W, P = s.OH * s.OW;
  float* parts = reinterpret_cast<float*>(ws + size_t(nt) * (g.xbuf + g.dybuf));
  // static: the samples split in contiguous halves as in the layers around (core affinity;
  // docs/ARCHITECTURE.md, "Threads")
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (index_t j = 0; j < nblk; ++j) {
    char* mine = ws + size_t(thread_id()) * (g.xbuf + g.dybuf);
    float* xp = reinterpret_cast<float*>(mine);
    float* dyT = reinterpret_cast<float*>(mine + g.xbuf);
    float* part = parts + j * g.part;
    std::memset(part, 0, g.part * sizeof(float));
    for (index_t n = j * s.N / nblk; n < (j + 1) * s.N / nblk; ++n) {
      pad_planes(xp, x + n * s.C * HW, s, g);
      transpose_dy(dyT, dy + n * s.K * P, s);
      sample_into(part, xp, dyT, s, g);
    }
  }
  // dw[k][c][t] = sum over blocks of part[c][t][k], in block order
  for (index_t k = 0; k < s.K; ++k)
    for (index_t ct = 0; ct < s.C * RS; ++ct) {
      double acc = 0;
      for (index_t j = 0; j < nblk; ++j) acc += parts[j * g.part + ct * kL + k];
      dw[k * s.C * RS + ct] = float(acc);
    }
}

}  // namespace pydlk
