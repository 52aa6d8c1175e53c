// Bindings for csrc/special.cpp: special_function(input, function, *, out=None).
#include <string>

#include "bind_util.h"
#include "special.h"

namespace pydlk {

namespace {
Special special_by_name(const std::string& f) {
  if (f == "erf") return Special::erf;
  if (f == "erfc") return Special::erfc;
  if (f == "erfinv") return Special::erfinv;
  if (f == "lgamma") return Special::lgamma;
  if (f == "digamma") return Special::digamma;
  if (f == "trigamma") return Special::trigamma;
  throw py::value_error(
      "special_function: function must be one of 'erf', 'erfc', 'erfinv', 'lgamma', "
      "'digamma', 'trigamma', got '" +
      f + "'");
}
}  // namespace

void bind_special(py::module_& m) {
  m.def(
      "special_function",
      [](py::array x, const std::string& function, py::object out) {
    const char* op = "special_function";
    const Special f = special_by_name(function);
    DType dt = need_float(x, op, "input");
    py::array y = dispatch(dt, [&](auto t) {
      return out_or_empty<decltype(t)>(out, dt, shape_of(x), op, "out", {x.data()});
    });
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      T* yp = ptr<T>(y);
      const T* xp = cptr<T>(x);
      {
        KernelScope k;
        special_function<T>(yp, xp, x.size(), f);
      }
      return 0;
    });
    return y;
  }, py::arg("input"), py::arg("function"), py::kw_only(), py::arg("out") = py::none(),
      "function(input) per element (float32 within a few ulp of the float64 result): 'erf', 'erfc', 'erfinv', 'lgamma' "
      "(log|Gamma|), 'digamma', 'trigamma'. A new array of input's shape and dtype, or out "
      "(which may be input).");
}

}  // namespace pydlk
