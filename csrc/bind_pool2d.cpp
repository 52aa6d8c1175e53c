// Bindings for csrc/pool2d.cpp: max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d,
// forward and backward. Inputs are 4-D (N, C, H, W) C-contiguous float32/float64 (the Python
// layer adds the batch dimension of an unbatched (C, H, W) input). Every output can be passed in
// preallocated (out=, indices=, grad_input=) so that callers reuse warm memory; it is checked for
// dtype, shape, C-contiguity and writability.

#include "bind_util.h"
#include "pool2d.h"

namespace pydlk {

// Input (N, C, H, W) with C, H, W >= 1 (N may be 0).
static DType check_input(const py::array& x, const char* op, const char* name) {
  DType dt = need_float(x, op, name);
  PYDLK_NEED(x.ndim() == 4, std::string(op) + ": " + name +
                                " must be 4-D (N, C, H, W), got shape " + str_shape(x));
  PYDLK_NEED(x.shape(1) > 0 && x.shape(2) > 0 && x.shape(3) > 0,
             std::string(op) + ": " + name +
                 " must have non-zero C, H and W (only N may be 0), got shape " + str_shape(x));
  need_int_dims(x, op, name);
  return dt;
}

// A caller's output array (checked) or a new one.
template <typename T>
static py::array float_out(const py::object& given, DType dt, const Shape& shape, const char* op,
                           const char* name) {
  return out_or_empty<T>(given, dt, shape, op, name);
}

static py::array index_out(const py::object& given, const Shape& shape, const char* op,
                           const char* name) {
  ArrayArg o = out_arg(given, op, name);
  if (!o.given()) return empty<int64_t>(shape, op, name);
  py::array a = o.arr();
  need_int64(a, op, name);
  need_shape(a, shape, op, name);
  return a;
}

// Kernel/stride/padding/dilation checked as torch checks them, output size computed and >= 1.
static Pool2d pool_geometry(index_t NC, index_t H, index_t W, const py::object& kernel_size,
                            const py::object& stride, const py::object& padding,
                            const py::object& dilation, bool ceil_mode, const char* op) {
  Pair k = int_pair(kernel_size, op, "kernel_size", 1);
  Pair s = stride.is_none() ? k : int_pair(stride, op, "stride", 1);
  Pair p = int_pair(padding, op, "padding", 0);
  Pair d = int_pair(dilation, op, "dilation", 1);
  PYDLK_NEED(p[0] <= k[0] / 2 && p[1] <= k[1] / 2,
             std::string(op) + ": padding must be at most half of kernel_size, got padding " +
                 str_pair(p) + " and kernel_size " + str_pair(k));
  Pool2d g{NC, H, W, 0, 0, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1]};
  g.OH = pool_out_size(H, k[0], s[0], p[0], d[0], ceil_mode);
  g.OW = pool_out_size(W, k[1], s[1], p[1], d[1], ceil_mode);
  PYDLK_NEED(g.OH >= 1 && g.OW >= 1,
             std::string(op) + ": output size (" + std::to_string(g.OH) + ", " +
                 std::to_string(g.OW) + ") is too small for input size (H, W) = (" +
                 std::to_string(H) + ", " + std::to_string(W) + ") with kernel_size " +
                 str_pair(k) + ", stride " + str_pair(s) + ", padding " + str_pair(p) +
                 " and dilation " + str_pair(d));
  return g;
}

static Pair input_size_arg(const py::object& input_size, const char* op) {
  return int_pair(input_size, op, "input_size", 1);
}

// grad_output (N, C, OH, OW) for the geometry g (g.NC is filled in from it).
static DType check_grad_output(const py::array& dy, Pool2d& g, const char* op) {
  DType dt = need_float(dy, op, "grad_output");
  need_ndim(dy, 4, op, "grad_output");
  PYDLK_NEED(dy.shape(2) == g.OH && dy.shape(3) == g.OW,
             std::string(op) + ": grad_output has spatial size (" + std::to_string(dy.shape(2)) +
                 ", " + std::to_string(dy.shape(3)) + "), the pooling gives (" +
                 std::to_string(g.OH) + ", " + std::to_string(g.OW) + ")");
  PYDLK_NEED(dy.shape(1) > 0,
             std::string(op) + ": grad_output must have C > 0, got shape " + str_shape(dy));
  need_int_dims(dy, op, "grad_output");
  g.NC = dy.shape(0) * dy.shape(1);
  return dt;
}

void bind_pool2d(py::module_& m) {
  // ---- max_pool2d ---------------------------------------------------------------------------
  m.def("max_pool2d_forward",
        [](py::array x, py::object kernel_size, py::object stride, py::object padding,
           py::object dilation, bool ceil_mode, bool return_indices, py::object out,
           py::object indices) {
    const char* op = "max_pool2d";
    DType dt = check_input(x, op, "input");
    const index_t N = x.shape(0), C = x.shape(1);
    Pool2d g = pool_geometry(N * C, x.shape(2), x.shape(3), kernel_size, stride, padding, dilation,
                             ceil_mode, op);
    const bool want_idx = return_indices || !indices.is_none();
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array y = float_out<T>(out, dt, {N, C, g.OH, g.OW}, op, "out");
      py::object io = py::none();
      int64_t* ip = nullptr;
      if (want_idx) {
        py::array ia = index_out(indices, {N, C, g.OH, g.OW}, op, "indices");
        ip = ptr<int64_t>(ia);
        io = ia;
      }
      T* yp = ptr<T>(y);
      {
        KernelScope k;
        maxpool2d_forward<T>(yp, ip, cptr<T>(x), g);
      }
      return py::make_tuple(y, io);
    });
  },
        py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(),
        py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("ceil_mode") = false,
        py::arg("return_indices") = true, py::kw_only(), py::arg("out") = py::none(),
        py::arg("indices") = py::none(),
        "Returns (output, indices or None); indices are flat ih*W + iw within each plane (int64).");

  m.def(
      "max_pool2d_backward",
      [](py::array dy, py::array indices, py::object input_size, py::object kernel_size,
         py::object stride, py::object padding, py::object dilation, bool ceil_mode,
         py::object grad_input) {
    const char* op = "max_pool2d_backward";
    Pair hw = input_size_arg(input_size, op);
    Pool2d g =
        pool_geometry(0, hw[0], hw[1], kernel_size, stride, padding, dilation, ceil_mode, op);
    DType dt = check_grad_output(dy, g, op);
    need_int64(indices, op, "indices");
    need_shape(indices, {dy.shape(0), dy.shape(1), g.OH, g.OW}, op, "indices");
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array dx =
          float_out<T>(grad_input, dt, {dy.shape(0), dy.shape(1), g.H, g.W}, op, "grad_input");
      T* dxp = ptr<T>(dx);
      {
        KernelScope k;
        maxpool2d_backward<T>(dxp, cptr<T>(dy), cptr<int64_t>(indices), g);
      }
      return dx;
    });
  },
      py::arg("grad_output"), py::arg("indices"), py::arg("input_size"), py::arg("kernel_size"),
      py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("dilation") = 1,
      py::arg("ceil_mode") = false, py::kw_only(), py::arg("grad_input") = py::none(),
      "grad_input (N, C, H, W), input_size = (H, W): each grad_output element goes to its arg-max.");

  // ---- avg_pool2d ---------------------------------------------------------------------------
  auto divisor = [](const py::object& d, const char* op) -> index_t {
    if (d.is_none()) return 0;
    index_t v = int_arg(d, op, "divisor_override", -kIntLimit + 1, kIntLimit);
    PYDLK_NEED(v != 0, std::string(op) + ": divisor_override must not be zero");
    return v;
  };

  m.def("avg_pool2d_forward",
        [divisor](py::array x, py::object kernel_size, py::object stride, py::object padding,
                  bool ceil_mode, bool count_include_pad, py::object divisor_override,
                  py::object out) {
    const char* op = "avg_pool2d";
    DType dt = check_input(x, op, "input");
    const index_t N = x.shape(0), C = x.shape(1);
    Pool2d g = pool_geometry(N * C, x.shape(2), x.shape(3), kernel_size, stride, padding,
                             py::int_(1), ceil_mode, op);
    index_t dv = divisor(divisor_override, op);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array y = float_out<T>(out, dt, {N, C, g.OH, g.OW}, op, "out");
      T* yp = ptr<T>(y);
      {
        KernelScope k;
        avgpool2d_forward<T>(yp, cptr<T>(x), g, count_include_pad, dv);
      }
      return y;
    });
  },
        py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(),
        py::arg("padding") = 0, py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
        py::arg("divisor_override") = py::none(), py::kw_only(), py::arg("out") = py::none());

  m.def("avg_pool2d_backward",
        [divisor](py::array dy, py::object input_size, py::object kernel_size, py::object stride,
                  py::object padding, bool ceil_mode, bool count_include_pad,
                  py::object divisor_override, py::object grad_input) {
    const char* op = "avg_pool2d_backward";
    Pair hw = input_size_arg(input_size, op);
    Pool2d g =
        pool_geometry(0, hw[0], hw[1], kernel_size, stride, padding, py::int_(1), ceil_mode, op);
    DType dt = check_grad_output(dy, g, op);
    index_t dv = divisor(divisor_override, op);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array dx =
          float_out<T>(grad_input, dt, {dy.shape(0), dy.shape(1), g.H, g.W}, op, "grad_input");
      T* dxp = ptr<T>(dx);
      {
        KernelScope k;
        avgpool2d_backward<T>(dxp, cptr<T>(dy), g, count_include_pad, dv);
      }
      return dx;
    });
  },
        py::arg("grad_output"), py::arg("input_size"), py::arg("kernel_size"),
        py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("ceil_mode") = false,
        py::arg("count_include_pad") = true, py::arg("divisor_override") = py::none(),
        py::kw_only(), py::arg("grad_input") = py::none());

  // ---- adaptive pools -------------------------------------------------------------------------
  auto adaptive_geometry = [](index_t NC, index_t H, index_t W, const py::object& output_size,
                              const char* op) {
    Pair o = int_pair(output_size, op, "output_size", 1);
    Pool2d g{NC, H, W, o[0], o[1], 0, 0, 1, 1, 0, 0, 1, 1};
    return g;
  };

  m.def("adaptive_avg_pool2d_forward",
        [adaptive_geometry](py::array x, py::object output_size, py::object out) {
    const char* op = "adaptive_avg_pool2d";
    DType dt = check_input(x, op, "input");
    const index_t N = x.shape(0), C = x.shape(1);
    Pool2d g = adaptive_geometry(N * C, x.shape(2), x.shape(3), output_size, op);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array y = float_out<T>(out, dt, {N, C, g.OH, g.OW}, op, "out");
      T* yp = ptr<T>(y);
      {
        KernelScope k;
        adaptive_avgpool2d_forward<T>(yp, cptr<T>(x), g);
      }
      return y;
    });
  }, py::arg("input"), py::arg("output_size"), py::kw_only(), py::arg("out") = py::none());

  m.def("adaptive_avg_pool2d_backward",
        [adaptive_geometry](py::array dy, py::object input_size, py::object grad_input) {
    const char* op = "adaptive_avg_pool2d_backward";
    Pair hw = input_size_arg(input_size, op);
    DType dt = need_float(dy, op, "grad_output");
    need_ndim(dy, 4, op, "grad_output");
    PYDLK_NEED(dy.shape(1) > 0 && dy.shape(2) > 0 && dy.shape(3) > 0,
               std::string(op) + ": grad_output must have non-zero C, H and W, got shape " +
                   str_shape(dy));
    need_int_dims(dy, op, "grad_output");
    Pool2d g = adaptive_geometry(dy.shape(0) * dy.shape(1), hw[0], hw[1],
                                 py::make_tuple(dy.shape(2), dy.shape(3)), op);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array dx =
          float_out<T>(grad_input, dt, {dy.shape(0), dy.shape(1), g.H, g.W}, op, "grad_input");
      T* dxp = ptr<T>(dx);
      {
        KernelScope k;
        adaptive_avgpool2d_backward<T>(dxp, cptr<T>(dy), g);
      }
      return dx;
    });
  }, py::arg("grad_output"), py::arg("input_size"), py::kw_only(),
        py::arg("grad_input") = py::none());

  m.def("adaptive_max_pool2d_forward",
        [adaptive_geometry](py::array x, py::object output_size, bool return_indices,
                            py::object out, py::object indices) {
    const char* op = "adaptive_max_pool2d";
    DType dt = check_input(x, op, "input");
    const index_t N = x.shape(0), C = x.shape(1);
    Pool2d g = adaptive_geometry(N * C, x.shape(2), x.shape(3), output_size, op);
    const bool want_idx = return_indices || !indices.is_none();
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array y = float_out<T>(out, dt, {N, C, g.OH, g.OW}, op, "out");
      py::object io = py::none();
      int64_t* ip = nullptr;
      if (want_idx) {
        py::array ia = index_out(indices, {N, C, g.OH, g.OW}, op, "indices");
        ip = ptr<int64_t>(ia);
        io = ia;
      }
      T* yp = ptr<T>(y);
      {
        KernelScope k;
        adaptive_maxpool2d_forward<T>(yp, ip, cptr<T>(x), g);
      }
      return py::make_tuple(y, io);
    });
  },
        py::arg("input"), py::arg("output_size"), py::arg("return_indices") = true, py::kw_only(),
        py::arg("out") = py::none(), py::arg("indices") = py::none(),
        "Returns (output, indices or None).");

  m.def("adaptive_max_pool2d_backward",
        [adaptive_geometry](py::array dy, py::array indices, py::object input_size,
                            py::object grad_input) {
    const char* op = "adaptive_max_pool2d_backward";
    Pair hw = input_size_arg(input_size, op);
    DType dt = need_float(dy, op, "grad_output");
    need_ndim(dy, 4, op, "grad_output");
    PYDLK_NEED(dy.shape(1) > 0 && dy.shape(2) > 0 && dy.shape(3) > 0,
               std::string(op) + ": grad_output must have non-zero C, H and W, got shape " +
                   str_shape(dy));
    need_int_dims(dy, op, "grad_output");
    need_int64(indices, op, "indices");
    need_shape(indices, {dy.shape(0), dy.shape(1), dy.shape(2), dy.shape(3)}, op, "indices");
    Pool2d g = adaptive_geometry(dy.shape(0) * dy.shape(1), hw[0], hw[1],
                                 py::make_tuple(dy.shape(2), dy.shape(3)), op);
    g.kH = g.kW = 0;  // no 2x2 fast path: the windows are adaptive
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array dx =
          float_out<T>(grad_input, dt, {dy.shape(0), dy.shape(1), g.H, g.W}, op, "grad_input");
      T* dxp = ptr<T>(dx);
      {
        KernelScope k;
        maxpool2d_backward<T>(dxp, cptr<T>(dy), cptr<int64_t>(indices), g);
      }
      return dx;
    });
  },
        py::arg("grad_output"), py::arg("indices"), py::arg("input_size"), py::kw_only(),
        py::arg("grad_input") = py::none());
}

}  // namespace pydlk
