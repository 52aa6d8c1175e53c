// Direct float32 convolution forward on AVX-512: the register-blocked loops carry
// target("avx512f...") (not the whole file: inline library templates instantiated here must
// stay baseline code for the rest of the library), and dense_direct_supported() checks the CPU
// before any of them runs.
//
// Why: im2col + GEMM runs one small product per sample (a stride-2 3x3 layer of a CIFAR
// ResNet is 32 x 144 @ 144 x 256): OpenBLAS packs the weights again for each, and the strided
// im2col copy cost as much as the product. Here the input is read in place from "phase planes"
// and every output is accumulated in registers.
//
// Layout. Per (sample, group) item the zero-padded input planes are split by stride phase:
// phase (a, b) of channel c holds the padded rows a, a + sh, ... and columns b, b + sw, ...,
// each phase plane (Hq, Wq) = (ceil(Hp / sh), ceil(Wp / sw)). Output (oh, ow) and tap (r, q)
// read padded (oh*sh + r*dh, ow*sw + q*dw), which is phase ((r*dh) % sh, (q*dw) % sw) at
// (oh + (r*dh)/sh, ow + (q*dw)/sw). So on a "wide" output grid with row pitch Wq, position
// i = oh*Wq + ow reads phase-plane element i + off[t] for tap t = (c, r, q): every tap is one
// contiguous run, for any stride and dilation. The wide grid computes (OH - 1)*Wq + OW
// positions for OH*OW outputs; the extra columns are dropped on the way out.
//
// Kernel: a block of KB = 8 output channels x NV = 3 vectors of 16 positions keeps 24
// accumulators in registers over all Cg*R*S taps; per tap 3 loads, 8 weight broadcasts and 24
// FMAs. The weights are packed once per call as [k block][tap][8] so the broadcasts read one
// contiguous line. Position blocks are the outer loop so that their input lines stay in L1
// across the output blocks.
#include "conv2d_direct512.h"

// conv2d_s2_rows.h's vector types only live inside always-inline helpers: no ABI is involved.
#pragma GCC diagnostic ignored "-Wpsabi"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "conv2d_k16.h"
#include "conv2d_s2_rows.h"

namespace pydlk {

namespace {

constexpr int kKB = 8;      // output channels per register block
constexpr int kNV = 3;      // 16-float vectors of positions per register block
constexpr index_t kL = 16;  // floats per vector
// Fewer outputs per group: conv2d.cpp's kernels. Two outputs already beat im2col + GEMM: one
// input channel, 5x5 on 28x28, N=64, 2 threads: 2 / 3 / 6 outputs 0.058 / 0.073 / 0.105 ms
// against 0.098 / 0.116 / 0.130; 3 -> 6 5x5 on 32x32 0.26 against 0.44.
constexpr index_t kDenseMinKg = 2;
constexpr index_t kDenseMaxTaps = 4608;  // taps (Cg*R*S) per output: the offset table

inline size_t align64(size_t n) { return (n + 63) / 64 * 64; }
inline index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }

struct Geo {
  index_t Hp, Wp, Hq, Wq;  // padded plane, phase plane
  index_t phases;          // sh * sw
  index_t len;             // wide positions computed: (OH - 1) * Wq + OW
  index_t bp;              // output buffer pitch (len rounded up to a vector)
};
Geo geometry(const ConvShape& s) {
  Geo g;
  g.Hp = s.H + 2 * s.ph;
  g.Wp = s.W + 2 * s.pw;
  g.Hq = ceil_div(g.Hp, s.sh);
  g.Wq = ceil_div(g.Wp, s.sw);
  g.phases = s.sh * s.sw;
  g.len = (s.OH - 1) * g.Wq + s.OW;
  g.bp = ceil_div(g.len, kL) * kL;
  return g;
}

size_t xbuf_bytes(const ConvShape& s, const Geo& g) {
  return align64(size_t(s.Cg() * g.phases * g.Hq * g.Wq) * sizeof(float));
}
size_t obuf_bytes(const ConvShape& s, const Geo& g) {
  return align64(size_t(s.Kg() * g.bp) * sizeof(float));
}
size_t wpack_bytes(const ConvShape& s) {
  return align64(size_t(s.G * ceil_div(s.Kg(), kKB) * kKB * s.Cg() * s.R * s.S) * sizeof(float));
}

typedef float V __attribute__((vector_size(64)));

// out[k][i0 + j] for k < kb, j < NV*16: bias + sum_t wp[t*8 + k] * xp[off[t] + i0 + j].
template <int KB, int NV>
PYDLK_AVX512 __attribute__((always_inline)) inline void block(float* out, index_t bp,
                                                              const float* xp, const float* wp,
                                                              const index_t* off, index_t taps,
                                                              index_t i0, const float* bias) {
  V acc[KB][NV];
  for (int k = 0; k < KB; ++k)
    for (int v = 0; v < NV; ++v) acc[k][v] = V{} + bias[k];
  for (index_t t = 0; t < taps; ++t) {
    const float* src = xp + off[t] + i0;
    V xv[NV];
    for (int v = 0; v < NV; ++v) std::memcpy(&xv[v], src + v * kL, sizeof(V));
    const float* wt = wp + t * kKB;
    for (int k = 0; k < KB; ++k) {
      const float wk = wt[k];  // scalar * vector: one broadcast (V{} + w would add a -0.0 fix)
      for (int v = 0; v < NV; ++v) acc[k][v] += wk * xv[v];
    }
  }
  for (int k = 0; k < KB; ++k)
    for (int v = 0; v < NV; ++v) std::memcpy(out + k * bp + i0 + v * kL, &acc[k][v], sizeof(V));
}

template <int NV>
PYDLK_AVX512 inline void block_any(int kb, float* out, index_t bp, const float* xp, const float* wp,
                                   const index_t* off, index_t taps, index_t i0,
                                   const float* bias) {
  switch (kb) {
    case 1: return block<1, NV>(out, bp, xp, wp, off, taps, i0, bias);
    case 2: return block<2, NV>(out, bp, xp, wp, off, taps, i0, bias);
    case 3: return block<3, NV>(out, bp, xp, wp, off, taps, i0, bias);
    case 4: return block<4, NV>(out, bp, xp, wp, off, taps, i0, bias);
    case 5: return block<5, NV>(out, bp, xp, wp, off, taps, i0, bias);
    case 6: return block<6, NV>(out, bp, xp, wp, off, taps, i0, bias);
    case 7: return block<7, NV>(out, bp, xp, wp, off, taps, i0, bias);
    default: return block<8, NV>(out, bp, xp, wp, off, taps, i0, bias);
  }
}

// The group's Cg channels of one sample, split by stride phase, written over a buffer whose
// padding positions are already zero (the caller zeroes each thread's buffer once per call:
// the interior positions are the same for every item, so per item only they are written).
// Input column w lands at padded column w + pw: phase (w + pw) % sw, index (w + pw) / sw.
// Stride 2 splits each input row in one pass into its two phases.
PYDLK_AVX512 void phase_planes(float* dst, const float* xg, const ConvShape& s, const Geo& g) {
  const index_t plane = g.Hq * g.Wq;
  for (index_t c = 0; c < s.Cg(); ++c) {
    const float* xc = xg + c * s.H * s.W;
    // padded row hp = h + ph is row i of phase a: stepped, not divided per row (two integer
    // divisions per row of 8-16 floats were most of this function's time)
    index_t a = s.ph % s.sh, i = s.ph / s.sh;
    for (index_t h = 0; h < s.H; ++h) {
      const float* xr = xc + h * s.W;
      float* rows = dst + (c * g.phases + a * s.sw) * plane + i * g.Wq;  // phase (a, 0)'s row
      if (s.sw == 1) {
        for (index_t w = 0; w < s.W; ++w) rows[w + s.pw] = xr[w];
      } else if (s.sw == 2) {
        // even input columns to phase pw % 2, odd ones to the other
        float* pe = rows + (s.pw % 2) * plane + s.pw / 2;
        float* po = rows + ((s.pw + 1) % 2) * plane + (s.pw + 1) / 2;
        if (!s2rows::split_row(pe, po, xr, s.W)) {
          const index_t half = s.W / 2;
          for (index_t m = 0; m < half; ++m) {
            pe[m] = xr[2 * m];
            po[m] = xr[2 * m + 1];
          }
          if (s.W % 2) pe[half] = xr[s.W - 1];
        }
      } else {
        for (index_t w = 0; w < s.W; ++w) {
          const index_t wp = w + s.pw;
          rows[(wp % s.sw) * plane + wp / s.sw] = xr[w];
        }
      }
      if (++a == s.sh) {
        a = 0;
        ++i;
      }
    }
  }
}

// y's Kg planes of one item from the wide buffer, without the extra columns. Vector moves,
// the row's last 1-16 floats under a mask, not memcpy (rows are short, 8 ... 32 floats, and a
// call per row cost a tenth of the product) nor a scalar loop (a third of the product's time
// on LeNet's conv2: 16 x 10 rows of 10 per sample).
PYDLK_AVX512 void copy_out(float* y, const float* out, const ConvShape& s, const Geo& g) {
  const index_t OHW = s.OH * s.OW, tail = (s.OW - 1) % kL + 1, body = s.OW - tail;
  const __mmask16 m = __mmask16((1u << tail) - 1);
  for (index_t k = 0; k < s.Kg(); ++k)
    for (index_t oh = 0; oh < s.OH; ++oh) {
      float* d = y + k * OHW + oh * s.OW;
      const float* src = out + k * g.bp + oh * g.Wq;
      for (index_t j = 0; j < body; j += kL) _mm512_storeu_ps(d + j, _mm512_loadu_ps(src + j));
      _mm512_mask_storeu_ps(d + body, m, _mm512_maskz_loadu_ps(m, src + body));
    }
}

// All Kg outputs of one item on the wide grid: out[k * bp + i], i < len.
PYDLK_AVX512 void compute_item(float* out, const Geo& g, const float* xp, const float* wp,
                               const index_t* off, index_t taps, index_t Kg, const float* b) {
  const index_t nkb = ceil_div(Kg, kKB), full = g.len / (kNV * kL) * (kNV * kL);
  float zero[kKB] = {};
  for (index_t i0 = 0; i0 < full; i0 += kNV * kL)
    for (index_t kb = 0; kb < nkb; ++kb) {
      const int kn = int(std::min<index_t>(kKB, Kg - kb * kKB));
      block_any<kNV>(kn, out + kb * kKB * g.bp, g.bp, xp, wp + kb * taps * kKB, off, taps, i0,
                     b ? b + kb * kKB : zero);
    }
  // The rest in one block of 1, 2 or 3 vectors ending at len (it may recompute a few
  // positions; two single-vector blocks for 23 positions ran at half the FMA rate).
  for (index_t i0 = full; i0 < g.len;) {
    index_t nv = std::min<index_t>(kNV, ceil_div(g.len - i0, kL));
    nv = std::min(nv, g.len / kL);
    const index_t j = std::min(i0, g.len - nv * kL);
    for (index_t kb = 0; kb < nkb; ++kb) {
      const int kn = int(std::min<index_t>(kKB, Kg - kb * kKB));
      float* o = out + kb * kKB * g.bp;
      const float* w = wp + kb * taps * kKB;
      const float* bias = b ? b + kb * kKB : zero;
      if (nv == 3) block_any<3>(kn, o, g.bp, xp, w, off, taps, j, bias);
      else if (nv == 2) block_any<2>(kn, o, g.bp, xp, w, off, taps, j, bias);
      else block_any<1>(kn, o, g.bp, xp, w, off, taps, j, bias);
    }
    i0 = j + nv * kL;
  }
}

}  // namespace

bool dense_direct_supported() { return cpu_has_avx512(); }

namespace {
std::atomic<bool> g_allowed{true};
}
bool dense_direct_allowed() { return g_allowed.load(std::memory_order_relaxed); }
void set_dense_direct_allowed(bool allowed) { g_allowed.store(allowed, std::memory_order_relaxed); }

bool dense_direct_fits(const ConvShape& s) {
  if (s.Kg() < kDenseMinKg || s.Cg() * s.R * s.S > kDenseMaxTaps) return false;
  const Geo g = geometry(s);
  return g.len >= kL;  // the last vector may end at len, never before position 0
}

namespace {
// Stride 1 with a multiple of 16 outputs and a wide grid a quarter or more larger than the
// output: the outputs-in-lanes kernel (conv2d_k16.cpp) instead. Measured (forward, N=64, 2
// threads, Zen 4, ms, wide grid / gemm / outputs in lanes): LeNet's conv2 6->16 5x5 on 14x14
// (36% extra) 0.24 / 0.38 / 0.19-0.21; 6->16 5x5 on 9x9 (64%) 0.10 / 0.14 / 0.05; 8->16 5x5
// on 12x12 (44%) 0.22 / 0.18 / 0.16-0.18; 4->16 3x3 on 6x6 0.035 / 0.024 / 0.013; 4->16 3x3
// pad 1 on 8x8 (22%) 0.057-0.069 / - / 0.052-0.057. With little extra the wide grid is faster
// (3->16 3x3 pad 1 on 32x32, 6%: 0.47 against 0.65; 6->16 5x5 pad 2 on 28x28, 14%: even).
bool k16_preferred(const ConvShape& s) {
  return k16_forward_fits(s) && geometry(s).len * 4 >= s.OH * s.OW * 5;
}
}  // namespace

bool dense_direct_preferred(const ConvShape& s) {
  // 1x1 kernels: im2col is a plain (strided) copy there and one GEMM per chunk was faster
  // (16->32 on 32x32, stride 2: 0.36 ms against 0.54).
  if (!dense_direct_allowed() || !dense_direct_supported() || s.R * s.S == 1) return false;
  if (k16_preferred(s)) return true;
  if (!dense_direct_fits(s)) return false;
  // Wide-grid waste: at most 40% more positions than outputs (as conv2d.cpp's wide kernel).
  const Geo g = geometry(s);
  return g.len * 10 <= s.OH * s.OW * 14;
}

size_t dense_direct_ws_bytes(const ConvShape& s, int slices) {
  if (k16_preferred(s)) return k16_forward_ws_bytes(s, slices);
  const Geo g = geometry(s);
  return wpack_bytes(s) + size_t(slices) * (xbuf_bytes(s, g) + obuf_bytes(s, g));
}

void dense_direct_forward(float* y, const float* x, const float* w, const float* b, char* ws,
                          const ConvShape& s, int nt, bool parallel) {
  if (k16_preferred(s)) return k16_forward(y, x, w, b, ws, s, nt, parallel);
  const Geo g = geometry(s);
  const index_t Cg = s.Cg(), Kg = s.Kg(), RS = s.R * s.S, taps = Cg * RS, HW = s.H * s.W,
                OHW = s.OH * s.OW, nkb = ceil_div(Kg, kKB), plane = g.Hq * g.Wq;
  // Weights packed [group][k block][tap][8], zero past Kg.
  float* wpack = reinterpret_cast<float*>(ws);
  for (index_t gi = 0; gi < s.G; ++gi)
    for (index_t kb = 0; kb < nkb; ++kb) {
      float* d = wpack + (gi * nkb + kb) * taps * kKB;
      for (index_t t = 0; t < taps; ++t)
        for (index_t k = 0; k < kKB; ++k) {
          const index_t kk = kb * kKB + k;
          d[t * kKB + k] = kk < Kg ? w[(gi * Kg + kk) * taps + t] : 0.0f;
        }
    }
  std::vector<index_t> off(static_cast<size_t>(taps));
  for (index_t c = 0; c < Cg; ++c)
    for (index_t r = 0; r < s.R; ++r)
      for (index_t q = 0; q < s.S; ++q) {
        const index_t ry = r * s.dh, qx = q * s.dw;
        const index_t ph = (ry % s.sh) * s.sw + qx % s.sw;
        off[size_t((c * s.R + r) * s.S + q)] =
            (c * g.phases + ph) * plane + (ry / s.sh) * g.Wq + qx / s.sw;
      }
  const size_t xb = xbuf_bytes(s, g), slice = xb + obuf_bytes(s, g);
  char* slices = ws + wpack_bytes(s);
  const int nslices = parallel ? nt : 1;
  for (int i = 0; i < nslices; ++i) std::memset(slices + i * slice, 0, xb);  // the padding
  // static: the samples split in contiguous halves as in the layers around (core affinity;
  // docs/ARCHITECTURE.md, "Threads")
#pragma omp parallel for num_threads(nt) schedule(static) if (parallel)
  for (index_t it = 0; it < s.N * s.G; ++it) {
    char* sl = slices + (parallel ? thread_id() : 0) * slice;
    float* xp = reinterpret_cast<float*>(sl);
    float* out = reinterpret_cast<float*>(sl + xb);
    const index_t n = it / s.G, gi = it % s.G;
    phase_planes(xp, x + (n * s.C + gi * Cg) * HW, s, g);
    compute_item(out, g, xp, wpack + gi * nkb * taps * kKB, off.data(), taps, Kg,
                 b ? b + gi * Kg : nullptr);
    copy_out(y + (n * s.K + gi * Kg) * OHW, out, s, g);
  }
}

}  // namespace pydlk
