// Bindings for csrc/activation.cpp.
//
// The elementwise ops come from one table: each row names the op, the tensor its backward reads
// and its hyperparameters with defaults. Adding an op is a functor in activation.cpp, an Act
// value and one row here. For each row this defines
//   <name>_forward(input, <params...>, out=None) -> output
//   <name>_backward(grad_output, <saved>, <params...>, out=None) -> grad_input
// out (optional, preallocated, may be the input itself for an in-place call) must be a writable
// C-contiguous array of the input's dtype and shape.
#include <algorithm>
#include <cmath>
#include <utility>

#include "activation.h"
#include "bind_util.h"
#include "softmax_rows.h"

namespace pydlk {
namespace {

struct Param {
  const char* name;
  double def;
  bool nonzero;  // also refuse 0 (every parameter must be finite)
};

struct EltwiseOp {
  const char* name;
  Act op;
  const char* saved;  // what the backward reads: "output", "input", or "saved" (see the doc)
  std::vector<Param> fwd, bwd;
};

const std::vector<EltwiseOp>& eltwise_ops() {
  static const std::vector<EltwiseOp> ops = {
      {"relu", Act::relu, "output", {}, {}},
      // saved: the output when negative_slope >= 0, else the input (same formula)
      {"leaky_relu",
       Act::leaky_relu,
       "saved",
       {{"negative_slope", 0.01, false}},
       {{"negative_slope", 0.01, false}}},
      {"hardtanh",
       Act::hardtanh,
       "output",
       {{"min_val", -1.0, false}, {"max_val", 1.0, false}},
       {{"min_val", -1.0, false}, {"max_val", 1.0, false}}},
      // saved: the output with is_result=True (needs alpha >= 0), else the input
      {"elu",
       Act::elu,
       "saved",
       {{"alpha", 1.0, false}, {"scale", 1.0, false}, {"input_scale", 1.0, false}},
       {{"alpha", 1.0, false},
        {"scale", 1.0, false},
        {"input_scale", 1.0, false},
        {"is_result", 1.0, false}}},
      {"sigmoid", Act::sigmoid, "output", {}, {}},
      {"tanh", Act::tanh, "output", {}, {}},
      {"silu", Act::silu, "input", {}, {}},
      {"mish", Act::mish, "input", {}, {}},
      {"gelu", Act::gelu, "input", {}, {}},
      {"gelu_tanh", Act::gelu_tanh, "input", {}, {}},
      {"softplus",
       Act::softplus,
       "input",
       {{"beta", 1.0, true}, {"threshold", 20.0, false}},
       {{"beta", 1.0, true}, {"threshold", 20.0, false}}},
  };
  return ops;
}

ActParams check_params(const char* op, const std::vector<Param>& ps, const double* v) {
  ActParams a;
  for (size_t i = 0; i < ps.size(); ++i) {
    PYDLK_NEED(std::isfinite(v[i]), std::string(op) + ": " + ps[i].name + " must be finite, got " +
                                        py::str(py::float_(v[i])).cast<std::string>());
    PYDLK_NEED(!ps[i].nonzero || v[i] != 0, std::string(op) + ": " + ps[i].name + " must not be 0");
    a.p[i] = v[i];
  }
  return a;
}

// `out` if given (checked), else a new array like `like`, placed next to `near` (empty()).
py::array out_or_new(const py::object& out, const py::array& like, DType dt, const std::string& op,
                     Near near) {
  return dispatch(dt, [&](auto t) {
    return out_or_empty<decltype(t)>(out, dt, shape_of(like), op.c_str(), "out", near);
  });
}

void need_same_shape(const py::array& a, const py::array& b, const std::string& op, const char* an,
                     const char* bn) {
  PYDLK_NEED(
      a.ndim() == b.ndim() && std::equal(a.shape(), a.shape() + a.ndim(), b.shape()),
      op + ": " + an + " has shape " + str_shape(a) + " but " + bn + " has shape " + str_shape(b));
}

template <size_t>
using dbl = double;

template <size_t... I>
void def_forward(py::module_& m, const EltwiseOp* s, std::index_sequence<I...>) {
  std::string doc = std::string(s->name) + " forward: a new array (or out) of input's shape.";
  m.def((std::string(s->name) + "_forward").c_str(),
        [s](py::array x, dbl<I>... p, py::object out) {
    double v[] = {p..., 0.0};
    ActParams a = check_params(s->name, s->fwd, v);
    DType dt = need_float(x, s->name, "input");
    py::array y = out_or_new(out, x, dt, s->name, {x.data()});
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      T* yp = ptr<T>(y);
      const T* xp = cptr<T>(x);
      index_t n = x.size();
      {
        KernelScope k;
        act_forward<T>(s->op, yp, xp, n, a);
      }
      return 0;
    });
    return y;
  }, py::arg("input"), (py::arg(s->fwd[I].name) = s->fwd[I].def)..., py::kw_only(),
        py::arg("out") = py::none(), doc.c_str());
}

template <size_t... I>
void def_backward(py::module_& m, const EltwiseOp* s, std::index_sequence<I...>) {
  std::string op = std::string(s->name) + "_backward";
  std::string doc = op + ": grad_input from grad_output and the saved tensor (" + s->saved + ").";
  m.def(op.c_str(),
        [s, op](py::array dy, py::array saved, dbl<I>... p, py::object out) {
    double v[] = {p..., 0.0};
    ActParams a = check_params(op.c_str(), s->bwd, v);
    DType dt = need_float(dy, op.c_str(), "grad_output");
    need_dtype(saved, dt, op.c_str(), s->saved);
    need_same_shape(dy, saved, op, "grad_output", s->saved);
    py::array dx = out_or_new(out, dy, dt, op, {dy.data(), saved.data()});
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      T* dxp = ptr<T>(dx);
      const T *dyp = cptr<T>(dy), *sp = cptr<T>(saved);
      index_t n = dy.size();
      {
        KernelScope k;
        act_backward<T>(s->op, dxp, dyp, sp, n, a);
      }
      return 0;
    });
    return dx;
  }, py::arg("grad_output"), py::arg(s->saved), (py::arg(s->bwd[I].name) = s->bwd[I].def)...,
        py::kw_only(), py::arg("out") = py::none(), doc.c_str());
}

void def_eltwise(py::module_& m, const EltwiseOp* s) {
  switch (s->fwd.size()) {
    case 0: def_forward(m, s, std::make_index_sequence<0>{}); break;
    case 1: def_forward(m, s, std::make_index_sequence<1>{}); break;
    case 2: def_forward(m, s, std::make_index_sequence<2>{}); break;
    case 3: def_forward(m, s, std::make_index_sequence<3>{}); break;
    default: throw std::logic_error("activation: too many parameters");
  }
  switch (s->bwd.size()) {
    case 0: def_backward(m, s, std::make_index_sequence<0>{}); break;
    case 1: def_backward(m, s, std::make_index_sequence<1>{}); break;
    case 2: def_backward(m, s, std::make_index_sequence<2>{}); break;
    case 3: def_backward(m, s, std::make_index_sequence<3>{}); break;
    case 4: def_backward(m, s, std::make_index_sequence<4>{}); break;
    default: throw std::logic_error("activation: too many parameters");
  }
}

// (outer, D, inner) around dim; dim may be negative. A 0-d array counts as shape (1,).
struct Split {
  index_t outer = 1, D = 1, inner = 1;
  int dim = 0;
};

Split split_at(const py::array& x, const py::object& dim_arg, const std::string& op) {
  const int64_t dim = int_arg(dim_arg, op.c_str(), "dim", -kIntLimit, kIntLimit);
  int nd = (int)x.ndim();
  int lim = nd == 0 ? 1 : nd;
  PYDLK_NEED(dim >= -lim && dim < lim, op + ": dim " + std::to_string(dim) +
                                           " is out of range for a " + std::to_string(nd) +
                                           "-D input (expected -" + std::to_string(lim) +
                                           " <= dim < " + std::to_string(lim) + ")");
  Split s;
  s.dim = int(dim < 0 ? dim + lim : dim);
  if (nd == 0) return s;
  for (int i = 0; i < s.dim; ++i) s.outer *= x.shape(i);
  s.D = x.shape(s.dim);
  for (int i = s.dim + 1; i < nd; ++i) s.inner *= x.shape(i);
  return s;
}

}  // namespace

void bind_activation(py::module_& m) {
  for (const EltwiseOp& s : eltwise_ops()) def_eltwise(m, &s);

  m.def("get_avx512_exp", &avx512_exp_allowed,
        "Whether the kernels bound by the exponential (the softmax family's row sums, silu, "
        "sigmoid, tanh, gelu) may run their AVX-512 loops (pydlk.backends.cpu.allow_avx512_exp).");
  m.def("set_avx512_exp", &set_avx512_exp_allowed, py::arg("allowed"),
        "Let the kernels bound by the exponential run their AVX-512 loops (True, the default) or "
        "the portable ones.");
  m.def("softmax_forward",
        [](py::array x, py::object dim, bool log, py::object out) {
    const char* op = log ? "log_softmax" : "softmax";
    DType dt = need_float(x, op, "input");
    Split sp = split_at(x, dim, op);
    py::array y = out_or_new(out, x, dt, op, {x.data()});
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      T* yp = ptr<T>(y);
      const T* xp = cptr<T>(x);
      {
        KernelScope k;
        softmax_forward<T>(yp, xp, sp.outer, sp.D, sp.inner, log);
      }
      return 0;
    });
    return y;
  }, py::arg("input"), py::arg("dim"), py::arg("log") = false, py::kw_only(),
        py::arg("out") = py::none(),
        "softmax (log_softmax if log) of input along dim; out may be given (or be the input).");

  m.def("softmax_backward",
        [](py::array dy, py::array y, py::object dim, bool log, py::object out) {
    std::string op = log ? "log_softmax_backward" : "softmax_backward";
    DType dt = need_float(dy, op.c_str(), "grad_output");
    need_dtype(y, dt, op.c_str(), "output");
    need_same_shape(dy, y, op, "grad_output", "output");
    Split sp = split_at(y, dim, op);
    py::array dx = out_or_new(out, dy, dt, op, {dy.data(), y.data()});
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      T* dxp = ptr<T>(dx);
      const T *dyp = cptr<T>(dy), *yp = cptr<T>(y);
      {
        KernelScope k;
        softmax_backward<T>(dxp, dyp, yp, sp.outer, sp.D, sp.inner, log);
      }
      return 0;
    });
    return dx;
  }, py::arg("grad_output"), py::arg("output"), py::arg("dim"), py::arg("log") = false,
        py::kw_only(), py::arg("out") = py::none(),
        "grad_input of softmax (log_softmax if log) from grad_output and the saved output.");

  m.def("maxout_forward",
        [](py::array x, py::object pool_size_arg, py::object dim) {
    const char* op = "maxout";
    DType dt = need_float(x, op, "input");
    PYDLK_NEED(x.ndim() >= 1, "maxout: input must have at least 1 dimension, got a scalar");
    const index_t pool_size = int_arg(pool_size_arg, op, "pool_size", 1, kIntLimit);
    Split sp = split_at(x, dim, op);
    PYDLK_NEED(sp.D % pool_size == 0, "maxout: pool_size " + std::to_string(pool_size) +
                                          " does not divide input's size " + std::to_string(sp.D) +
                                          " along dim " + std::to_string(sp.dim));
    std::vector<py::ssize_t> shape(x.shape(), x.shape() + x.ndim());
    index_t C = sp.D / pool_size;
    shape[sp.dim] = C;
    py::object out;
    py::array idx = empty<int64_t>(shape, op, "indices");
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array y = empty<T>(shape, op, "output");
      out = y;
      T* yp = ptr<T>(y);
      int64_t* ip = ptr<int64_t>(idx);
      const T* xp = cptr<T>(x);
      {
        KernelScope k;
        maxout_forward<T>(yp, ip, xp, sp.outer, C, pool_size, sp.inner);
      }
      return 0;
    });
    return py::make_tuple(out, idx);
  }, py::arg("input"), py::arg("pool_size"), py::arg("dim") = 1,
        "(output, indices): max over groups of pool_size consecutive entries along dim; "
        "indices (int64) is the position within each group.");

  m.def("maxout_backward",
        [](py::array dy, py::array idx, py::object pool_size_arg, py::object dim) {
    const char* op = "maxout_backward";
    DType dt = need_float(dy, op, "grad_output");
    need_int64(idx, op, "indices");
    need_same_shape(dy, idx, op, "grad_output", "indices");
    PYDLK_NEED(dy.ndim() >= 1, "maxout_backward: grad_output must have at least 1 dimension");
    const index_t pool_size = int_arg(pool_size_arg, op, "pool_size", 1, kIntLimit);
    Split sp = split_at(dy, dim, op);
    // An index outside [0, pool_size) would route nowhere: refuse it rather than drop gradient.
    const int64_t* ip = cptr<int64_t>(idx);
    for (py::ssize_t i = 0; i < idx.size(); ++i)
      PYDLK_NEED(
          ip[i] >= 0 && ip[i] < pool_size,
          "maxout_backward: indices must lie in [0, pool_size), got " + std::to_string(ip[i]));
    // grad_input's size is grad_output's times pool_size: checked (overflow, memory) by empty().
    Shape shape = shape_of(dy);
    PYDLK_NEED(shape[sp.dim] <= INT64_MAX / pool_size,
               std::string(op) + ": pool_size " + std::to_string(pool_size) +
                   " times grad_output's size " + std::to_string(shape[sp.dim]) +
                   " along dim overflows");
    shape[sp.dim] *= pool_size;
    py::object out;
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array dx = empty<T>(shape, op, "grad_input");
      out = dx;
      T* dxp = ptr<T>(dx);
      const T* dyp = cptr<T>(dy);
      {
        KernelScope k;
        maxout_backward<T>(dxp, dyp, ip, sp.outer, sp.D, pool_size, sp.inner);
      }
      return 0;
    });
    return out;
  }, py::arg("grad_output"), py::arg("indices"), py::arg("pool_size"), py::arg("dim") = 1,
        "grad_input of maxout: grad_output routed to the arg-max of each group, 0 elsewhere.");
}

}  // namespace pydlk
