#pragma once
#include <cstdint>

#include "common.h"

namespace pydlk {

// Losses over a class axis. Inputs are viewed as (outer, C, inner): (N, C) is outer = N,
// inner = 1; (N, C, d1, ...) is outer = N, inner = d1*...; a "sample" is one (o, i), M = outer*inner
// of them, and its C values lie `inner` apart. Class targets: (outer, inner) int64, already
// checked to be in [0, C) or == ignore_index (the bindings do it: never an out-of-bounds read).
// Each forward writes the per-sample losses loss (M) and total[0] = their sum, total[1] = the
// divisor of reduction 'mean' (sums in double). Each backward takes the gradient of every
// per-sample loss as dloss (M), or, when dloss is null, the one value dscalar for all samples
// ('sum': dy; 'mean': dy / total[1]), and overwrites dx.

// Cross-entropy on logits x with log-softmax fused in; lse (M) saves log-sum-exp for backward.
//   class targets (target != null): with weights w (null = 1), eps = label smoothing,
//     loss = (1 - eps) w[y] (lse - x[y]) + eps/C sum_c w[c] (lse - x[c]),  0 if y is ignored;
//     total[1] = sum of w[y] over non-ignored samples (torch's divisor, also for the smoothing term)
//   probability targets (prob != null, (outer, C, inner)): t' = (1 - eps) t + eps/C,
//     loss = sum_c w[c] t'[c] (lse - x[c]);  total[1] = M.
// dx (outer, C, inner) or null: also the gradient of the reduced loss (grad_of 1: the sum,
// 2: the mean, sum / total[1]) for an upstream gradient of 1, as cross_entropy_backward would
// give it. Contiguous rows of 32+ classes get it from the forward's own exponentials (kept in
// dx while they are summed, then scaled in place): one exp per logit for forward and backward
// together instead of two.
template <typename T>
void cross_entropy_forward(T* loss, T* lse, double* total, T* dx, int grad_of, const T* x,
                           const int64_t* target, const T* prob, const T* weight, index_t outer,
                           index_t C, index_t inner, int64_t ignore_index, double eps);

// dx (outer, C, inner); p = softmax(x) = exp(x - lse); g = the sample's upstream gradient.
//   class targets: d loss / d x[c] = (1-eps) w[y] (p[c] - [c == y]) + eps/C (W p[c] - w[c]),
//     W = sum_c w[c]  (no weights: p[c] - ((1-eps)[c == y] + eps/C), softmax minus the
//     smoothed one-hot); 0 for ignored samples.
//   probability targets: d loss / d x[c] = S p[c] - w[c] t'[c], S = sum_c w[c] t'[c].
template <typename T>
void cross_entropy_backward(T* dx, const T* dloss, double dscalar, const T* x, const T* lse,
                            const int64_t* target, const T* prob, const T* weight, index_t outer,
                            index_t C, index_t inner, int64_t ignore_index, double eps);

// Negative log-likelihood on log-probabilities x: loss = -w[y] x[y] (0 if ignored);
// total[1] = sum of w[y] over non-ignored samples. Backward: dx[y] = -w[y] g, 0 elsewhere.
template <typename T>
void nll_forward(T* loss, double* total, const T* x, const int64_t* target, const T* weight,
                 index_t outer, index_t C, index_t inner, int64_t ignore_index);
template <typename T>
void nll_backward(T* dx, const T* dloss, double dscalar, const int64_t* target, const T* weight,
                  index_t outer, index_t C, index_t inner, int64_t ignore_index);

// Multi-class hinge loss, x (N, C), target (N): with z_i = margin - x[y] + x[i],
//   loss = sum_{i != y} w[y] max(0, z_i)^p / C   (p in {1, 2});  total[1] = N.
// Backward: for each i != y with z_i > 0, h = w[y] g / C * (p == 1 ? 1 : 2 z_i);
//   dx[i] = h, dx[y] = -sum of those h; 0 elsewhere.
template <typename T>
void multi_margin_forward(T* loss, double* total, const T* x, const int64_t* target,
                          const T* weight, index_t N, index_t C, int p, double margin);
template <typename T>
void multi_margin_backward(T* dx, const T* dloss, double dscalar, const T* x, const int64_t* target,
                           const T* weight, index_t N, index_t C, int p, double margin);

}  // namespace pydlk

namespace pydlk {

// Binary cross-entropy on logits (torch's binary_cross_entropy_with_logits), element by element
// over n values x with targets t (csrc/loss_bce.cpp):
//   loss = w ((1 - t) x + lw sp(x)),  sp(x) = log(1 + e^-x) (stable for any x), lw = 1 + (pw - 1) t
//   dloss/dx = w ((1 - t) - lw sigmoid(-x))
// w (weight) and pw (pos_weight) are null (1) or `period` values repeated along the flat input
// (period divides n: a vector over the last dim, or the whole shape).
// forward: loss (n) when non-null, and *total = the sum of the losses (double).
// backward: dx = dloss/dx times dloss[i] (non-null) or times dscalar.
template <typename T>
void bce_logits_forward(T* loss, double* total, const T* x, const T* t, const T* w, const T* pw,
                        index_t n, index_t period);
template <typename T>
void bce_logits_backward(T* dx, const T* dloss, double dscalar, const T* x, const T* t, const T* w,
                         const T* pw, index_t n, index_t period);

}  // namespace pydlk
