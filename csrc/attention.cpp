// Row softmax for attention scores, in place: the (B*H*L, S) score buffer becomes the attention
// probabilities, and in the backward the gradient of the probabilities becomes the gradient of
// the scores. Masked entries arrive as -inf; a row that is masked everywhere gives zeros (torch's
// math path gives NaN there).
//
// The exponentials come from softmax_rows.h; trapping math is off so that its portable loop's
// vexp clamps vectorise (see vmath.h).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "attention.h"
#include "softmax_rows.h"

#include <cmath>
#include <limits>

namespace pydlk {

// p (R, C): scores in, probabilities out. p_ij = exp(s_ij - max_i) / sum_j exp(s_ij - max_i).
template <typename T>
PYDLK_SIMD void attn_softmax_forward(T* p, index_t R, index_t C) {
#pragma omp parallel for if (parallel_worth_it(R * C * 4))
  for (index_t r = 0; r < R; ++r) {
    T* row = p + r * C;
    const T m = row_max(row, C);
    if (m == -std::numeric_limits<T>::infinity()) {
      for (index_t j = 0; j < C; ++j) row[j] = T(0);
      continue;
    }
    const T inv = T(1.0 / exp_shift_sum(row, row, C, m));  // each e^(s - m) over its score
    for (index_t j = 0; j < C; ++j) row[j] *= inv;
  }
}

// dp (R, C): dL/dp in, dL/ds out; p (R, C) the forward's probabilities.
// dL/ds_ij = p_ij (dL/dp_ij - sum_k p_ik dL/dp_ik)  (the softmax Jacobian diag(p) - p p^T).
template <typename T>
PYDLK_SIMD void attn_softmax_backward(T* dp, const T* p, index_t R, index_t C) {
#pragma omp parallel for if (parallel_worth_it(R * C * 2))
  for (index_t r = 0; r < R; ++r) {
    T* g = dp + r * C;
    const T* pr = p + r * C;
    double dot = 0;
    for (index_t j = 0; j < C; ++j) dot += (double)g[j] * pr[j];
    T d = T(dot);
    for (index_t j = 0; j < C; ++j) g[j] = pr[j] * (g[j] - d);
  }
}

template void attn_softmax_forward<float>(float*, index_t, index_t);
template void attn_softmax_forward<double>(double*, index_t, index_t);
template void attn_softmax_backward<float>(float*, const float*, index_t, index_t);
template void attn_softmax_backward<double>(double*, const double*, index_t, index_t);

}  // namespace pydlk
