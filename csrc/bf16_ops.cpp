// Linear and convolution in bf16 (autocast): the float32 layers' products on bf16_gemm.
//
// Convolution runs im2col + GEMM per sample, samples split over the OpenMP team, each thread
// running single-threaded products on its own im2col buffer; the weight is packed once per call
// and shared. A 1x1, stride-1, unpadded convolution uses the input itself as the column matrix.
// The im2col here is a plain one: it feeds a packer that rounds to bf16 anyway, and the float32
// path's tuned im2col (conv2d.cpp) is private to that file.
#include "bf16_ops.h"

#include <algorithm>
#include <vector>

#include "bf16_gemm.h"

namespace pydlk {

namespace {

using FMat = BfMat<float>;

// col (C*R*S, OH*OW) of sample xn (C, H, W); zero outside the image.
void im2col_plain(float* col, const float* xn, const ConvShape& s) {
  index_t OHW = s.OH * s.OW;
  for (index_t c = 0; c < s.C; ++c)
    for (index_t r = 0; r < s.R; ++r)
      for (index_t q = 0; q < s.S; ++q) {
        float* dst = col + ((c * s.R + r) * s.S + q) * OHW;
        const float* xc = xn + c * s.H * s.W;
        for (index_t oh = 0; oh < s.OH; ++oh) {
          index_t ih = oh * s.sh + r * s.dh - s.ph;
          float* d = dst + oh * s.OW;
          if (ih < 0 || ih >= s.H) {
            std::fill(d, d + s.OW, 0.f);
            continue;
          }
          const float* xr = xc + ih * s.W;
          for (index_t ow = 0; ow < s.OW; ++ow) {
            index_t iw = ow * s.sw + q * s.dw - s.pw;
            d[ow] = (iw >= 0 && iw < s.W) ? xr[iw] : 0.f;
          }
        }
      }
}

// The adjoint: dxn (C, H, W) = sum of col's entries at the pixels they were read from.
void col2im_plain(float* dxn, const float* col, const ConvShape& s) {
  index_t OHW = s.OH * s.OW;
  std::fill(dxn, dxn + s.C * s.H * s.W, 0.f);
  for (index_t c = 0; c < s.C; ++c)
    for (index_t r = 0; r < s.R; ++r)
      for (index_t q = 0; q < s.S; ++q) {
        const float* src = col + ((c * s.R + r) * s.S + q) * OHW;
        float* xc = dxn + c * s.H * s.W;
        for (index_t oh = 0; oh < s.OH; ++oh) {
          index_t ih = oh * s.sh + r * s.dh - s.ph;
          if (ih < 0 || ih >= s.H) continue;
          float* xr = xc + ih * s.W;
          const float* sr = src + oh * s.OW;
          for (index_t ow = 0; ow < s.OW; ++ow) {
            index_t iw = ow * s.sw + q * s.dw - s.pw;
            if (iw >= 0 && iw < s.W) xr[iw] += sr[ow];
          }
        }
      }
}

bool is_identity_col(const ConvShape& s) {
  return s.R == 1 && s.S == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0;
}

// Column sums of dy viewed as (rows, cols) rows of `inner` contiguous values per output:
// db[o] = sum over n and the inner positions of dy[n, o, :]. Added up in double.
void bias_grad(float* db, const float* dy, index_t N, index_t OUT, index_t inner) {
#pragma omp parallel for if (parallel_worth_it(N * OUT * inner))
  for (index_t o = 0; o < OUT; ++o) {
    double acc = 0;
    for (index_t n = 0; n < N; ++n) {
      const float* p = dy + (n * OUT + o) * inner;
      for (index_t i = 0; i < inner; ++i) acc += p[i];
    }
    db[o] = (float)acc;
  }
}

}  // namespace

void linear_bf16_forward(float* y, const float* x, const float* w, const float* b, index_t N,
                         index_t IN, index_t OUT) {
  if (N == 0) return;
  for (index_t n = 0; n < N; ++n)
    for (index_t o = 0; o < OUT; ++o) y[n * OUT + o] = b ? b[o] : 0.f;
  std::vector<uint32_t> ws(bf16_gemm_ws_slots(N, IN));
  // A = x (row n, depth i), B = w^T (depth i, column o) = w[o * IN + i].
  bf16_gemm(y, OUT, true, N, OUT, IN, FMat{x, IN, 1}, FMat{w, IN, 1}, ws.data());
}

void linear_bf16_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                          const float* w, index_t N, index_t IN, index_t OUT) {
  if (dx) {  // dx (N, IN) = dy (N, OUT) @ w (OUT, IN)
    std::vector<uint32_t> ws(bf16_gemm_ws_slots(N, OUT));
    bf16_gemm(dx, IN, false, N, IN, OUT, FMat{dy, OUT, 1}, FMat{w, 1, IN}, ws.data());
  }
  if (dw) {  // dw (OUT, IN) = dy^T (OUT, N) @ x (N, IN)
    std::vector<uint32_t> ws(bf16_gemm_ws_slots(OUT, N));
    bf16_gemm(dw, IN, false, OUT, IN, N, FMat{dy, 1, OUT}, FMat{x, 1, IN}, ws.data());
  }
  if (db) bias_grad(db, dy, N, OUT, 1);
}

void conv2d_bf16_forward(float* y, const float* x, const float* w, const float* b,
                         const ConvShape& s) {
  index_t CRS = s.C * s.R * s.S, OHW = s.OH * s.OW, HW = s.H * s.W;
  // y[n] (K, OHW) = w (K, CRS) @ col[n] (CRS, OHW) + b
  std::vector<uint32_t> wp(bf16_packed_a_slots(s.K, CRS));
  BfPackedA pa = bf16_pack_a(wp.data(), FMat{w, CRS, 1}, s.K, CRS);
  bool direct = is_identity_col(s);
  int nt = std::max(1, std::min<int>(num_threads(), (int)s.N));
  std::vector<float> cols(direct ? 0 : (size_t)(nt * CRS * OHW));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (index_t n = 0; n < s.N; ++n) {
    float* yn = y + n * s.K * OHW;
    const float* col = x + n * s.C * HW;
    if (!direct) {
      float* mine = cols.data() + thread_id() * CRS * OHW;
      im2col_plain(mine, x + n * s.C * HW, s);
      col = mine;
    }
    for (index_t k = 0; k < s.K; ++k) std::fill(yn + k * OHW, yn + (k + 1) * OHW, b ? b[k] : 0.f);
    bf16_gemm_packed(yn, OHW, true, pa, FMat{col, 1, OHW}, 0, OHW);
  }
}

void conv2d_bf16_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                          const float* w, const ConvShape& s) {
  index_t CRS = s.C * s.R * s.S, OHW = s.OH * s.OW, HW = s.H * s.W, KCRS = s.K * CRS;
  bool direct = is_identity_col(s);
  int nt = std::max(1, std::min<int>(num_threads(), (int)s.N));
  // dcol[n] (CRS, OHW) = w^T (CRS, K) @ dy[n] (K, OHW): the weight packed once, shared.
  std::vector<uint32_t> wtp;
  BfPackedA wt{nullptr, 0, 0};
  if (dx) {
    wtp.resize(bf16_packed_a_slots(CRS, s.K));
    wt = bf16_pack_a(wtp.data(), FMat{w, 1, CRS}, CRS, s.K);
  }
  // dw = sum over n of dy[n] (K, OHW) @ col[n]^T (OHW, CRS): one partial per thread, summed.
  std::vector<float> cols((size_t)nt * CRS * OHW);
  std::vector<float> dwp(dw ? (size_t)nt * KCRS : 0);
  std::vector<uint32_t> dyp(dw ? (size_t)nt * bf16_packed_a_slots(s.K, OHW) : 0);
  std::vector<char> started(nt, 0);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (index_t n = 0; n < s.N; ++n) {
    int t = thread_id();
    const float* dyn = dy + n * s.K * OHW;
    float* col = cols.data() + t * CRS * OHW;
    if (dw) {
      const float* cn = x + n * s.C * HW;
      if (!direct) {
        im2col_plain(col, cn, s);
        cn = col;
      }
      BfPackedA pa =
          bf16_pack_a(dyp.data() + t * bf16_packed_a_slots(s.K, OHW), FMat{dyn, OHW, 1}, s.K, OHW);
      bf16_gemm_packed(dwp.data() + t * KCRS, CRS, started[t] != 0, pa, FMat{cn, OHW, 1}, 0, CRS);
      started[t] = 1;
    }
    if (dx) {
      float* dxn = dx + n * s.C * HW;
      float* dcol = direct ? dxn : col;
      bf16_gemm_packed(dcol, OHW, false, wt, FMat{dyn, 1, OHW}, 0, OHW);
      if (!direct) col2im_plain(dxn, dcol, s);
    }
  }
  if (dw) {
#pragma omp parallel for if (parallel_worth_it(KCRS))
    for (index_t i = 0; i < KCRS; ++i) {
      float acc = 0.f;
      for (int t = 0; t < nt; ++t)
        if (started[t]) acc += dwp[t * KCRS + i];
      dw[i] = acc;
    }
  }
  if (db) bias_grad(db, dy, s.N, s.K, OHW);
}

}  // namespace pydlk
