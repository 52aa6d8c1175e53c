// Embedding lookups' backward: the gradient rows scatter-added into the weight's rows (the
// forward, a row gather, is NumPy's take). Repeated indices accumulate.
#pragma once
#include "common.h"

namespace pydlk {

// dw (v, d) = 0, then dw[idx[i]] += dy[i] for i < n (each idx in [0, v), checked by the
// binding). Threads split the d columns, so no two write one element.
template <typename T>
void embedding_backward(T* dw, const T* dy, const int64_t* idx, index_t n, index_t d, index_t v);

}  // namespace pydlk
