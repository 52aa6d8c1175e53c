// Activation kernels: elementwise ops over a flat range, softmax/log_softmax along one axis,
// maxout. Forward and backward side by side; outputs first, then inputs, saved tensors, sizes.
#pragma once
#include "common.h"

namespace pydlk {

// The elementwise ops. Each is a functor pair (forward, backward) in activation.cpp; the comment
// there says which tensor its backward needs (the output or the input) and why.
enum class Act : int {
  relu,        // max(x, 0)
  leaky_relu,  // p0 = negative_slope
  hardtanh,    // p0 = min_val, p1 = max_val (relu6 is hardtanh(0, 6))
  elu,         // p0 = alpha, p1 = scale, p2 = input_scale, p3 = is_result (backward only);
               // elu, selu and celu are all this one (torch's parametrisation)
  sigmoid,
  tanh,
  silu,       // x * sigmoid(x)
  mish,       // x * tanh(softplus(x))
  gelu,       // x * Phi(x), exact (erf)
  gelu_tanh,  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  softplus,   // p0 = beta, p1 = threshold
};

// Hyperparameters; their meaning per op is listed above.
struct ActParams {
  double p[4] = {0, 0, 0, 0};
};

// x, y: (n) flat. y = f(x). y may be x (in place).
template <typename T>
void act_forward(Act op, T* y, const T* x, index_t n, const ActParams& a);

// dy, s, dx: (n) flat, s the saved tensor (output or input, per op). dx = dy * f'(x) (overwritten).
// dx may be dy.
template <typename T>
void act_backward(Act op, T* dx, const T* dy, const T* s, index_t n, const ActParams& a);

// x, y: (outer, D, inner), softmax (or log_softmax when log) along D. Any dim of any shape maps to
// this view without a transpose: outer = prod(shape[:dim]), inner = prod(shape[dim+1:]).
template <typename T>
void softmax_forward(T* y, const T* x, index_t outer, index_t D, index_t inner, bool log);

// dy, y (the saved output), dx: (outer, D, inner).
template <typename T>
void softmax_backward(T* dx, const T* dy, const T* y, index_t outer, index_t D, index_t inner,
                      bool log);

// x: (outer, C*k, inner) viewed as (outer, C, k, inner); y, idx: (outer, C, inner).
// y[o, c, i] = max_j x[o, c*k + j, i] (groups of k consecutive channels); idx = that j (the first
// one on ties; a NaN wins and propagates, as torch.max).
template <typename T>
void maxout_forward(T* y, int64_t* idx, const T* x, index_t outer, index_t C, index_t k,
                    index_t inner);

// dy, idx: (outer, C, inner); dx: (outer, C*k, inner), dy routed to the arg-max, 0 elsewhere.
template <typename T>
void maxout_backward(T* dx, const T* dy, const int64_t* idx, index_t outer, index_t C, index_t k,
                     index_t inner);

}  // namespace pydlk
