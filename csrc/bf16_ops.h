// Linear and convolution with bf16 products and float32 accumulation (autocast), on
// csrc/bf16_gemm.cpp. Inputs, weights and outputs are float32; operands are rounded to bf16 as
// they are packed. Callers check bf16_cpu_supported() first.
#pragma once
#include "common.h"
#include "conv2d.h"

namespace pydlk {

// x: (N, IN), w: (OUT, IN), b: (OUT) or null. y: (N, OUT) = x @ w^T + b.
void linear_bf16_forward(float* y, const float* x, const float* w, const float* b, index_t N,
                         index_t IN, index_t OUT);
// dx = dy @ w; dw = dy^T @ x; db = column sums of dy (float32, added up in double); any may be null.
void linear_bf16_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                          const float* w, index_t N, index_t IN, index_t OUT);

// groups == 1 only. x: (N, C, H, W), w: (K, C, R, S), b: (K) or null; y: (N, K, OH, OW).
void conv2d_bf16_forward(float* y, const float* x, const float* w, const float* b,
                         const ConvShape& s);
// dy: (N, K, OH, OW); dx, dw, db may be null.
void conv2d_bf16_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                          const float* w, const ConvShape& s);

}  // namespace pydlk
