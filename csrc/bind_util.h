// Argument checks and helpers shared by the bind_*.cpp files. Every array a kernel touches goes
// through need_float (dtype and layout); shapes are checked by the caller with need(...), whose
// message names the op and the argument. std::invalid_argument arrives in Python as ValueError.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "common.h"

namespace pydlk {
namespace py = pybind11;

inline std::string str_shape(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

inline void need(bool ok, const std::string& msg) {
  if (!ok) throw std::invalid_argument(msg);
}

enum class DType { f32, f64 };

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
    throw py::type_error(std::string(op) + ": " + name + " must have the same dtype as the input (" +
                         (dt == DType::f32 ? "float32" : "float64") + ")");
}

inline void need_ndim(const py::array& a, int ndim, const char* op, const char* name) {
  need(a.ndim() == ndim, std::string(op) + ": " + name + " must be " + std::to_string(ndim) +
                             "-D, got shape " + str_shape(a));
}

inline void need_shape(const py::array& a, std::initializer_list<py::ssize_t> shape, const char* op,
                       const char* name) {
  std::vector<py::ssize_t> want(shape);
  bool ok = a.ndim() == (py::ssize_t)want.size();
  for (size_t i = 0; ok && i < want.size(); ++i) ok = a.shape(i) == want[i];
  if (!ok) {
    std::string w = "(";
    for (size_t i = 0; i < want.size(); ++i) w += (i ? ", " : "") + std::to_string(want[i]);
    throw std::invalid_argument(std::string(op) + ": " + name + " must have shape " + w +
                                (want.size() == 1 ? ",)" : ")") + ", got " + str_shape(a));
  }
}

// A writable int64 C-contiguous array (indices, labels).
inline void need_int64(const py::array& a, const char* op, const char* name) {
  bool c = (a.flags() & py::array::c_style) != 0;
  if (!(py::isinstance<py::array_t<int64_t>>(a) && c))
    throw py::type_error(std::string(op) + ": " + name +
                         " must be a C-contiguous int64 array, got " +
                         py::str(a.dtype()).cast<std::string>());
}

template <typename T>
inline T* ptr(py::array& a) { return static_cast<T*>(a.mutable_data()); }
template <typename T>
inline const T* cptr(const py::array& a) { return static_cast<const T*>(a.data()); }

// A new uninitialised array of the kernel's dtype.
template <typename T>
inline py::array empty(std::vector<py::ssize_t> shape) { return py::array_t<T>(shape); }

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

}  // namespace pydlk
