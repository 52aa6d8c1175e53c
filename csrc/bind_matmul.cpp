// Bindings for csrc/matmul.cpp: matmul(a, b) of two stacks of matrices with equal batch shapes,
// and matmul_bf16(a, b), the same with bf16 products (csrc/bf16_ops.cpp, autocast).
#include <string>
#include <type_traits>
#include <vector>

#include "bf16_gemm.h"
#include "bf16_ops.h"
#include "bind_util.h"
#include "matmul.h"

namespace pydlk {

namespace {

// A float32/float64 array of any layout (the products read strided operands in place).
DType float_dtype(const py::array& a, const char* op, const char* name) {
  if (py::isinstance<py::array_t<float>>(a)) return DType::f32;
  if (py::isinstance<py::array_t<double>>(a)) return DType::f64;
  throw py::type_error(std::string(op) + ": " + name + " must be a float32 or float64 array, got " +
                       py::str(a.dtype()).cast<std::string>());
}

// How the BLAS can read the matrices of `a` (its last two dims) in place: row-major (unit
// column stride) or column-major (unit row stride) with a leading dimension at least the
// matrix's extent; false otherwise (the caller copies). Strides in elements.
bool blas_layout(const py::array& a, bool* trans, int64_t* ld) {
  const py::ssize_t item = a.itemsize(), nd = a.ndim();
  const int64_t rows = a.shape(nd - 2), cols = a.shape(nd - 1);
  const py::ssize_t sr = a.strides(nd - 2), sc = a.strides(nd - 1);
  if (sr % item || sc % item) return false;
  const int64_t r = sr / item, c = sc / item;
  if ((cols <= 1 || c == 1) && (rows <= 1 || r >= std::max<int64_t>(cols, 1))) {
    *trans = false;
    *ld = rows <= 1 ? std::max<int64_t>(cols, 1) : r;
    return true;
  }
  if ((rows <= 1 || r == 1) && (cols <= 1 || c >= std::max<int64_t>(rows, 1))) {
    *trans = true;
    *ld = cols <= 1 ? std::max<int64_t>(rows, 1) : c;
    return true;
  }
  return false;
}

// The element offset of each matrix of `a` (batch dims in C order, any strides, 0 included).
std::vector<int64_t> batch_offsets(const py::array& a, index_t batch) {
  const py::ssize_t nd = a.ndim() - 2, item = a.itemsize();
  std::vector<int64_t> off((size_t)batch, 0);
  std::vector<py::ssize_t> idx((size_t)nd, 0);
  for (index_t b = 0; b < batch; ++b) {
    int64_t o = 0;
    for (py::ssize_t d = 0; d < nd; ++d) o += (int64_t)idx[d] * (a.strides(d) / item);
    off[(size_t)b] = o;
    for (py::ssize_t d = nd - 1; d >= 0; --d) {  // next multi-index
      if (++idx[d] < a.shape(d)) break;
      idx[d] = 0;
    }
  }
  return off;
}

// a @ b for the two bindings below: float32/float64 on the BLAS (matmul_batched), or float32
// with bf16 products (bf16: matmul_bf16_batched).
py::array matmul_call(py::array a, py::array b, bool bf16) {
  const char* op = bf16 ? "matmul_bf16" : "matmul";
  DType dt = float_dtype(a, op, "a");
  if (bf16 && dt != DType::f32)
    throw py::type_error(std::string(op) + ": a must be a float32 array, got float64");
  if (float_dtype(b, op, "b") != dt)
    throw py::type_error(std::string(op) + ": b must have the dtype of a (" + dtype_name(dt) +
                         "), got " + py::str(b.dtype()).cast<std::string>());
  PYDLK_NEED(a.ndim() >= 2 && a.ndim() == b.ndim(),
             std::string(op) +
                 ": a and b must be stacks of matrices (*, m, k) and (*, k, "
                 "n) of one rank, got shapes " +
                 str_shape(a) + " and " + str_shape(b));
  const py::ssize_t nd = a.ndim();
  for (py::ssize_t d = 0; d < nd - 2; ++d)
    PYDLK_NEED(a.shape(d) == b.shape(d),
               std::string(op) + ": a and b must have the same batch shape, got shapes " +
                   str_shape(a) + " and " + str_shape(b));
  PYDLK_NEED(a.shape(nd - 1) == b.shape(nd - 2),
             std::string(op) + ": a's columns must equal b's rows, got shapes " + str_shape(a) +
                 " and " + str_shape(b));
  need_int_dims(a, op, "a");
  need_int_dims(b, op, "b");
  const int M = (int)a.shape(nd - 2), K = (int)a.shape(nd - 1), N = (int)b.shape(nd - 1);
  Shape out_shape(a.shape(), a.shape() + nd - 2);
  index_t batch = 1;
  for (auto d : out_shape) batch *= d;
  out_shape.push_back(M);
  out_shape.push_back(N);
  // operands the BLAS cannot read in place (e.g. a stepped slice) are copied first
  bool ta = false, tb = false;
  int64_t lda = 0, ldb = 0;
  if (!blas_layout(a, &ta, &lda)) {
    a = py::array::ensure(a, py::array::c_style | py::array::forcecast);
    blas_layout(a, &ta, &lda);
  }
  if (!blas_layout(b, &tb, &ldb)) {
    b = py::array::ensure(b, py::array::c_style | py::array::forcecast);
    blas_layout(b, &tb, &ldb);
  }
  PYDLK_NEED(lda < kIntLimit && ldb < kIntLimit,
             std::string(op) + ": an operand's row stride is 2**31 elements or more");
  if (bf16 && !bf16_cpu_supported())
    throw std::runtime_error(std::string(op) +
                             ": this CPU has no AVX512_BF16 instructions (bf16 products)");
  const std::vector<int64_t> offa = batch_offsets(a, batch), offb = batch_offsets(b, batch);
  return dispatch(dt, [&](auto t) {
    using T = decltype(t);
    py::array c = empty<T>(out_shape, op, "out");
    MatOperand<T> A{static_cast<const T*>(a.data()), offa.data(), ta, lda};
    MatOperand<T> B{static_cast<const T*>(b.data()), offb.data(), tb, ldb};
    T* cp = ptr<T>(c);
    {
      KernelScope k_;  // no Python object is touched until it ends
      if constexpr (std::is_same_v<T, float>) {
        if (bf16) matmul_bf16_batched(cp, A, B, batch, M, N, K);
        else matmul_batched<T>(cp, A, B, batch, M, N, K);
      } else {
        matmul_batched<T>(cp, A, B, batch, M, N, K);
      }
    }
    return c;
  });
}

}  // namespace

void bind_matmul(py::module_& m) {
  m.def("matmul", [](py::array a, py::array b) { return matmul_call(a, b, false); }, py::arg("a"),
        py::arg("b"),
        "a (*, m, k) @ b (*, k, n) -> (*, m, n), float32 or float64, one batch shape (broadcast "
        "before calling: zero strides are read in place, as are transposed views); on pydlk's "
        "BLAS and OpenMP team, not NumPy's.");
  m.def("matmul_bf16", [](py::array a, py::array b) { return matmul_call(a, b, true); },
        py::arg("a"), py::arg("b"),
        "matmul with bf16 products (autocast): float32 a and b rounded to bf16 as they are "
        "packed, products summed in float32, a float32 result.");
}

}  // namespace pydlk
