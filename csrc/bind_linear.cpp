// Bindings for csrc/linear.cpp.
#include "bind_util.h"
#include "linear.h"

namespace pydlk {

static void check_linear(const py::array& x, const py::array& w, DType dt, const char* op) {
  need_ndim(x, 2, op, "input");
  need_dtype(w, dt, op, "weight");
  need_ndim(w, 2, op, "weight");
  PYDLK_NEED(w.shape(1) == x.shape(1),
             std::string(op) + ": input has " + std::to_string(x.shape(1)) +
                 " features, weight expects " + std::to_string(w.shape(1)) +
                 " (weight is (out_features, in_features) = " + str_shape(w) + ")");
  // The GEMMs take int sizes.
  need_int_dims(x, op, "input");
  need_int_dims(w, op, "weight");
}

void bind_linear(py::module_& m) {
  m.def("linear_forward",
        [](py::array x, py::array w, py::object bias) {
    const char* op = "linear";
    DType dt = need_float(x, op, "input");
    check_linear(x, w, dt, op);
    ArrayArg b = opt_array(bias, op, "bias");
    if (b.given()) {
      need_dtype(b.arr(), dt, op, "bias");
      need_shape(b.arr(), {w.shape(0)}, op, "bias");
    }
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      index_t N = x.shape(0), IN = x.shape(1), OUT = w.shape(0);
      py::array y = empty<T>({(py::ssize_t)N, (py::ssize_t)OUT}, op, "output");
      const T* bp = b.cdata<T>();
      T* yp = ptr<T>(y);
      {
        KernelScope k;
        linear_forward<T>(yp, cptr<T>(x), cptr<T>(w), bp, N, IN, OUT);
      }
      return y;
    });
  }, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(),
        "y = input @ weight.T + bias; input (N, IN), weight (OUT, IN), bias (OUT,) or None.");

  m.def("linear_backward",
        [](py::array dy, py::array x, py::array w, bool need_dx, bool need_dw, bool need_db) {
    const char* op = "linear_backward";
    DType dt = need_float(x, op, "input");
    check_linear(x, w, dt, op);
    need_dtype(dy, dt, op, "grad_output");
    need_shape(dy, {x.shape(0), w.shape(0)}, op, "grad_output");
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      index_t N = x.shape(0), IN = x.shape(1), OUT = w.shape(0);
      py::object dx = py::none(), dw = py::none(), db = py::none();
      T *dxp = nullptr, *dwp = nullptr, *dbp = nullptr;
      if (need_dx) {
        py::array a = empty<T>({(py::ssize_t)N, (py::ssize_t)IN}, op, "grad_input");
        dxp = ptr<T>(a);
        dx = a;
      }
      if (need_dw) {
        py::array a = empty<T>({(py::ssize_t)OUT, (py::ssize_t)IN}, op, "grad_weight");
        dwp = ptr<T>(a);
        dw = a;
      }
      if (need_db) {
        py::array a = empty<T>({(py::ssize_t)OUT}, op, "grad_bias");
        dbp = ptr<T>(a);
        db = a;
      }
      {
        KernelScope k;
        linear_backward<T>(dxp, dwp, dbp, cptr<T>(dy), cptr<T>(x), cptr<T>(w), N, IN, OUT);
      }
      return py::make_tuple(dx, dw, db);
    });
  }, py::arg("grad_output"), py::arg("input"), py::arg("weight"), py::arg("need_input") = true,
        py::arg("need_weight") = true, py::arg("need_bias") = true,
        "Returns (grad_input, grad_weight, grad_bias); None where not asked for.");
}

}  // namespace pydlk
