// Bindings for csrc/linear.cpp.
#include "bind_util.h"
#include "linear.h"

namespace pydlk {

static void check_linear(const py::array& x, const py::array& w, const py::object& b, DType dt) {
  need_ndim(x, 2, "linear", "input");
  need_dtype(w, dt, "linear", "weight");
  need_ndim(w, 2, "linear", "weight");
  need(w.shape(1) == x.shape(1), "linear: input has " + std::to_string(x.shape(1)) +
                                     " features, weight expects " + std::to_string(w.shape(1)) +
                                     " (weight is (out_features, in_features) = " + str_shape(w) + ")");
  if (!b.is_none()) {
    py::array ba = b.cast<py::array>();
    need_dtype(ba, dt, "linear", "bias");
    need_shape(ba, {w.shape(0)}, "linear", "bias");
  }
}

void bind_linear(py::module_& m) {
  m.def("linear_forward", [](py::array x, py::array w, py::object b) {
    DType dt = need_float(x, "linear", "input");
    check_linear(x, w, b, dt);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      index_t N = x.shape(0), IN = x.shape(1), OUT = w.shape(0);
      py::array y = empty<T>({(py::ssize_t)N, (py::ssize_t)OUT});
      const T* bp = b.is_none() ? nullptr : cptr<T>(b.cast<py::array>());
      T* yp = ptr<T>(y);
      { KernelScope k; linear_forward<T>(yp, cptr<T>(x), cptr<T>(w), bp, N, IN, OUT); }
      return y;
    });
  }, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(),
     "y = input @ weight.T + bias; input (N, IN), weight (OUT, IN).");

  m.def("linear_backward", [](py::array dy, py::array x, py::array w, bool need_dx, bool need_dw,
                              bool need_db) {
    DType dt = need_float(x, "linear_backward", "input");
    check_linear(x, w, py::none(), dt);
    need_dtype(dy, dt, "linear_backward", "grad_output");
    need_shape(dy, {x.shape(0), w.shape(0)}, "linear_backward", "grad_output");
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      index_t N = x.shape(0), IN = x.shape(1), OUT = w.shape(0);
      py::object dx = py::none(), dw = py::none(), db = py::none();
      T *dxp = nullptr, *dwp = nullptr, *dbp = nullptr;
      if (need_dx) { py::array a = empty<T>({(py::ssize_t)N, (py::ssize_t)IN}); dxp = ptr<T>(a); dx = a; }
      if (need_dw) { py::array a = empty<T>({(py::ssize_t)OUT, (py::ssize_t)IN}); dwp = ptr<T>(a); dw = a; }
      if (need_db) { py::array a = empty<T>({(py::ssize_t)OUT}); dbp = ptr<T>(a); db = a; }
      { KernelScope k; linear_backward<T>(dxp, dwp, dbp, cptr<T>(dy), cptr<T>(x), cptr<T>(w), N, IN, OUT); }
      return py::make_tuple(dx, dw, db);
    });
  }, py::arg("grad_output"), py::arg("input"), py::arg("weight"), py::arg("need_input") = true,
     py::arg("need_weight") = true, py::arg("need_bias") = true,
     "Returns (grad_input, grad_weight, grad_bias); None where not asked for.");
}

}  // namespace pydlk
