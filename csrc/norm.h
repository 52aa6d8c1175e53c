#pragma once
#include "common.h"

namespace pydlk {

// ---------------------------------------------------------------- batch norm
// x, y: (N, C, S) with S the product of the spatial sizes ((N, C) is S = 1; (N, C, H, W) is
// S = H*W). w, b: (C) or null (no affine: w = 1, b = 0). save_mean, save_rstd: (C).
// training: normalise with the batch statistics over the M = N*S values of each channel (biased
//   variance), save them, and if running_mean/running_var are not null update them in place:
//   running = (1 - momentum) * running + momentum * batch, running_var with the unbiased
//   variance var * M / (M - 1) (M >= 2 is the caller's check; M = 0 leaves them alone).
// inference: normalise with running_mean/running_var (both required), saved as mean and
//   1/sqrt(running_var + eps) so that the backward is the same call.
// ws: batchnorm_workspace(C, ws_threads) doubles (per-thread per-channel partial sums, per-channel
// coefficients, per-thread T partials for (N, C) inputs); the kernels use at most ws_threads threads.
// Fused with what follows a batch norm in a ResNet (the output is bitwise the separate ops'):
// residual (N, C, S) or null is added to the output, then relu (if set) clamps it at 0.
// And with the 2x2 / stride-2 max pool that follows conv-BN-ReLU in LeNet- and VGG-style nets:
// pool_width > 0 (relu set, no residual; x is (N, C, H, W) with S = H * W, W = pool_width, H and
// W >= 2): y is max_pool2d(relu(bn(x)), 2), (N, C, H/2, W/2), bitwise the separate ops' output,
// and pool_argmax (N, C, H/2, W/2) each window's arg-max as one byte, 0..3 for its top-left,
// top-right, bottom-left, bottom-right value; the full-size relu(bn(x)) is never written.
template <typename T>
void batchnorm_forward(T* y, T* save_mean, T* save_rstd, T* running_mean, T* running_var,
                       const T* x, const T* w, const T* b, index_t N, index_t C, index_t S,
                       bool training, double momentum, double eps, double* ws, int ws_threads,
                       const T* residual = nullptr, bool relu = false, index_t pool_width = 0,
                       uint8_t* pool_argmax = nullptr);

// dy, dx: (N, C, S). dx/dw/db may be null (not wanted); w null means 1.
// relu_out: the fused forward's output when it had relu, else null; dy is then masked as
// relu_backward masks it, and with dres (N, C, S) that masked gradient (the residual's) is
// also written out; the results are bitwise the separate ops'. relu_from_input (relu_out and
// dres null; the fused forward had relu and no residual; bias: its bias, or null): the mask
// comes from x, the saved statistics, w and bias instead, the same bits without reading y.
// pool_width > 0 (with relu_from_input; as in the forward): dy is the pooled output's gradient,
// (N, C, H/2, W/2), pool_argmax the forward's; the results are max_pool2d's backward followed by
// this one (the same terms; the sums skip the zeros between the arg-maxes, so they may round
// differently).
template <typename T>
void batchnorm_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                        const T* save_mean, const T* save_rstd, index_t N, index_t C, index_t S,
                        bool training, double* ws, int ws_threads, const T* relu_out = nullptr,
                        T* dres = nullptr, bool relu_from_input = false, const T* bias = nullptr,
                        index_t pool_width = 0, const uint8_t* pool_argmax = nullptr);

inline index_t batchnorm_workspace(index_t C, int threads) { return 4 * C * threads + 6 * C; }

// ---------------------------------------------------------------- row norm (layer/group/instance)
// x, y: (R, K, S) as R contiguous rows of D = K*S values, each normalised with its own mean and
// biased variance. Row r belongs to group g = r % G; its block k (S values) takes the affine
// parameters w[g*K + k], b[g*K + k] (w, b of length G*K, or null).
//   layer norm:    R = rows, G = 1, K = D (trailing size), S = 1
//   group norm:    R = N*G, K = C/G, S = spatial size (w, b per channel)
//   instance norm: group norm with G = C (K = 1)
// mean, rstd: (R). var: (R) biased variance, or null (only instance norm's running stats want it).
template <typename T>
void rownorm_forward(T* y, T* mean, T* rstd, T* var, const T* x, const T* w, const T* b, index_t R,
                     index_t G, index_t K, index_t S, double eps);

// Workspace doubles rownorm_backward needs for dw/db with `threads` threads (0 if not wanted).
inline index_t rownorm_workspace(index_t G, index_t K, int threads) {
  return (4 * G * K + 32) * threads;
}

// dx: (R, K, S); dw, db: (G*K). dx/dw/db may be null. ws: rownorm_workspace(G, K, ws_threads)
// doubles (per-thread partial sums of dw and db; the kernel uses at most ws_threads threads when
// dw or db is wanted); may be null when dw and db are.
template <typename T>
void rownorm_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const T* mean,
                      const T* rstd, index_t R, index_t G, index_t K, index_t S, double* ws,
                      int ws_threads);

// Instance norm's running stats (torch's rule: the per-instance statistics averaged over the
// batch). mean, var: (N, C) from rownorm_forward with G = C; S values per instance (S >= 2).
// running_mean = (1-m) running_mean + m * mean_n(mean[n, c])
// running_var  = (1-m) running_var  + m * mean_n(var[n, c] * S / (S - 1))
template <typename T>
void instancenorm_update_running(T* running_mean, T* running_var, const T* mean, const T* var,
                                 index_t N, index_t C, index_t S, double momentum);

}  // namespace pydlk
