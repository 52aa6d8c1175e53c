// Bindings for csrc/linalg.cpp and csrc/linalg_ldl.cpp: lu_factor_ex(input) -> (LU, pivots,
// info), ldl_factor(input, hermitian) -> (LD, pivots, info), ldl_solve(LD, pivots, B,
// hermitian) -> X.
#include <pybind11/complex.h>

#include <complex>

#include "bind_util.h"
#include "linalg.h"

namespace pydlk {

namespace {

// The LDL kernels' four element types (LAPACK's s, d, c, z).
enum class LdlType { f32, f64, c64, c128 };

// C-contiguous float32/float64/complex64/complex128, else a TypeError naming op and argument.
LdlType need_ldl_type(const py::array& a, const char* op, const char* name) {
  const bool c = (a.flags() & py::array::c_style) != 0;
  const py::dtype dt = a.dtype();
  if (c) {
    if (dt.equal(py::dtype::of<float>())) return LdlType::f32;
    if (dt.equal(py::dtype::of<double>())) return LdlType::f64;
    if (dt.equal(py::dtype::of<std::complex<float>>())) return LdlType::c64;
    if (dt.equal(py::dtype::of<std::complex<double>>())) return LdlType::c128;
  }
  std::string got = py::str(dt).cast<std::string>();
  if (!c) got += " (not C-contiguous)";
  throw py::type_error(std::string(op) + ": " + name +
                       " must be a C-contiguous float32, float64, complex64 or complex128 array, "
                       "got " +
                       got);
}

template <typename F>
auto dispatch_ldl(LdlType t, F&& f) {
  switch (t) {
    case LdlType::f32: return f(float{});
    case LdlType::f64: return f(double{});
    case LdlType::c64: return f(std::complex<float>{});
    default: return f(std::complex<double>{});
  }
}

// (*, n, n): at least 2 dimensions, square, each below 2**31; returns n.
int need_square(const py::array& a, const char* op, const char* name) {
  PYDLK_NEED(a.ndim() >= 2 && a.shape(a.ndim() - 1) == a.shape(a.ndim() - 2),
             std::string(op) + ": " + name + " must be square matrices (*, n, n), got shape " +
                 str_shape(a));
  need_int_dims(a, op, name);
  return (int)a.shape(a.ndim() - 1);
}

// LAPACK's sytrs indexes rows by the pivots unchecked, so pivots that no ldl_factor returns are
// refused here: each |p| in [1, n]; a negative entry read as a 2x2 block's first row (walking
// down, as sytrs's L D step) must have a row after it, and one read as its second row (walking
// up, the L^T step) a row before it.
void need_ldl_pivots(const int32_t* piv, index_t batch, int n, const char* op) {
  for (index_t b = 0; b < batch; ++b) {
    const int32_t* p = piv + b * n;
    auto where = [&](int k) {
      return "pivots[" + (batch > 1 ? std::to_string(b) + ", " : std::string()) +
             std::to_string(k) + "] = " + std::to_string(p[k]);
    };
    for (int k = 0; k < n; ++k)
      PYDLK_NEED(p[k] != 0 && p[k] >= -n && p[k] <= n,
                 std::string(op) +
                     ": pivots must satisfy 1 <= |pivot| <= n = " + std::to_string(n) +
                     " (LAPACK's 1-based encoding from ldl_factor), got " + where(k));
    for (int k = 0; k < n; k += p[k] < 0 ? 2 : 1)
      PYDLK_NEED(p[k] > 0 || k + 1 < n, std::string(op) +
                                            ": pivots are not an ldl_factor result: " + where(k) +
                                            " begins a 2x2 block at the last row");
    for (int k = n - 1; k >= 0; k -= p[k] < 0 ? 2 : 1)
      PYDLK_NEED(p[k] > 0 || k >= 1, std::string(op) + ": pivots are not an ldl_factor result: " +
                                         where(k) + " ends a 2x2 block at the first row");
  }
}

}  // namespace

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

  m.def("ldl_factor",
        [](py::array a, bool hermitian) {
    const char* op = "ldl_factor";
    const LdlType dt = need_ldl_type(a, op, "input");
    const int n = need_square(a, op, "input");
    const Shape shape = shape_of(a);
    const Shape lead(shape.begin(), shape.end() - 2);
    Shape piv_shape = lead;
    piv_shape.push_back(n);
    checked_numel(piv_shape, sizeof(int32_t), op, "pivots");
    const index_t batch = checked_numel(lead, sizeof(int32_t), op, "info");
    py::array_t<int32_t> piv(piv_shape), info(lead);
    py::array ld = dispatch_ldl(dt, [&](auto t) {
      using T = decltype(t);
      py::array out = empty<T>(shape, op, "LD");
      const T* ap = cptr<T>(a);
      T* lp = ptr<T>(out);
      int32_t* pp = piv.mutable_data();
      int32_t* ip = info.mutable_data();
      {
        KernelScope k_;
        ldl_factor<T>(lp, pp, ip, ap, batch, n, hermitian);
      }
      return out;
    });
    return py::make_tuple(ld, piv, info);
  }, py::arg("input"), py::arg("hermitian") = false,
        "(LD, pivots, info) of every (n, n) matrix of a C-contiguous float32/float64/complex64/"
        "complex128 input (*, n, n), of which only the lower triangle is read: A = P L D L^T P^T "
        "(L^H for hermitian=True and complex input) by OpenBLAS's LAPACK ?sytrf (?hetrf), "
        "uplo='L', as torch.linalg.ldl_factor_ex. LD (*, n, n) holds L's strict lower triangle "
        "and the block diagonal D, zeros above; pivots (*, n) int32, LAPACK's 1-based encoding "
        "(negative for both rows of a 2x2 block); info (*) int32, 0 or the 1-based index of the "
        "first exactly zero diagonal block of D (the factorization still completes).");

  m.def("ldl_solve",
        [](py::array ld, py::array piv, py::array b, bool hermitian) {
    const char* op = "ldl_solve";
    const LdlType dt = need_ldl_type(ld, op, "LD");
    const int n = need_square(ld, op, "LD");
    const LdlType bt = need_ldl_type(b, op, "B");
    if (bt != dt)
      throw py::type_error(std::string(op) + ": B must have LD's dtype (" +
                           py::str(ld.dtype()).cast<std::string>() + "), got " +
                           py::str(b.dtype()).cast<std::string>());
    const bool pc = (piv.flags() & py::array::c_style) != 0;
    if (!(py::isinstance<py::array_t<int32_t>>(piv) && pc))
      throw py::type_error(std::string(op) + ": pivots must be a C-contiguous int32 array, got " +
                           py::str(piv.dtype()).cast<std::string>() +
                           (pc ? "" : " (not C-contiguous)"));
    const Shape shape = shape_of(ld);
    const Shape lead(shape.begin(), shape.end() - 2);
    Shape piv_shape = lead;
    piv_shape.push_back(n);
    need_shape(piv, piv_shape, op, "pivots");
    if (!(b.ndim() == ld.ndim() && b.shape(b.ndim() - 2) == n &&
          Shape(b.shape(), b.shape() + b.ndim() - 2) == lead)) {
      std::string want = "(";
      for (auto d : lead) want += std::to_string(d) + ", ";
      throw std::invalid_argument(std::string(op) + ": B must have shape " + want +
                                  std::to_string(n) + ", k) for LD of shape " + str_shape(ld) +
                                  ", got " + str_shape(b));
    }
    need_int_dims(b, op, "B");
    const int nrhs = (int)b.shape(b.ndim() - 1);
    const index_t batch = checked_numel(lead, 1, op, "LD");
    need_ldl_pivots(static_cast<const int32_t*>(piv.data()), batch, n, op);
    return dispatch_ldl(dt, [&](auto t) {
      using T = decltype(t);
      py::array x = empty<T>(shape_of(b), op, "X");
      const T* lp = cptr<T>(ld);
      const T* bp = cptr<T>(b);
      const int32_t* pp = static_cast<const int32_t*>(piv.data());
      T* xp = ptr<T>(x);
      {
        KernelScope k_;
        ldl_solve<T>(xp, lp, pp, bp, batch, n, nrhs, hermitian);
      }
      return x;
    });
  }, py::arg("LD"), py::arg("pivots"), py::arg("B"), py::arg("hermitian") = false,
        "X (*, n, k) with A X = B, from ldl_factor's LD (*, n, n) and pivots (*, n) (int32, "
        "LAPACK's encoding; anything else is refused) by OpenBLAS's LAPACK ?sytrs (?hetrs for "
        "hermitian=True and complex LD), uplo='L', as torch.linalg.ldl_solve; LD and B "
        "C-contiguous, of one dtype (float32, float64, complex64, complex128), with the same "
        "batch shape (broadcasting is the caller's).");
}

}  // namespace pydlk
