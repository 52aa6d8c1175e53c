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
// pairs. A 32-channel x 32-pixel block of y stays in four accumulator tiles over all taps and
// channel blocks, then goes to y (N, K, OH, OW) through a small buffer, run by run of valid
// pixels.
//
// Input dilation (uh, uw) serves the input gradient of a strided convolution, which is this
// forward on dy with zeros between its pixels: only the pair planes see it (they place dy's pixel
// (i, j) at (i*uh, j*uw) and leave the rest zero), so no zero-filled copy of dy is made.
//
// The weight gradient transposed, dw[t]^T (C x K) = sum over virtual pixels of x's phase image
// shifted by tap t (C x pixels) @ dy (pixels x K), on the same virtual grid: A tiles are 16
// channel rows of 32 consecutive bf16 pixels of a plain (one channel per plane) phase image, so
// any tap offset is just a shifted load; B tiles are dy as pixel pairs x output channels
// ("dy pairs", built per sample by a 32-bit transpose of dy's bf16 rows). dy is zero at the
// dropped pixels, so they add nothing (an Inf in x read there would add a NaN: see
// bf16_conv.h). Each thread sums its samples into its own (taps, C, K) slice in the tiles.
//
// Compiled with the AMX flags (CMakeLists.txt); runs only where bf16_amx_enabled().
#include "bf16_conv.h"

#if defined(__AVX512BF16__) && defined(__AMX_BF16__)
#include <cstring>

#include "bf16_kernel.h"

namespace pydlk {

namespace {

// Input dilation: x is (C, Hr, Wr) and its pixel (i, j) is pixel (i*uh, j*uw) of the image.
struct Dilation {
  index_t uh, uw, Hr, Wr;
};

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

// Pair planes of sample x into dst (g.sample slots), zeros outside the image and past C. x is
// (C, Hr, Wr); its pixel (i, j) sits at (i*uh, j*uw) of the (C, H, W) image s describes.
void to_pair_planes(uint32_t* dst, const float* x, const ConvShape& s, const AmxConv& g,
                    const Dilation& u) {
  std::memset(dst, 0, (size_t)g.sample * 4);
  index_t HW = u.Hr * u.Wr;
  for (index_t pr = 0; pr < pairs_of(s.C); ++pr) {
    const float* x0 = x + 2 * pr * HW;
    const float* x1 = 2 * pr + 1 < s.C ? x0 + HW : nullptr;
    for (index_t a = 0; a < s.sh; ++a)
      for (index_t b = 0; b < s.sw; ++b) {
        if (!g.reads(a * s.sw + b)) continue;
        uint32_t* plane = dst + ((a * s.sw + b) * g.CB * g.BP + pr) * g.Lp;
        for (index_t i = 0; i < g.PHh; ++i) {
          index_t ih = i * s.sh + a - s.ph;
          if (ih < 0 || ih >= s.H || ih % u.uh) continue;
          ih /= u.uh;
          // columns j with iw = j*sw + b - pw inside [0, W)
          index_t off = b - s.pw;  // iw = j*sw + off
          index_t j0 = off >= 0 ? 0 : (-off + s.sw - 1) / s.sw;
          index_t j1 = s.W - 1 - off < 0 ? 0 : (s.W - 1 - off) / s.sw + 1;  // first iw >= W
          if (j1 > g.Wv) j1 = g.Wv;
          uint32_t* d = plane + i * g.Wv;
          const float* r0 = x0 + ih * u.Wr;
          const float* r1 = x1 ? x1 + ih * u.Wr : nullptr;
          if (u.uw > 1) {  // only every uw-th column holds a value: x's column c at j
            for (index_t c = 0; c < u.Wr; ++c) {  // = (c*uw - off) / sw, where that divides
              index_t jj = c * u.uw - off, j = s.sw == 1 ? jj : jj / s.sw;
              if (j < j0 || (s.sw != 1 && jj % s.sw)) continue;
              if (j >= j1) break;
              uint32_t v = bf16_round(r0[c]);
              if (r1) v |= uint32_t(bf16_round(r1[c])) << 16;
              d[j] = v;
            }
          } else if (s.sw == 1) {
            for (index_t j = j0; j < j1; j += 16) {
              __mmask16 m = lane_mask(j1 - j);
              __m512 lo = _mm512_maskz_loadu_ps(m, r0 + j + off);
              __m512 hi = r1 ? _mm512_maskz_loadu_ps(m, r1 + j + off) : _mm512_setzero_ps();
              // one vcvtne2ps2bf16 packs lo into the low halves: pairs (lo[j], hi[j])
              __m512i lo16 = _mm512_maskz_cvtepu16_epi32(0xffff, (__m256i)_mm512_cvtneps_pbh(lo));
              __m512i hi16 = _mm512_maskz_cvtepu16_epi32(0xffff, (__m256i)_mm512_cvtneps_pbh(hi));
              _mm512_mask_storeu_epi32(
                  d + j, m, _mm512_or_si512(lo16, _mm512_maskz_slli_epi32(0xffff, hi16, 16)));
            }
          } else {
            for (index_t j = j0; j < j1; ++j) {
              index_t iw = j * s.sw + off;
              uint32_t v = bf16_round(r0[iw]);
              if (r1) v |= uint32_t(bf16_round(r1[iw])) << 16;
              d[j] = v;
            }
          }
        }
      }
  }
}

// The runs of valid virtual pixels of one block of `lanes` (<= 32) pixels: (lane, count, output
// pixel index).
struct Runs {
  int n;
  int lane[32], len[32];
  index_t dest[32];
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
  return d;
}

// Phase images of sample x (C, H, W) in bf16, one plane of d.Lx per (phase, channel), zero outside
// the image and for channels past C.
void to_phase_planes(uint16_t* dst, const float* x, const ConvShape& s, const AmxConv& g,
                     const AmxGrad& d) {
  std::memset(dst, 0, (size_t)g.P * d.Cp * d.Lx * 2);
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
          if (s.sw == 1) {
            for (index_t j = j0; j < j1; j += 16) {
              __mmask16 m = lane_mask(j1 - j);
              _mm256_mask_storeu_epi16(
                  dr + j, m, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, r + j + off)));
            }
          } else {
            for (index_t j = j0; j < j1; ++j) dr[j] = bf16_round(r[j * s.sw + off]);
          }
        }
      }
}

// dy of one sample (K, OH, OW) as pixel pairs: pairs[q][k] = (dy[k][v = 2q], dy[k][2q + 1]) over
// the virtual grid (zero at dropped pixels, past V and for k >= K). rows: Kp x Vp bf16 scratch.
void to_dy_pairs(uint32_t* pairs, uint16_t* rows, const float* dy, const ConvShape& s,
                 const AmxConv& g, const AmxGrad& d) {
  std::memset(rows, 0, (size_t)d.Kp * d.Vp * 2);
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
  // A 32-bit transpose: row k's slot q is already the pair (2q, 2q + 1).
  const uint32_t* r32 = reinterpret_cast<const uint32_t*>(rows);
  index_t Q = d.Vp / 2;
  for (index_t q0 = 0; q0 < Q; q0 += 16)
    for (index_t k = 0; k < d.Kp; ++k)
      for (index_t q = q0; q < q0 + 16 && q < Q; ++q) pairs[q * d.Kp + k] = r32[k * Q + q];
}

}  // namespace

size_t bf16_conv_amx_grad_size(const ConvShape& s) {
  AmxConv g = geometry(s);
  AmxGrad d = grad_geometry(s, g);
  return (size_t)(d.x_slots + d.dy_slots + d.part_floats);
}

void bf16_conv_amx_weight_grad(float* dw, const float* dy, const float* x, const ConvShape& s,
                               uint32_t* ws) {
  AmxConv g = geometry(s);
  AmxGrad d = grad_geometry(s, g);
  index_t RS = s.R * s.S, per = d.x_slots + d.dy_slots + d.part_floats;
  index_t lda = d.Lx * 2, ldb = d.Kp * 4, ldc = d.Kp * 4;
  int nt = (int)imin(num_threads(), s.N);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    uint32_t* mine = ws + thread_id() * per;
    uint16_t* xp = reinterpret_cast<uint16_t*>(mine);
    uint32_t* pairs = mine + d.x_slots;
    uint16_t* rows = reinterpret_cast<uint16_t*>(pairs + d.Vp / 2 * d.Kp);
    float* part = reinterpret_cast<float*>(mine + d.x_slots + d.dy_slots);
    std::memset(part, 0, (size_t)d.part_floats * 4);
    AmxScope tiles(true);
#pragma omp for schedule(static)
    for (index_t n = 0; n < s.N; ++n) {
      to_phase_planes(xp, x + n * s.C * s.H * s.W, s, g, d);
      to_dy_pairs(pairs, rows, dy + n * s.K * s.OH * s.OW, s, g, d);
      for (index_t t = 0; t < RS; ++t) {
        index_t rr = (t / s.S) * s.dh, qq = (t % s.S) * s.dw;
        index_t phase = (rr % s.sh) * s.sw + qq % s.sw;
        const uint16_t* xt = xp + phase * d.Cp * d.Lx + (rr / s.sh) * g.Wv + qq / s.sw;
        for (index_t c0 = 0; c0 < d.Cp; c0 += 32) {
          bool two_c = c0 + 16 < d.Cp;
          for (index_t k0 = 0; k0 < d.Kp; k0 += 32) {
            bool two_k = k0 + 16 < d.Kp;
            float* pc = part + (t * d.Cp + c0) * d.Kp + k0;
            _tile_loadd(0, pc, ldc);
            if (two_k) _tile_loadd(1, pc + 16, ldc);
            if (two_c) _tile_loadd(2, pc + 16 * d.Kp, ldc);
            if (two_c && two_k) _tile_loadd(3, pc + 16 * d.Kp + 16, ldc);
            const uint16_t* a = xt + c0 * d.Lx;
            for (index_t v0 = 0; v0 < d.Vp; v0 += 32) {
              const uint32_t* bq = pairs + (v0 / 2) * d.Kp + k0;
              _tile_loadd(4, a + v0, lda);
              _tile_loadd(6, bq, ldb);
              _tile_dpbf16ps(0, 4, 6);
              if (two_k) {
                _tile_loadd(7, bq + 16, ldb);
                _tile_dpbf16ps(1, 4, 7);
              }
              if (two_c) {
                _tile_loadd(5, a + 16 * d.Lx + v0, lda);
                _tile_dpbf16ps(2, 5, 6);
                if (two_k) _tile_dpbf16ps(3, 5, 7);
              }
            }
            _tile_stored(0, pc, ldc);
            if (two_k) _tile_stored(1, pc + 16, ldc);
            if (two_c) _tile_stored(2, pc + 16 * d.Kp, ldc);
            if (two_c && two_k) _tile_stored(3, pc + 16 * d.Kp + 16, ldc);
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
        acc += reinterpret_cast<const float*>(ws + th * per + d.x_slots +
                                              d.dy_slots)[(t * d.Cp + c) * d.Kp + k];
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

void bf16_conv_amx_forward(float* y, const float* x, const uint32_t* wa, const float* b,
                           const ConvShape& s, uint32_t* planes, index_t uh, index_t uw) {
  AmxConv g = geometry(s);
  Dilation u{uh, uw, (s.H - 1) / uh + 1, (s.W - 1) / uw + 1};
  index_t RS = s.R * s.S, OHW = s.OH * s.OW, ld = g.Lp * 4;
  int nt = (int)imin(num_threads(), s.N);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    uint32_t* xq = planes + thread_id() * g.sample;
    // (Four pixel tiles for one group of output channels, to hide tdpbf16ps's latency behind
    // four sums, measured slower than this 2 x 2 block.)
    const int lanes = 32;
    AmxScope tiles(true, (int)g.BP);  // A tiles BP pairs wide, B tiles BP pairs deep
    alignas(64) float buf[32 * 32];   // [output channel][pixel of the block]
    const index_t tile = 16 * g.BP;   // slots of one weight tile
#pragma omp for schedule(static)
    for (index_t n = 0; n < s.N; ++n) {
      to_pair_planes(xq, x + n * s.C * u.Hr * u.Wr, s, g, u);
      float* yn = y + n * s.K * OHW;
      for (index_t v0 = 0; v0 < g.V; v0 += lanes) {
        Runs runs = runs_of(v0, lanes, s, g);
        const index_t np = imin(lanes / 16, (g.V - v0 + 15) / 16);  // pixel tiles in this block
        for (index_t kg0 = 0; kg0 < g.KG; kg0 += 2) {
          bool two_k = kg0 + 1 < g.KG;
          _tile_zero(0);
          _tile_zero(1);
          _tile_zero(2);
          _tile_zero(3);
          for (index_t t = 0; t < RS; ++t) {
            index_t rr = (t / s.S) * s.dh, qq = (t % s.S) * s.dw;
            index_t phase = (rr % s.sh) * s.sw + qq % s.sw;
            const uint32_t* src =
                xq + phase * g.CB * g.BP * g.Lp + v0 + (rr / s.sh) * g.Wv + qq / s.sw;
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
          index_t k1 = imin(s.K, kg0 * 16 + 32);
          for (index_t k = kg0 * 16; k < k1; ++k) {
            const float* row = buf + (k - kg0 * 16) * 32;
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
      }
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
                           uint32_t*, index_t, index_t) {}
size_t bf16_conv_amx_grad_size(const ConvShape&) { return 0; }
void bf16_conv_amx_weight_grad(float*, const float*, const float*, const ConvShape&, uint32_t*) {}
}  // namespace pydlk
#endif
