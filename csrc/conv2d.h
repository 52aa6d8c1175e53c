#pragma once
#include <cstddef>

#include "common.h"

namespace pydlk {

// Sizes and hyperparameters of one 2-D convolution (NCHW, torch's weight layout (K, C/G, R, S)).
struct ConvShape {
  index_t N, C, H, W;  // input (N, C, H, W)
  index_t K, R, S;     // weight (K, C/G, R, S)
  index_t G;           // groups: C and K both divisible by G
  index_t sh, sw;      // stride
  index_t ph, pw;      // zero padding, both sides
  index_t dh, dw;      // dilation
  index_t OH, OW;      // output (N, K, OH, OW)
  index_t Cg() const { return C / G; }
  index_t Kg() const { return K / G; }
};

// Output size of a convolution along one axis (may be <= 0: the caller rejects that).
inline index_t conv_out_size(index_t in, index_t pad, index_t dil, index_t k, index_t stride) {
  index_t span = in + 2 * pad - dil * (k - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

// How a call runs; made once by conv2d_plan and handed to the kernel with a workspace of
// plan.ws_bytes bytes (the binding keeps that workspace alive and reuses it across calls).
enum class ConvAlgo { automatic = 0, gemm = 1, direct = 2, winograd = 3 };
struct ConvPlan {
  ConvAlgo algo;        // gemm (im2col + BLAS), direct (one input channel per group) or winograd
  int nt;               // threads the kernel runs with (1 = serial loop, BLAS may still split)
  bool parallel;        // samples split over the team (each thread runs single-threaded GEMMs)
  index_t nb;           // gemm: samples per im2col chunk; winograd: most images in a block
  index_t nblocks = 0;  // winograd: blocks of images (sizes nb and nb - 1)
  index_t nblk;         // backward: blocks of chunks (gemm) or planes (direct), one dw partial each
  size_t ws_bytes;      // workspace the kernel needs
  bool dense = false;   // direct forward by the AVX-512 dense kernel (conv2d_direct512.cpp)
  bool narrow_dw = false;  // backward: dw by the AVX-512 kernel of conv2d_dw512.cpp
  bool narrow_dx = false;  // backward: dx by the AVX-512 kernel of conv2d_dx512.cpp
};

// algo = automatic picks direct where C/G == 1, winograd for float32 3x3 stride-1 convolutions
// with enough channels, else gemm (see conv2d.cpp and conv2d_winograd.cpp for why).
ConvPlan conv2d_plan(const ConvShape& s, bool backward, size_t elem_size, ConvAlgo algo);

// x: (N, C, H, W), w: (K, C/G, R, S), b: (K) or null. y: (N, K, OH, OW).
// y[n, k, oh, ow] = b[k] + sum_{c, r, s} w[k, c, r, s] * x[n, g*C/G + c, oh*sh + r*dh - ph, ow*sw + s*dw - pw]
// with g = k / (K/G) and x = 0 outside the image.
template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, void* ws, const ConvShape& s,
                    const ConvPlan& plan);

// dy: (N, K, OH, OW). dx: (N, C, H, W), dw: (K, C/G, R, S), db: (K); each may be null (not wanted).
template <typename T>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, void* ws,
                     const ConvShape& s, const ConvPlan& plan);

}  // namespace pydlk
