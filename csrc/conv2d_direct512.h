// Direct float32 convolution forward on AVX-512 for dense layers (several input and output
// channels per group), any stride and dilation: no im2col copy and no BLAS call per sample.
// See conv2d_direct512.cpp for the layout and the measurements that decide where it runs.
#pragma once
#include <cstddef>

#include "conv2d.h"

namespace pydlk {

// This CPU runs the kernel (AVX-512 F/VL/BW/DQ: its loops are compiled for it, the rest of
// pydlk is not).
bool dense_direct_supported();

// Whether automatic planning may choose it (pydlk.backends.cpu.allow_direct_conv; default on).
bool dense_direct_allowed();
void set_dense_direct_allowed(bool allowed);

// The shape is one the kernel takes (float32 is the caller's check): at least kDenseMinKg
// outputs per group, at most kDenseMaxTaps taps (C/G * R * S), and an output grid the wide
// layout wastes little of. Whether automatic planning prefers it is dense_direct_preferred.
bool dense_direct_fits(const ConvShape& s);
bool dense_direct_preferred(const ConvShape& s);

// Workspace: the packed weights, then one slice per thread.
size_t dense_direct_ws_bytes(const ConvShape& s, int slices);

// y (N, K, OH, OW) = conv(x, w) + b, as conv2d_forward. nt threads; parallel: split the
// (sample, group) items over them.
void dense_direct_forward(float* y, const float* x, const float* w, const float* b, char* ws,
                          const ConvShape& s, int nt, bool parallel);

}  // namespace pydlk
