// Bindings for csrc/grid_sample.cpp: grid_sample_forward / grid_sample_backward.
#include <string>

#include "bind_util.h"
#include "grid_sample.h"

namespace pydlk {

namespace {

GridSampleOpts grid_opts(const std::string& mode, const std::string& padding_mode,
                         bool align_corners, const char* op) {
  GridSampleOpts o;
  if (mode == "nearest") o.nearest = true;
  else if (mode != "bilinear")
    throw py::value_error(std::string(op) + ": mode must be 'bilinear' or 'nearest', got '" + mode +
                          "' ('bicubic' runs in pydlk.functional.grid_sample)");
  if (padding_mode == "border") o.pad = GridPad::border;
  else if (padding_mode == "reflection") o.pad = GridPad::reflection;
  else if (padding_mode != "zeros")
    throw py::value_error(std::string(op) +
                          ": padding_mode must be 'zeros', 'border' or 'reflection', got '" +
                          padding_mode + "'");
  o.align_corners = align_corners;
  return o;
}

// input (N, C, H, W) with grid (N, Ho, Wo, 2), or (N, C, D, H, W) with (N, Do, Ho, Wo, 3).
GridSampleShape grid_shape(const py::array& x, const py::array& grid, DType dt, const char* op) {
  PYDLK_NEED(x.ndim() == 4 || x.ndim() == 5,
             std::string(op) + ": input must be 4-D (N, C, H, W) or 5-D (N, C, D, H, W), got " +
                 "shape " + str_shape(x));
  need_dtype(grid, dt, op, "grid");
  const int k = (int)x.ndim() - 2;
  PYDLK_NEED(grid.ndim() == x.ndim() && grid.shape(0) == x.shape(0) && grid.shape(k + 1) == k,
             std::string(op) + ": grid must have shape (N, *out, " + std::to_string(k) +
                 ") with input's N = " + std::to_string(x.shape(0)) + ", got " + str_shape(grid));
  need_int_dims(x, op, "input");
  need_int_dims(grid, op, "grid");
  GridSampleShape s;
  s.n = x.shape(0);
  s.c = x.shape(1);
  s.k = k;
  s.in_plane = 1;
  s.out_plane = 1;
  for (int a = 0; a < k; ++a) {
    const py::ssize_t d = x.shape(x.ndim() - 1 - a);  // x first: W, H[, D]
    PYDLK_NEED(d > 0, std::string(op) + ": input's spatial sizes must be positive, got shape " +
                          str_shape(x));
    s.in_size[a] = (int)d;
    s.in_plane *= d;
    s.out_plane *= grid.shape(1 + a);
  }
  PYDLK_NEED(s.in_plane < kIntLimit,
             std::string(op) + ": input's spatial size must be below 2**31 pixels, got shape " +
                 str_shape(x));
  return s;
}

Shape out_shape(const py::array& x, const py::array& grid) {
  Shape out = {x.shape(0), x.shape(1)};
  for (py::ssize_t d = 1; d + 1 < grid.ndim(); ++d) out.push_back(grid.shape(d));
  return out;
}

}  // namespace

void bind_grid_sample(py::module_& m) {
  m.def("grid_sample_forward",
        [](py::array x, py::array grid, const std::string& mode, const std::string& padding_mode,
           bool align_corners, py::object out) {
    const char* op = "grid_sample_forward";
    DType dt = need_float(x, op, "input");
    const GridSampleShape s = grid_shape(x, grid, dt, op);
    const GridSampleOpts o = grid_opts(mode, padding_mode, align_corners, op);
    py::array y = dispatch(dt, [&](auto t) {
      return out_or_empty<decltype(t)>(out, dt, out_shape(x, grid), op, "out");
    });
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      T* yp = ptr<T>(y);
      const T* xp = cptr<T>(x);
      const T* gp = cptr<T>(grid);
      {
        KernelScope k;
        grid_sample_forward<T>(yp, xp, gp, s, o);
      }
      return 0;
    });
    return y;
  },
        py::arg("input"), py::arg("grid"), py::arg("mode") = "bilinear",
        py::arg("padding_mode") = "zeros", py::arg("align_corners") = false, py::kw_only(),
        py::arg("out") = py::none(),
        "input (N, C, H, W) sampled at grid (N, Ho, Wo, 2) holding (x, y) in [-1, 1] -> (N, C, "
        "Ho, Wo); volumes (N, C, D, H, W) at (N, Do, Ho, Wo, 3) -> (N, C, Do, Ho, Wo). mode "
        "'bilinear' (trilinear for volumes) or 'nearest' (ties to even); padding_mode 'zeros', "
        "'border' or 'reflection'; torch's align_corners. Channels-first, C-contiguous "
        "float32/float64, input and grid of one dtype.");
  m.def("grid_sample_backward",
        [](py::array dy, py::array x, py::array grid, const std::string& mode,
           const std::string& padding_mode, bool align_corners, bool input_grad, bool grid_grad) {
    const char* op = "grid_sample_backward";
    DType dt = need_float(x, op, "input");
    const GridSampleShape s = grid_shape(x, grid, dt, op);
    const GridSampleOpts o = grid_opts(mode, padding_mode, align_corners, op);
    need_dtype(dy, dt, op, "grad_output");
    need_shape(dy, out_shape(x, grid), op, "grad_output");
    py::object dx = py::none(), dgrid = py::none();
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      T* dxp = nullptr;
      T* dgp = nullptr;
      if (input_grad) {
        py::array a = empty<T>(shape_of(x), op, "grad_input");
        dxp = ptr<T>(a);
        dx = a;
      }
      if (grid_grad) {
        py::array a = empty<T>(shape_of(grid), op, "grad_grid");
        dgp = ptr<T>(a);
        dgrid = a;
      }
      const T* dyp = cptr<T>(dy);
      const T* xp = cptr<T>(x);
      const T* gp = cptr<T>(grid);
      {
        KernelScope k;
        grid_sample_backward<T>(dxp, dgp, dyp, xp, gp, s, o);
      }
      return 0;
    });
    return py::make_tuple(dx, dgrid);
  },
        py::arg("grad_output"), py::arg("input"), py::arg("grid"), py::arg("mode") = "bilinear",
        py::arg("padding_mode") = "zeros", py::arg("align_corners") = false,
        py::arg("input_grad") = true, py::arg("grid_grad") = true,
        "(grad_input, grad_grid) of grid_sample_forward for grad_output (N, C, *grid.shape[1:-1]); "
        "each None when not asked for (input_grad, grid_grad). grad_grid is zero for 'nearest'.");
}

}  // namespace pydlk
