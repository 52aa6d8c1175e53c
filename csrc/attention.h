// Attention's row softmax, in place on the score buffer (no second (rows, cols) array).
#pragma once
#include "common.h"

namespace pydlk {

template <typename T>
void attn_softmax_forward(T* p, index_t R, index_t C);

template <typename T>
void attn_softmax_backward(T* dp, const T* p, index_t R, index_t C);

}  // namespace pydlk
