// bf16 convolution packing (AVX512_BF16): im2col straight into the micro-kernel's B panels.
//
// Both products read a bf16 copy of x made once per call (one pass over x, not one per tap), and
// build each B panel from it with masked 32-lane loads ("segments": runs of lanes that read
// consecutive input values), interleaving two depth rows into pairs with one permute per 16
// lanes. No float32 column matrix and no separate packing pass exist.
//
// Forward, y[n] (K, OHW) = w (K, CRS) @ col[n] (CRS, OHW): lanes are 32 output pixels, depth is
// (c, r, s). x is kept channel-planar and split into stride phases (xb[n][c][a*sw+b][i][j] =
// x[n][c][i*sh+a][j*sw+b]) so that every tap reads its phase image at unit stride: along an
// output row, consecutive pixels read consecutive values, whatever the stride.
//
// Weight gradient, dw (K, CRS) = sum over n of dy[n] (K, OHW) @ col[n]^T: lanes are 32 columns
// (r, s, c) of dw, depth is the samples' pixels. x is kept channels-last and zero-padded
// (xcl[n][y][x][c]), so for one pixel consecutive channels of a tap are consecutive values and
// the padding needs no masks. dw is computed in (K, R, S, C) order and transposed at the end.
#include "bf16_conv.h"

#if defined(__AVX512BF16__)
#include "bf16_kernel.h"

namespace pydlk {

namespace {

constexpr int kMaxSeg = NR + 1;  // segments of one 32-lane row: at most one per lane, + slack

inline index_t floor_div(index_t a, index_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline uint32_t bits(index_t lo, index_t hi) {  // lanes [lo, hi) set
  return (uint32_t)(((1ull << hi) - 1) & ~((1ull << lo) - 1));
}

// vpermt2w indices: lanes 0-15 (lo) and 16-31 (hi) of rows r0, r1 as pairs (r0[j], r1[j]).
struct PairIdx {
  alignas(64) uint16_t lo[32], hi[32];
  constexpr PairIdx() : lo(), hi() {
    for (int j = 0; j < 16; ++j) {
      lo[2 * j] = uint16_t(j), lo[2 * j + 1] = uint16_t(32 + j);
      hi[2 * j] = uint16_t(16 + j), hi[2 * j + 1] = uint16_t(48 + j);
    }
  }
};
constexpr PairIdx kPair{};

inline void store_pairs(uint32_t* dst, __m512i r0, __m512i r1) {
  __m512i lo = _mm512_load_si512(kPair.lo), hi = _mm512_load_si512(kPair.hi);
  _mm512_store_si512(dst, _mm512_permutex2var_epi16(r0, lo, r1));
  _mm512_store_si512(dst + 16, _mm512_permutex2var_epi16(r0, hi, r1));
}

// A segment list: seg[0] = count, then (offset, lane mask) pairs; lane l of a segment reads
// base[offset + l]. Lanes in no segment are zero.
inline __m512i load_row(const uint16_t* base, const int64_t* seg) {
  __m512i r = _mm512_setzero_si512();
  for (int64_t i = 0; i < seg[0]; ++i)
    r = _mm512_mask_loadu_epi16(r, (__mmask32)seg[2 + 2 * i], base + seg[1 + 2 * i]);
  return r;
}

inline void add_seg(int64_t* seg, index_t off, uint32_t mask) {
  seg[1 + 2 * seg[0]] = off, seg[2 + 2 * seg[0]] = mask;
  ++seg[0];
}

// x[n] (C, H, W) -> xb[n] (C, P, PH, PW), rounded to bf16; phase entries past the image are 0.
void to_phases(uint16_t* xb, const float* x, const ConvShape& s, index_t PH, index_t PW) {
  index_t HW = s.H * s.W, P = s.sh * s.sw;
  if (P == 1) {  // the plain copy, 16 at a time
    for (index_t i = 0; i < s.C * HW; i += 16) {
      __mmask16 m = lane_mask(s.C * HW - i);
      _mm256_mask_storeu_epi16(xb + i, m,
                               (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i)));
    }
    return;
  }
  for (index_t c = 0; c < s.C; ++c)
    for (index_t a = 0; a < s.sh; ++a)
      for (index_t b = 0; b < s.sw; ++b) {
        uint16_t* d = xb + ((c * s.sh + a) * s.sw + b) * PH * PW;
        for (index_t i = 0; i < PH; ++i)
          for (index_t j = 0; j < PW; ++j) {
            index_t ih = i * s.sh + a, iw = j * s.sw + b;
            d[i * PW + j] = ih < s.H && iw < s.W ? bf16_round(x[c * HW + ih * s.W + iw]) : 0;
          }
      }
}

// x[n] (C, H, W) -> xcl[n] (Hp, Wp, C), rounded to bf16, zero outside the image (which sits at
// offset (ph, pw)). Each input row is rounded with vector converts into a small buffer (a few
// channels at a time), then its values are spread to their channels-last places.
void to_channels_last(uint16_t* xn, const float* x, const ConvShape& s, index_t Hp, index_t Wp) {
  constexpr index_t kBuf = 4096;
  alignas(64) uint16_t buf[kBuf];
  index_t HW = s.H * s.W, cstep = imax(1, kBuf / s.W), wn = imin(s.W, Wp - s.pw);
  for (index_t i = 0; i < Hp * Wp * s.C; ++i) xn[i] = 0;
  for (index_t ih = 0; ih < s.H && ih + s.ph < Hp; ++ih) {
    uint16_t* drow = xn + ((ih + s.ph) * Wp + s.pw) * s.C;
    for (index_t c0 = 0; c0 < s.C; c0 += cstep) {
      index_t cn = imin(cstep, s.C - c0);
      for (index_t c = 0; c < cn; ++c) {
        const float* src = x + (c0 + c) * HW + ih * s.W;
        if (s.W > kBuf) {  // a row wider than the buffer: round one value at a time
          for (index_t iw = 0; iw < wn; ++iw) drow[iw * s.C + c0 + c] = bf16_round(src[iw]);
          continue;
        }
        for (index_t iw = 0; iw < s.W; iw += 16) {
          __mmask16 m = lane_mask(s.W - iw);
          _mm256_mask_storeu_epi16(buf + c * s.W + iw, m,
                                   (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + iw)));
        }
      }
      for (index_t iw = 0; iw < wn && s.W <= kBuf; ++iw)
        for (index_t c = 0; c < cn; ++c) drow[iw * s.C + c0 + c] = buf[c * s.W + iw];
    }
  }
}

// Segments of tap (r, q) for the output pixels [pix0, pix0 + cnt): one per output row, lanes
// whose input column lies inside the phase image (rows outside it have none).
void tap_segments(int64_t* seg, index_t pix0, index_t cnt, index_t dr, index_t dc, index_t PH,
                  index_t PW, const ConvShape& s) {
  seg[0] = 0;
  for (index_t oh = pix0 / s.OW; oh * s.OW < pix0 + cnt; ++oh) {
    index_t i = oh + dr;
    if (i < 0 || i >= PH) continue;
    index_t l0 = imax(0, oh * s.OW - pix0), l1 = imin(cnt, (oh + 1) * s.OW - pix0);
    index_t jl = oh * s.OW - pix0 - dc;  // the lane that reads column 0 of the phase image
    index_t lo = imax(l0, jl), hi = imin(l1, jl + PW);
    if (lo < hi) add_seg(seg, i * PW + dc + pix0 - oh * s.OW, bits(lo, hi));
  }
}

}  // namespace

size_t bf16_conv_xb_size(const ConvShape& s) {
  index_t PH = (s.H + s.sh - 1) / s.sh, PW = (s.W + s.sw - 1) / s.sw;
  return (size_t)(s.N * s.C * s.sh * s.sw * PH * PW);
}
// Per thread: a segment list per tap, then one index per tap (where its phase image starts).
size_t bf16_conv_seg_size(const ConvShape& s) {
  return (size_t)(s.R * s.S * (2 + 2 * kMaxSeg) + 1 + 2 * kMaxSeg);
}

void bf16_conv_forward(float* y, const float* x, const BfPackedA& w, const float* b,
                       const ConvShape& s, uint16_t* xb, int64_t* segs) {
  index_t RS = s.R * s.S, CRS = s.C * RS, KP = pairs_of(CRS), OHW = s.OH * s.OW;
  index_t PH = (s.H + s.sh - 1) / s.sh, PW = (s.W + s.sw - 1) / s.sw, P = s.sh * s.sw;
  index_t seg_n = 1 + 2 * kMaxSeg, seg_size = (index_t)bf16_conv_seg_size(s);
  int nt = (int)imin(num_threads(), s.N);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (index_t n = 0; n < s.N; ++n) {
    int64_t* seg = segs + thread_id() * seg_size;
    uint16_t* xn = xb + n * s.C * P * PH * PW;
    to_phases(xn, x + n * s.C * s.H * s.W, s, PH, PW);
    float* yn = y + n * s.K * OHW;
    for (index_t k = 0; k < s.K; ++k)
      for (index_t i = 0; i < OHW; ++i) yn[k * OHW + i] = b ? b[k] : 0.f;
    // Per tap: where its phase image starts inside a channel's P phases.
    index_t* tap_base = (index_t*)(seg + RS * seg_n);
    uint32_t* bp = b_panel();
    AmxScope tiles(w.amx);
    for (index_t pix0 = 0; pix0 < OHW; pix0 += NR) {
      index_t cnt = imin(NR, OHW - pix0);
      for (index_t t = 0; t < RS; ++t) {
        index_t vr = (t / s.S) * s.dh - s.ph, vc = (t % s.S) * s.dw - s.pw;
        index_t dr = floor_div(vr, s.sh), dc = floor_div(vc, s.sw);
        tap_base[t] = ((vr - dr * s.sh) * s.sw + (vc - dc * s.sw)) * PH * PW;
        tap_segments(seg + t * seg_n, pix0, cnt, dr, dc, PH, PW, s);
      }
      for (index_t p0 = 0; p0 < KP; p0 += kKcPairs) {
        index_t kp = imin(kKcPairs, KP - p0);
        index_t c = (2 * p0) / RS, t = (2 * p0) % RS;  // depth 2 * p0 is (c, tap t)
        auto row = [&]() {  // the row of depth (c, t), then step to the next depth
          __m512i r = c < s.C ? load_row(xn + c * P * PH * PW + tap_base[t], seg + t * seg_n)
                              : _mm512_setzero_si512();
          if (++t == RS) t = 0, ++c;
          return r;
        };
        for (index_t p = 0; p < panel_pairs(w, kp); ++p) {  // rows past the depth are zero
          __m512i r0 = row();
          __m512i r1 = row();
          store_pairs(bp + p * NR, r0, r1);
        }
        panel_product(w, p0, kp, bp, yn + pix0, OHW, (int)cnt, true, nullptr);
      }
    }
  }
}

size_t bf16_conv_xcl_size(const ConvShape& s) {
  index_t Hp = (s.OH - 1) * s.sh + (s.R - 1) * s.dh + 1,
          Wp = (s.OW - 1) * s.sw + (s.S - 1) * s.dw + 1;
  return (size_t)(s.N * Hp * Wp * s.C);
}

void bf16_conv_weight_grad(float* dw, const float* dy, const float* x, const ConvShape& s,
                           uint16_t* xcl, uint32_t* dyp, float* part, int64_t* segs) {
  index_t RS = s.R * s.S, RSC = RS * s.C, OHW = s.OH * s.OW, KP = pairs_of(OHW), HW = s.H * s.W;
  index_t Hp = (s.OH - 1) * s.sh + (s.R - 1) * s.dh + 1,
          Wp = (s.OW - 1) * s.sw + (s.S - 1) * s.dw + 1;
  index_t seg_size = (index_t)bf16_conv_seg_size(s);
  int nt = (int)imin(num_threads(), s.N), used = 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int t = thread_id(), team = 1;
#ifdef _OPENMP
    team = omp_get_num_threads();
#endif
#pragma omp single
    used = team;
    int64_t* seg = segs + t * seg_size;
    uint32_t* ap = dyp + t * bf16_packed_a_slots(s.K, OHW);
    float* pt = part + t * s.K * RSC;
    uint32_t* bp = b_panel();
    index_t n0 = s.N * t / team, n1 = s.N * (t + 1) / team;
    for (index_t n = n0; n < n1; ++n) {
      uint16_t* xn = xcl + n * Hp * Wp * s.C;
      to_channels_last(xn, x + n * s.C * HW, s, Hp, Wp);
      BfPackedA pa = bf16_pack_a(ap, BfMat<float>{dy + n * s.K * OHW, OHW, 1}, s.K, OHW);
      AmxScope tiles(pa.amx);
      for (index_t j0 = 0; j0 < RSC; j0 += NR) {
        index_t cnt = imin(NR, RSC - j0);
        seg[0] = 0;  // runs of one tap's consecutive channels
        for (index_t l = 0; l < cnt;) {
          index_t j = j0 + l, tap = j / s.C, c = j % s.C, len = imin(s.C - c, cnt - l);
          index_t off = (((tap / s.S) * s.dh) * Wp + (tap % s.S) * s.dw) * s.C + c;
          add_seg(seg, off - l, bits(l, l + len));
          l += len;
        }
        for (index_t p0 = 0; p0 < KP; p0 += kKcPairs) {
          index_t kp = imin(kKcPairs, KP - p0);
          index_t pix = 2 * p0, oh = pix / s.OW, ow = pix % s.OW;  // stepped, not divided, below
          auto row = [&]() {  // pixel pix's row of the 32 columns, then step to the next pixel
            __m512i r = _mm512_setzero_si512();
            if (pix < OHW) r = load_row(xn + (oh * s.sh * Wp + ow * s.sw) * s.C, seg);
            ++pix;
            if (++ow == s.OW) ow = 0, ++oh;
            return r;
          };
          for (index_t p = 0; p < panel_pairs(pa, kp); ++p) {  // pixels past OHW are zero
            __m512i r0 = row();
            __m512i r1 = row();
            store_pairs(bp + p * NR, r0, r1);
          }
          panel_product(pa, p0, kp, bp, pt + j0, RSC, (int)cnt, n > n0 || p0 > 0, nullptr);
        }
      }
    }
  }
  // dw[k][c][r][q] = sum over threads of part[k][(r*S + q)*C + c]
  index_t CRS = RSC;
#pragma omp parallel for if (parallel_worth_it(s.K * CRS))
  for (index_t kc = 0; kc < s.K * s.C; ++kc) {
    index_t k = kc / s.C, c = kc % s.C;
    for (index_t tap = 0; tap < RS; ++tap) {
      float acc = 0.f;
      for (int t = 0; t < used; ++t) acc += part[t * s.K * RSC + k * RSC + tap * s.C + c];
      dw[kc * RS + tap] = acc;
    }
  }
}

}  // namespace pydlk

#else  // built without AVX512_BF16 (another architecture): never runs, only links.

namespace pydlk {
size_t bf16_conv_xb_size(const ConvShape&) { return 0; }
size_t bf16_conv_seg_size(const ConvShape&) { return 0; }
size_t bf16_conv_xcl_size(const ConvShape&) { return 0; }
void bf16_conv_forward(float*, const float*, const BfPackedA&, const float*, const ConvShape&,
                       uint16_t*, int64_t*) {}
void bf16_conv_weight_grad(float*, const float*, const float*, const ConvShape&, uint16_t*,
                           uint32_t*, float*, int64_t*) {}
}  // namespace pydlk
#endif
