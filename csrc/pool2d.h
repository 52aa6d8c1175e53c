#pragma once
#include "common.h"

namespace pydlk {

// Geometry of one 2-D pooling: input planes (NC = N*C planes of H x W), output planes OH x OW,
// kernel, stride, padding, dilation (avg pool uses dilation 1). All planes are C-contiguous.
struct Pool2d {
  index_t NC, H, W, OH, OW;
  index_t kH, kW, sH, sW, pH, pW, dH, dW;
};

// Floor division (rounds toward minus infinity, torch's div_rtn).
inline index_t floor_div(index_t a, index_t b) {
  index_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// torch's pooling_output_shape: floor((in + 2p - d(k-1) - 1) / s) + 1, or with ceil_mode the
// ceiling, where a last window that would start past the input and the left padding (i.e. in
// the right padding or beyond) is dropped. The caller checks that the result is >= 1.
inline index_t pool_out_size(index_t in, index_t k, index_t s, index_t p, index_t d,
                             bool ceil_mode) {
  index_t out = floor_div(in + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

// Adaptive pooling windows (torch): output i covers [floor(i*in/out), ceil((i+1)*in/out)).
inline index_t adaptive_start(index_t i, index_t out, index_t in) {
  return (i / out) * in + ((i % out) * in) / out;
}
inline index_t adaptive_end(index_t i, index_t out, index_t in) {
  return 1 + ((i + 1) * in - 1) / out;
}

// ---- max pool -------------------------------------------------------------------------------
// x: (NC, H, W). y: (NC, OH, OW). idx: (NC, OH, OW) flat index ih*W + iw of each arg-max inside
// its H x W plane (torch's return_indices), or null when not wanted. Padding is -inf. Ties go to
// the first maximum in window order (row-major), a NaN in the window is the maximum (the last
// NaN wins, as in torch).
template <typename T>
void maxpool2d_forward(T* y, int64_t* idx, const T* x, const Pool2d& p);

// dx: (NC, H, W) = 0 except dx[idx[o]] += dy[o] for every output o (overlapping windows add).
// Indices outside [0, H*W) are ignored. Used by max_pool2d and adaptive_max_pool2d.
// p: only NC, H, W, OH, OW are read, plus the kernel geometry for the 2x2/stride-2 fast path.
template <typename T>
void maxpool2d_backward(T* dx, const T* dy, const int64_t* idx, const Pool2d& p);

// ---- average pool ---------------------------------------------------------------------------
// y = sum over the window's elements inside the input / divisor, where (torch's rules)
//   divisor = divisor_override                      if divisor_override != 0
//           = window clipped to the padded input    if count_include_pad (padding counts,
//             (ceil_mode overhang beyond the padding does not)
//           = window clipped to the input           otherwise.
template <typename T>
void avgpool2d_forward(T* y, const T* x, const Pool2d& p, bool count_include_pad,
                       index_t divisor_override);

// dx[i] = sum over the windows w containing i of dy[w] / divisor(w).
template <typename T>
void avgpool2d_backward(T* dx, const T* dy, const Pool2d& p, bool count_include_pad,
                        index_t divisor_override);

// ---- adaptive pools (windows from adaptive_start/adaptive_end; kernel fields unused) ---------
template <typename T>
void adaptive_avgpool2d_forward(T* y, const T* x, const Pool2d& p);
template <typename T>
void adaptive_avgpool2d_backward(T* dx, const T* dy, const Pool2d& p);
// Backward of adaptive max is maxpool2d_backward with the same indices (kH = 0: no fast path).
template <typename T>
void adaptive_maxpool2d_forward(T* y, int64_t* idx, const T* x, const Pool2d& p);

}  // namespace pydlk
