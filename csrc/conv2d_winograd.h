// Winograd F(4x4, 3x3) convolution: 3x3 kernels, stride 1, dilation 1, one group (any padding).
// Forward, input gradient and weight gradient side by side in conv2d_winograd.cpp; conv2d_plan
// (conv2d.cpp) chooses it and conv2d_forward/conv2d_backward call it.
#pragma once
#include <cstddef>

#include "conv2d.h"

namespace pydlk {

// True when the shape is one the Winograd kernels compute (3x3, stride 1, dilation 1, groups 1).
bool winograd_fits(const ConvShape& s);

// True when conv2d_plan's automatic choice should be Winograd (float32 shapes where it was
// measured faster than im2col + GEMM; see conv2d_winograd.cpp) and it is allowed.
bool winograd_preferred(const ConvShape& s, size_t elem_size);

// Whether the automatic choice may take Winograd (pydlk.backends.cpu.allow_winograd; default
// true). An explicit algorithm='winograd' is not affected.
bool winograd_allowed();
void set_winograd_allowed(bool allowed);

// Fills plan's nt, parallel, nb (images per block), nblk (weight-gradient partials) and ws_bytes.
void winograd_plan(ConvPlan& plan, const ConvShape& s, bool backward, size_t elem_size);

template <typename T>
void winograd_forward(T* y, const T* x, const T* w, const T* b, char* ws, const ConvShape& s,
                      const ConvPlan& plan);

// dx and dw may each be null (not wanted); the bias gradient is conv2d_backward's.
template <typename T>
void winograd_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, char* ws,
                       const ConvShape& s, const ConvPlan& plan);

}  // namespace pydlk
