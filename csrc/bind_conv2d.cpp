// Bindings for csrc/conv2d.cpp.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bind_util.h"
#include "conv2d.h"
#include "conv2d_direct512.h"
#include "conv2d_winograd.h"

namespace pydlk {

namespace {
ConvAlgo parse_algo(const std::string& a, const char* op) {
  if (a == "auto") return ConvAlgo::automatic;
  if (a == "gemm") return ConvAlgo::gemm;
  if (a == "direct") return ConvAlgo::direct;
  if (a == "winograd") return ConvAlgo::winograd;
  throw std::invalid_argument(std::string(op) +
                              ": algorithm must be 'auto', 'gemm', 'direct' or 'winograd', got '" +
                              a + "'");
}
}  // namespace

// Checks every array and int argument and returns the convolution's sizes (also used by the
// bf16 bindings, bind_bf16.cpp).
ConvShape check_conv(const py::array& x, const py::array& w, DType dt, const py::object& stride,
                     const py::object& padding, const py::object& dilation,
                     const py::object& groups_arg, const char* op) {
  need_ndim(x, 4, op, "input");
  need_dtype(w, dt, op, "weight");
  need_ndim(w, 4, op, "weight");
  // Every size below 2**31: the index arithmetic below and the GEMMs' int sizes stay in range.
  need_int_dims(x, op, "input");
  need_int_dims(w, op, "weight");
  Pair st = int_pair(stride, op, "stride", 1);
  Pair pd = int_pair(padding, op, "padding", 0);
  Pair dl = int_pair(dilation, op, "dilation", 1);
  const index_t groups = int_arg(groups_arg, op, "groups", 1, kIntLimit);
  const std::string o(op);
  ConvShape s;
  s.N = x.shape(0);
  s.C = x.shape(1);
  s.H = x.shape(2);
  s.W = x.shape(3);
  s.K = w.shape(0);
  s.R = w.shape(2);
  s.S = w.shape(3);
  s.G = groups;
  s.sh = st[0];
  s.sw = st[1];
  s.ph = pd[0];
  s.pw = pd[1];
  s.dh = dl[0];
  s.dw = dl[1];
  PYDLK_NEED(s.R >= 1 && s.S >= 1,
             o + ": weight must have a kernel of at least 1x1, got shape " + str_shape(w));
  PYDLK_NEED(s.C >= 1, o + ": input must have at least 1 channel, got shape " + str_shape(x));
  PYDLK_NEED(s.C % s.G == 0, o + ": input has " + std::to_string(s.C) +
                                 " channels, not divisible by groups=" + std::to_string(s.G));
  PYDLK_NEED(s.K % s.G == 0,
             o + ": weight has " + std::to_string(s.K) +
                 " output channels, not divisible by groups=" + std::to_string(s.G));
  PYDLK_NEED(w.shape(1) == s.C / s.G,
             o + ": input has " + std::to_string(s.C) + " channels, weight expects " +
                 std::to_string(w.shape(1) * s.G) + " (groups=" + std::to_string(s.G) +
                 ", weight is (out_channels, in_channels/groups, kH, kW) = " + str_shape(w) + ")");
  const index_t eh = s.H + 2 * s.ph - s.dh * (s.R - 1), ew = s.W + 2 * s.pw - s.dw * (s.S - 1);
  s.OH = conv_out_size(s.H, s.ph, s.dh, s.R, s.sh);
  s.OW = conv_out_size(s.W, s.pw, s.dw, s.S, s.sw);
  PYDLK_NEED(eh >= 1 && ew >= 1,
             o + ": input of size " + std::to_string(s.H) + "x" + std::to_string(s.W) +
                 " with padding " + str_pair(pd) + " is smaller than the dilated kernel " +
                 std::to_string(s.dh * (s.R - 1) + 1) + "x" + std::to_string(s.dw * (s.S - 1) + 1) +
                 ": output size would be " + std::to_string(eh <= 0 ? 0 : s.OH) + "x" +
                 std::to_string(ew <= 0 ? 0 : s.OW));
  // The GEMMs take int sizes.
  const index_t big = INT32_MAX;
  PYDLK_NEED(s.Cg() * s.R * s.S < big && s.N * s.OH * s.OW < big && s.H * s.W < big,
             o + ": convolution too large for 32-bit BLAS sizes");
  return s;
}

namespace {

// dense_ok: the forward of a float32 convolution, which the AVX-512 dense direct kernel may run.
ConvAlgo algo_for(const ConvShape& s, const std::string& algorithm, const char* op,
                  bool dense_ok = false) {
  ConvAlgo a = parse_algo(algorithm, op);
  const bool dense = dense_ok && dense_direct_supported() && dense_direct_fits(s);
  PYDLK_NEED(a != ConvAlgo::direct || s.Cg() == 1 || dense,
             std::string(op) +
                 ": algorithm='direct' needs one input channel per group (C/groups == 1), or for a "
                 "float32 forward on a CPU with AVX-512 at least 2 outputs per group; got " +
                 std::to_string(s.Cg()) + " input and " + std::to_string(s.Kg()) +
                 " output channels per group" +
                 (dense_ok && !dense_direct_supported() ? " (this CPU has no AVX-512)" : ""));
  PYDLK_NEED(
      a != ConvAlgo::winograd || winograd_fits(s),
      std::string(op) +
          ": algorithm='winograd' needs a 3x3 kernel, stride 1, dilation 1 and groups=1, got a " +
          std::to_string(s.R) + "x" + std::to_string(s.S) + " kernel, stride (" +
          std::to_string(s.sh) + ", " + std::to_string(s.sw) + "), dilation (" +
          std::to_string(s.dh) + ", " + std::to_string(s.dw) + "), groups=" + std::to_string(s.G));
  return a;
}

}  // namespace

void bind_conv2d(py::module_& m) {
  m.def("get_conv_winograd", &winograd_allowed,
        "Whether algorithm='auto' may choose Winograd (pydlk.backends.cpu.allow_winograd).");
  m.def("set_conv_winograd", &set_winograd_allowed, py::arg("allowed"),
        "Let algorithm='auto' choose Winograd (True, the default) or not.");
  m.def("get_conv_direct", &dense_direct_allowed,
        "Whether algorithm='auto' may choose the AVX-512 direct forward for dense float32 "
        "layers (pydlk.backends.cpu.allow_direct_conv).");
  m.def("set_conv_direct", &set_dense_direct_allowed, py::arg("allowed"),
        "Let algorithm='auto' choose the AVX-512 direct forward (True, the default) or not.");
  m.def("conv_direct_supported", &dense_direct_supported,
        "True where the CPU has the AVX-512 (F, VL, BW, DQ) the direct forward needs.");
  m.def("conv2d_forward",
        [](py::array x, py::array w, py::object bias, py::object stride, py::object padding,
           py::object dilation, py::object groups, std::string algorithm) {
    const char* op = "conv2d";
    DType dt = need_float(x, op, "input");
    ConvShape s = check_conv(x, w, dt, stride, padding, dilation, groups, op);
    ArrayArg b = opt_array(bias, op, "bias");
    if (b.given()) {
      need_dtype(b.arr(), dt, op, "bias");
      need_shape(b.arr(), {(py::ssize_t)s.K}, op, "bias");
    }
    ConvAlgo a = algo_for(s, algorithm, op, dt == DType::f32);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array y = empty<T>(
          {(py::ssize_t)s.N, (py::ssize_t)s.K, (py::ssize_t)s.OH, (py::ssize_t)s.OW}, op, "output");
      const T* bp = b.cdata<T>();
      T* yp = ptr<T>(y);
      ConvPlan plan = conv2d_plan(s, false, sizeof(T), a);
      void* ws = workspace(plan.ws_bytes, op);
      {
        KernelScope k;
        conv2d_forward<T>(yp, cptr<T>(x), cptr<T>(w), bp, ws, s, plan);
      }
      return y;
    });
  },
        py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
        py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1,
        py::arg("algorithm") = "auto",
        "2-D convolution. input (N, C, H, W), weight (K, C/groups, kH, kW), bias (K) or None; "
        "stride/padding/dilation an int or a pair. Returns (N, K, OH, OW). algorithm: 'auto', "
        "'gemm' (im2col + BLAS), 'direct' (C/groups == 1, or float32 with at least 2 outputs "
        "per group on a CPU with AVX-512) or 'winograd' (F(4x4, 3x3); "
        "needs a 3x3 kernel, stride 1, dilation 1, groups 1).");

  m.def("conv2d_backward",
        [](py::array dy, py::array x, py::array w, py::object stride, py::object padding,
           py::object dilation, py::object groups, bool need_dx, bool need_dw, bool need_db,
           std::string algorithm) {
    const char* op = "conv2d_backward";
    DType dt = need_float(x, op, "input");
    ConvShape s = check_conv(x, w, dt, stride, padding, dilation, groups, op);
    need_dtype(dy, dt, op, "grad_output");
    need_shape(dy, {(py::ssize_t)s.N, (py::ssize_t)s.K, (py::ssize_t)s.OH, (py::ssize_t)s.OW}, op,
               "grad_output");
    ConvAlgo a = algo_for(s, algorithm, op);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::object dx = py::none(), dw = py::none(), db = py::none();
      T *dxp = nullptr, *dwp = nullptr, *dbp = nullptr;
      if (need_dx) {
        py::array arr =
            empty<T>({(py::ssize_t)s.N, (py::ssize_t)s.C, (py::ssize_t)s.H, (py::ssize_t)s.W}, op,
                     "grad_input");
        dxp = ptr<T>(arr);
        dx = arr;
      }
      if (need_dw) {
        py::array arr =
            empty<T>({(py::ssize_t)s.K, (py::ssize_t)s.Cg(), (py::ssize_t)s.R, (py::ssize_t)s.S},
                     op, "grad_weight");
        dwp = ptr<T>(arr);
        dw = arr;
      }
      if (need_db) {
        py::array arr = empty<T>({(py::ssize_t)s.K}, op, "grad_bias");
        dbp = ptr<T>(arr);
        db = arr;
      }
      ConvPlan plan = conv2d_plan(s, true, sizeof(T), a);
      void* ws = workspace(plan.ws_bytes, op);
      {
        KernelScope k;
        conv2d_backward<T>(dxp, dwp, dbp, cptr<T>(dy), cptr<T>(x), cptr<T>(w), ws, s, plan);
      }
      return py::make_tuple(dx, dw, db);
    });
  },
        py::arg("grad_output"), py::arg("input"), py::arg("weight"), py::arg("stride") = 1,
        py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1,
        py::arg("need_input") = true, py::arg("need_weight") = true, py::arg("need_bias") = true,
        py::arg("algorithm") = "auto",
        "Returns (grad_input, grad_weight, grad_bias); None where not asked for.");
}

}  // namespace pydlk
