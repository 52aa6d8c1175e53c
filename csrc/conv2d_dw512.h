// The weight gradient of a float32 convolution with at most 16 outputs (LeNet's 6->16 5x5, a
// ResNet stem's 3->16 3x3) on AVX-512, without im2col. See conv2d_dw512.cpp for the layout and
// the measurements that decide where it runs.
#pragma once
#include <cstddef>

#include "conv2d.h"

namespace pydlk {

// The shape is one the kernels take and automatic planning prefers them, on a CPU with
// AVX-512 where pydlk.backends.cpu.allow_direct_conv is on: one group, and either 9-16
// outputs with a 3x3 or 5x5 kernel without dilation (any stride and padding), or 1-8 outputs
// with stride 1, no dilation and a kernel larger than 1x1 (any padding). Float32 is the
// caller's check.
bool narrow_dw_preferred(const ConvShape& s);

// Workspace for nt threads and nblk sample blocks.
size_t narrow_dw_ws_bytes(const ConvShape& s, int nt, index_t nblk);

// dw (K, C, R, S) = sum over samples of dy[n] correlated with x[n], as conv2d_backward's dw.
// The samples are split into nblk fixed blocks whose partials are added in a fixed order, so
// the result does not depend on nt.
void narrow_dw_weight_grad(float* dw, const float* dy, const float* x, char* ws, const ConvShape& s,
                           int nt, index_t nblk);

}  // namespace pydlk
