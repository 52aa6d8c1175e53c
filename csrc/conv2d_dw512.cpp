// The weight gradient of a float32 convolution with at most 16 outputs, on AVX-512: one vector
// holds a tap's gradient for all the outputs. The loops carry PYDLK_AVX512 (not the whole
// file: inline library templates instantiated here must stay baseline code), and
// narrow_dw_preferred() checks the CPU before any of them runs.
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
// The samples are split into nblk fixed blocks (as conv2d.cpp's gemm path), handed out to the
// threads dynamically; each block sums into its own partial, and the partials are added in a
// fixed order in double, so the result does not depend on the thread count.
#include "conv2d_dw512.h"

#include <immintrin.h>

#include <cstring>

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

}  // namespace

bool narrow_dw_preferred(const ConvShape& s) {
  // Measured against the gemm path (dw only, Xeon, 2 threads, batch 64, alternating): LeNet
  // conv2 (6->16 5x5 on 14x14) 0.48 -> 0.15 ms (batch 256: 1.47 -> 0.42), ResNet stem (3->16
  // 3x3 on 32x32) 0.33 -> 0.29, 6->16 3x3 on 32x32 0.78 -> 0.60, 4->16 5x5 on 28x28 1.51 ->
  // 0.64, 8->16 3x3 stride 2 0.11 -> 0.06. With 8 outputs or fewer most lanes idle and the
  // gemm path stays faster (LeNet conv1, 1->6: 0.13 against 0.15; 3->8: 0.20 against 0.23).
  // A sample's padded planes and transposed dy are the per-thread workspace: large images stay
  // on the gemm path, which works in chunks of bounded size.
  const bool kernel = (s.R == 3 && s.S == 3) || (s.R == 5 && s.S == 5);
  if (!(s.G == 1 && s.K > 8 && s.K <= kL && kernel && s.dh == 1 && s.dw == 1 && s.N > 0))
    return false;
  const Geo g = geometry(s);
  return g.xbuf + g.dybuf <= kMaxSampleBytes && dense_direct_allowed() && dense_direct_supported();
}

size_t narrow_dw_ws_bytes(const ConvShape& s, int nt, index_t nblk) {
  const Geo g = geometry(s);
  return size_t(nt) * (g.xbuf + g.dybuf) + align64(size_t(nblk) * g.part * sizeof(float));
}

void narrow_dw_weight_grad(float* dw, const float* dy, const float* x, char* ws, const ConvShape& s,
                           int nt, index_t nblk) {
  const Geo g = geometry(s);
  const index_t RS = s.R * s.S, HW = s.H * s.W, P = s.OH * s.OW;
  float* parts = reinterpret_cast<float*>(ws + size_t(nt) * (g.xbuf + g.dybuf));
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1)
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
