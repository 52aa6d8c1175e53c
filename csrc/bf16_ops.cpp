// Linear and convolution in bf16 (autocast): the float32 layers' products on bf16_gemm.
//
// Convolution where AMX is on: the forward and the weight gradient load their tiles straight
// from per-sample images (csrc/bf16_conv_amx.cpp); the input gradient is that forward on dy
// with the flipped weight, at a stride once per output phase of dx with the taps that reach
// it. Elsewhere (AVX512_BF16 alone): the forward, the weight gradient where the output grid is
// not much smaller than the padded input, and the input gradient at a stride run the direct
// kernels of csrc/bf16_conv_direct.cpp (phase planes, no im2col); the other shapes build packed
// operands straight from a bf16 copy of x (csrc/bf16_conv.cpp), the weight gradient as one
// product over all samples, the input gradient at a stride as a product into a per-thread
// column buffer and col2im (also 1x1 kernels at a stride on AMX). At stride 1 the input
// gradient is always the forward convolution of dy with the flipped weight.
#include "bf16_ops.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "bf16_conv.h"
#include "bf16_gemm.h"

namespace pydlk {

namespace {

using FMat = BfMat<float>;

// Workspace left uninitialised (a std::vector would zero it first: megabytes per call here).
template <typename T>
std::unique_ptr<T[]> scratch(size_t n) {
  return std::unique_ptr<T[]>(new T[n]);
}

// Threads for a loop over samples: the team, but no more than there are samples (at least one).
int sample_threads(const ConvShape& s) {
  return std::max(1, std::min<int>(num_threads(), (int)s.N));
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

// Column sums of dy viewed as (rows, cols) rows of `inner` contiguous values per output:
// db[o] = sum over n and the inner positions of dy[n, o, :], added up in double. The threads
// split the samples in contiguous halves, as the layers around (their dy is in this core's
// cache; split by o, each thread read every sample, half from the other core: see conv2d.cpp's
// bias_grad); at most 8 fixed blocks of samples keep partials, added in order.
void bias_grad(float* db, const float* dy, index_t N, index_t OUT, index_t inner) {
  const index_t nblk = std::max<index_t>(1, std::min<index_t>(N, 8));
  std::vector<double> part(size_t(nblk * OUT), 0.0);
  double* parts = part.data();
#pragma omp parallel for schedule(static) if (nblk > 1 && parallel_worth_it(N * OUT * inner))
  for (index_t j = 0; j < nblk; ++j) {
    double* acc = parts + j * OUT;
    for (index_t n = j * N / nblk; n < (j + 1) * N / nblk; ++n)
      for (index_t o = 0; o < OUT; ++o) {
        const float* p = dy + (n * OUT + o) * inner;
        double a = 0;
        for (index_t i = 0; i < inner; ++i) a += p[i];
        acc[o] += a;
      }
  }
  for (index_t o = 0; o < OUT; ++o) {
    double a = 0;
    for (index_t j = 0; j < nblk; ++j) a += parts[j * OUT + o];
    db[o] = (float)a;
  }
}

// The forward convolution y = conv(x, w) + b (w float32 (K, C, R, S)): on AMX tiles straight
// from the input where AMX is on (bf16_conv_amx.cpp), else by the direct kernel or as packed
// products.
void conv_forward_any(float* y, const float* x, const float* w, const float* b,
                      const ConvShape& s) {
  const int nt = sample_threads(s);
  if (bf16_amx_enabled()) {
    auto wa = scratch<uint32_t>(bf16_conv_amx_weight_size(s));
    auto planes = scratch<uint32_t>(nt * bf16_conv_amx_input_size(s));
    bf16_conv_amx_pack_weight(wa.get(), w, s);
    bf16_conv_amx_forward(y, x, wa.get(), b, s, planes.get());
    return;
  }
  if (bf16_direct_fits(s)) {
    auto ws = scratch<char>(bf16_direct_ws_bytes(s, nt));
    bf16_direct_forward(y, x, w, b, ws.get(), s, nt);
    return;
  }
  index_t CRS = s.C * s.R * s.S;
  auto wp = scratch<uint32_t>(bf16_packed_a_slots(s.K, CRS));
  auto xb = scratch<uint16_t>(bf16_conv_xb_size(s));
  auto seg = scratch<int64_t>(nt * bf16_conv_seg_size(s));
  // y[n] (K, OHW) = w (K, CRS) @ col[n] (CRS, OHW) + b: the weight packed once and shared.
  BfPackedA pa = bf16_pack_a(wp.get(), FMat{w, CRS, 1}, s.K, CRS);
  bf16_conv_forward(y, x, pa, b, s, xb.get(), seg.get());
}

// Stride 1: dx = dy correlated with the flipped, transposed weight, padded by d*(R-1) - p on
// each side: dx[c, ih, iw] = sum over k, r, q of w[k, c, r, q] * dy[k, ih + ph - r*dh, iw + pw -
// q*dw], which is the forward convolution of dy (K channels) with w'[c, k, R-1-r, S-1-q]. It runs
// on the forward kernel: no column matrix at all.
void input_grad_as_conv(float* dx, const float* dy, const float* w, const ConvShape& s) {
  index_t RS = s.R * s.S, KRS = s.K * RS;
  auto wt = scratch<float>((size_t)s.C * KRS);
  for (index_t k = 0; k < s.K; ++k)
    for (index_t c = 0; c < s.C; ++c)
      for (index_t t = 0; t < RS; ++t)
        wt[c * KRS + k * RS + (RS - 1 - t)] = w[(k * s.C + c) * RS + t];
  ConvShape tr = s;  // the transposed convolution's shape: dy in, dx out
  tr.C = s.K, tr.K = s.C, tr.H = s.OH, tr.W = s.OW, tr.OH = s.H, tr.OW = s.W;
  tr.ph = s.dh * (s.R - 1) - s.ph, tr.pw = s.dw * (s.S - 1) - s.pw;
  conv_forward_any(dx, dy, wt.get(), nullptr, tr);
}

// Other strides on AMX: one stride-1 convolution of dy per output phase of dx, with the taps
// that reach it (bf16_conv_amx.cpp). Measured (Xeon with AMX, batch 64, 2 threads): 16->32 on
// 32x32 at stride 2 0.88 -> 0.50 ms, 32->64 on 16x16 0.63 -> 0.47, against the forward on dy
// with zeros between its pixels, which it replaced.
void input_grad_amx(float* dx, const float* dy, const float* w, const ConvShape& s) {
  const int nt = sample_threads(s);
  auto ws = scratch<uint32_t>(bf16_conv_amx_dx_size(s, nt));
  bf16_conv_amx_input_grad(dx, dy, w, s, ws.get(), nt);
}

// Other strides without AMX: one stride-1 correlation per output phase of dx
// (bf16_conv_direct.cpp).
void input_grad_direct(float* dx, const float* dy, const float* w, const ConvShape& s) {
  const int nt = sample_threads(s);
  auto ws = scratch<char>(bf16_direct_dx_ws_bytes(s, nt));
  bf16_direct_input_grad(dx, dy, w, ws.get(), s, nt);
}

// Other strides: dcol[n] (CRS, OHW) = w^T (CRS, K) @ dy[n] (K, OHW), then col2im; the weight is
// packed once and shared, each thread has its own column buffer.
void input_grad_col2im(float* dx, const float* dy, const float* w, const ConvShape& s) {
  index_t CRS = s.C * s.R * s.S, OHW = s.OH * s.OW, HW = s.H * s.W;
  const int nt = sample_threads(s);
  auto wtp = scratch<uint32_t>(bf16_packed_a_slots(CRS, s.K));
  BfPackedA wt = bf16_pack_a(wtp.get(), FMat{w, 1, CRS}, CRS, s.K);
  auto cols = scratch<float>((size_t)nt * CRS * OHW);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (index_t n = 0; n < s.N; ++n) {
    float* dcol = cols.get() + thread_id() * CRS * OHW;
    bf16_gemm_packed(dcol, OHW, false, wt, FMat{dy + n * s.K * OHW, 1, OHW}, 0, OHW);
    col2im_plain(dx + n * s.C * HW, dcol, s);
  }
}

}  // namespace

void linear_bf16_forward(float* y, const float* x, const float* w, const float* b, index_t N,
                         index_t IN, index_t OUT) {
  if (N == 0) return;
  auto ws = scratch<uint32_t>(bf16_gemm_ws_slots(N, IN));
  // A = x (row n, depth i), B = w^T (depth i, column o) = w[o * IN + i]; the bias is added as
  // the kernel stores each tile (a first pass writing it into y ran on one thread and made
  // the product read y back).
  bf16_gemm(y, OUT, false, N, OUT, IN, FMat{x, IN, 1}, FMat{w, IN, 1}, ws.get(), b);
}

void linear_bf16_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                          const float* w, index_t N, index_t IN, index_t OUT) {
  if (dx) {  // dx (N, IN) = dy (N, OUT) @ w (OUT, IN)
    auto ws = scratch<uint32_t>(bf16_gemm_ws_slots(N, OUT));
    bf16_gemm(dx, IN, false, N, IN, OUT, FMat{dy, OUT, 1}, FMat{w, 1, IN}, ws.get());
  }
  if (dw) {  // dw (OUT, IN) = dy^T (OUT, N) @ x (N, IN)
    auto ws = scratch<uint32_t>(bf16_gemm_ws_slots(OUT, N));
    bf16_gemm(dw, IN, false, OUT, IN, N, FMat{dy, 1, OUT}, FMat{x, 1, IN}, ws.get());
  }
  if (db) bias_grad(db, dy, N, OUT, 1);
}

void matmul_bf16_batched(float* c, const MatOperand<float>& a, const MatOperand<float>& b,
                         index_t batch, index_t M, index_t N, index_t K) {
  if (batch == 0 || M == 0 || N == 0) return;
  // Matrix i of a: element (row m, depth k) at m * ld + k (row-major) or k * ld + m; of b:
  // (depth k, column n) at k * ld + n or n * ld + k.
  auto mat_a = [&](index_t i) {
    return FMat{a.data + a.offset[i], a.trans ? 1 : a.ld, a.trans ? a.ld : 1};
  };
  auto mat_b = [&](index_t i) {
    return FMat{b.data + b.offset[i], b.trans ? b.ld : 1, b.trans ? 1 : b.ld};
  };
  const int nt = num_threads();
  const double flops = 2.0 * double(M) * double(N) * double(K);
  if (nt > 1 && batch >= nt && flops * double(batch) >= 4e6) {
    // Over the batch (attention's heads): each thread its contiguous share of the matrices, as
    // the layers around split their samples, packing a and b itself.
    const size_t slots = bf16_packed_a_slots(M, K);
    auto ws = scratch<uint32_t>(size_t(nt) * slots);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (index_t i = 0; i < batch; ++i) {
      uint32_t* mine = ws.get() + size_t(thread_id()) * slots;
      const BfPackedA pa = bf16_pack_a(mine, mat_a(i), M, K);
      bf16_gemm_packed(c + i * M * N, N, false, pa, mat_b(i), 0, N);
    }
    return;
  }
  auto ws = scratch<uint32_t>(bf16_gemm_ws_slots(M, K));
  for (index_t i = 0; i < batch; ++i)
    bf16_gemm(c + i * M * N, N, false, M, N, K, mat_a(i), mat_b(i), ws.get());
}

void conv2d_bf16_forward(float* y, const float* x, const float* w, const float* b,
                         const ConvShape& s) {
  conv_forward_any(y, x, w, b, s);
}

void conv2d_bf16_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                          const float* w, const ConvShape& s) {
  if (s.N == 0) {  // an empty batch: zero weight and bias gradients (dx has no elements)
    if (dw) std::fill(dw, dw + s.K * s.C * s.R * s.S, 0.f);
    if (db) std::fill(db, db + s.K, 0.f);
    return;
  }
  const int nt = sample_threads(s);
  if (dw && bf16_amx_enabled()) {
    auto ws = scratch<uint32_t>(nt * bf16_conv_amx_grad_size(s));
    bf16_conv_amx_weight_grad(dw, dy, x, s, ws.get());
  } else if (dw && bf16_direct_grad_fits(s)) {
    auto ws = scratch<char>(bf16_direct_grad_ws_bytes(s, nt));
    bf16_direct_weight_grad(dw, dy, x, ws.get(), s, nt);
  } else if (dw) {
    auto xcl = scratch<uint16_t>(bf16_conv_xcl_size(s));
    auto dyp = scratch<uint32_t>(nt * bf16_packed_a_slots(s.K, s.OH * s.OW));
    auto part = scratch<float>((size_t)nt * s.K * s.C * s.R * s.S);
    auto seg = scratch<int64_t>(nt * bf16_conv_seg_size(s));
    bf16_conv_weight_grad(dw, dy, x, s, xcl.get(), dyp.get(), part.get(), seg.get());
  }
  if (dx) {
    // (a 1x1 kernel at a stride: the column product and col2im write only the pixels read,
    // where the phases would write zeros over the rest of dx; 32->64 on 16x16 at stride 2
    // measured 0.10 against 0.22 ms)
    bool one_by_one = s.R == 1 && s.S == 1;
    if (s.sh == 1 && s.sw == 1) input_grad_as_conv(dx, dy, w, s);
    else if (bf16_amx_enabled() && !one_by_one && bf16_conv_amx_dx_fits(s))
      input_grad_amx(dx, dy, w, s);
    else if (!bf16_amx_enabled() && bf16_direct_dx_fits(s)) input_grad_direct(dx, dy, w, s);
    else input_grad_col2im(dx, dy, w, s);
  }
  if (db) bias_grad(db, dy, s.N, s.K, s.OH * s.OW);
}

}  // namespace pydlk
