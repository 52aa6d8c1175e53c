// Bindings for csrc/linalg.cpp: lu_factor_ex(input) -> (LU, pivots, info).
#include "bind_util.h"
#include "linalg.h"

namespace pydlk {

void bind_linalg(py::module_& m) {
  m.def("lu_factor_ex",
        [](py::array a) {
    const char* op = "lu_factor_ex";
    DType dt = need_float(a, op, "input");
    PYDLK_NEED(a.ndim() >= 2, std::string(op) +
                                  ": input must have at least 2 dimensions (*, m, n), got "
                                  "shape " +
                                  str_shape(a));
    need_int_dims(a, op, "input");
    const Shape shape = shape_of(a);
    const int mrows = (int)shape[shape.size() - 2], ncols = (int)shape[shape.size() - 1];
    const int k = std::min(mrows, ncols);
    Shape lead(shape.begin(), shape.end() - 2);
    index_t batch = 1;
    for (auto d : lead) batch *= d;
    Shape piv_shape = lead;
    piv_shape.push_back(k);
    py::array_t<int32_t> piv(piv_shape), info(lead);
    py::array lu = dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array out = empty<T>(shape, op, "LU");
      const T* ap = cptr<T>(a);
      T* lp = ptr<T>(out);
      int32_t* pp = piv.mutable_data();
      int32_t* ip = info.mutable_data();
      {
        KernelScope k_;
        lu_factor_ex<T>(lp, pp, ip, ap, batch, mrows, ncols);
      }
      return out;
    });
    return py::make_tuple(lu, piv, info);
  }, py::arg("input"),
        "(LU, pivots, info) of every (m, n) matrix of a C-contiguous float32/float64 input (*, m, "
        "n), by OpenBLAS's LAPACK getrf with partial pivoting: LU packs L's strict lower triangle "
        "(unit diagonal) and U in input's shape; pivots (*, min(m, n)) int32, 1-based row swaps "
        "in order; info (*) int32, 0 or the 1-based index of the first zero pivot (the "
        "factorization still completes).");
}

}  // namespace pydlk
