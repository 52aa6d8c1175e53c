// Bindings for csrc/special.cpp and csrc/special_cephes.cpp: special_function(input, function, *,
// out=None).
#include <string>
#include <utility>

#include "bind_util.h"
#include "special.h"

namespace pydlk {

namespace {
Special special_by_name(const std::string& f) {
  static const std::pair<const char*, Special> names[] = {{"erf", Special::erf},
                                                          {"erfc", Special::erfc},
                                                          {"erfinv", Special::erfinv},
                                                          {"lgamma", Special::lgamma},
                                                          {"digamma", Special::digamma},
                                                          {"trigamma", Special::trigamma},
                                                          {"i0", Special::i0},
                                                          {"i0e", Special::i0e},
                                                          {"i1", Special::i1},
                                                          {"i1e", Special::i1e},
                                                          {"erfcx", Special::erfcx},
                                                          {"ndtri", Special::ndtri},
                                                          {"log_ndtr", Special::log_ndtr},
                                                          {"entr", Special::entr}};
  std::string all;
  for (const auto& [name, value] : names) {
    if (f == name) return value;
    all += std::string(all.empty() ? "'" : ", '") + name + "'";
  }
  throw py::value_error("special_function: function must be one of " + all + ", got '" + f + "'");
}
}  // namespace

void bind_special(py::module_& m) {
  m.def("special_function",
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
        "function(input) per element (float32 within a few ulp of the float64 result): 'erf', "
        "'erfc', 'erfinv', 'lgamma' (log|Gamma|), 'digamma', 'trigamma', and torch.special's "
        "'i0', 'i0e', 'i1', 'i1e' (modified Bessel functions, e: times exp(-|x|)), 'erfcx', "
        "'ndtri', 'log_ndtr', 'entr'. A new array of input's shape and dtype, or out (which may "
        "be input).");
}

}  // namespace pydlk
