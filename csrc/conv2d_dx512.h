// The input gradient of a narrow float32 convolution (LeNet's 6->16 5x5) on AVX-512, without
// the col buffer and col2im of the gemm path. See conv2d_dx512.cpp for the layout and the
// measurements that decide where it runs.
#pragma once
#include <cstddef>

#include "conv2d.h"

namespace pydlk {

// The shape is one the kernel takes and automatic planning prefers it: one group, stride 1,
// no dilation, a 3x3 or 5x5 kernel, padding below the kernel size, images at most 32 wide,
// at most 16 outputs, on a CPU with AVX-512 where pydlk.backends.cpu.allow_direct_conv is on.
// Float32 is the caller's check.
bool narrow_dx_preferred(const ConvShape& s);

// Workspace for nt threads.
size_t narrow_dx_ws_bytes(const ConvShape& s, int nt);

// dx (N, C, H, W) = the full correlation of dy with the flipped weight, as conv2d_backward's
// dx. Each sample is computed whole by one thread, so the result does not depend on nt.
void narrow_dx_input_grad(float* dx, const float* dy, const float* w, char* ws, const ConvShape& s,
                          int nt);

}  // namespace pydlk
