// Bindings for csrc/conv2d.cpp.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bind_util.h"
#include "conv2d.h"

namespace pydlk {

namespace {

std::pair<index_t, index_t> int_pair(const py::object& v, const char* op, const char* name) {
  auto fail = [&]() -> std::pair<index_t, index_t> {
    throw py::type_error(std::string(op) + ": " + name + " must be an int or a pair of ints, got " +
                         py::repr(v).cast<std::string>());
  };
  if (py::isinstance<py::bool_>(v)) return fail();
  if (py::isinstance<py::int_>(v)) {
    index_t i = v.cast<index_t>();
    return {i, i};
  }
  if (!py::isinstance<py::sequence>(v) || py::isinstance<py::str>(v)) return fail();
  py::sequence seq = v.cast<py::sequence>();
  if (seq.size() != 2)
    throw std::invalid_argument(std::string(op) + ": " + name + " must have 2 values, got " +
                                std::to_string(seq.size()));
  for (auto e : seq)
    if (!py::isinstance<py::int_>(e) || py::isinstance<py::bool_>(e)) return fail();
  return {seq[0].cast<index_t>(), seq[1].cast<index_t>()};
}

std::string pair_str(std::pair<index_t, index_t> p) {
  return "(" + std::to_string(p.first) + ", " + std::to_string(p.second) + ")";
}

ConvAlgo parse_algo(const std::string& a, const char* op) {
  if (a == "auto") return ConvAlgo::automatic;
  if (a == "gemm") return ConvAlgo::gemm;
  if (a == "direct") return ConvAlgo::direct;
  throw std::invalid_argument(std::string(op) + ": algorithm must be 'auto', 'gemm' or 'direct', got '" +
                              a + "'");
}

// Checks every array and int argument and returns the convolution's sizes.
ConvShape check_conv(const py::array& x, const py::array& w, DType dt, const py::object& stride,
                     const py::object& padding, const py::object& dilation, index_t groups,
                     const char* op) {
  need_ndim(x, 4, op, "input");
  need_dtype(w, dt, op, "weight");
  need_ndim(w, 4, op, "weight");
  auto st = int_pair(stride, op, "stride");
  auto pd = int_pair(padding, op, "padding");
  auto dl = int_pair(dilation, op, "dilation");
  const std::string o(op);
  need(groups >= 1, o + ": groups must be positive, got " + std::to_string(groups));
  need(st.first >= 1 && st.second >= 1, o + ": stride must be positive, got " + pair_str(st));
  need(dl.first >= 1 && dl.second >= 1, o + ": dilation must be positive, got " + pair_str(dl));
  need(pd.first >= 0 && pd.second >= 0, o + ": padding must be >= 0, got " + pair_str(pd));
  ConvShape s;
  s.N = x.shape(0); s.C = x.shape(1); s.H = x.shape(2); s.W = x.shape(3);
  s.K = w.shape(0); s.R = w.shape(2); s.S = w.shape(3);
  s.G = groups;
  s.sh = st.first; s.sw = st.second; s.ph = pd.first; s.pw = pd.second;
  s.dh = dl.first; s.dw = dl.second;
  need(s.R >= 1 && s.S >= 1, o + ": weight must have a kernel of at least 1x1, got shape " + str_shape(w));
  need(s.C >= 1, o + ": input must have at least 1 channel, got shape " + str_shape(x));
  need(s.C % s.G == 0, o + ": input has " + std::to_string(s.C) + " channels, not divisible by groups=" +
                           std::to_string(s.G));
  need(s.K % s.G == 0, o + ": weight has " + std::to_string(s.K) +
                           " output channels, not divisible by groups=" + std::to_string(s.G));
  need(w.shape(1) == s.C / s.G, o + ": input has " + std::to_string(s.C) + " channels, weight expects " +
                                    std::to_string(w.shape(1) * s.G) + " (groups=" + std::to_string(s.G) +
                                    ", weight is (out_channels, in_channels/groups, kH, kW) = " +
                                    str_shape(w) + ")");
  const index_t eh = s.H + 2 * s.ph - s.dh * (s.R - 1), ew = s.W + 2 * s.pw - s.dw * (s.S - 1);
  s.OH = conv_out_size(s.H, s.ph, s.dh, s.R, s.sh);
  s.OW = conv_out_size(s.W, s.pw, s.dw, s.S, s.sw);
  need(eh >= 1 && ew >= 1,
       o + ": input of size " + std::to_string(s.H) + "x" + std::to_string(s.W) + " with padding " +
           pair_str(pd) + " is smaller than the dilated kernel " + std::to_string(s.dh * (s.R - 1) + 1) +
           "x" + std::to_string(s.dw * (s.S - 1) + 1) + ": output size would be " +
           std::to_string(eh <= 0 ? 0 : s.OH) + "x" + std::to_string(ew <= 0 ? 0 : s.OW));
  // The GEMMs take int sizes.
  const index_t big = INT32_MAX;
  need(s.Cg() * s.R * s.S < big && s.N * s.OH * s.OW < big && s.H * s.W < big,
       o + ": convolution too large for 32-bit BLAS sizes");
  return s;
}

// A reused, 64-byte aligned workspace per calling thread, grown on demand: large workspaces come
// back warm instead of from freshly mapped pages each call.
void* workspace(size_t bytes) {
  thread_local std::vector<char> buf;
  if (buf.size() < bytes + 64) buf.resize(bytes + 64);
  uintptr_t p = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<void*>((p + 63) / 64 * 64);
}

ConvAlgo algo_for(const ConvShape& s, const std::string& algorithm, const char* op) {
  ConvAlgo a = parse_algo(algorithm, op);
  need(a != ConvAlgo::direct || s.Cg() == 1,
       std::string(op) + ": algorithm='direct' needs one input channel per group (C/groups == 1), got " +
           std::to_string(s.Cg()));
  return a;
}

}  // namespace

void bind_conv2d(py::module_& m) {
  m.def("conv2d_forward", [](py::array x, py::array w, py::object b, py::object stride,
                             py::object padding, py::object dilation, index_t groups,
                             std::string algorithm) {
    DType dt = need_float(x, "conv2d", "input");
    ConvShape s = check_conv(x, w, dt, stride, padding, dilation, groups, "conv2d");
    if (!b.is_none()) {
      py::array ba = b.cast<py::array>();
      need_dtype(ba, dt, "conv2d", "bias");
      need_shape(ba, {(py::ssize_t)s.K}, "conv2d", "bias");
    }
    ConvAlgo a = algo_for(s, algorithm, "conv2d");
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array y = empty<T>({(py::ssize_t)s.N, (py::ssize_t)s.K, (py::ssize_t)s.OH, (py::ssize_t)s.OW});
      const T* bp = b.is_none() ? nullptr : cptr<T>(b.cast<py::array>());
      T* yp = ptr<T>(y);
      {
        KernelScope k;
        ConvPlan plan = conv2d_plan(s, false, sizeof(T), a);
        void* ws = workspace(plan.ws_bytes);
        conv2d_forward<T>(yp, cptr<T>(x), cptr<T>(w), bp, ws, s, plan);
      }
      return y;
    });
  }, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
     py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1,
     py::arg("algorithm") = "auto",
     "2-D convolution. input (N, C, H, W), weight (K, C/groups, kH, kW), bias (K) or None; "
     "stride/padding/dilation an int or a pair. Returns (N, K, OH, OW). algorithm: 'auto', "
     "'gemm' (im2col + BLAS) or 'direct' (needs C/groups == 1).");

  m.def("conv2d_backward", [](py::array dy, py::array x, py::array w, py::object stride,
                              py::object padding, py::object dilation, index_t groups,
                              bool need_dx, bool need_dw, bool need_db, std::string algorithm) {
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
        py::array arr = empty<T>({(py::ssize_t)s.N, (py::ssize_t)s.C, (py::ssize_t)s.H, (py::ssize_t)s.W});
        dxp = ptr<T>(arr); dx = arr;
      }
      if (need_dw) {
        py::array arr = empty<T>({(py::ssize_t)s.K, (py::ssize_t)s.Cg(), (py::ssize_t)s.R, (py::ssize_t)s.S});
        dwp = ptr<T>(arr); dw = arr;
      }
      if (need_db) {
        py::array arr = empty<T>({(py::ssize_t)s.K});
        dbp = ptr<T>(arr); db = arr;
      }
      {
        KernelScope k;
        ConvPlan plan = conv2d_plan(s, true, sizeof(T), a);
        void* ws = workspace(plan.ws_bytes);
        conv2d_backward<T>(dxp, dwp, dbp, cptr<T>(dy), cptr<T>(x), cptr<T>(w), ws, s, plan);
      }
      return py::make_tuple(dx, dw, db);
    });
  }, py::arg("grad_output"), py::arg("input"), py::arg("weight"), py::arg("stride") = 1,
     py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1,
     py::arg("need_input") = true, py::arg("need_weight") = true, py::arg("need_bias") = true,
     py::arg("algorithm") = "auto",
     "Returns (grad_input, grad_weight, grad_bias); None where not asked for.");
}

}  // namespace pydlk
