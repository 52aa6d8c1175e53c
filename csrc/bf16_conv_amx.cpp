// The bf16 convolution forward on AMX tiles, with no im2col: tiles load straight from a
// channel-pair image of each sample, one tap at a time.
//
// Each sample's input is rounded to bf16 once into "pair planes": for channel pair p (channels
// 2p, 2p+1) and stride phase (a, b), a plane of 32-bit slots (x[2p], x[2p+1]) over the padded
// phase image, whose pixel (i, j) is padded input pixel (i*sh + a, j*sw + b). Output pixel
// (oh, ow) is "virtual pixel" v = oh*Wv + ow of a grid as wide as a phase row (Wv >= OW); tap
// (r, q) reads phase ((r*dh) % sh, (q*dw) % sw) at pixel v + ((r*dh)/sh)*Wv + (q*dw)/sw. So 16
// consecutive virtual pixels of one pair block are one AMX B tile (16 pair-rows of 16 slots,
// row stride = plane length), loaded without packing; virtual pixels with ow >= OW are computed
// and dropped (Wv - OW of every Wv: 2 of 34 for a 32-wide layer with padding 1).
//
// The weights are the A tiles: per tap, 32-channel block and 16 output channels, 16 rows of 16
// pairs. A 32-channel x 32-pixel block of y (16 channels x 64 pixels where K <= 16) stays in
// four accumulator tiles over all taps and channel blocks, then goes to y (N, K, OH, OW)
// through a small buffer, run by run of valid pixels.
//
// The input gradient at a stride runs this forward once per output phase of dx, on dy with the
// taps that reach that phase (see "Input gradient at a stride" below).
//
// The weight gradient transposed, dw[t]^T (C x K) = sum over virtual pixels of x's phase image
// shifted by tap t (C x pixels) @ dy (pixels x K), on the same virtual grid: A tiles are 16
// channel rows of 32 consecutive bf16 pixels of a plain (one channel per plane) phase image, so
// any tap offset is just a shifted load; B tiles are dy as pixel pairs x output channels
// ("dy pairs", built per sample by a 32-bit transpose of dy's bf16 rows). dy is zero at the
// dropped pixels, so they add nothing (an Inf in x read there would add a NaN: see
// bf16_conv.h). Each thread sums its samples into its own (taps, C, K) slice in the tiles.
// With 16 channels or 16 outputs a tap has fewer than four output tiles, so two or four taps
// run together, sharing each dy tile (per layer of ResNet-8, batch 64: 3->16 0.52 -> 0.31 ms,
// 16->16 0.63 -> 0.48, 16->32 at stride 2 0.58 -> 0.47).
//
// Compiled with the AMX flags (CMakeLists.txt); runs only where bf16_amx_enabled().
#include "bf16_conv.h"

#if defined(__AVX512BF16__) && defined(__AMX_BF16__)
#include <cstring>

#include "bf16_kernel.h"
#include "conv_phases.h"

namespace pydlk {

namespace {

// r[start + i*sw] for the lanes i of m (zero elsewhere); every one of them lies in [0, W). Stride
// 2 (the strided layers' phases) loads the span and keeps the even lanes; other strides gather.
// (One scalar conversion per value made packing most of a stride-2 layer's time.)
inline __m512 load_columns(const float* r, index_t start, index_t W, index_t sw, __mmask16 m) {
  if (sw == 1) return _mm512_maskz_loadu_ps(m, r + start);
  if (sw == 2) {
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    __m512 lo = _mm512_maskz_loadu_ps(lane_mask(W - start), r + start);
    __m512 hi = _mm512_maskz_loadu_ps(lane_mask(W - start - 16), r + start + 16);
    return _mm512_maskz_permutex2var_ps(m, lo, even, hi);
  }
  const __m512i idx =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32((int)sw));
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, r + start, 4);
}

// The geometry shared by the packing and the kernel.
struct AmxConv {
  index_t P;       // stride phases sh * sw
  index_t PHh;     // rows of a phase image
  index_t Wv;      // its width = the virtual grid's width
  index_t Lp;      // slots of one plane (PHh * Wv, rounded up to 16)
  index_t BP;      // channel pairs in one block: 16, or all of them when fewer (the tiles' depth)
  index_t CB;      // blocks of BP channel pairs
  index_t KG;      // groups of 16 output channels
  index_t V;       // virtual pixels OH * Wv
  index_t sample;  // slots of one sample's planes, with slack for the last tiles' overrun
  uint64_t used;   // bit a*sw + b: some tap reads phase (a, b) (all bits when P > 64)
  bool reads(index_t phase) const { return phase >= 64 || ((used >> phase) & 1u); }
};

AmxConv geometry(const ConvShape& s) {
  AmxConv g;
  g.P = s.sh * s.sw;
  g.PHh = s.OH + ((s.R - 1) * s.dh) / s.sh;
  g.Wv = s.OW + ((s.S - 1) * s.dw) / s.sw;
  g.Lp = round16(g.PHh * g.Wv);
  g.BP = imin(16, pairs_of(s.C));  // 16 channels: tiles 8 pairs deep, not half zeros
  g.CB = (pairs_of(s.C) + g.BP - 1) / g.BP;
  g.KG = (s.K + 15) / 16;
  g.V = s.OH * g.Wv;
  // A tile of the last pixel block reads up to 31 slots past V, plus the tap's column offset.
  g.sample = g.P * g.CB * g.BP * g.Lp + 32 + (s.S - 1) * s.dw + 16;
  g.used = 0;  // a 1x1 kernel at stride 2 reads one phase of four: the others are left zero
  for (index_t t = 0; t < s.R * s.S; ++t) {
    index_t ph = (((t / s.S) * s.dh) % s.sh) * s.sw + ((t % s.S) * s.dw) % s.sw;
    if (ph < 64) g.used |= uint64_t(1) << ph;
  }
  return g;
}

// Pair planes of sample x (C, H, W) into dst (g.sample slots): the slots inside the image.
// Those outside it and past C stay as zero_pair_planes left them (the same slots for every
// sample, so a thread's buffer is zeroed once per call, not once per sample).
void zero_pair_planes(uint32_t* dst, const AmxConv& g) {
  std::memset(dst, 0, (size_t)g.sample * 4);
}
void to_pair_planes(uint32_t* dst, const float* x, const ConvShape& s, const AmxConv& g) {
  // Sizes in locals: the stores below may alias anything (void*), and with s read through
  // its reference each row recomputed its column range, two integer divisions a row.
  const index_t HW = s.H * s.W, C = s.C, H = s.H, W = s.W, sh = s.sh, sw = s.sw, ph = s.ph,
                PHh = g.PHh, Wv = g.Wv, Lp = g.Lp, CBP = g.CB * g.BP;
  for (index_t a = 0; a < sh; ++a)
    for (index_t b = 0; b < sw; ++b) {
      if (!g.reads(a * sw + b)) continue;
      // columns j with iw = j*sw + b - pw inside [0, W)
      const index_t off = b - s.pw;  // iw = j*sw + off
      const index_t j0 = off >= 0 ? 0 : (-off + sw - 1) / sw;
      index_t j1 = W - 1 - off < 0 ? 0 : (W - 1 - off) / sw + 1;  // first iw >= W
      if (j1 > Wv) j1 = Wv;
      for (index_t pr = 0; pr < pairs_of(C); ++pr) {
        const float* x0 = x + 2 * pr * HW;
        const float* x1 = 2 * pr + 1 < C ? x0 + HW : nullptr;
        uint32_t* plane = dst + ((a * sw + b) * CBP + pr) * Lp;
        for (index_t i = 0; i < PHh; ++i) {
          const index_t ih = i * sh + a - ph;
          if (ih < 0 || ih >= H) continue;
          uint32_t* d = plane + i * Wv;
          const float* r0 = x0 + ih * W;
          const float* r1 = x1 ? x1 + ih * W : nullptr;
          for (index_t j = j0; j < j1; j += 16) {
            __mmask16 m = lane_mask(j1 - j);
            __m512 lo = load_columns(r0, j * sw + off, W, sw, m);
            __m512 hi = r1 ? load_columns(r1, j * sw + off, W, sw, m) : _mm512_setzero_ps();
            // one vcvtne2ps2bf16 packs lo into the low halves: pairs (lo[j], hi[j])
            __m512i lo16 = _mm512_maskz_cvtepu16_epi32(0xffff, (__m256i)_mm512_cvtneps_pbh(lo));
            __m512i hi16 = _mm512_maskz_cvtepu16_epi32(0xffff, (__m256i)_mm512_cvtneps_pbh(hi));
            _mm512_mask_storeu_epi32(
                d + j, m, _mm512_or_si512(lo16, _mm512_maskz_slli_epi32(0xffff, hi16, 16)));
          }
        }
      }
    }
}

// The runs of valid virtual pixels of one block of `lanes` (<= 64) pixels: (lane, count, output
// pixel index).
struct Runs {
  int n;
  int lane[64], len[64];
  index_t dest[64];
};

Runs runs_of(index_t v0, int lanes, const ConvShape& s, const AmxConv& g) {
  Runs r;
  r.n = 0;
  for (int i = 0; i < lanes && v0 + i < g.V;) {
    index_t v = v0 + i, oh = v / g.Wv, ow = v % g.Wv;
    if (ow >= s.OW) {  // the row's dropped tail: skip to the next row
      i += (int)(g.Wv - ow);
      continue;
    }
    int len = (int)imin(s.OW - ow, lanes - i);
    len = (int)imin(len, g.V - v);
    r.lane[r.n] = i, r.len[r.n] = len, r.dest[r.n] = oh * s.OW + ow;
    ++r.n;
    i += len;
  }
  return r;
}

// The weight gradient's buffers for one sample, on the forward's virtual grid g.
struct AmxGrad {
  index_t Vp;      // virtual pixels rounded up to 32 (the depth of the products)
  index_t Kp, Cp;  // K and C rounded up to 16
  index_t Lx;      // bf16 slots of one channel's phase image, with the zero slack tiles read
  index_t x_slots, dy_slots, part_floats;  // per thread: x planes, dy pairs (uint32), partial dw
  // Samples whose products run between one load and one store of the accumulator tiles: on
  // small images a sample is only 3 tile products deep (8x8: 96 pixels), and loading and
  // storing the accumulators around every sample cost about as much as its products.
  index_t G;
  index_t stride;  // uint32 slots of one sample's x planes and dy pairs in a thread's buffer
};

AmxGrad grad_geometry(const ConvShape& s, const AmxConv& g) {
  AmxGrad d;
  d.Vp = (g.V + 31) / 32 * 32;
  d.Kp = (s.K + 15) / 16 * 16;
  d.Cp = (s.C + 15) / 16 * 16;
  index_t off_max = ((s.R - 1) * s.dh / s.sh) * g.Wv + (s.S - 1) * s.dw / s.sw;
  index_t need = d.Vp + off_max;  // past the last tile's last pixel
  d.Lx = ((need > g.PHh * g.Wv ? need : g.PHh * g.Wv) + 31) / 32 * 32;
  d.x_slots = (g.P * d.Cp * d.Lx + 1) / 2;
  d.dy_slots = d.Vp / 2 * d.Kp + (d.Kp * d.Vp + 1) / 2;  // the pairs, then the bf16 rows
  d.part_floats = s.R * s.S * d.Cp * d.Kp;
  d.G = d.Vp <= 128 ? 4 : d.Vp <= 256 ? 2 : 1;
  d.stride = d.x_slots + d.dy_slots;
  return d;
}

// Phase images of sample x (C, H, W) in bf16, one plane of d.Lx per (phase, channel): the slots
// inside the image. Those outside it and for channels past C stay as the weight gradient
// zeroed them once per call (the same slots for every sample).
void to_phase_planes(uint16_t* dst, const float* x, const ConvShape& s, const AmxConv& g,
                     const AmxGrad& d) {
  index_t HW = s.H * s.W;
  for (index_t c = 0; c < s.C; ++c)
    for (index_t a = 0; a < s.sh; ++a)
      for (index_t b = 0; b < s.sw; ++b) {
        if (!g.reads(a * s.sw + b)) continue;
        uint16_t* plane = dst + ((a * s.sw + b) * d.Cp + c) * d.Lx;
        index_t off = b - s.pw;
        index_t j0 = off >= 0 ? 0 : (-off + s.sw - 1) / s.sw;
        index_t j1 = s.W - 1 - off < 0 ? 0 : (s.W - 1 - off) / s.sw + 1;
        if (j1 > g.Wv) j1 = g.Wv;
        for (index_t i = 0; i < g.PHh; ++i) {
          index_t ih = i * s.sh + a - s.ph;
          if (ih < 0 || ih >= s.H) continue;
          const float* r = x + c * HW + ih * s.W;
          uint16_t* dr = plane + i * g.Wv;
          for (index_t j = j0; j < j1; j += 16) {
            __mmask16 m = lane_mask(j1 - j);
            __m512 v = load_columns(r, j * s.sw + off, s.W, s.sw, m);
            _mm256_mask_storeu_epi16(dr + j, m, (__m256i)_mm512_cvtneps_pbh(v));
          }
        }
      }
}

// dy of one sample (K, OH, OW) as pixel pairs: pairs[q][k] = (dy[k][v = 2q], dy[k][2q + 1]) over
// the virtual grid (zero at dropped pixels, past V and for k >= K). rows: Kp x Vp bf16 scratch,
// zeroed once per call: only the slots of dy's pixels are written here.
void to_dy_pairs(uint32_t* pairs, uint16_t* rows, const float* dy, const ConvShape& s,
                 const AmxConv& g, const AmxGrad& d) {
  index_t OHW = s.OH * s.OW;
  for (index_t k = 0; k < s.K; ++k)
    for (index_t oh = 0; oh < s.OH; ++oh) {
      const float* src = dy + k * OHW + oh * s.OW;
      uint16_t* dst = rows + k * d.Vp + oh * g.Wv;
      for (index_t j = 0; j < s.OW; j += 16) {
        __mmask16 m = lane_mask(s.OW - j);
        _mm256_mask_storeu_epi16(dst + j, m,
                                 (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + j)));
      }
    }
  // A 32-bit transpose: row k's slot q is already the pair (2q, 2q + 1). One gather per 16
  // channels of a pair (a scalar loop took a fifth of the weight gradient's time).
  const int* r32 = reinterpret_cast<const int*>(rows);
  const index_t Q = d.Vp / 2;
  const __m512i rows16 =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32((int)Q));
  for (index_t k0 = 0; k0 < d.Kp; k0 += 16)
    for (index_t q = 0; q < Q; ++q)
      _mm512_storeu_si512(
          pairs + q * d.Kp + k0,
          _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), 0xffff, rows16, r32 + k0 * Q + q, 4));
}

// x's phase image for tap t, shifted by the tap: the weight gradient's A tiles start here.
inline const uint16_t* tap_image(const uint16_t* xp, const ConvShape& s, const AmxConv& g,
                                 const AmxGrad& d, index_t t) {
  index_t rr = (t / s.S) * s.dh, qq = (t % s.S) * s.dw;
  index_t phase = (rr % s.sh) * s.sw + qq % s.sw;
  return xp + phase * d.Cp * d.Lx + (rr / s.sh) * g.Wv + qq / s.sw;
}

// The weight gradient's tile products for one sample, added into part (t, Cp, Kp). A tiles: 16
// channels x 32 pixels of x's shifted phase image (row pitch d.Lx); B tiles: 16 pixel pairs x
// 16 outputs of dy pairs (b0 = the output tile's first column). With 32 channels or more a tap
// fills two or four accumulator tiles by itself; with 16 channels (one A tile) two or four taps
// run together so that four accumulators are in flight, each B tile loaded once for them all.

// Each runs the gn samples of a group (their buffers d.stride slots apart, a and b0 in the
// first one's) between one load and one store of the accumulators.

// One tap, channels c0 and c0 + 16 (a), outputs k0 and, with two_k, k0 + 16.
inline void grad_tap(float* pc, const uint16_t* a, const uint32_t* b0, const AmxGrad& d, bool two_k,
                     index_t gn) {
  const index_t lda = d.Lx * 2, ldb = d.Kp * 4, ldc = d.Kp * 4;
  _tile_loadd(0, pc, ldc);
  if (two_k) _tile_loadd(1, pc + 16, ldc);
  _tile_loadd(2, pc + 16 * d.Kp, ldc);
  if (two_k) _tile_loadd(3, pc + 16 * d.Kp + 16, ldc);
  for (index_t i = 0; i < gn; ++i) {
    const uint16_t* ai = a + 2 * i * d.stride;
    const uint32_t* bi = b0 + i * d.stride;
    for (index_t v0 = 0; v0 < d.Vp; v0 += 32) {
      const uint32_t* bq = bi + (v0 / 2) * d.Kp;
      _tile_loadd(4, ai + v0, lda);
      _tile_loadd(6, bq, ldb);
      _tile_dpbf16ps(0, 4, 6);
      if (two_k) {
        _tile_loadd(7, bq + 16, ldb);
        _tile_dpbf16ps(1, 4, 7);
      }
      _tile_loadd(5, ai + 16 * d.Lx + v0, lda);
      _tile_dpbf16ps(2, 5, 6);
      if (two_k) _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_stored(0, pc, ldc);
  if (two_k) _tile_stored(1, pc + 16, ldc);
  _tile_stored(2, pc + 16 * d.Kp, ldc);
  if (two_k) _tile_stored(3, pc + 16 * d.Kp + 16, ldc);
}

// Taps t and (with two_t) t + 1, one channel tile c0, outputs k0 and k0 + 16; pc at tap t.
inline void grad_two_taps(float* pc, const uint16_t* xp, const uint32_t* b0, const ConvShape& s,
                          const AmxConv& g, const AmxGrad& d, index_t c0, index_t t, bool two_t,
                          index_t gn) {
  const index_t lda = d.Lx * 2, ldb = d.Kp * 4, ldc = d.Kp * 4, tap = d.Cp * d.Kp;
  const uint16_t* a0 = tap_image(xp, s, g, d, t) + c0 * d.Lx;
  const uint16_t* a1 = two_t ? tap_image(xp, s, g, d, t + 1) + c0 * d.Lx : a0;
  _tile_loadd(0, pc, ldc);
  _tile_loadd(1, pc + 16, ldc);
  if (two_t) {
    _tile_loadd(2, pc + tap, ldc);
    _tile_loadd(3, pc + tap + 16, ldc);
  }
  for (index_t i = 0; i < gn; ++i) {
    const index_t xo = 2 * i * d.stride;
    const uint32_t* bi = b0 + i * d.stride;
    for (index_t v0 = 0; v0 < d.Vp; v0 += 32) {
      const uint32_t* bq = bi + (v0 / 2) * d.Kp;
      _tile_loadd(6, bq, ldb);
      _tile_loadd(7, bq + 16, ldb);
      _tile_loadd(4, a0 + xo + v0, lda);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      if (two_t) {
        _tile_loadd(5, a1 + xo + v0, lda);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
    }
  }
  _tile_stored(0, pc, ldc);
  _tile_stored(1, pc + 16, ldc);
  if (two_t) {
    _tile_stored(2, pc + tap, ldc);
    _tile_stored(3, pc + tap + 16, ldc);
  }
}

// Taps t .. t + nt - 1 (nt <= 4), one channel tile c0, one output tile k0; pc at tap t.
// Tile 7 serves as an A tile here (all tiles are 16 x 64 bytes in this AmxScope).
inline void grad_four_taps(float* pc, const uint16_t* xp, const uint32_t* b0, const ConvShape& s,
                           const AmxConv& g, const AmxGrad& d, index_t c0, index_t t, int nt,
                           index_t gn) {
  const index_t lda = d.Lx * 2, ldb = d.Kp * 4, ldc = d.Kp * 4, tap = d.Cp * d.Kp;
  const uint16_t* a[4];
  for (int i = 0; i < 4; ++i) a[i] = tap_image(xp, s, g, d, t + (i < nt ? i : 0)) + c0 * d.Lx;
  _tile_loadd(0, pc, ldc);
  if (nt > 1) _tile_loadd(1, pc + tap, ldc);
  if (nt > 2) _tile_loadd(2, pc + 2 * tap, ldc);
  if (nt > 3) _tile_loadd(3, pc + 3 * tap, ldc);
  for (index_t i = 0; i < gn; ++i) {
    const index_t xo = 2 * i * d.stride;
    const uint32_t* bi = b0 + i * d.stride;
    for (index_t v0 = 0; v0 < d.Vp; v0 += 32) {
      _tile_loadd(6, bi + (v0 / 2) * d.Kp, ldb);
      _tile_loadd(4, a[0] + xo + v0, lda);
      _tile_dpbf16ps(0, 4, 6);
      if (nt > 1) {
        _tile_loadd(5, a[1] + xo + v0, lda);
        _tile_dpbf16ps(1, 5, 6);
      }
      if (nt > 2) {
        _tile_loadd(7, a[2] + xo + v0, lda);
        _tile_dpbf16ps(2, 7, 6);
      }
      if (nt > 3) {
        _tile_loadd(4, a[3] + xo + v0, lda);
        _tile_dpbf16ps(3, 4, 6);
      }
    }
  }
  _tile_stored(0, pc, ldc);
  if (nt > 1) _tile_stored(1, pc + tap, ldc);
  if (nt > 2) _tile_stored(2, pc + 2 * tap, ldc);
  if (nt > 3) _tile_stored(3, pc + 3 * tap, ldc);
}

}  // namespace

size_t bf16_conv_amx_grad_size(const ConvShape& s) {
  AmxConv g = geometry(s);
  AmxGrad d = grad_geometry(s, g);
  return (size_t)(d.G * d.stride + d.part_floats);
}

void bf16_conv_amx_weight_grad(float* dw, const float* dy, const float* x, const ConvShape& s,
                               uint32_t* ws) {
  AmxConv g = geometry(s);
  AmxGrad d = grad_geometry(s, g);
  index_t RS = s.R * s.S, per = d.G * d.stride + d.part_floats;
  int nt = (int)imin(num_threads(), s.N);
  index_t G = d.G;  // fewer samples a group where there would be fewer groups than threads
  while (G > 1 && (s.N + G - 1) / G < nt) G /= 2;
  const index_t groups = (s.N + G - 1) / G;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    // [G samples' x planes and dy pairs, d.stride slots each][partial dw]
    uint32_t* mine = ws + thread_id() * per;
    uint16_t* xp = reinterpret_cast<uint16_t*>(mine);
    uint32_t* pairs = mine + d.x_slots;
    float* part = reinterpret_cast<float*>(mine + d.G * d.stride);
    std::memset(part, 0, (size_t)d.part_floats * 4);
    for (index_t i = 0; i < d.G; ++i) {  // to_phase_planes' and to_dy_pairs' zeros
      std::memset(mine + i * d.stride, 0, (size_t)g.P * d.Cp * d.Lx * 2);
      std::memset(pairs + i * d.stride + d.Vp / 2 * d.Kp, 0, (size_t)d.Kp * d.Vp * 2);
    }
    AmxScope tiles(true);
    // Static shares of whole groups: a thread's samples are consecutive and summed in order
    // into its own partial, as one sample at a time summed them.
#pragma omp for schedule(static)
    for (index_t gr = 0; gr < groups; ++gr) {
      const index_t n0 = gr * G, gn = imin(G, s.N - n0);
      for (index_t i = 0; i < gn; ++i) {
        uint32_t* si = mine + i * d.stride;
        to_phase_planes(reinterpret_cast<uint16_t*>(si), x + (n0 + i) * s.C * s.H * s.W, s, g, d);
        to_dy_pairs(si + d.x_slots, reinterpret_cast<uint16_t*>(si + d.x_slots + d.Vp / 2 * d.Kp),
                    dy + (n0 + i) * s.K * s.OH * s.OW, s, g, d);
      }
      for (index_t c0 = 0; c0 < d.Cp; c0 += 32) {
        const bool two_c = c0 + 16 < d.Cp;
        for (index_t k0 = 0; k0 < d.Kp; k0 += 32) {
          const bool two_k = k0 + 16 < d.Kp;
          const uint32_t* b0 = pairs + k0;  // dy pairs of output tile k0, pixel 0
          if (two_c) {
            for (index_t t = 0; t < RS; ++t)
              grad_tap(part + (t * d.Cp + c0) * d.Kp + k0, tap_image(xp, s, g, d, t) + c0 * d.Lx,
                       b0, d, two_k, gn);
          } else if (two_k) {
            for (index_t t = 0; t < RS; t += 2)
              grad_two_taps(part + (t * d.Cp + c0) * d.Kp + k0, xp, b0, s, g, d, c0, t, t + 1 < RS,
                            gn);
          } else {
            for (index_t t = 0; t < RS; t += 4)
              grad_four_taps(part + (t * d.Cp + c0) * d.Kp + k0, xp, b0, s, g, d, c0, t,
                             (int)imin(4, RS - t), gn);
          }
        }
      }
    }
  }
  // dw[k][c][t] = sum over the threads' slices of part[t][c][k]
#pragma omp parallel for if (parallel_worth_it(s.K * s.C * RS))
  for (index_t kc = 0; kc < s.K * s.C; ++kc) {
    index_t k = kc / s.C, c = kc % s.C;
    for (index_t t = 0; t < RS; ++t) {
      float acc = 0.f;
      for (int th = 0; th < nt; ++th)
        acc += reinterpret_cast<const float*>(ws + th * per +
                                              d.G * d.stride)[(t * d.Cp + c) * d.Kp + k];
      dw[kc * RS + t] = acc;
    }
  }
}

size_t bf16_conv_amx_weight_size(const ConvShape& s) {
  AmxConv g = geometry(s);
  return (size_t)(s.R * s.S * g.CB * g.KG * 16 * g.BP);
}
size_t bf16_conv_amx_input_size(const ConvShape& s) { return (size_t)geometry(s).sample; }

// wa[t][cb][kg] = the A tile (16 output channels x BP channel pairs) of tap t: row k, slot p =
// (w[kg*16 + k][c][t], w[..][c + 1][t]) for c = 2 * (cb*BP + p), zero past K and C.
void bf16_conv_amx_pack_weight(uint32_t* wa, const float* w, const ConvShape& s) {
  AmxConv g = geometry(s);
  index_t RS = s.R * s.S;
  for (index_t t = 0; t < RS; ++t)
    for (index_t cb = 0; cb < g.CB; ++cb)
      for (index_t kg = 0; kg < g.KG; ++kg) {
        uint32_t* tile = wa + ((t * g.CB + cb) * g.KG + kg) * 16 * g.BP;
        for (index_t k = 0; k < 16; ++k)
          for (index_t p = 0; p < g.BP; ++p) {
            index_t ko = kg * 16 + k, c = 2 * (cb * g.BP + p);
            uint32_t v = 0;
            if (ko < s.K && c < s.C) {
              v = bf16_round(w[(ko * s.C + c) * RS + t]);
              if (c + 1 < s.C) v |= uint32_t(bf16_round(w[(ko * s.C + c + 1) * RS + t])) << 16;
            }
            tile[k * g.BP + p] = v;
          }
      }
}

namespace {

// y (K, OH, OW) at the valid pixels of a block, from buf rows of `pitch` floats (one row per
// output channel k0, k0 + 1, ... < k1), plus the bias.
inline void write_block(float* yn, const float* buf, index_t pitch, index_t k0, index_t k1,
                        const Runs& runs, const float* b, index_t OHW) {
  for (index_t k = k0; k < k1; ++k) {
    const float* row = buf + (k - k0) * pitch;
    __m512 bias = _mm512_set1_ps(b ? b[k] : 0.f);
    float* yk = yn + k * OHW;
    for (int r = 0; r < runs.n; ++r)
      for (int j = 0; j < runs.len[r]; j += 16) {
        __mmask16 m = lane_mask(runs.len[r] - j);
        __m512 v = _mm512_maskz_loadu_ps(m, row + runs.lane[r] + j);
        _mm512_mask_storeu_ps(yk + runs.dest[r] + j, m, _mm512_add_ps(v, bias));
      }
  }
}

inline void zero_accumulators() {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
}

// Where tap t reads the first channel block's pair planes for virtual pixel v0: its phase's
// planes, shifted by the tap's whole-phase-pixel offset.
inline const uint32_t* tap_pixels(const uint32_t* xq, const ConvShape& s, const AmxConv& g,
                                  index_t t, index_t v0) {
  index_t rr = (t / s.S) * s.dh, qq = (t % s.S) * s.dw;
  index_t phase = (rr % s.sh) * s.sw + qq % s.sw;
  return xq + phase * g.CB * g.BP * g.Lp + v0 + (rr / s.sh) * g.Wv + qq / s.sw;
}

// One sample of the forward from its pair planes xq: yn (K, OH, OW) = conv + b. Inside an
// AmxScope of depth g.BP, with tile 5 shaped as a B tile where g.KG == 1; buf: 32 x 32 floats.
void forward_sample(float* yn, const uint32_t* xq, const uint32_t* wa, const float* b,
                    const ConvShape& s, const AmxConv& g, float* buf) {
  const index_t RS = s.R * s.S, OHW = s.OH * s.OW, ld = g.Lp * 4;
  const index_t tile = 16 * g.BP;  // slots of one weight tile
  if (g.KG == 1) {
    // One group of 16 output channels (K <= 16): four pixel tiles of 16 share each weight
    // tile, so four sums are in flight instead of two (tdpbf16ps's latency is hidden behind
    // independent sums). Measured (Xeon, batch 64, 2 threads, alternating in one process):
    // 16->16 on 32x32 forward 0.50 -> 0.46 ms, 16->32 at stride 2 input gradient 0.55 -> 0.48.
    const int lanes = 64;
    for (index_t v0 = 0; v0 < g.V; v0 += lanes) {
      Runs runs = runs_of(v0, lanes, s, g);
      const index_t np = imin(4, (g.V - v0 + 15) / 16);
      zero_accumulators();
      for (index_t t = 0; t < RS; ++t) {
        const uint32_t* src = tap_pixels(xq, s, g, t, v0);
        const uint32_t* wt = wa + t * g.CB * tile;
        for (index_t cb = 0; cb < g.CB; ++cb, src += g.BP * g.Lp, wt += tile) {
          _tile_loadd(4, wt, g.BP * 4);
          _tile_loadd(6, src, ld);
          _tile_dpbf16ps(0, 4, 6);
          if (np > 1) {
            _tile_loadd(7, src + 16, ld);
            _tile_dpbf16ps(1, 4, 7);
          }
          if (np > 2) {
            _tile_loadd(5, src + 32, ld);
            _tile_dpbf16ps(2, 4, 5);
          }
          if (np > 3) {
            _tile_loadd(6, src + 48, ld);
            _tile_dpbf16ps(3, 4, 6);
          }
        }
      }
      // buf rows: 16 output channels of 64 pixels
      _tile_stored(0, buf, 256);
      _tile_stored(1, buf + 16, 256);
      _tile_stored(2, buf + 32, 256);
      _tile_stored(3, buf + 48, 256);
      write_block(yn, buf, 64, 0, s.K, runs, b, OHW);
    }
    return;
  }
  // (Four pixel tiles for one group of output channels, to hide tdpbf16ps's latency behind
  // four sums, measured slower than this 2 x 2 block where there are two groups or more.)
  const int lanes = 32;
  for (index_t v0 = 0; v0 < g.V; v0 += lanes) {
    Runs runs = runs_of(v0, lanes, s, g);
    const index_t np = imin(lanes / 16, (g.V - v0 + 15) / 16);  // pixel tiles in this block
    for (index_t kg0 = 0; kg0 < g.KG; kg0 += 2) {
      bool two_k = kg0 + 1 < g.KG;
      zero_accumulators();
      for (index_t t = 0; t < RS; ++t) {
        const uint32_t* src = tap_pixels(xq, s, g, t, v0);
        const uint32_t* wt = wa + (t * g.CB * g.KG + kg0) * tile;
        for (index_t cb = 0; cb < g.CB; ++cb, src += g.BP * g.Lp, wt += g.KG * tile) {
          _tile_loadd(4, wt, g.BP * 4);
          _tile_loadd(6, src, ld);
          _tile_dpbf16ps(0, 4, 6);
          if (np > 1) {
            _tile_loadd(7, src + 16, ld);
            _tile_dpbf16ps(1, 4, 7);
          }
          if (two_k) {
            _tile_loadd(5, wt + tile, g.BP * 4);
            _tile_dpbf16ps(2, 5, 6);
            if (np > 1) _tile_dpbf16ps(3, 5, 7);
          }
        }
      }
      // rows 0-15: output channels kg0*16.., rows 16-31: the next group
      _tile_stored(0, buf, 128);
      _tile_stored(1, buf + 16, 128);
      _tile_stored(2, buf + 16 * 32, 128);
      _tile_stored(3, buf + 16 * 32 + 16, 128);
      write_block(yn, buf, 32, kg0 * 16, imin(s.K, kg0 * 16 + 32), runs, b, OHW);
    }
  }
}

}  // namespace

void bf16_conv_amx_forward(float* y, const float* x, const uint32_t* wa, const float* b,
                           const ConvShape& s, uint32_t* planes) {
  AmxConv g = geometry(s);
  int nt = (int)imin(num_threads(), s.N);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    uint32_t* xq = planes + thread_id() * g.sample;
    zero_pair_planes(xq, g);
    // A tiles BP pairs wide, B tiles BP pairs deep (tile 5 too where K <= 16)
    AmxScope tiles(true, (int)g.BP, g.KG == 1);
    alignas(64) float buf[32 * 32];  // [output channel][pixel of the block]
#pragma omp for schedule(static)
    for (index_t n = 0; n < s.N; ++n) {
      to_pair_planes(xq, x + n * s.C * s.H * s.W, s, g);
      forward_sample(y + n * s.K * s.OH * s.OW, xq, wa, b, s, g, buf);
    }
  }
}

// ---- Input gradient at a stride, phase by phase ---------------------------------------------
//
// Phase (a, b) of dx (rows a, a + sh, ..., columns b, b + sw, ...) is a stride-1 correlation of
// dy with the taps that reach it (conv_phases.h): along rows, the taps r with r*dh = a + ph
// (mod sh), read from dy row i - e_r. Taken from the largest r down, e_r falls by dh/g per tap
// (g = gcd(dh, sh)), so the phase is the forward above on a sub-shape: dy's K channels in, C
// out, those taps at dilation dh/g, padding e of the largest r (negative where the phase reads
// past dy's start, which the pair planes handle). The phases share out the R*S taps, so nothing
// is multiplied by a zero inserted between dy's pixels (the transposed convolution's usual
// form, sh*sw times the work). Each thread writes a sample's phases to its own buffer, then
// interleaves them into dx; a phase no tap reaches is zero.

namespace {

// One axis of one phase: taps (the original tap of sub-tap t is first - t*step), the sub-conv's
// dilation and padding, and the phase's length.
struct AxisPhase {
  index_t len, taps, first, step, dil, pad;
};

AxisPhase axis_phase(index_t n, index_t k, index_t d, index_t p, index_t st, index_t a) {
  AxisPhase ax{phase_count(n, a, st), 0, 0, 1, 1, 0};
  for (index_t r = k - 1; r >= 0; --r)
    if (tap_in(r, d, a, p, st)) {
      if (ax.taps == 0) ax.first = r;
      else if (ax.taps == 1) ax.step = ax.first - r;
      ++ax.taps;
    }
  if (ax.taps > 0) {
    // dy position of sub-tap t at output i: i - e_{first - t*step} = i + t*dil - pad
    ax.pad = shift_of(ax.first, d, a, p, st);
    ax.dil = ax.step * d / st;
  }
  return ax;
}

struct DxPhase {
  ConvShape sub;  // the stride-1 convolution of dy that gives this phase
  AmxConv g;      // its geometry on the shared planes (their pitch, its own output grid)
  index_t base;   // where its padded dy starts in the shared planes (slots)
  index_t w_off;  // its packed weight in the workspace (slots)
  index_t y_off;  // its output in a thread's buffer (floats)
  bool empty;     // no tap reaches it: zeros
};

// All phases read one set of dy pair planes per sample, padded for the phase that needs most
// (T rows above, L columns left, as wide and tall as the widest and tallest reads), so dy is
// rounded and laid out once per sample, not once per phase.
struct DxPlan {
  int n;
  DxPhase ph[64];
  ConvShape pack;  // the shape the shared planes are built for (dy, padding T, L)
  AmxConv g;       // the shared planes' geometry
  index_t w_slots, w_float_slots, buf_floats;
};

DxPlan dx_plan(const ConvShape& s) {
  DxPlan pl;
  pl.n = 0;
  pl.w_slots = pl.w_float_slots = pl.buf_floats = 0;
  index_t T = 0, L = 0, rows = 1, cols = 1;
  for (index_t a = 0; a < s.sh; ++a)
    for (index_t b = 0; b < s.sw; ++b) {
      AxisPhase ra = axis_phase(s.H, s.R, s.dh, s.ph, s.sh, a);
      AxisPhase cb = axis_phase(s.W, s.S, s.dw, s.pw, s.sw, b);
      DxPhase& p = pl.ph[pl.n++];
      ConvShape& t = p.sub;
      t = s;
      t.C = s.K, t.K = s.C, t.H = s.OH, t.W = s.OW, t.G = 1;
      t.R = imax(ra.taps, 1), t.S = imax(cb.taps, 1);
      t.sh = t.sw = 1;
      t.dh = ra.dil, t.dw = cb.dil, t.ph = ra.pad, t.pw = cb.pad;
      t.OH = ra.len, t.OW = cb.len;
      p.empty = ra.taps == 0 || cb.taps == 0 || t.OH == 0 || t.OW == 0;
      p.y_off = pl.buf_floats;
      pl.buf_floats += s.C * t.OH * t.OW;
      if (p.empty) continue;
      T = imax(T, t.ph), L = imax(L, t.pw);
      p.w_off = pl.w_slots;
      pl.w_slots += bf16_conv_amx_weight_size(t);
      pl.w_float_slots = imax(pl.w_float_slots, s.C * s.K * t.R * t.S);
    }
  // Plane rows and columns: phase p reads padded row oh + i*dh' + (T - ph') for oh < OH'.
  for (int i = 0; i < pl.n; ++i) {
    const ConvShape& t = pl.ph[i].sub;
    if (pl.ph[i].empty) continue;
    rows = imax(rows, t.OH + (t.R - 1) * t.dh + T - t.ph);
    cols = imax(cols, t.OW + (t.S - 1) * t.dw + L - t.pw);
  }
  pl.pack = pl.ph[0].sub;
  pl.pack.ph = T, pl.pack.pw = L, pl.pack.R = pl.pack.S = 1, pl.pack.dh = pl.pack.dw = 1;
  pl.pack.OH = rows, pl.pack.OW = cols;  // a 1x1 "convolution" whose grid is the whole plane
  pl.g = geometry(pl.pack);
  // The last tile of a phase reads up to 31 slots past its grid plus its column offset.
  pl.g.sample = pl.g.CB * pl.g.BP * pl.g.Lp + 32 + cols + 16;
  for (int i = 0; i < pl.n; ++i) {
    DxPhase& p = pl.ph[i];
    if (p.empty) continue;
    p.g = pl.g;  // the same planes and channel blocks; its own output grid
    p.g.V = p.sub.OH * pl.g.Wv;
    p.base = (T - p.sub.ph) * pl.g.Wv + (L - p.sub.pw);
  }
  pl.buf_floats = (pl.buf_floats + 15) / 16 * 16;
  return pl;
}

// The taps of w (K, C, R, S) that reach phase (a, b), as the sub-shape's weight (C, K, R', S').
void phase_weight(float* wt, const float* w, const ConvShape& s, const ConvShape& t, index_t a,
                  index_t b) {
  AxisPhase ra = axis_phase(s.H, s.R, s.dh, s.ph, s.sh, a);
  AxisPhase cb = axis_phase(s.W, s.S, s.dw, s.pw, s.sw, b);
  index_t RS = s.R * s.S, RS2 = t.R * t.S;
  for (index_t c = 0; c < s.C; ++c)
    for (index_t k = 0; k < s.K; ++k)
      for (index_t i = 0; i < t.R; ++i)
        for (index_t j = 0; j < t.S; ++j) {
          index_t r = ra.first - i * ra.step, q = cb.first - j * cb.step;
          wt[(c * s.K + k) * RS2 + i * t.S + j] = w[(k * s.C + c) * RS + r * s.S + q];
        }
}

// dxn (C, H, W) from the phases in buf: dx[c][i*sh + a][j*sw + b] = phase (a, b)[c][i][j].
void interleave_phases(float* dxn, const float* buf, const ConvShape& s, const DxPlan& pl) {
  for (index_t c = 0; c < s.C; ++c)
    for (index_t ih = 0; ih < s.H; ++ih) {
      index_t a = ih % s.sh, i = ih / s.sh;
      float* d = dxn + (c * s.H + ih) * s.W;
      const DxPhase* row = pl.ph + a * s.sw;
      if (s.sw == 1) {
        const DxPhase& p = row[0];
        const float* src = buf + p.y_off + (c * p.sub.OH + i) * p.sub.OW;
        std::memcpy(d, src, (size_t)s.W * 4);
      } else if (s.sw == 2 && s.W >= 2) {
        // two phase rows into one: lanes (e0, o0, e1, o1, ...)
        const DxPhase &p0 = row[0], &p1 = row[1];
        const float* e = buf + p0.y_off + (c * p0.sub.OH + i) * p0.sub.OW;
        const float* o = buf + p1.y_off + (c * p1.sub.OH + i) * p1.sub.OW;
        const __m512i lo =
            _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
        for (index_t j = 0; 2 * j < s.W; j += 16) {
          __m512 ve = _mm512_maskz_loadu_ps(lane_mask(p0.sub.OW - j), e + j);
          __m512 vo = _mm512_maskz_loadu_ps(lane_mask(p1.sub.OW - j), o + j);
          index_t left = s.W - 2 * j;
          _mm512_mask_storeu_ps(d + 2 * j, lane_mask(left), _mm512_permutex2var_ps(ve, lo, vo));
          if (left > 16)
            _mm512_mask_storeu_ps(d + 2 * j + 16, lane_mask(left - 16),
                                  _mm512_permutex2var_ps(ve, hi, vo));
        }
      } else {
        for (index_t iw = 0; iw < s.W; ++iw) {
          const DxPhase& p = row[iw % s.sw];
          d[iw] = buf[p.y_off + (c * p.sub.OH + i) * p.sub.OW + iw / s.sw];
        }
      }
    }
}

}  // namespace

bool bf16_conv_amx_dx_fits(const ConvShape& s) { return s.G == 1 && s.sh * s.sw <= 64; }

size_t bf16_conv_amx_dx_size(const ConvShape& s, int nt) {
  DxPlan pl = dx_plan(s);
  return (size_t)(pl.w_slots + pl.w_float_slots + nt * (pl.g.sample + pl.buf_floats));
}

void bf16_conv_amx_input_grad(float* dx, const float* dy, const float* w, const ConvShape& s,
                              uint32_t* ws, int nt) {
  DxPlan pl = dx_plan(s);
  float* wt = reinterpret_cast<float*>(ws + pl.w_slots);
  for (int i = 0; i < pl.n; ++i) {
    const DxPhase& p = pl.ph[i];
    if (p.empty) continue;
    phase_weight(wt, w, s, p.sub, i / s.sw, i % s.sw);
    bf16_conv_amx_pack_weight(ws + p.w_off, wt, p.sub);
  }
  uint32_t* per_thread = ws + pl.w_slots + pl.w_float_slots;
  const index_t BP = imin(16, pairs_of(s.K));  // every phase reads dy's K channels
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    uint32_t* xq = per_thread + thread_id() * (pl.g.sample + pl.buf_floats);
    zero_pair_planes(xq, pl.g);
    float* out = reinterpret_cast<float*>(xq + pl.g.sample);
    for (int i = 0; i < pl.n; ++i) {
      const DxPhase& p = pl.ph[i];
      if (p.empty) std::memset(out + p.y_off, 0, (size_t)(s.C * p.sub.OH * p.sub.OW) * 4);
    }
    AmxScope tiles(true, (int)BP, (s.C + 15) / 16 == 1);  // as the forward's
    alignas(64) float buf[32 * 32];
#pragma omp for schedule(static)
    for (index_t n = 0; n < s.N; ++n) {
      to_pair_planes(xq, dy + n * s.K * s.OH * s.OW, pl.pack, pl.g);
      for (int i = 0; i < pl.n; ++i) {
        const DxPhase& p = pl.ph[i];
        if (!p.empty)
          forward_sample(out + p.y_off, xq + p.base, ws + p.w_off, nullptr, p.sub, p.g, buf);
      }
      interleave_phases(dx + n * s.C * s.H * s.W, out, s, pl);
    }
  }
}

}  // namespace pydlk

#else  // no AMX in this build: never called (bf16_amx_enabled() is false), only links.

namespace pydlk {
size_t bf16_conv_amx_weight_size(const ConvShape&) { return 0; }
size_t bf16_conv_amx_input_size(const ConvShape&) { return 0; }
void bf16_conv_amx_pack_weight(uint32_t*, const float*, const ConvShape&) {}
void bf16_conv_amx_forward(float*, const float*, const uint32_t*, const float*, const ConvShape&,
                           uint32_t*) {}
size_t bf16_conv_amx_grad_size(const ConvShape&) { return 0; }
bool bf16_conv_amx_dx_fits(const ConvShape&) { return false; }
size_t bf16_conv_amx_dx_size(const ConvShape&, int) { return 0; }
void bf16_conv_amx_input_grad(float*, const float*, const float*, const ConvShape&, uint32_t*,
                              int) {}
void bf16_conv_amx_weight_grad(float*, const float*, const float*, const ConvShape&, uint32_t*) {}
}  // namespace pydlk
#endif
