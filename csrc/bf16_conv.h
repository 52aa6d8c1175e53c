// The bf16 convolution's own packing (AVX512_BF16, compiled like bf16_gemm.cpp): im2col that
// writes the micro-kernel's packed pair panels straight from a bf16 copy of the input, with no
// float32 column matrix and no second packing pass. bf16_ops.cpp allocates and calls these;
// the caller checks bf16_cpu_supported() first. Workspace sizes come from the *_size functions
// (this file instantiates no library template: see bf16_kernel.h).
#pragma once
#include <cstddef>
#include <cstdint>

#include "bf16_gemm.h"
#include "conv2d.h"

namespace pydlk {

// Forward, groups == 1. x: (N, C, H, W) float32; y: (N, K, OH, OW) float32 =
// w (K, C*R*S, packed by bf16_pack_a) @ im2col(x[n]) + b (b may be null).
// xb: bf16_conv_xb_size(s) uint16 slots (x rounded to bf16, split into stride phases);
// seg: bf16_conv_seg_size(s) slots per OpenMP thread.
size_t bf16_conv_xb_size(const ConvShape& s);
size_t bf16_conv_seg_size(const ConvShape& s);
void bf16_conv_forward(float* y, const float* x, const BfPackedA& w, const float* b,
                       const ConvShape& s, uint16_t* xb, int64_t* seg);

// Weight gradient, groups == 1: dw (K, C, R, S) = sum over n of dy[n] (K, OH*OW) @ im2col(x[n])^T
// as one product whose depth runs over all samples' pixels. Each thread adds its samples into its
// own (K, R*S*C) slice of part, and the slices are summed into dw.
// xcl: bf16_conv_xcl_size(s) uint16 slots (x rounded to bf16, channels last, zero-padded);
// dyp: bf16_packed_a_slots(K, OH*OW) slots per thread; part: K*C*R*S floats per thread;
// seg: bf16_conv_seg_size(s) slots per thread.
size_t bf16_conv_xcl_size(const ConvShape& s);
void bf16_conv_weight_grad(float* dw, const float* dy, const float* x, const ConvShape& s,
                           uint16_t* xcl, uint32_t* dyp, float* part, int64_t* seg);

// Forward on AMX tiles without im2col (csrc/bf16_conv_amx.cpp), groups == 1; only where
// bf16_amx_enabled(). wa: bf16_conv_amx_weight_size(s) slots filled by
// bf16_conv_amx_pack_weight from w (K, C, R, S) float32; planes: bf16_conv_amx_input_size(s)
// slots per OpenMP thread. y (N, K, OH, OW) = conv(x, w) + b (b may be null).
size_t bf16_conv_amx_weight_size(const ConvShape& s);
size_t bf16_conv_amx_input_size(const ConvShape& s);
void bf16_conv_amx_pack_weight(uint32_t* wa, const float* w, const ConvShape& s);
void bf16_conv_amx_forward(float* y, const float* x, const uint32_t* wa, const float* b,
                           const ConvShape& s, uint32_t* planes);

// Input gradient on AMX tiles (the same file), groups == 1, any stride: dx (N, C, H, W) from dy
// (N, K, OH, OW) and w (K, C, R, S), one stride-1 convolution of dy per output phase of dx with
// the taps that reach it. Where bf16_conv_amx_dx_fits(s) and bf16_amx_enabled(); ws holds
// bf16_conv_amx_dx_size(s, nt) slots; nt threads split the samples.
bool bf16_conv_amx_dx_fits(const ConvShape& s);
size_t bf16_conv_amx_dx_size(const ConvShape& s, int nt);
void bf16_conv_amx_input_grad(float* dx, const float* dy, const float* w, const ConvShape& s,
                              uint32_t* ws, int nt);

// Weight gradient on AMX tiles (the same file), groups == 1; only where bf16_amx_enabled().
// dw (K, C, R, S) = sum over n of conv's products of dy[n] and x[n]. ws:
// bf16_conv_amx_grad_size(s) slots per OpenMP thread. An Inf in x can reach dw as NaN (Inf x 0)
// through the pixels the virtual grid computes and drops, where the im2col path gives Inf.
size_t bf16_conv_amx_grad_size(const ConvShape& s);
void bf16_conv_amx_weight_grad(float* dw, const float* dy, const float* x, const ConvShape& s,
                               uint32_t* ws);

// Forward by vdpbf16ps without im2col (csrc/bf16_conv_direct.cpp), groups == 1, any stride and
// dilation: y (N, K, OH, OW) = conv(x, w) + b (b may be null), w (K, C, R, S) float32. Where
// bf16_direct_fits(s) (8+ outputs, a wide output grid that wastes little); ws holds
// bf16_direct_ws_bytes(s, nt) bytes; nt threads split the samples.
bool bf16_direct_fits(const ConvShape& s);
size_t bf16_direct_ws_bytes(const ConvShape& s, int nt);
void bf16_direct_forward(float* y, const float* x, const float* w, const float* b, char* ws,
                         const ConvShape& s, int nt);

// Weight gradient by vdpbf16ps on the same wide grid (the same file), groups == 1, any stride
// and dilation: dw (K, C, R, S) = sum over samples of dy[n] correlated with x[n]. Where
// bf16_direct_grad_fits(s); ws holds bf16_direct_grad_ws_bytes(s, nt) bytes; nt threads split
// the samples, each into its own partial, summed in thread order.
bool bf16_direct_grad_fits(const ConvShape& s);
size_t bf16_direct_grad_ws_bytes(const ConvShape& s, int nt);
void bf16_direct_weight_grad(float* dw, const float* dy, const float* x, char* ws,
                             const ConvShape& s, int nt);

// Input gradient at any stride by the same kernel (the same file), groups == 1: dx (N, C, H, W)
// from dy (N, K, OH, OW) and w (K, C, R, S), one stride-1 correlation per output phase of dx.
// Where bf16_direct_dx_fits(s) (8+ input channels, little wide-grid waste); ws holds
// bf16_direct_dx_ws_bytes(s, nt) bytes; nt threads split the samples.
bool bf16_direct_dx_fits(const ConvShape& s);
size_t bf16_direct_dx_ws_bytes(const ConvShape& s, int nt);
void bf16_direct_input_grad(float* dx, const float* dy, const float* w, char* ws,
                            const ConvShape& s, int nt);

}  // namespace pydlk
