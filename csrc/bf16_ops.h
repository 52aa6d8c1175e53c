// Linear and convolution with bf16 products and float32 accumulation (autocast), on
// csrc/bf16_gemm.cpp. Inputs, weights and outputs are float32; operands are rounded to bf16 as
// they are packed. Callers check bf16_cpu_supported() first.
#pragma once
#include "common.h"
#include "conv2d.h"
#include "matmul.h"

namespace pydlk {

// x: (N, IN), w: (OUT, IN), b: (OUT) or null. y: (N, OUT) = x @ w^T + b.
void linear_bf16_forward(float* y, const float* x, const float* w, const float* b, index_t N,
                         index_t IN, index_t OUT);
// dx = dy @ w; dw = dy^T @ x; db = column sums of dy (float32, added up in double); any may be null.
void linear_bf16_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                          const float* w, index_t N, index_t IN, index_t OUT);

// c[b] (M, N, row-major, contiguous, batch after batch) = a[b] (M, K) @ b[b] (K, N) for every
// b < batch, as matmul_batched (matmul.h) with bf16 products: many small matrices over the batch
// (each thread its contiguous share, packing its own operands), few large ones each split.
void matmul_bf16_batched(float* c, const MatOperand<float>& a, const MatOperand<float>& b,
                         index_t batch, index_t M, index_t N, index_t K);

// groups == 1 only. x: (N, C, H, W), w: (K, C, R, S), b: (K) or null; y: (N, K, OH, OW).
void conv2d_bf16_forward(float* y, const float* x, const float* w, const float* b,
                         const ConvShape& s);
// dy: (N, K, OH, OW); dx, dw, db may be null.
void conv2d_bf16_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                          const float* w, const ConvShape& s);

}  // namespace pydlk
