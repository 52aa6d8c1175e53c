// Float32 convolution forward on AVX-512 with the output channels in the vector lanes: for
// stride-1 layers with a multiple of 16 outputs on small images (LeNet's conv2). See
// conv2d_k16.cpp for the layout and the measurements that decide where it runs.
#pragma once
#include <cstddef>

#include "conv2d.h"

namespace pydlk {

// Whether dense_direct_forward hands this shape to k16_forward: one group, stride 1, no
// dilation, outputs a multiple of 16, few enough taps, and a CPU with AVX-512 (the caller,
// dense_direct_preferred, has checked that and pydlk.backends.cpu.allow_direct_conv).
bool k16_forward_fits(const ConvShape& s);

// Workspace: the packed weights, then one slice per thread.
size_t k16_forward_ws_bytes(const ConvShape& s, int slices);

// y (N, K, OH, OW) = conv(x, w) + b, as conv2d_forward. nt threads; parallel: split the
// samples over them.
void k16_forward(float* y, const float* x, const float* w, const float* b, char* ws,
                 const ConvShape& s, int nt, bool parallel);

}  // namespace pydlk
