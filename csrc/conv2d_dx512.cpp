// The input gradient of a narrow float32 convolution on AVX-512: dx rows computed in vector
// registers straight from dy, with no col buffer. The loops carry PYDLK_AVX512 (not the whole
// file: inline library templates instantiated here must stay baseline code), and
// narrow_dx_preferred() checks the CPU before any of them runs.
//
// Why: the gemm path computes dcol (C*R*S x pixels) = w^T (C*R*S x K) @ dy (K x pixels) and
// adds dcol's rows into dx (col2im). With K = 16 that product is only 16 deep, so OpenBLAS
// spends its time storing dcol, and col2im's short row adds (10 wide for LeNet's conv2) cost
// as much again: LeNet's conv2 (6->16, 5x5, 14x14, batch 64) spent 0.39 ms on dx, more than
// on its forward and weight gradient together.
//
// Layout. Stride 1, so dx[c, h, w] = sum over (k, r, s) of w[k, c, r, s] * dy[k, h+p-r, w+p-s]
// (dy zero outside its image). Per sample dy is copied into zero-bordered planes dyp (K, OH+2,
// Wq): a column border of S-1 zeros on the left and enough on the right that a 16-wide load at
// any tap's shift reads zeros outside the image, and one zero row above and below. A dx row
// (W <= 32) is one or two vectors; registers hold two consecutive rows of up to 8 channels
// (16 accumulators at most). For each (k, r, s) the two rows' shifted dy vectors are loaded
// once and multiplied by each channel's broadcast weight. The taps r run over the union of the
// two rows' valid ones: the row a tap does not reach reads the zero row, so the bordered
// planes need one row each side, not R-1.
//
// Each sample is computed whole by one thread (each thread a contiguous run of samples), so
// the result does not depend on the thread count.
#include "conv2d_dx512.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "conv2d_direct512.h"

namespace pydlk {

namespace {

constexpr index_t kL = 16;                           // floats per vector
constexpr size_t kMaxSampleBytes = size_t(8) << 20;  // per-thread dy planes at most
constexpr index_t kMaxWidth = 2 * kL;                // dx rows of one or two vectors

inline size_t align64(size_t n) { return (n + 63) / 64 * 64; }

struct Geo {
  int nv;          // vectors per dx row
  index_t co;      // left column border of dyp: S-1
  index_t Hq, Wq;  // the bordered dy planes
  size_t wt;       // bytes of the transposed weight (K, R, S, C), shared
  size_t dyp;      // bytes of one thread's dy planes
};
Geo geometry(const ConvShape& s) {
  Geo g;
  g.nv = s.W <= kL ? 1 : 2;
  g.co = s.S - 1;
  g.Hq = s.OH + 2;
  // The widest load starts at column co + 16*(nv-1) + pw (s = 0) and reads 16 floats.
  g.Wq = g.co + kL * g.nv + s.pw;
  g.wt = align64(size_t(s.K * s.R * s.S * s.C) * sizeof(float));
  g.dyp = align64(size_t(s.K * g.Hq * g.Wq) * sizeof(float));
  return g;
}

// wt[k][r][s][c] = w[k][c][r][s]: the CB weights one (k, r, s) step broadcasts are adjacent.
void transpose_weight(float* wt, const float* w, const ConvShape& s) {
  const index_t RS = s.R * s.S;
  for (index_t k = 0; k < s.K; ++k)
    for (index_t c = 0; c < s.C; ++c)
      for (index_t t = 0; t < RS; ++t) wt[(k * RS + t) * s.C + c] = w[(k * s.C + c) * RS + t];
}

// Two dx rows (h, h+1) of channels c0..c0+CB-1 of one sample. dyp: the sample's bordered dy.
template <int R, int S, int NV, int CB>
PYDLK_AVX512 void row_pair(float* dxn, const float* dyp, const float* wt, const ConvShape& s,
                           const Geo& g, index_t c0, index_t h) {
  __m512 acc[2][CB][NV];
  for (int i = 0; i < 2; ++i)
    for (int c = 0; c < CB; ++c)
      for (int v = 0; v < NV; ++v) acc[i][c][v] = _mm512_setzero_ps();
  // Taps that reach row h or row h+1 (dy row h+p-r or h+1+p-r inside [0, OH)).
  const index_t r_lo = std::max<index_t>(0, h + s.ph - (s.OH - 1));
  const index_t r_hi = std::min<index_t>(R - 1, h + 1 + s.ph);
  const index_t plane = g.Hq * g.Wq;
  for (index_t k = 0; k < s.K; ++k) {
    const float* dk = dyp + k * plane;
    const float* wk = wt + k * R * S * s.C + c0;
    for (index_t r = r_lo; r <= r_hi; ++r) {
      // Row h reads dy row h+p-r (bordered row +1), from column co + p - s for dx column 0.
      const float* d0 = dk + (h + s.ph - r + 1) * g.Wq + g.co + s.pw;
      const float* d1 = d0 + g.Wq;
      const float* wr = wk + r * S * s.C;
      for (int q = 0; q < S; ++q) {
        __m512 a[NV], b[NV];
        for (int v = 0; v < NV; ++v) {
          a[v] = _mm512_loadu_ps(d0 - q + v * kL);
          b[v] = _mm512_loadu_ps(d1 - q + v * kL);
          // Keep the shifted rows in registers: folded into each channel's multiply-add, the
          // compiler would load them CB times, and these loads straddle cache lines.
          asm("" : "+v"(a[v]), "+v"(b[v]));
        }
        const float* wq = wr + q * s.C;
        for (int c = 0; c < CB; ++c) {
          const __m512 wv = _mm512_set1_ps(wq[c]);
          for (int v = 0; v < NV; ++v) {
            acc[0][c][v] = _mm512_fmadd_ps(wv, a[v], acc[0][c][v]);
            acc[1][c][v] = _mm512_fmadd_ps(wv, b[v], acc[1][c][v]);
          }
        }
      }
    }
  }
  const index_t HW = s.H * s.W;
  for (int i = 0; i < 2 && h + i < s.H; ++i)
    for (int c = 0; c < CB; ++c)
      for (int v = 0; v < NV; ++v) {
        const index_t left = s.W - v * kL;
        const __mmask16 m = left >= kL ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
        _mm512_mask_storeu_ps(dxn + (c0 + c) * HW + (h + i) * s.W + v * kL, m, acc[i][c][v]);
      }
}

// row_pair with the channel block cb (1..CB) known at compile time.
template <int R, int S, int NV, int CB>
PYDLK_AVX512 void row_pair_cb(float* dxn, const float* dyp, const float* wt, const ConvShape& s,
                              const Geo& g, index_t c0, index_t h, index_t cb) {
  if constexpr (CB > 1) {
    if (cb < CB) return row_pair_cb<R, S, NV, CB - 1>(dxn, dyp, wt, s, g, c0, h, cb);
  }
  row_pair<R, S, NV, CB>(dxn, dyp, wt, s, g, c0, h);
}

template <int R, int S, int NV>
PYDLK_AVX512 void sample_rows(float* dxn, const float* dyp, const float* wt, const ConvShape& s,
                              const Geo& g) {
  constexpr index_t CB = 8 / NV;  // 2 rows x CB channels x NV vectors = 16 accumulators
  for (index_t c0 = 0; c0 < s.C; c0 += CB)
    for (index_t h = 0; h < s.H; h += 2)
      row_pair_cb<R, S, NV, CB>(dxn, dyp, wt, s, g, c0, h, std::min(CB, s.C - c0));
}

// dy (K, OH, OW) into the interior of dyp (its borders stay zero). The rows are at most 32
// floats: masked vector copies, not a library call per row.
PYDLK_AVX512 void fill_interior(float* dyp, const float* dyn, const ConvShape& s, const Geo& g) {
  for (index_t k = 0; k < s.K; ++k)
    for (index_t oh = 0; oh < s.OH; ++oh) {
      const float* src = dyn + (k * s.OH + oh) * s.OW;
      float* dst = dyp + (k * g.Hq + oh + 1) * g.Wq + g.co;
      for (index_t j = 0; j < s.OW; j += kL) {
        const index_t left = s.OW - j;
        const __mmask16 m = left >= kL ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
        _mm512_mask_storeu_ps(dst + j, m, _mm512_maskz_loadu_ps(m, src + j));
      }
    }
}

// One sample: dy into dyp, then dx.
void sample_dx(float* dxn, const float* dyn, float* dyp, const float* wt, const ConvShape& s,
               const Geo& g) {
  fill_interior(dyp, dyn, s, g);
  if (s.R == 3) {
    if (g.nv == 1) sample_rows<3, 3, 1>(dxn, dyp, wt, s, g);
    else sample_rows<3, 3, 2>(dxn, dyp, wt, s, g);
  } else {
    if (g.nv == 1) sample_rows<5, 5, 1>(dxn, dyp, wt, s, g);
    else sample_rows<5, 5, 2>(dxn, dyp, wt, s, g);
  }
}

}  // namespace

bool narrow_dx_preferred(const ConvShape& s) {
  // Measured against the gemm path (dx only, Xeon, 2 threads, batch 64, same process): LeNet
  // conv2 (6->16 5x5 on 14x14) 0.39 -> 0.22 ms (batch 256: 1.57 -> 0.87), 16->16 5x5 pad 2 on
  // 14x14 1.63 -> 0.58, 8->8 5x5 pad 2 0.65 -> 0.17, 6->16 3x3 pad 1 on 10x10 0.17 -> 0.11;
  // rows of two vectors: 8->16 5x5 pad 2 on 28x28 2.37 -> 1.40, 12->16 on 20x20 2.55 -> 1.40,
  // 6->16 on 24x24 1.02 -> 0.85. Fewer channels leave too few accumulators: with one input
  // channel (any width), or fewer than 6 on rows of two vectors (the ResNet stem, 3->16 on
  // 32x32: 0.40 against 0.31-0.40; 4->16 5x5 on 28x28: 0.62-0.65 against 0.54-0.65) gemm
  // stays. Layers with 3 input channels are mostly first layers, whose dx nobody asks for.
  const bool kernel = (s.R == 3 && s.S == 3) || (s.R == 5 && s.S == 5);
  if (!(s.G == 1 && kernel && s.sh == 1 && s.sw == 1 && s.dh == 1 && s.dw == 1 && s.K > 0 &&
        s.K <= kL && s.ph < s.R && s.pw < s.S && s.W <= kMaxWidth && s.N > 0 && s.OH > 0 &&
        s.OW > 0))
    return false;
  if (s.C < (s.W <= kL ? 2 : 6)) return false;
  return geometry(s).dyp <= kMaxSampleBytes && dense_direct_allowed() && dense_direct_supported();
}

size_t narrow_dx_ws_bytes(const ConvShape& s, int nt) {
  const Geo g = geometry(s);
  return g.wt + size_t(nt) * g.dyp;
}

void narrow_dx_input_grad(float* dx, const float* dy, const float* w, char* ws, const ConvShape& s,
                          int nt) {
  const Geo g = geometry(s);
  float* wt = reinterpret_cast<float*>(ws);
  transpose_weight(wt, w, s);
  const index_t CHW = s.C * s.H * s.W, KP = s.K * s.OH * s.OW;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    float* dyp = reinterpret_cast<float*>(ws + g.wt + size_t(thread_id()) * g.dyp);
    std::memset(dyp, 0, g.dyp);  // the borders; each sample overwrites the interior
    // static: the samples split in contiguous halves as in the layers around (core affinity;
    // docs/ARCHITECTURE.md, "Threads")
#pragma omp for schedule(static)
    for (index_t n = 0; n < s.N; ++n) sample_dx(dx + n * CHW, dy + n * KP, dyp, wt, s, g);
  }
}

}  // namespace pydlk
