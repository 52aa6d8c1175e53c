// Argument handling shared by the bind_*.cpp files: the one way each kind of argument is taken.
//
// - Required input arrays are `py::array` parameters: pybind11 accepts only ndarray instances
//   there (nothing is converted) and the argument holds its reference for the whole call.
// - Optional arrays (bias, weight, c0, grad_output=None, ...) are `py::object` parameters read
//   with opt_array(), which converts array-likes (lists, objects with __array__) into an array
//   the returned ArrayArg owns: its pointers stay valid as long as the ArrayArg lives. Never take
//   a pointer into `obj.cast<py::array>()`: for a list that array is a temporary.
// - Preallocated outputs (out=, grad_input=, running stats) go through out_arg(): an ndarray
//   (never converted: a copy would drop the result), writable.
// - Integers are `py::object` parameters read with int_arg()/uint_arg()/int_pair(): any Python
//   int (or __index__), range-checked before anything is allocated, an error naming the argument.
// - Every array allocated here goes through empty<T>(shape, op, name), which refuses sizes whose
//   element count overflows or whose bytes exceed the machine's memory, before allocating.
// std::invalid_argument arrives in Python as ValueError, py::type_error as TypeError; every
// message starts with the op's name.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "common.h"

namespace pydlk {
namespace py = pybind11;

using Shape = std::vector<py::ssize_t>;
using Pair = std::array<index_t, 2>;

// Sizes the kernels index with int (BLAS sizes, per-plane offsets): each dimension and
// count that reaches them stays below 2**31.
constexpr int64_t kIntLimit = int64_t(1) << 31;

inline std::string str_dims(const py::ssize_t* d, size_t n) {
  std::string s = "(";
  for (size_t i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + (n == 1 ? ",)" : ")");
}
inline std::string str_dims(const Shape& s) { return str_dims(s.data(), s.size()); }
inline std::string str_shape(const py::array& a) { return str_dims(a.shape(), (size_t)a.ndim()); }
inline std::string str_pair(const Pair& p) {
  return "(" + std::to_string(p[0]) + ", " + std::to_string(p[1]) + ")";
}
inline Shape shape_of(const py::array& a) { return Shape(a.shape(), a.shape() + a.ndim()); }

// PYDLK_NEED(ok, msg): a ValueError (std::invalid_argument) with msg where ok is false. A macro
// so that msg, built from the op's name and the argument's shape or value, is only built when
// the check fails: as a function's argument every check of every call built its string first
// (concatenation and number formatting: about a microsecond of BatchNorm1d's 7.5 us forward
// call on 64 x 120).
#define PYDLK_NEED(ok, ...)                              \
  do {                                                   \
    if (!(ok)) throw std::invalid_argument(__VA_ARGS__); \
  } while (0)

// ---------------------------------------------------------------------------------- integers

// 2**k for the powers of two used as limits, else the decimal value.
inline std::string str_bound(int64_t v) {
  for (int k : {31, 32, 62}) {
    if (v == (int64_t(1) << k)) return "2**" + std::to_string(k);
    if (v == -(int64_t(1) << k)) return "-2**" + std::to_string(k);
  }
  if (v == INT64_MIN) return "-2**63";
  return std::to_string(v);
}

inline std::string short_repr(const py::handle& h) {
  std::string r = py::repr(h).cast<std::string>();
  return r.size() > 80 ? r.substr(0, 77) + "..." : r;
}

// The Python int behind h (an int, or an object with __index__, never a bool).
inline py::int_ index_of(const py::handle& h, const char* op, const char* name) {
  if (!py::isinstance<py::bool_>(h) && PyIndex_Check(h.ptr())) {
    PyObject* r = PyNumber_Index(h.ptr());
    if (r) return py::reinterpret_steal<py::int_>(r);
    PyErr_Clear();
  }
  throw py::type_error(std::string(op) + ": " + name + " must be an int, got " + short_repr(h));
}

// An int in [lo, hi) (hi = INT64_MAX means no upper bound below 2**63).
inline int64_t int_arg(const py::handle& h, const char* op, const char* name, int64_t lo,
                       int64_t hi) {
  py::int_ v = index_of(h, op, name);
  int overflow = 0;
  long long x = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
  bool ok = overflow == 0 && x >= lo && (hi == INT64_MAX || x < hi);
  if (!ok)
    throw std::invalid_argument(std::string(op) + ": " + name + " must be in [" + str_bound(lo) +
                                ", " + (hi == INT64_MAX ? std::string("2**63") : str_bound(hi)) +
                                "), got " + short_repr(v));
  return x;
}

// An int in [0, 2**64) (seeds, offsets).
inline uint64_t uint_arg(const py::handle& h, const char* op, const char* name) {
  py::int_ v = index_of(h, op, name);
  unsigned long long x = PyLong_AsUnsignedLongLong(v.ptr());
  if (PyErr_Occurred()) {
    PyErr_Clear();
    throw std::invalid_argument(std::string(op) + ": " + name + " must be in [0, 2**64), got " +
                                short_repr(v));
  }
  return x;
}

// An int or a sequence of two ints, each in [lo, hi); a value out of range is reported with
// the whole argument as given.
inline Pair int_pair(const py::handle& h, const char* op, const char* name, int64_t lo,
                     int64_t hi = kIntLimit) {
  const std::string what = std::string(op) + ": " + name;
  std::vector<py::object> items;
  // A sequence without a length (a 0-d ndarray) is read as a single int.
  const Py_ssize_t n = py::isinstance<py::sequence>(h) && !py::isinstance<py::str>(h) &&
                               !py::isinstance<py::bytes>(h)
                           ? PySequence_Size(h.ptr())
                           : -1;
  if (n < 0) PyErr_Clear();
  if (n >= 0) {
    if (n != 2)
      throw std::invalid_argument(what + " must be an int or a pair of ints, got " +
                                  std::to_string(n) + " values");
    py::sequence s = py::reinterpret_borrow<py::sequence>(h);
    items = {s[0], s[1]};
  } else {
    items = {py::reinterpret_borrow<py::object>(h)};
  }
  Pair r{0, 0};
  for (size_t i = 0; i < items.size(); ++i) {
    try {
      r[i] = int_arg(items[i], op, name, lo, hi);
    } catch (const py::type_error&) {
      throw py::type_error(what + " must be an int or a pair of ints, got " + short_repr(h));
    } catch (const std::invalid_argument&) {
      throw std::invalid_argument(what + " must be in [" + str_bound(lo) + ", " + str_bound(hi) +
                                  "), got " + short_repr(h));
    }
  }
  if (items.size() == 1) r[1] = r[0];
  return r;
}

// ---------------------------------------------------------------------------------- arrays

enum class DType { f32, f64 };

inline const char* dtype_name(DType dt) { return dt == DType::f32 ? "float32" : "float64"; }

// C-contiguous float32 or float64 (the kernels' two instantiations). A TypeError names the
// argument; conversion, where wanted, happens visibly in Python (pydlk/functional).
inline DType need_float(const py::array& a, const char* op, const char* name) {
  bool c = (a.flags() & py::array::c_style) != 0;
  if (py::isinstance<py::array_t<float>>(a) && c) return DType::f32;
  if (py::isinstance<py::array_t<double>>(a) && c) return DType::f64;
  std::string got = py::str(a.dtype()).cast<std::string>();
  if (!c) got += " (not C-contiguous)";
  throw py::type_error(std::string(op) + ": " + name +
                       " must be a C-contiguous float32 or float64 array, got " + got);
}

// Same dtype as the first float argument.
inline void need_dtype(const py::array& a, DType dt, const char* op, const char* name) {
  DType got = need_float(a, op, name);
  if (got != dt)
    throw py::type_error(std::string(op) + ": " + name +
                         " must have the same dtype as the input (" + dtype_name(dt) + "), got " +
                         dtype_name(got));
}

inline void need_writable(const py::array& a, const char* op, const char* name) {
  PYDLK_NEED(a.writeable(),
             std::string(op) + ": " + name + " must be writable (it is written in place)");
}

inline void need_ndim(const py::array& a, int ndim, const char* op, const char* name) {
  PYDLK_NEED(a.ndim() == ndim, std::string(op) + ": " + name + " must be " + std::to_string(ndim) +
                                   "-D, got shape " + str_shape(a));
}

inline void need_shape(const py::array& a, const Shape& want, const char* op, const char* name) {
  PYDLK_NEED(shape_of(a) == want, std::string(op) + ": " + name + " must have shape " +
                                      str_dims(want) + ", got " + str_shape(a));
}
inline void need_shape(const py::array& a, std::initializer_list<py::ssize_t> want, const char* op,
                       const char* name) {
  need_shape(a, Shape(want), op, name);
}

// Each dimension below 2**31 (the kernels' int indexing within a plane / BLAS sizes).
inline void need_int_dims(const py::array& a, const char* op, const char* name) {
  for (py::ssize_t i = 0; i < a.ndim(); ++i)
    PYDLK_NEED(a.shape(i) < kIntLimit, std::string(op) + ": " + name +
                                           " has a dimension of 2**31 or more, got shape " +
                                           str_shape(a));
}

// A C-contiguous int64 array (indices, labels).
inline void need_int64(const py::array& a, const char* op, const char* name) {
  bool c = (a.flags() & py::array::c_style) != 0;
  if (!(py::isinstance<py::array_t<int64_t>>(a) && c))
    throw py::type_error(std::string(op) + ": " + name +
                         " must be a C-contiguous int64 array, got " +
                         py::str(a.dtype()).cast<std::string>() + (c ? "" : " (not C-contiguous)"));
}

// An optional array argument: None, or the array it names (converted from an array-like when
// needed). Holds the array for as long as it lives, so its pointers stay valid.
struct ArrayArg {
  py::object obj;  // None or a py::array
  bool given() const { return !obj.is_none(); }
  py::array arr() const { return py::reinterpret_borrow<py::array>(obj); }
  template <typename T>
  const T* cdata() const {
    return given() ? static_cast<const T*>(arr().data()) : nullptr;
  }
  template <typename T>
  T* data() const {
    return given() ? static_cast<T*>(arr().mutable_data()) : nullptr;
  }
};

inline ArrayArg opt_array(const py::handle& h, const char* op, const char* name) {
  if (h.is_none()) return {py::none()};
  if (py::isinstance<py::array>(h)) return {py::reinterpret_borrow<py::object>(h)};
  if (py::isinstance<py::str>(h) || py::isinstance<py::bytes>(h) || py::isinstance<py::bool_>(h) ||
      PyFloat_Check(h.ptr()) || PyLong_Check(h.ptr()))
    throw py::type_error(std::string(op) + ": " + name + " must be an array or None, got " +
                         short_repr(h));
  py::array a = py::array::ensure(h);  // an owned conversion (null when h is no array-like)
  if (!a)
    throw py::type_error(std::string(op) + ": " + name + " must be an array or None, got " +
                         short_repr(h));
  return {a};
}

// A preallocated output: None, or a writable ndarray (never a converted copy).
inline ArrayArg out_arg(const py::handle& h, const char* op, const char* name) {
  if (h.is_none()) return {py::none()};
  if (!py::isinstance<py::array>(h))
    throw py::type_error(std::string(op) + ": " + name + " must be a NumPy array or None, got " +
                         short_repr(h));
  py::array a = py::reinterpret_borrow<py::array>(h);
  need_writable(a, op, name);
  return {a};
}

template <typename T>
inline T* ptr(py::array& a) {
  return static_cast<T*>(a.mutable_data());
}
template <typename T>
inline const T* cptr(const py::array& a) {
  return static_cast<const T*>(a.data());
}

// ------------------------------------------------------------------------------- allocation

// Bytes this process may allocate at most: physical memory, or the address-space limit
// (ulimit -v) when lower.
inline double memory_limit() {
  static const double lim = [] {
    double mem = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE));
    if (!(mem > 0)) mem = 9e18;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && double(rl.rlim_cur) < mem)
      mem = double(rl.rlim_cur);
    return mem;
  }();
  return lim;
}

// The element count of shape, refused (ValueError naming op and name) when a dimension is
// negative, the count overflows int64, or its bytes exceed this machine's memory: a request
// that can only fail is refused before anything is allocated.
inline index_t checked_numel(const Shape& shape, size_t itemsize, const char* op,
                             const char* name) {
  index_t n = 1;
  bool ok = true;
  for (py::ssize_t d : shape) {
    if (d < 0 || (d != 0 && n > INT64_MAX / d)) ok = false;
    if (ok) n *= d;
  }
  if (ok && n > 0) ok = double(n) * double(itemsize) <= memory_limit();
  PYDLK_NEED(ok, std::string(op) + ": " + name + " of shape " + str_dims(shape) +
                     " is too large to allocate (its size exceeds int64 or the memory available to "
                     "this process)");
  return n;
}

// The addresses of the arrays a kernel reads beside the output it writes (see empty()).
using Near = std::initializer_list<const void*>;

// Where a new output of at least kPlaceBytes starts, modulo 4 KiB, next to its inputs.
//
// Why: 4K aliasing (store_aliases_ahead in common.h), and that is where the allocator puts an
// output allocated just after a same-sized input (two consecutive 16 MiB blocks of the heap
// start 16-48 bytes apart modulo 4 KiB). Measured here, layer norm forward on (4096, 1024): 1.2
// ms with out at or before x modulo 4 KiB, 3.0 ms at 32-96 bytes past it, 1.9 at 128-160, 1.3-1.5
// up to 1 KiB past; NumPy's own add was 1.7x slower there too. So a new output starts 64-byte
// aligned (whole-line stores) and before every input, modulo 4 KiB, by 128 bytes or more, when
// some such place aliases none of them; else where it falls. (A preallocated output, out=, is
// where the caller put it: the kernels that stream beside their inputs then write through a
// buffer, stream_store.h.)
constexpr size_t kPlaceBytes = size_t(256) << 10;

inline uintptr_t page_offset(const void* p) { return reinterpret_cast<uintptr_t>(p) & 4095u; }

inline uintptr_t placed_offset(Near near) {
  const uintptr_t first = page_offset(*near.begin()) & ~uintptr_t(63);
  for (uintptr_t back = 128; back < 4096; back += 128) {
    const uintptr_t o = (first - back) & 4095u;
    bool ok = true;
    for (const void* p : near) ok = ok && !store_aliases_ahead(reinterpret_cast<void*>(o), p);
    if (ok) return o;
  }
  return (first - 128) & 4095u;
}

// A placed output's block ends with 16 bytes past the output's reach: kPlaceMagic, then where
// the output starts in the block (uint64, little-endian, as the machine writes them).
// pydlk/ops/strided.py reads them, so that a view of the output (a slice, a transpose) knows
// its storage offset as torch's does (storage_offset, as_strided).
constexpr uint64_t kPlaceMagic = 0x434c507b6c647970ull;  // "pydl{PLC" in memory order
constexpr size_t kPlaceTail = 16;

// A new uninitialised array of the kernel's dtype (size checked first). With `near` (the
// inputs the kernel reads beside it; null entries ignored), an output of at least kPlaceBytes is
// placed as placed_offset() says: a view into a block 4 KiB + kPlaceTail longer, which it alone
// holds.
template <typename T>
inline py::array empty(const Shape& shape, const char* op, const char* name, Near near = {}) {
  const size_t bytes = size_t(checked_numel(shape, sizeof(T), op, name)) * sizeof(T);
  if (near.size() == 0 || *near.begin() == nullptr || bytes < kPlaceBytes)
    return py::array_t<T>(shape);
  py::array_t<uint8_t> block(py::ssize_t(bytes + 4096 + kPlaceTail));
  const uintptr_t base = reinterpret_cast<uintptr_t>(block.mutable_data());
  const uintptr_t start = base + ((placed_offset(near) - base) & 4095u);
  const uint64_t tail[2] = {kPlaceMagic, uint64_t(start - base)};
  std::memcpy(reinterpret_cast<void*>(base + bytes + 4096), tail, sizeof tail);
  return py::array(py::dtype::of<T>(), shape, {}, reinterpret_cast<void*>(start), block);
}

// out (checked: dtype, shape, writable) or a new array (placed next to `near`, see empty()).
template <typename T>
inline py::array out_or_empty(const py::handle& out, DType dt, const Shape& shape, const char* op,
                              const char* name, Near near = {}) {
  ArrayArg o = out_arg(out, op, name);
  if (!o.given()) return empty<T>(shape, op, name, near);
  py::array a = o.arr();
  need_dtype(a, dt, op, name);
  need_shape(a, shape, op, name);
  return a;
}

// A reused, 64-byte aligned scratch buffer per calling thread, grown on demand: large
// workspaces come back warm instead of from freshly mapped pages on each call.
inline void* workspace(size_t bytes, const char* op) {
  checked_numel({(py::ssize_t)bytes}, 1, op, "workspace");
  thread_local std::vector<char> buf;
  if (buf.size() < bytes + 64) {
    buf = std::vector<char>();  // drop the old block first: no copy, no two blocks at once
    buf.resize(bytes + 64);
  }
  uintptr_t p = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<void*>((p + 63) / 64 * 64);
}
template <typename T>
inline T* workspace_of(index_t n, const char* op) {
  return static_cast<T*>(workspace(size_t(n) * sizeof(T), op));
}

// Calls f(float{}) or f(double{}): one place where the two instantiations are chosen.
template <typename F>
inline auto dispatch(DType dt, F&& f) {
  if (dt == DType::f32) return f(float{});
  return f(double{});
}

// Releases the GIL for the kernel and applies the pydlk thread count to this thread's team.
struct KernelScope {
  py::gil_scoped_release release;
  KernelScope() { sync_threads(); }
};

inline py::dtype dtype_of(DType dt) {
  return dt == DType::f32 ? py::dtype::of<float>() : py::dtype::of<double>();
}

// Families register their functions here (bind.cpp calls each once).
void bind_linear(py::module_& m);
void bind_conv2d(py::module_& m);
void bind_pool2d(py::module_& m);
void bind_norm(py::module_& m);
void bind_activation(py::module_& m);
void bind_dropout(py::module_& m);
void bind_loss(py::module_& m);
void bind_optim(py::module_& m);
void bind_rnn(py::module_& m);
void bind_attention(py::module_& m);
void bind_bf16(py::module_& m);
void bind_special(py::module_& m);
void bind_linalg(py::module_& m);
void bind_grid_sample(py::module_& m);
void bind_matmul(py::module_& m);
void bind_embedding(py::module_& m);

}  // namespace pydlk
