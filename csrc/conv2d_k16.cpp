// Float32 convolution forward on AVX-512 with 16 output channels in the vector lanes, for
// stride-1 layers with a multiple of 16 outputs on small images. The loops carry PYDLK_AVX512
// (not the whole file: see conv2d_direct512.cpp); dense_direct_preferred() has checked the
// CPU before dense_direct_forward hands a shape here.
//
// Why: the wide-grid kernel (conv2d_direct512.cpp) puts 16 output positions of a row-pitch-Wq
// grid in the lanes. On LeNet's conv2 (6->16, 5x5, 14x14 -> 10x10) that grid has 136 positions
// for 100 outputs, computed in blocks of 48, so a third of its multiply-adds fall on columns
// that are thrown away. With the 16 outputs of one pixel in the lanes nothing is wasted: per tap
// (c, r, q) one vector of 16 weights, and for every pixel of the block one multiply-add with
// its input value broadcast from memory (vfmadd231ps with a {1to16} operand).
//
// Layout. Weights packed once per call as [k block][c][r][q][16]. Per sample (and k block) a
// block of RB output rows x CW columns (RB * CW <= 24 accumulators) runs over all C*R*S taps;
// its results go to a per-thread buffer of (OH*OW, 16) floats, which is transposed into y's 16
// planes 16 pixels at a time (four rounds of lane permutes in registers). A padded layer copies
// the sample into a zero-bordered plane buffer first; an unpadded one reads x in place.
//
// Each sample is computed whole by one thread, so the result does not depend on the thread
// count; the sums run over the taps in (c, r, q) order, as the wide-grid kernel's do.
#include "conv2d_k16.h"

#include <immintrin.h>

#include <cstring>

namespace pydlk {

namespace {

constexpr index_t kL = 16;            // floats per vector: output channels per k block
constexpr int kMaxCW = 12;            // output columns per register block
constexpr index_t kMaxTaps = 4608;    // C*R*S
constexpr index_t kMaxPixels = 4096;  // OH*OW: the per-thread output buffer

inline size_t align64(size_t n) { return (n + 63) / 64 * 64; }
inline index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }
inline __mmask16 lanes(index_t n) {
  return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n > 0 ? n : 0)) - 1);
}

struct Geo {
  bool padded;     // x is copied into zero-bordered planes first
  index_t Hp, Wp;  // the planes the taps read (x itself when not padded)
  index_t CW;      // columns per register block (the last block of a row may be narrower)
  index_t RB;      // rows per register block: 24 accumulators at most
};
Geo geometry(const ConvShape& s) {
  Geo g;
  g.padded = s.ph > 0 || s.pw > 0;
  g.Hp = s.H + 2 * s.ph;
  g.Wp = s.W + 2 * s.pw;
  g.CW = ceil_div(s.OW, ceil_div(s.OW, kMaxCW));  // even chunks: 28 columns as 10 + 9 + 9
  g.RB = g.CW <= 8 ? 3 : 2;
  return g;
}
size_t wpack_bytes(const ConvShape& s) { return align64(size_t(s.K * s.C * s.R * s.S) * 4); }
size_t xbuf_bytes(const ConvShape& s, const Geo& g) {
  return g.padded ? align64(size_t(s.C * g.Hp * g.Wp) * 4) : 0;
}
size_t obuf_bytes(const ConvShape& s) { return align64(size_t(s.OH * s.OW * kL) * 4); }

// out[(i * OW + j) * 16 + k] = bias[k] + sum over taps (c, r, q) of wk[tap][k] *
// x[c][i + r][j + q] for i < RB, j < CW; xp at the block's first input pixel, wk the k
// block's packed weights.
template <int RB, int CW>
PYDLK_AVX512 void block(float* out, index_t OW, const float* xp, index_t Wp, index_t plane,
                        const float* wk, index_t C, index_t R, index_t S, const float* bias) {
  __m512 acc[RB][CW];
  const __m512 b0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
  for (int i = 0; i < RB; ++i)
    for (int j = 0; j < CW; ++j) acc[i][j] = b0;
  for (index_t c = 0; c < C; ++c)
    for (index_t r = 0; r < R; ++r) {
      const float* xr = xp + c * plane + r * Wp;
      const float* wr = wk + (c * R + r) * S * kL;
      for (index_t q = 0; q < S; ++q) {
        const __m512 wv = _mm512_load_ps(wr + q * kL);
        for (int i = 0; i < RB; ++i)
          for (int j = 0; j < CW; ++j)
            acc[i][j] = _mm512_fmadd_ps(wv, _mm512_set1_ps(xr[i * Wp + j + q]), acc[i][j]);
      }
    }
  for (int i = 0; i < RB; ++i)
    for (int j = 0; j < CW; ++j) _mm512_store_ps(out + (i * OW + j) * kL, acc[i][j]);
}

using BlockFn = void (*)(float*, index_t, const float*, index_t, index_t, const float*, index_t,
                         index_t, index_t, const float*);

template <int RB, int CW = 1>
constexpr BlockFn block_for(int cw) {
  if constexpr (CW > kMaxCW) {
    return nullptr;
  } else {
    if (cw == CW) {
      if constexpr (RB * CW <= 24) return &block<RB, CW>;
      return nullptr;
    }
    return block_for<RB, CW + 1>(cw);
  }
}
BlockFn block_fn(index_t rb, index_t cw) {
  return rb == 1 ? block_for<1>(int(cw)) : rb == 2 ? block_for<2>(int(cw)) : block_for<3>(int(cw));
}

// The 16x16 transpose's lane indices for _mm512_permutex2var_ps (16 + j picks lane j of the
// second operand), built at compile time: round B = 1 << LB swaps, between rows i and i + B,
// the B-wide column blocks off the diagonal (row i's columns with bit B set <-> row i + B's
// columns with it clear).
struct SwapTables {
  int lo[4][16], hi[4][16];
};
constexpr SwapTables make_swap_tables() {
  SwapTables t{};
  for (int lb = 0; lb < 4; ++lb)
    for (int j = 0; j < 16; ++j) {
      const int B = 1 << lb;
      t.lo[lb][j] = (j & B) ? 16 + j - B : j;
      t.hi[lb][j] = (j & B) ? 16 + j : j + B;
    }
  return t;
}
constexpr SwapTables kSwap = make_swap_tables();

template <int LB>
PYDLK_AVX512 inline void swap_blocks(__m512* r) {
  constexpr int B = 1 << LB;
  const __m512i il = _mm512_loadu_si512(kSwap.lo[LB]), ih = _mm512_loadu_si512(kSwap.hi[LB]);
  for (int i = 0; i < 16; ++i)
    if (!(i & B)) {
      const __m512 a = r[i], b = r[i + B];
      r[i] = _mm512_permutex2var_ps(a, il, b);
      r[i + B] = _mm512_permutex2var_ps(a, ih, b);
    }
}

// y's 16 planes (pitch OHW) from buf (OHW, 16): 16 pixels at a time, transposed in registers.
PYDLK_AVX512 void transpose_out(float* y, const float* buf, index_t OHW) {
  for (index_t p0 = 0; p0 < OHW; p0 += kL) {
    const index_t n = OHW - p0 < kL ? OHW - p0 : kL;
    __m512 r[16];
    for (int i = 0; i < 16; ++i)
      r[i] = i < n ? _mm512_load_ps(buf + (p0 + i) * kL) : _mm512_setzero_ps();
    swap_blocks<3>(r);
    swap_blocks<2>(r);
    swap_blocks<1>(r);
    swap_blocks<0>(r);
    const __mmask16 m = lanes(n);
    for (int k = 0; k < 16; ++k) _mm512_mask_storeu_ps(y + k * OHW + p0, m, r[k]);
  }
}

// One sample: every k block's outputs, pixel blocks of RB rows x CW columns.
PYDLK_AVX512 void sample(float* yn, const float* xp, const float* wpack, const float* b, float* buf,
                         const ConvShape& s, const Geo& g) {
  const index_t taps = s.C * s.R * s.S, OHW = s.OH * s.OW, plane = g.Hp * g.Wp;
  for (index_t kb = 0; kb < s.K / kL; ++kb) {
    const float* wk = wpack + kb * taps * kL;
    const float* bk = b ? b + kb * kL : nullptr;
    for (index_t oh = 0; oh < s.OH; oh += g.RB) {
      const index_t rb = s.OH - oh < g.RB ? s.OH - oh : g.RB;
      for (index_t ow = 0; ow < s.OW; ow += g.CW) {
        const index_t cw = s.OW - ow < g.CW ? s.OW - ow : g.CW;
        block_fn(rb, cw)(buf + (oh * s.OW + ow) * kL, s.OW, xp + oh * g.Wp + ow, g.Wp, plane, wk,
                         s.C, s.R, s.S, bk);
      }
    }
    transpose_out(yn + kb * kL * OHW, buf, OHW);
  }
}

// x's C planes into the interior of the zero-bordered planes xp (borders already zero).
void pad_planes(float* xp, const float* xn, const ConvShape& s, const Geo& g) {
  for (index_t c = 0; c < s.C; ++c)
    for (index_t h = 0; h < s.H; ++h)
      std::memcpy(xp + (c * g.Hp + h + s.ph) * g.Wp + s.pw, xn + (c * s.H + h) * s.W,
                  size_t(s.W) * 4);
}

}  // namespace

bool k16_forward_fits(const ConvShape& s) {
  return s.G == 1 && s.sh == 1 && s.sw == 1 && s.dh == 1 && s.dw == 1 && s.K > 0 && s.K % kL == 0 &&
         s.C > 0 && s.C * s.R * s.S <= kMaxTaps && s.OH > 0 && s.OW > 0 &&
         s.OH * s.OW <= kMaxPixels;
}

size_t k16_forward_ws_bytes(const ConvShape& s, int slices) {
  const Geo g = geometry(s);
  return wpack_bytes(s) + size_t(slices) * (xbuf_bytes(s, g) + obuf_bytes(s));
}

void k16_forward(float* y, const float* x, const float* w, const float* b, char* ws,
                 const ConvShape& s, int nt, bool parallel) {
  const Geo g = geometry(s);
  const index_t taps = s.C * s.R * s.S, CHW = s.C * s.H * s.W, KOHW = s.K * s.OH * s.OW;
  // wpack[kb][tap][k] = w[kb*16 + k][tap]
  float* wpack = reinterpret_cast<float*>(ws);
  for (index_t kb = 0; kb < s.K / kL; ++kb)
    for (index_t t = 0; t < taps; ++t)
      for (index_t k = 0; k < kL; ++k)
        wpack[(kb * taps + t) * kL + k] = w[(kb * kL + k) * taps + t];
  char* slices = ws + wpack_bytes(s);
  const size_t xb = xbuf_bytes(s, g), slice = xb + obuf_bytes(s);
  const int nslices = parallel ? nt : 1;
  for (int i = 0; i < nslices; ++i) std::memset(slices + i * slice, 0, xb);  // the borders
  // static: the samples split in contiguous halves as in the layers around (core affinity;
  // docs/ARCHITECTURE.md, "Threads")
#pragma omp parallel for num_threads(nt) schedule(static) if (parallel)
  for (index_t n = 0; n < s.N; ++n) {
    char* sl = slices + (parallel ? thread_id() : 0) * slice;
    const float* xp = x + n * CHW;
    if (g.padded) {
      pad_planes(reinterpret_cast<float*>(sl), xp, s, g);
      xp = reinterpret_cast<const float*>(sl);
    }
    sample(y + n * KOHW, xp, wpack, b, reinterpret_cast<float*>(sl + xb), s, g);
  }
}

}  // namespace pydlk
