#pragma once
#include "common.h"

namespace pydlk {

// x: (N, IN), w: (OUT, IN) as torch lays it out, b: (OUT) or null. y: (N, OUT).
// y = x @ w^T + b
template <typename T>
void linear_forward(T* y, const T* x, const T* w, const T* b, index_t N, index_t IN, index_t OUT);

// dx = dy @ w; dw = dy^T @ x; db = sum over N of dy. dx/dw/db may be null (not wanted).
template <typename T>
void linear_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, index_t N,
                     index_t IN, index_t OUT);

}  // namespace pydlk
