// grid_sample (torch.nn.functional.grid_sample) on 2-D images and 3-D volumes, channels-first:
// 'bilinear' (trilinear in a volume) and 'nearest', every padding mode; forward and backward
// side by side in grid_sample.cpp. ('bicubic' stays in pydlk/functional/grid_sampling.py.)
#pragma once
#include "common.h"

namespace pydlk {

enum class GridPad { zeros, border, reflection };

// Sizes: n samples of c channels; k = 2 (image) or 3 (volume) spatial axes; in_size[a] the
// input's size along axis a, x first (W, H[, D]); in_plane = prod(in_size) and out_plane the
// output's pixel count per channel (the grid holds n * out_plane points of k coordinates).
struct GridSampleShape {
  index_t n = 0, c = 0;
  int k = 2;
  int in_size[3] = {1, 1, 1};
  index_t in_plane = 0, out_plane = 0;
};

struct GridSampleOpts {
  bool nearest = false;  // else (bi/tri)linear
  GridPad pad = GridPad::zeros;
  bool align_corners = false;
};

// y (n, c, out_plane) = input x (n, c, in_plane) sampled at grid (n, out_plane, k).
template <typename T>
void grid_sample_forward(T* y, const T* x, const T* grid, const GridSampleShape& s,
                         const GridSampleOpts& o);

// The gradients of sum(dy * y): dx (n, c, in_plane; overwritten; may be null) and dgrid
// (n, out_plane, k; overwritten, zero for 'nearest'; may be null).
template <typename T>
void grid_sample_backward(T* dx, T* dgrid, const T* dy, const T* x, const T* grid,
                          const GridSampleShape& s, const GridSampleOpts& o);

}  // namespace pydlk
