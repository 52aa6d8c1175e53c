// Direct bf16 convolution with vdpbf16ps (AVX512_BF16, no AMX needed), forward and both
// gradients side by side: the float32 direct kernel's layout (conv2d_direct512.cpp) with
// channel pairs in place of channels.
//
// Why: the packed path (bf16_conv.cpp) builds an im2col panel for every 32 output pixels; with
// 16-64 output channels that packing cost as much as the products, and the bf16 layers of a
// CIFAR ResNet ran no faster than the float32 ones (Winograd and direct) on a Zen 4. Here the
// input is rounded to bf16 once per sample, into phase planes, and every output stays in
// registers over all taps. Measured per layer of ResNet-8 (batch 64, 2 threads, Zen 4), forward
// / input gradient / weight gradient in ms, packed -> direct: 16->16 on 32x32 1.53 / 1.88 / 1.94
// -> 0.87 / 0.87 / 0.98; 16->32 at stride 2 1.24 / 1.35 / 0.91 -> 0.51 / 0.79 / 0.60.
//
// Layout. vdpbf16ps multiplies pairs: acc[i] += a[2i] * b[2i] + a[2i+1] * b[2i+1]. The pair is
// two neighbouring input channels (2c, 2c+1) at the same pixel, one 32-bit slot. Per sample the
// zero-padded input is split by stride phase as in conv2d_direct512.cpp: phase (a, b) of
// channel pair cp holds padded rows a, a + sh, ... and columns b, b + sw, ..., planes (Hq, Wq).
// On the wide output grid (row pitch Wq) position i reads plane element i + off[t] for pair tap
// t = (cp, r, q), one contiguous run for any stride and dilation. An odd channel count leaves
// the last pair's high half zero, in the planes and in the weights.
//
// Kernel: KB = 8 output channels x NV = 3 vectors of 16 positions in 24 accumulators; per pair
// tap 3 loads, 8 weight-pair broadcasts and 24 vdpbf16ps (48 multiply-adds per lane). Weights
// are packed once per call as [k block][pair tap][8].
//
// This file is compiled with -mavx512bf16 (CMakeLists.txt) and instantiates no library
// template; callers check bf16_cpu_supported() first.
#include <cstring>

#include "bf16_conv.h"
#include "conv_phases.h"
#include "prefetch.h"

#if defined(__AVX512BF16__)
#include <immintrin.h>

namespace pydlk {

namespace {

constexpr int kKB = 8;              // output channels per register block
constexpr int kNV = 3;              // 16-slot vectors of positions per register block
constexpr index_t kL = 16;          // slots per vector
constexpr index_t kMinK = 8;        // fewer outputs: the packed path
constexpr index_t kMaxTaps = 4608;  // pair taps (ceil(C/2) * R * S) per output

inline index_t imin(index_t a, index_t b) { return a < b ? a : b; }
inline index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }
inline size_t align64(size_t n) { return (n + 63) / 64 * 64; }
inline __mmask16 lanes(index_t n) {
  return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n > 0 ? n : 0)) - 1);
}

// float32 -> bf16 bits, round to nearest even (as bf16_round in bf16_gemm.h, kept local so that
// no AVX-512 copy of a shared inline function exists).
inline uint32_t round_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
  return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

struct Geo {
  index_t Hq, Wq;  // phase plane
  index_t phases;  // sh * sw
  index_t plane;   // Hq * Wq slots
  index_t CP;      // channel pairs
  index_t taps;    // CP * R * S
  index_t len;     // wide positions computed: (OH - 1) * Wq + OW
  index_t bp;      // output buffer pitch (len rounded up to a vector)
};
Geo geometry(const ConvShape& s) {
  Geo g;
  g.Hq = ceil_div(s.H + 2 * s.ph, s.sh);
  g.Wq = ceil_div(s.W + 2 * s.pw, s.sw);
  g.phases = s.sh * s.sw;
  g.plane = g.Hq * g.Wq;
  g.CP = (s.C + 1) / 2;
  g.taps = g.CP * s.R * s.S;
  g.len = (s.OH - 1) * g.Wq + s.OW;
  g.bp = ceil_div(g.len, kL) * kL;
  return g;
}
// Workspace pieces, in this order: packed weights, tap offsets, then per thread the planes
// (plus one vector of slack: the last block may read up to a vector past len) and the output.
size_t wpack_bytes(const ConvShape& s, const Geo& g) {
  return align64(size_t(ceil_div(s.K, kKB) * kKB * g.taps) * 4);
}
size_t off_bytes(const Geo& g) { return align64(size_t(g.taps) * sizeof(index_t)); }
size_t planes_bytes(const Geo& g) { return align64(size_t(g.CP * g.phases * g.plane + kL) * 4); }
size_t out_bytes(const ConvShape& s, const Geo& g) { return align64(size_t(s.K * g.bp) * 4); }

// 16 pairs (a[j], b[j]) from 16 floats of channel 2c (a) and 2c+1 (b). The maskz forms with a
// full mask: GCC 12 warns (wrongly) that the plain ones read an uninitialised register.
inline __m512i pair16(__m512 a, __m512 b) {
  __m512i lo = _mm512_maskz_cvtepu16_epi32(0xffff, (__m256i)_mm512_cvtneps_pbh(a));
  __m512i hi = _mm512_maskz_cvtepu16_epi32(0xffff, (__m256i)_mm512_cvtneps_pbh(b));
  return _mm512_or_si512(lo, _mm512_maskz_slli_epi32(0xffff, hi, 16));
}

// off[(c, r, q)]: where tap (r, q) of channel (or channel pair) c reads its phase planes, laid
// out as `channels` x phases planes of `stride` slots each; row_used marks the row phases some
// tap reads. Shared by the forward (pairs) and the weight gradient (channels).
void tap_offsets(index_t* off, bool* row_used, index_t channels, index_t stride, const ConvShape& s,
                 const Geo& g) {
  for (index_t c = 0; c < channels; ++c)
    for (index_t r = 0; r < s.R; ++r)
      for (index_t q = 0; q < s.S; ++q) {
        const index_t ry = r * s.dh, qx = q * s.dw;
        const index_t ph = (ry % s.sh) * s.sw + qx % s.sw;
        row_used[ry % s.sh] = true;
        off[(c * s.R + r) * s.S + q] =
            (c * g.phases + ph) * stride + (ry / s.sh) * g.Wq + qx / s.sw;
      }
}

// One sample's channel pairs, rounded to bf16 and split by stride phase, written over a buffer
// whose padding positions are already zero (they are the same for every sample). Input column
// w lands at padded column w + pw: phase (w + pw) % sw, index (w + pw) / sw. Rows of a phase no
// tap reads (a 1x1 kernel at a stride) are skipped.
void phase_planes(uint32_t* dst, const float* x, const ConvShape& s, const Geo& g,
                  const bool* row_used) {
  const index_t HW = s.H * s.W;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512 zero = _mm512_setzero_ps();
  for (index_t cp = 0; cp < g.CP; ++cp) {
    const float* x0 = x + 2 * cp * HW;
    const bool has1 = 2 * cp + 1 < s.C;
    for (index_t h = 0; h < s.H; ++h) {
      const index_t hp = h + s.ph, a = hp % s.sh, i = hp / s.sh;
      if (!row_used[a]) continue;
      const float* r0 = x0 + h * s.W;
      const float* r1 = r0 + HW;
      uint32_t* rows = dst + (cp * g.phases + a * s.sw) * g.plane + i * g.Wq;  // phase (a, 0)
      if (s.sw == 1) {
        for (index_t w = 0; w < s.W; w += kL) {
          const __mmask16 m = lanes(s.W - w);
          __m512 b = has1 ? _mm512_maskz_loadu_ps(m, r1 + w) : zero;
          _mm512_mask_storeu_epi32(rows + s.pw + w, m, pair16(_mm512_maskz_loadu_ps(m, r0 + w), b));
        }
      } else if (s.sw == 2) {
        // Even input columns go to phase pw % 2, odd ones to the other.
        uint32_t* pe = rows + (s.pw % 2) * g.plane + s.pw / 2;
        uint32_t* po = rows + ((s.pw + 1) % 2) * g.plane + (s.pw + 1) / 2;
        for (index_t w = 0; w < s.W; w += 2 * kL) {
          const __mmask16 m0 = lanes(s.W - w), m1 = lanes(s.W - w - kL);
          __m512 a0 = _mm512_maskz_loadu_ps(m0, r0 + w),
                 a1 = _mm512_maskz_loadu_ps(m1, r0 + w + kL);
          __m512 b0 = has1 ? _mm512_maskz_loadu_ps(m0, r1 + w) : zero;
          __m512 b1 = has1 ? _mm512_maskz_loadu_ps(m1, r1 + w + kL) : zero;
          const index_t m = w / 2, ne = (s.W - w + 1) / 2, no = (s.W - w) / 2;
          _mm512_mask_storeu_epi32(
              pe + m, lanes(ne),
              pair16(_mm512_permutex2var_ps(a0, even, a1), _mm512_permutex2var_ps(b0, even, b1)));
          _mm512_mask_storeu_epi32(
              po + m, lanes(no),
              pair16(_mm512_permutex2var_ps(a0, odd, a1), _mm512_permutex2var_ps(b0, odd, b1)));
        }
      } else {
        for (index_t w = 0; w < s.W; ++w) {
          const index_t wp = w + s.pw;
          rows[(wp % s.sw) * g.plane + wp / s.sw] =
              round_bits(r0[w]) | (has1 ? round_bits(r1[w]) << 16 : 0u);
        }
      }
    }
  }
}

// out[k][i0 + j] for k < KB, j < NV*16: bias + sum over pair taps t of wp[t*8 + k] . xp[off[t] +
// i0 + j] (a pair dot product per slot).
template <int KB, int NV>
__attribute__((always_inline)) inline void block(float* out, index_t bp, const uint32_t* xp,
                                                 const uint32_t* wp, const index_t* off,
                                                 index_t taps, index_t i0, const float* bias) {
  __m512 acc[KB][NV];
#pragma GCC unroll 8
  for (int k = 0; k < KB; ++k)
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) acc[k][v] = _mm512_set1_ps(bias[k]);
  for (index_t t = 0; t < taps; ++t) {
    const uint32_t* src = xp + off[t] + i0;
    __m512bh xv[NV];
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) xv[v] = (__m512bh)_mm512_loadu_si512(src + v * kL);
    const uint32_t* wt = wp + t * kKB;
#pragma GCC unroll 8
    for (int k = 0; k < KB; ++k) {
      const __m512bh wk = (__m512bh)_mm512_set1_epi32((int)wt[k]);
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) acc[k][v] = _mm512_dpbf16_ps(acc[k][v], wk, xv[v]);
    }
  }
#pragma GCC unroll 8
  for (int k = 0; k < KB; ++k)
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(out + k * bp + i0 + v * kL, acc[k][v]);
}

template <int NV>
void block_any(int kb, float* out, index_t bp, const uint32_t* xp, const uint32_t* wp,
               const index_t* off, index_t taps, index_t i0, const float* bias) {
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

// All nout outputs of one sample on a wide grid of len positions: out[k * bp + i], over taps
// pair taps. Position blocks are the outer loop so that their input lines stay in L1 across the
// output blocks.
// pf[0..npf): memory for the next sample (see prefetch.h), issued across the position blocks.
void compute_sample(float* out, index_t nout, index_t len, index_t bp, const uint32_t* xp,
                    const uint32_t* wp, const index_t* off, index_t taps, const float* b,
                    LinePrefetch* pf = nullptr, int npf = 0) {
  const index_t nkb = ceil_div(nout, kKB), step = kNV * kL, full = len / step * step;
  const float zero[kKB] = {};
  index_t per[2] = {0, 0};  // npf <= 2
  for (int i = 0; i < npf; ++i) per[i] = pf[i].per_step(full / step);
  for (index_t i0 = 0; i0 < full; i0 += step) {
    for (int i = 0; i < npf; ++i) pf[i].issue(per[i]);
    for (index_t kb = 0; kb < nkb; ++kb)
      block_any<kNV>(int(imin(kKB, nout - kb * kKB)), out + kb * kKB * bp, bp, xp,
                     wp + kb * taps * kKB, off, taps, i0, b ? b + kb * kKB : zero);
  }
  // The rest in blocks of 1, 2 or 3 vectors, the last ending at len (it may recompute a few
  // positions; the wide grid holds at least one vector).
  for (index_t i0 = full; i0 < len;) {
    const index_t nv = imin(imin(kNV, ceil_div(len - i0, kL)), len / kL);
    const index_t j = imin(i0, len - nv * kL);
    for (index_t kb = 0; kb < nkb; ++kb) {
      const int kn = int(imin(kKB, nout - kb * kKB));
      float* o = out + kb * kKB * bp;
      const uint32_t* w = wp + kb * taps * kKB;
      const float* bias = b ? b + kb * kKB : zero;
      if (nv == 3) block_any<3>(kn, o, bp, xp, w, off, taps, j, bias);
      else if (nv == 2) block_any<2>(kn, o, bp, xp, w, off, taps, j, bias);
      else block_any<1>(kn, o, bp, xp, w, off, taps, j, bias);
    }
    i0 = j + nv * kL;
  }
}

// y's K planes of one sample from the wide buffer, without the extra columns.
void copy_out(float* y, const float* out, const ConvShape& s, const Geo& g) {
  const index_t OHW = s.OH * s.OW;
  for (index_t k = 0; k < s.K; ++k)
    for (index_t oh = 0; oh < s.OH; ++oh) {
      const float* src = out + k * g.bp + oh * g.Wq;
      float* d = y + k * OHW + oh * s.OW;
      for (index_t j = 0; j < s.OW; j += kL) {
        const __mmask16 m = lanes(s.OW - j);
        _mm512_mask_storeu_ps(d + j, m, _mm512_maskz_loadu_ps(m, src + j));
      }
    }
}

// ---- Input gradient at a stride ----------------------------------------------------------------
//
// dx[c][ih][iw] = sum over k, r, q of w[k][c][r][q] * dy[k][oh][ow] where oh*sh + r*dh - ph = ih
// (and the same across). Split dx by output phase: ih = sh*u + a. Only the taps r with
// r*dh = a + ph (mod sh) reach phase a, from dy row u - e_r, e_r = (r*dh - a - ph) / sh. So
// each phase (a, b) of dx is a stride-1 correlation of dy (K channels, in pairs) with its own
// few taps: the forward kernel above on one padded dy plane, a tap list per phase, and the
// results written back at the stride. The phases share out the R*S taps, so nothing is
// multiplied by an inserted zero (as the dilated-input form would) and no column matrix or
// col2im pass is needed.
struct DxGeo {
  index_t T, L;    // dy's padding above and left: the largest e_r and f_q (or 0)
  index_t Hd, Wd;  // the padded dy plane
  index_t KP;      // dy channel pairs
  index_t bp;      // output buffer pitch: the largest phase grid, rounded up to a vector
  index_t taps;    // KP * R * S: all phases' taps together
};
// Positions of phase (a, b)'s wide grid (row pitch Wd); 0 where the phase holds no pixel of dx.
inline index_t phase_len(const ConvShape& s, index_t Wd, index_t a, index_t b) {
  const index_t U = phase_count(s.H, a, s.sh), V = phase_count(s.W, b, s.sw);
  return U > 0 && V > 0 ? (U - 1) * Wd + V : 0;
}

// Along one axis (input n, output on, kernel k, dilation d, padding p, stride st): the padding
// dy needs before its first value (the largest shift of a tap) and after its last (the rows or
// columns a phase's last output reads past dy's end).
void axis_pads(index_t n, index_t on, index_t k, index_t d, index_t p, index_t st, index_t& before,
               index_t& after) {
  before = after = 0;
  for (index_t a = 0; a < st; ++a) {
    if (phase_count(n, a, st) == 0) continue;
    for (index_t r = 0; r < k; ++r)
      if (tap_in(r, d, a, p, st)) {
        const index_t e = shift_of(r, d, a, p, st);
        before = e > before ? e : before;
        const index_t past = phase_count(n, a, st) - 1 - e - (on - 1);
        after = past > after ? past : after;
      }
  }
}

DxGeo dx_geometry(const ConvShape& s) {
  DxGeo q;
  q.KP = (s.K + 1) / 2;
  q.taps = q.KP * s.R * s.S;
  index_t below = 0, right = 0;
  axis_pads(s.H, s.OH, s.R, s.dh, s.ph, s.sh, q.T, below);
  axis_pads(s.W, s.OW, s.S, s.dw, s.pw, s.sw, q.L, right);
  q.Hd = q.T + s.OH + below;
  q.Wd = q.L + s.OW + right;
  q.bp = 0;
  for (index_t a = 0; a < s.sh; ++a)
    for (index_t b = 0; b < s.sw; ++b) {
      const index_t len = phase_len(s, q.Wd, a, b);
      q.bp = len > q.bp ? len : q.bp;
    }
  q.bp = ceil_div(q.bp, kL) * kL;
  return q;
}
size_t dx_planes_bytes(const DxGeo& q) { return align64(size_t(q.KP * q.Hd * q.Wd + 2 * kL) * 4); }
// Column stride 2 keeps both column phases of a row phase (two output buffers) and writes dx
// rows whole, interleaved in registers (merge_columns).
inline bool dx_merged(const ConvShape& s) { return s.sw == 2 && s.W >= 2; }
size_t dx_slice_bytes(const ConvShape& s, const DxGeo& q) {
  return dx_planes_bytes(q) + (dx_merged(s) ? 2 : 1) * align64(size_t(s.C * q.bp) * 4);
}

// dx rows u * sh + a of all C channels from the two column phases of row phase a: e (phase
// (a, 0): even columns) and o (phase (a, 1): odd columns), rows at pitch Wd. Stored whole, 32
// columns at a time: scattering them at stride 2 one float at a time took about a third of
// the input gradient of ResNet's stride-2 layers.
void merge_columns(float* dxn, const float* e, const float* o, index_t U, const ConvShape& s,
                   const DxGeo& q, index_t a) {
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
  const index_t HW = s.H * s.W, V0 = (s.W + 1) / 2, V1 = s.W / 2;
  for (index_t c = 0; c < s.C; ++c)
    for (index_t u = 0; u < U; ++u) {
      const float* er = e + c * q.bp + u * q.Wd;
      const float* orow = o + c * q.bp + u * q.Wd;
      float* d = dxn + c * HW + (u * s.sh + a) * s.W;
      for (index_t j = 0, v = 0; j < s.W; j += 2 * kL, v += kL) {
        const __m512 ev = _mm512_maskz_loadu_ps(lanes(V0 - v), er + v);
        const __m512 ov = _mm512_maskz_loadu_ps(lanes(V1 - v), orow + v);
        _mm512_mask_storeu_ps(d + j, lanes(s.W - j), _mm512_permutex2var_ps(ev, lo, ov));
        _mm512_mask_storeu_ps(d + j + kL, lanes(s.W - j - kL), _mm512_permutex2var_ps(ev, hi, ov));
      }
    }
}
size_t dx_fixed_bytes(const ConvShape& s, const DxGeo& q) {
  return align64(size_t(ceil_div(s.C, kKB) * kKB * q.taps) * 4) +
         align64(size_t(q.taps) * sizeof(index_t));
}

// ---- Weight gradient --------------------------------------------------------------------------
//
// dw[k][c][r][q] = sum over samples n and outputs (oh, ow) of dy[n][k][oh][ow] * x at the pixel
// that output read through tap (c, r, q). On the wide grid that is a correlation: with dy spread
// to row pitch Wq (zero in the extra columns) as Y[k][i] and the phase planes of x as X,
// dw[k][t] = sum over i of Y[k][i] * X[i + off[t]]. A chunk of B samples is laid end to end,
// sample b at i + b * plane in both, so one run of depth D = B * plane covers them all (Y is zero
// past each sample's len). The pairs vdpbf16ps needs run along that depth: (i, i+1). As bf16
// arrays, 16 consecutive pairs starting at any element are one 64-byte load, so X needs no
// second copy for odd offsets. Kernel: GK = 4 outputs x GT = 6 taps in 24 accumulators; per 32
// positions 4 + 6 loads and 24 vdpbf16ps; the sums are added into the thread's float partial
// once per chunk. As on the other paths that compute the wide grid, an Inf in x can reach dw as
// NaN (Inf x 0) through a dropped column.
constexpr int kGK = 4, kGT = 6;

struct GradGeo {
  Geo g;
  index_t B;      // samples per chunk
  index_t D;      // depth of a full chunk: B * plane, even
  index_t taps;   // C * R * S (single channels here, not pairs)
  index_t slack;  // zero elements after X: the furthest tap reaches past a plane's end
};
GradGeo grad_geometry(const ConvShape& s, index_t B) {
  GradGeo q;
  q.g = geometry(s);
  q.B = B;
  q.D = (B * q.g.plane + 1) / 2 * 2;
  q.taps = s.C * s.R * s.S;
  q.slack = q.g.plane + 64;
  return q;
}
// Samples per chunk: X and Y of a chunk (bf16) within about 768 KiB, so that they stay in L2.
index_t grad_chunk(const ConvShape& s) {
  const Geo g = geometry(s);
  const index_t per = (s.C * g.phases + s.K) * g.plane * 2;
  index_t B = (768 * 1024) / (per > 0 ? per : 1);
  return B < 1 ? 1 : (B > s.N ? s.N : B);
}
size_t grad_x_bytes(const ConvShape& s, const GradGeo& q) {
  return align64(size_t(s.C * q.g.phases * q.D + q.slack) * 2);
}
size_t grad_y_bytes(const ConvShape& s, const GradGeo& q) {
  return align64(size_t(s.K * q.D + 64) * 2);
}
size_t grad_slice_bytes(const ConvShape& s, const GradGeo& q) {
  return grad_x_bytes(s, q) + grad_y_bytes(s, q) + align64(size_t(s.K * q.taps) * 4);
}

inline __m256i bf16x16(__m512 v) { return (__m256i)_mm512_cvtneps_pbh(v); }

// Sample b of the chunk: its channels rounded to bf16 into the phase planes of X (layout
// [c][phase][b][plane], padding already zero) and its dy spread to the wide grid in Y
// ([k][b * plane + i]; the extra columns already zero).
void grad_fill(uint16_t* X, uint16_t* Y, const float* x, const float* dy, index_t b,
               const ConvShape& s, const GradGeo& q, const bool* row_used) {
  const Geo& g = q.g;
  const index_t HW = s.H * s.W;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (index_t c = 0; c < s.C; ++c)
    for (index_t h = 0; h < s.H; ++h) {
      const index_t hp = h + s.ph, a = hp % s.sh, i = hp / s.sh;
      if (!row_used[a]) continue;
      const float* xr = x + c * HW + h * s.W;
      // phase (a, 0)'s row i of sample b; phase (a, e) is e * D further
      uint16_t* rows = X + (c * g.phases + a * s.sw) * q.D + b * g.plane + i * g.Wq;
      if (s.sw == 1) {
        for (index_t w = 0; w < s.W; w += kL) {
          const __mmask16 m = lanes(s.W - w);
          _mm256_mask_storeu_epi16(rows + s.pw + w, m, bf16x16(_mm512_maskz_loadu_ps(m, xr + w)));
        }
      } else if (s.sw == 2) {
        uint16_t* pe = rows + (s.pw % 2) * q.D + s.pw / 2;
        uint16_t* po = rows + ((s.pw + 1) % 2) * q.D + (s.pw + 1) / 2;
        for (index_t w = 0; w < s.W; w += 2 * kL) {
          __m512 a0 = _mm512_maskz_loadu_ps(lanes(s.W - w), xr + w);
          __m512 a1 = _mm512_maskz_loadu_ps(lanes(s.W - w - kL), xr + w + kL);
          const index_t m = w / 2, ne = (s.W - w + 1) / 2, no = (s.W - w) / 2;
          _mm256_mask_storeu_epi16(pe + m, lanes(ne),
                                   bf16x16(_mm512_permutex2var_ps(a0, even, a1)));
          _mm256_mask_storeu_epi16(po + m, lanes(no), bf16x16(_mm512_permutex2var_ps(a0, odd, a1)));
        }
      } else {
        for (index_t w = 0; w < s.W; ++w) {
          const index_t wp = w + s.pw;
          rows[(wp % s.sw) * q.D + wp / s.sw] = uint16_t(round_bits(xr[w]));
        }
      }
    }
  const index_t OHW = s.OH * s.OW;
  for (index_t k = 0; k < s.K; ++k)
    for (index_t oh = 0; oh < s.OH; ++oh) {
      const float* src = dy + k * OHW + oh * s.OW;
      uint16_t* d = Y + k * q.D + b * g.plane + oh * g.Wq;
      for (index_t j = 0; j < s.OW; j += kL) {
        const __mmask16 m = lanes(s.OW - j);
        _mm256_mask_storeu_epi16(d + j, m, bf16x16(_mm512_maskz_loadu_ps(m, src + j)));
      }
    }
}

// The sum of 16 lanes (_mm512_reduce_add_ps draws GCC 12's false uninitialised warning).
inline float hsum(__m512 v) {
  const __m512d d = _mm512_castps_pd(v);
  const __m256 a = _mm256_add_ps(_mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xff, d, 0)),
                                 _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xff, d, 1)));
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  b = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(_mm_add_ss(b, _mm_movehdup_ps(b)));
}

// part[k][t] += sum over d < depth of Y[k][d] * X[d + off[t]] for GK' outputs x GT' taps.
template <int GK, int GT>
__attribute__((always_inline)) inline void grad_block(float* part, index_t ldp, const uint16_t* Y,
                                                      index_t ldy, const uint16_t* X,
                                                      const index_t* off, index_t depth) {
  __m512 acc[GK][GT];
#pragma GCC unroll 4
  for (int k = 0; k < GK; ++k)
#pragma GCC unroll 6
    for (int t = 0; t < GT; ++t) acc[k][t] = _mm512_setzero_ps();
  const index_t full = depth / 32 * 32;
  for (index_t d = 0; d < full; d += 32) {
    __m512bh yv[GK];
#pragma GCC unroll 4
    for (int k = 0; k < GK; ++k) yv[k] = (__m512bh)_mm512_loadu_si512(Y + k * ldy + d);
#pragma GCC unroll 6
    for (int t = 0; t < GT; ++t) {
      const __m512bh xv = (__m512bh)_mm512_loadu_si512(X + off[t] + d);
#pragma GCC unroll 4
      for (int k = 0; k < GK; ++k) acc[k][t] = _mm512_dpbf16_ps(acc[k][t], yv[k], xv);
    }
  }
  if (full < depth) {  // the last pairs: Y's lanes past depth are zero
    const __mmask32 m = (__mmask32)((1ull << (depth - full)) - 1);
    __m512bh yv[GK];
#pragma GCC unroll 4
    for (int k = 0; k < GK; ++k) yv[k] = (__m512bh)_mm512_maskz_loadu_epi16(m, Y + k * ldy + full);
#pragma GCC unroll 6
    for (int t = 0; t < GT; ++t) {
      const __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(m, X + off[t] + full);
#pragma GCC unroll 4
      for (int k = 0; k < GK; ++k) acc[k][t] = _mm512_dpbf16_ps(acc[k][t], yv[k], xv);
    }
  }
  for (int k = 0; k < GK; ++k)
    for (int t = 0; t < GT; ++t) part[k * ldp + t] += hsum(acc[k][t]);
}

template <int GK>
void grad_block_t(int gt, float* part, index_t ldp, const uint16_t* Y, index_t ldy,
                  const uint16_t* X, const index_t* off, index_t depth) {
  switch (gt) {
    case 1: return grad_block<GK, 1>(part, ldp, Y, ldy, X, off, depth);
    case 2: return grad_block<GK, 2>(part, ldp, Y, ldy, X, off, depth);
    case 3: return grad_block<GK, 3>(part, ldp, Y, ldy, X, off, depth);
    case 4: return grad_block<GK, 4>(part, ldp, Y, ldy, X, off, depth);
    case 5: return grad_block<GK, 5>(part, ldp, Y, ldy, X, off, depth);
    default: return grad_block<GK, 6>(part, ldp, Y, ldy, X, off, depth);
  }
}

// part (K x taps) += the chunk's sums, depth = samples in the chunk * plane.
void grad_chunk_product(float* part, const ConvShape& s, const GradGeo& q, const uint16_t* X,
                        const uint16_t* Y, const index_t* off, index_t depth) {
  for (index_t k0 = 0; k0 < s.K; k0 += kGK) {
    const int gk = int(imin(kGK, s.K - k0));
    for (index_t t0 = 0; t0 < q.taps; t0 += kGT) {
      const int gt = int(imin(kGT, q.taps - t0));
      float* p = part + k0 * q.taps + t0;
      const uint16_t* y = Y + k0 * q.D;
      switch (gk) {
        case 1: grad_block_t<1>(gt, p, q.taps, y, q.D, X, off + t0, depth); break;
        case 2: grad_block_t<2>(gt, p, q.taps, y, q.D, X, off + t0, depth); break;
        case 3: grad_block_t<3>(gt, p, q.taps, y, q.D, X, off + t0, depth); break;
        default: grad_block_t<4>(gt, p, q.taps, y, q.D, X, off + t0, depth); break;
      }
    }
  }
}

}  // namespace

bool bf16_direct_fits(const ConvShape& s) {
  // Negative padding (the stride-1 input gradient of a layer padded wider than its kernel
  // reaches) would crop the planes: the packed path takes those.
  if (s.G != 1 || s.K < kMinK || s.sh > 64 || s.ph < 0 || s.pw < 0) return false;
  const Geo g = geometry(s);
  if (g.taps > kMaxTaps || g.len < kL) return false;
  // Wide-grid waste: at most 40% more positions than outputs (as the float32 kernel).
  return g.len * 10 <= s.OH * s.OW * 14;
}

size_t bf16_direct_ws_bytes(const ConvShape& s, int slices) {
  const Geo g = geometry(s);
  return wpack_bytes(s, g) + off_bytes(g) + size_t(slices) * (planes_bytes(g) + out_bytes(s, g));
}

void bf16_direct_forward(float* y, const float* x, const float* w, const float* b, char* ws,
                         const ConvShape& s, int nt) {
  const Geo g = geometry(s);
  const index_t RS = s.R * s.S, nkb = ceil_div(s.K, kKB), HW = s.H * s.W, OHW = s.OH * s.OW;
  // Weights [k block][pair tap (cp, r, q)][8] as (w[k][2cp][r][q], w[k][2cp+1][r][q]).
  uint32_t* wpack = reinterpret_cast<uint32_t*>(ws);
  for (index_t kb = 0; kb < nkb; ++kb)
    for (index_t cp = 0; cp < g.CP; ++cp)
      for (index_t rs = 0; rs < RS; ++rs)
        for (index_t k = 0; k < kKB; ++k) {
          const index_t kk = kb * kKB + k, c = 2 * cp;
          uint32_t v = 0;
          if (kk < s.K) {
            v = round_bits(w[(kk * s.C + c) * RS + rs]);
            if (c + 1 < s.C) v |= round_bits(w[(kk * s.C + c + 1) * RS + rs]) << 16;
          }
          wpack[((kb * g.CP + cp) * RS + rs) * kKB + k] = v;
        }
  index_t* off = reinterpret_cast<index_t*>(ws + wpack_bytes(s, g));
  bool row_used[64] = {};  // stride phases of rows that some tap reads (sh <= 64: fits)
  tap_offsets(off, row_used, g.CP, g.plane, s, g);
  const size_t pb = planes_bytes(g), slice = pb + out_bytes(s, g);
  char* slices = ws + wpack_bytes(s, g) + off_bytes(g);
  for (int i = 0; i < nt; ++i) std::memset(slices + i * slice, 0, pb);  // the padding
  // static: the samples split in contiguous halves as in the layers around (core affinity;
  // docs/ARCHITECTURE.md, "Threads")
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (index_t n = 0; n < s.N; ++n) {
    char* sl = slices + (nt > 1 ? thread_id() : 0) * slice;
    uint32_t* xp = reinterpret_cast<uint32_t*>(sl);
    float* out = reinterpret_cast<float*>(sl + pb);
    phase_planes(xp, x + n * s.C * HW, s, g, row_used);
    // This sample's output lines, asked for while the products run (prefetch.h). (The next
    // sample's input as well made the step no faster: the hardware prefetchers follow that
    // sequential read.)
    LinePrefetch pf(y + n * s.K * OHW, size_t(s.K * OHW) * 4, true);
    compute_sample(out, s.K, g.len, g.bp, xp, wpack, off, g.taps, b, &pf, 1);
    copy_out(y + n * s.K * OHW, out, s, g);
  }
}

size_t bf16_direct_grad_ws_bytes(const ConvShape& s, int nt) {
  const GradGeo q = grad_geometry(s, grad_chunk(s));
  return align64(size_t(q.taps) * sizeof(index_t)) + size_t(nt) * grad_slice_bytes(s, q);
}

bool bf16_direct_grad_fits(const ConvShape& s) {
  if (s.G != 1 || s.sh > 64) return false;  // row_used[64]
  // Each sample takes a whole phase plane of depth (its padding rows and columns included): at
  // most 30% more than its outputs. 64->64 on 8x8 (plane 10x10, 56% more) took 1.65 ms here
  // against 1.03 on the packed path; 32x32 and 16x16 layers (13% and 27%) ran as fast or faster.
  const Geo g = geometry(s);
  return g.plane * 10 <= s.OH * s.OW * 13;
}

void bf16_direct_weight_grad(float* dw, const float* dy, const float* x, char* ws,
                             const ConvShape& s, int nt) {
  if (s.N == 0) {  // no samples: the gradient is zero (and no thread has any to split)
    for (index_t i = 0; i < s.K * s.C * s.R * s.S; ++i) dw[i] = 0.f;
    return;
  }
  const GradGeo q = grad_geometry(s, grad_chunk(s));
  const Geo& g = q.g;
  index_t* off = reinterpret_cast<index_t*>(ws);
  bool row_used[64] = {};
  tap_offsets(off, row_used, s.C, q.D, s, g);
  char* slices = ws + align64(size_t(q.taps) * sizeof(index_t));
  const size_t xb = grad_x_bytes(s, q), yb = grad_y_bytes(s, q), slice = grad_slice_bytes(s, q);
  const index_t KT = s.K * q.taps;
  const int team = int(imin(nt, s.N));
#pragma omp parallel num_threads(team) if (team > 1)
  {
    const int t = team > 1 ? thread_id() : 0;
    char* sl = slices + t * slice;
    uint16_t* X = reinterpret_cast<uint16_t*>(sl);
    uint16_t* Y = reinterpret_cast<uint16_t*>(sl + xb);
    float* part = reinterpret_cast<float*>(sl + xb + yb);
    std::memset(sl, 0, xb + yb);  // padding, extra columns and slack stay zero
    for (index_t i = 0; i < KT; ++i) part[i] = 0.f;
    // Samples split evenly over the threads, then into chunks of at most B.
    const index_t first = s.N * t / team, last = s.N * (t + 1) / team;
    for (index_t n0 = first; n0 < last; n0 += q.B) {
      const index_t nb = imin(q.B, last - n0);
      for (index_t b = 0; b < nb; ++b)
        grad_fill(X, Y, x + (n0 + b) * s.C * s.H * s.W, dy + (n0 + b) * s.K * s.OH * s.OW, b, s, q,
                  row_used);
      grad_chunk_product(part, s, q, X, Y, off, (nb - 1) * g.plane + g.len);
    }
  }
  // dw = the sum of the threads' partials (in thread order: the same result for a thread count).
  for (index_t i = 0; i < KT; ++i) {
    float v = 0.f;
    for (int t = 0; t < team; ++t)
      v += reinterpret_cast<const float*>(slices + t * slice + xb + yb)[i];
    dw[i] = v;
  }
}

bool bf16_direct_dx_fits(const ConvShape& s) {
  // 1x1 kernels: the column product and col2im write only the pixels read (0.16 ms against
  // 0.43 for 16->32 on 32x32 at stride 2).
  if (s.G != 1 || s.C < kMinK || s.sh * s.sw > 64 || s.R > 64 || s.S > 64 || s.R * s.S == 1)
    return false;
  const DxGeo q = dx_geometry(s);
  // Every phase grid holds a whole vector (the kernel's last block ends at len), and the wide
  // grids waste at most 40% over dx's pixels.
  index_t total = 0;
  for (index_t a = 0; a < s.sh; ++a)
    for (index_t b = 0; b < s.sw; ++b) {
      const index_t len = phase_len(s, q.Wd, a, b);
      if (len > 0 && len < kL) return false;
      total += len;
    }
  return total * 10 <= s.H * s.W * 14;
}

size_t bf16_direct_dx_ws_bytes(const ConvShape& s, int nt) {
  const DxGeo q = dx_geometry(s);
  return dx_fixed_bytes(s, q) + size_t(nt) * dx_slice_bytes(s, q);
}

void bf16_direct_input_grad(float* dx, const float* dy, const float* w, char* ws,
                            const ConvShape& s, int nt) {
  const DxGeo q = dx_geometry(s);
  const index_t RS = s.R * s.S, ncb = ceil_div(s.C, kKB), HW = s.H * s.W, OHW = s.OH * s.OW;
  uint32_t* wpack = reinterpret_cast<uint32_t*>(ws);
  index_t* off = reinterpret_cast<index_t*>(ws + align64(size_t(ncb * kKB * q.taps) * 4));
  // Per phase: its taps' offsets and weights, one phase after another (the phases share out
  // the taps). Tap (kp, r, x) of a phase, in that order; weights [c block][tap][8] =
  // (w[2kp][c][r][x], w[2kp+1][c][r][x]).
  struct Phase {
    index_t a, b, U, V, len, first, taps;
  };
  Phase ph[64];  // sh * sw <= 64: bf16_direct_dx_fits
  int nph = 0;
  index_t used = 0;
  for (index_t a = 0; a < s.sh; ++a)
    for (index_t b = 0; b < s.sw; ++b) {
      Phase p{
          a,    b, phase_count(s.H, a, s.sh), phase_count(s.W, b, s.sw), phase_len(s, q.Wd, a, b),
          used, 0};
      if (p.len == 0) continue;
      index_t rows[64], cols[64], nr = 0, nx = 0;  // this phase's taps along each axis
      for (index_t r = 0; r < s.R; ++r)
        if (tap_in(r, s.dh, a, s.ph, s.sh)) rows[nr++] = r;
      for (index_t x = 0; x < s.S; ++x)
        if (tap_in(x, s.dw, b, s.pw, s.sw)) cols[nx++] = x;
      p.taps = q.KP * nr * nx;
      uint32_t* wp = wpack + used * ncb * kKB;
      for (index_t kp = 0; kp < q.KP; ++kp)
        for (index_t ri = 0; ri < nr; ++ri)
          for (index_t xi = 0; xi < nx; ++xi) {
            const index_t r = rows[ri], x = cols[xi], tap = (kp * nr + ri) * nx + xi;
            const index_t e = shift_of(r, s.dh, a, s.ph, s.sh),
                          f = shift_of(x, s.dw, b, s.pw, s.sw);
            off[used + tap] = kp * q.Hd * q.Wd + (q.T - e) * q.Wd + (q.L - f);
            for (index_t cb = 0; cb < ncb; ++cb)
              for (index_t j = 0; j < kKB; ++j) {
                const index_t c = cb * kKB + j, k = 2 * kp;
                uint32_t v = 0;
                if (c < s.C) {
                  v = round_bits(w[(k * s.C + c) * RS + r * s.S + x]);
                  if (k + 1 < s.K) v |= round_bits(w[((k + 1) * s.C + c) * RS + r * s.S + x]) << 16;
                }
                wp[(cb * p.taps + tap) * kKB + j] = v;
              }
          }
      used += p.taps;
      ph[nph++] = p;
    }
  char* slices = ws + dx_fixed_bytes(s, q);
  // dy as channel pairs in one padded plane per pair (stride 1: one phase).
  ConvShape t = s;
  t.C = s.K, t.H = s.OH, t.W = s.OW, t.sh = t.sw = 1, t.ph = q.T, t.pw = q.L;
  Geo g{};
  g.Hq = q.Hd, g.Wq = q.Wd, g.phases = 1, g.plane = q.Hd * q.Wd, g.CP = q.KP;
  const bool row_used[1] = {true};
  const size_t pb = dx_planes_bytes(q), slice = dx_slice_bytes(s, q);
  const bool merged = dx_merged(s);
  for (int i = 0; i < nt; ++i) std::memset(slices + i * slice, 0, pb);  // the padding
  // static: the samples split in contiguous halves as in the layers around (core affinity;
  // docs/ARCHITECTURE.md, "Threads")
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (index_t n = 0; n < s.N; ++n) {
    char* sl = slices + (nt > 1 ? thread_id() : 0) * slice;
    uint32_t* dp = reinterpret_cast<uint32_t*>(sl);
    float* out = reinterpret_cast<float*>(sl + pb);
    float* dxn = dx + n * s.C * HW;
    phase_planes(dp, dy + n * s.K * OHW, t, g, row_used);
    // dx's lines for this sample, asked for during the first phase's products (prefetch.h).
    LinePrefetch pf(dxn, size_t(s.C * HW) * 4, true);
    if (merged) {
      // Phases come in (a, 0), (a, 1) pairs (W >= 2: both hold columns; a row phase with no
      // rows has neither).
      float* outs[2] = {out, out + ceil_div(s.C * q.bp, 16) * 16};
      for (int i = 0; i + 1 < nph; i += 2) {
        for (int b = 0; b < 2; ++b) {
          const Phase& p = ph[i + b];
          if (p.taps == 0) std::memset(outs[b], 0, size_t(s.C * q.bp) * 4);  // no tap: zeros
          else
            compute_sample(outs[b], s.C, p.len, q.bp, dp, wpack + p.first * ncb * kKB,
                           off + p.first, p.taps, nullptr, &pf, 1);
        }
        merge_columns(dxn, outs[0], outs[1], ph[i].U, s, q, ph[i].a);
      }
      continue;
    }
    for (int i = 0; i < nph; ++i) {
      const Phase& p = ph[i];
      if (p.taps == 0) {  // no tap reaches this phase (a 1x1 kernel at a stride): zeros
        for (index_t c = 0; c < s.C; ++c)
          for (index_t u = 0; u < p.U; ++u)
            for (index_t v = 0; v < p.V; ++v)
              dxn[c * HW + (u * s.sh + p.a) * s.W + v * s.sw + p.b] = 0.f;
        continue;
      }
      compute_sample(out, s.C, p.len, q.bp, dp, wpack + p.first * ncb * kKB, off + p.first, p.taps,
                     nullptr, &pf, 1);
      for (index_t c = 0; c < s.C; ++c)
        for (index_t u = 0; u < p.U; ++u) {
          const float* src = out + c * q.bp + u * q.Wd;
          float* d = dxn + c * HW + (u * s.sh + p.a) * s.W + p.b;
          for (index_t v = 0; v < p.V; ++v) d[v * s.sw] = src[v];
        }
    }
  }
}
}  // namespace pydlk

#else  // built without AVX512_BF16: never chosen (bf16_cpu_supported() is false).
namespace pydlk {
bool bf16_direct_fits(const ConvShape&) { return false; }
size_t bf16_direct_ws_bytes(const ConvShape&, int) { return 0; }
void bf16_direct_forward(float*, const float*, const float*, const float*, char*, const ConvShape&,
                         int) {}
bool bf16_direct_grad_fits(const ConvShape&) { return false; }
bool bf16_direct_dx_fits(const ConvShape&) { return false; }
size_t bf16_direct_dx_ws_bytes(const ConvShape&, int) { return 0; }
void bf16_direct_input_grad(float*, const float*, const float*, char*, const ConvShape&, int) {}
size_t bf16_direct_grad_ws_bytes(const ConvShape&, int) { return 0; }
void bf16_direct_weight_grad(float*, const float*, const float*, char*, const ConvShape&, int) {}
}  // namespace pydlk
#endif
