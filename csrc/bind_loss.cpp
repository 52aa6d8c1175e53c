// Bindings for csrc/loss.cpp. Inputs (N, C, d1, ...) are viewed as (outer, C, inner); class
// targets are checked here, before any kernel reads with them (a bad value raises ValueError
// naming it instead of reading out of bounds).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bind_util.h"
#include "loss.h"

namespace pydlk {

namespace {

struct ClassView {
  index_t outer, C, inner;
  std::vector<py::ssize_t> per_sample;  // the shape of the per-sample loss (input without dim 1)
};

ClassView class_view(const py::array& x, const char* op) {
  PYDLK_NEED(
      x.ndim() >= 2,
      std::string(op) + ": input must be (N, C) or (N, C, d1, ...), got shape " + str_shape(x));
  PYDLK_NEED(x.shape(1) >= 1,
             std::string(op) + ": input has no classes (shape " + str_shape(x) + ")");
  ClassView v{x.shape(0), x.shape(1), 1, {x.shape(0)}};
  for (py::ssize_t d = 2; d < x.ndim(); ++d) {
    v.inner *= x.shape(d);
    v.per_sample.push_back(x.shape(d));
  }
  return v;
}

// int64 class targets of the per-sample shape, each in [0, C) or equal to ignore_index.
void check_class_target(const py::array& t, const ClassView& v, const char* op, bool has_ignore,
                        int64_t ignore_index) {
  need_int64(t, op, "target");
  PYDLK_NEED(shape_of(t) == v.per_sample,
             std::string(op) + ": target must have shape " + str_dims(v.per_sample) +
                 " for input of " + std::to_string(v.C) + " classes, got " + str_shape(t));
  const int64_t* tp = cptr<int64_t>(t);
  const index_t M = v.outer * v.inner;
  for (index_t m = 0; m < M; ++m) {
    int64_t y = tp[m];
    if ((y < 0 || y >= v.C) && !(has_ignore && y == ignore_index))
      throw std::invalid_argument(
          std::string(op) + ": target has value " + std::to_string(y) + " at flat index " +
          std::to_string(m) + ", expected a class in [0, " + std::to_string(v.C) + ")" +
          (has_ignore ? " or ignore_index (" + std::to_string(ignore_index) + ")" : ""));
  }
}

// The optional class weight: None or an array-like of C values, held for the call.
ArrayArg class_weight(const py::object& w, const ClassView& v, DType dt, const char* op) {
  ArrayArg a = opt_array(w, op, "weight");
  if (a.given()) {
    need_dtype(a.arr(), dt, op, "weight");
    need_shape(a.arr(), {(py::ssize_t)v.C}, op, "weight");
  }
  return a;
}

// The per-sample upstream gradient: an array of the per-sample shape, or None (then the scalar).
ArrayArg sample_grad(const py::object& g, const ClassView& v, DType dt, const char* op) {
  ArrayArg a = opt_array(g, op, "grad_output");
  if (a.given()) {
    need_dtype(a.arr(), dt, op, "grad_output");
    need_shape(a.arr(), v.per_sample, op, "grad_output");
  }
  return a;
}

// cross_entropy's target: int64 classes (checked as above) or probabilities of the input's
// shape and dtype. Returns whether it is probabilities.
bool check_ce_target(const py::array& t, const py::array& x, const ClassView& v, DType dt,
                     const char* op, int64_t ignore_index) {
  if (py::isinstance<py::array_t<int64_t>>(t)) {
    check_class_target(t, v, op, true, ignore_index);
    return false;
  }
  need_dtype(t, dt, op, "target");
  PYDLK_NEED(shape_of(t) == shape_of(x), std::string(op) +
                                             ": probability target must have the input's shape " +
                                             str_shape(x) + ", got " + str_shape(t));
  return true;
}

int64_t ignore_arg(const py::object& o, const char* op) {
  return int_arg(o, op, "ignore_index", INT64_MIN, INT64_MAX);
}

void check_smoothing(double eps, const char* op) {
  PYDLK_NEED(eps >= 0.0 && eps <= 1.0,
             std::string(op) + ": label_smoothing must be in [0, 1], got " + std::to_string(eps));
}

}  // namespace

// The period of binary_cross_entropy_with_logits' weight and pos_weight along the flat input:
// input's size (full shape, or neither given) or its last dimension's; both given: one size.
static index_t bce_period(const py::array& x, const ArrayArg& w, const ArrayArg& pw, DType dt,
                          const char* op) {
  const index_t n = x.size(), last = x.ndim() ? x.shape(x.ndim() - 1) : 1;
  index_t period = 0;
  for (const ArrayArg* a : {&w, &pw}) {
    if (!a->given()) continue;
    const char* name = a == &w ? "weight" : "pos_weight";
    py::array arr = a->arr();
    need_dtype(arr, dt, op, name);
    const index_t s = arr.size();
    PYDLK_NEED((s == n || s == last) && (period == 0 || s == period),
               std::string(op) + ": " + name + " must hold input's " + std::to_string(n) +
                   " values or its last dimension's " + std::to_string(last) +
                   " (and weight and pos_weight one size), got shape " + str_shape(arr));
    period = s;
  }
  return std::max<index_t>(period ? period : n, 1);
}

void bind_loss(py::module_& m) {
  // ---------------------------------------------------------------- cross-entropy
  m.def("cross_entropy_forward",
        [](py::array x, py::array target, py::object weight, py::object ignore_arg_, double eps,
           const std::string& grad_of) {
    const char* op = "cross_entropy";
    DType dt = need_float(x, op, "input");
    ClassView v = class_view(x, op);
    check_smoothing(eps, op);
    PYDLK_NEED(
        grad_of == "none" || grad_of == "sum" || grad_of == "mean",
        std::string(op) + ": grad_of must be 'none', 'sum' or 'mean', got '" + grad_of + "'");
    const int gkind = grad_of == "sum" ? 1 : grad_of == "mean" ? 2 : 0;
    const int64_t ignore_index = ignore_arg(ignore_arg_, op);
    const bool prob = check_ce_target(target, x, v, dt, op, ignore_index);
    ArrayArg w = class_weight(weight, v, dt, op);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      const T* wp = w.cdata<T>();
      py::array loss = empty<T>(v.per_sample, op, "loss");
      py::array lse = empty<T>(v.per_sample, op, "lse");
      double total[2];
      T *lp = ptr<T>(loss), *sp = ptr<T>(lse);
      const int64_t* tp = prob ? nullptr : cptr<int64_t>(target);
      const T* pp = prob ? cptr<T>(target) : nullptr;
      const T* xp = cptr<T>(x);
      py::object dx = py::none();
      T* dxp = nullptr;
      if (gkind) {
        py::array arr = empty<T>(shape_of(x), op, "grad_input", {x.data()});
        dxp = ptr<T>(arr);
        dx = arr;
      }
      {
        KernelScope k;
        cross_entropy_forward<T>(lp, sp, total, dxp, gkind, xp, tp, pp, wp, v.outer, v.C, v.inner,
                                 ignore_index, eps);
      }
      if (gkind) return py::tuple(py::make_tuple(loss, lse, total[0], total[1], dx));
      return py::tuple(py::make_tuple(loss, lse, total[0], total[1]));
    });
  },
        py::arg("input"), py::arg("target"), py::arg("weight") = py::none(),
        py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0,
        py::arg("grad_of") = "none",
        "Returns (loss per sample, log-sum-exp per sample, sum of losses, divisor of 'mean'). "
        "target: int64 classes (input without dim 1) or probabilities (input's shape). "
        "grad_of 'sum' or 'mean': a fifth element, the gradient of that reduction of the loss "
        "with respect to input for an upstream gradient of 1 (one exp per logit for both).");

  m.def("cross_entropy_backward",
        [](py::object grad, double grad_scalar, py::array x, py::array lse, py::array target,
           py::object weight, py::object ignore_arg_, double eps) {
    const char* op = "cross_entropy_backward";
    DType dt = need_float(x, op, "input");
    ClassView v = class_view(x, op);
    check_smoothing(eps, op);
    const int64_t ignore_index = ignore_arg(ignore_arg_, op);
    const bool prob = check_ce_target(target, x, v, dt, op, ignore_index);
    need_dtype(lse, dt, op, "lse");
    need_shape(lse, v.per_sample, op, "lse");
    ArrayArg w = class_weight(weight, v, dt, op);
    ArrayArg g = sample_grad(grad, v, dt, op);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      const T* wp = w.cdata<T>();
      const T* gp = g.cdata<T>();
      py::array dx = empty<T>(shape_of(x), op, "grad_input", {x.data()});
      T* dxp = ptr<T>(dx);
      const int64_t* tp = prob ? nullptr : cptr<int64_t>(target);
      const T* pp = prob ? cptr<T>(target) : nullptr;
      const T *xp = cptr<T>(x), *sp = cptr<T>(lse);
      {
        KernelScope k;
        cross_entropy_backward<T>(dxp, gp, grad_scalar, xp, sp, tp, pp, wp, v.outer, v.C, v.inner,
                                  ignore_index, eps);
      }
      return dx;
    });
  },
        py::arg("grad_output"), py::arg("grad_scalar"), py::arg("input"), py::arg("lse"),
        py::arg("target"), py::arg("weight") = py::none(), py::arg("ignore_index") = -100,
        py::arg("label_smoothing") = 0.0,
        "grad_input = (softmax - smoothed one-hot) * scale; grad_output per sample, or None and "
        "grad_scalar for every sample.");

  // ---------------------------------------------------------------- NLL
  m.def("nll_loss_forward",
        [](py::array x, py::array target, py::object weight, py::object ignore_arg_) {
    const char* op = "nll_loss";
    DType dt = need_float(x, op, "input");
    ClassView v = class_view(x, op);
    const int64_t ignore_index = ignore_arg(ignore_arg_, op);
    check_class_target(target, v, op, true, ignore_index);
    ArrayArg w = class_weight(weight, v, dt, op);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      const T* wp = w.cdata<T>();
      py::array loss = empty<T>(v.per_sample, op, "loss");
      double total[2];
      T* lp = ptr<T>(loss);
      const T* xp = cptr<T>(x);
      const int64_t* tp = cptr<int64_t>(target);
      {
        KernelScope k;
        nll_forward<T>(lp, total, xp, tp, wp, v.outer, v.C, v.inner, ignore_index);
      }
      return py::make_tuple(loss, total[0], total[1]);
    });
  }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(),
        py::arg("ignore_index") = -100,
        "Returns (loss per sample, sum of losses, divisor of 'mean' = sum of target weights).");

  m.def("nll_loss_backward",
        [](py::object grad, double grad_scalar, py::array x, py::array target, py::object weight,
           py::object ignore_arg_) {
    const char* op = "nll_loss_backward";
    DType dt = need_float(x, op, "input");
    ClassView v = class_view(x, op);
    const int64_t ignore_index = ignore_arg(ignore_arg_, op);
    check_class_target(target, v, op, true, ignore_index);
    ArrayArg w = class_weight(weight, v, dt, op);
    ArrayArg g = sample_grad(grad, v, dt, op);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      const T* wp = w.cdata<T>();
      const T* gp = g.cdata<T>();
      py::array dx = empty<T>(shape_of(x), op, "grad_input", {x.data()});
      T* dxp = ptr<T>(dx);
      const int64_t* tp = cptr<int64_t>(target);
      {
        KernelScope k;
        nll_backward<T>(dxp, gp, grad_scalar, tp, wp, v.outer, v.C, v.inner, ignore_index);
      }
      return dx;
    });
  },
        py::arg("grad_output"), py::arg("grad_scalar"), py::arg("input"), py::arg("target"),
        py::arg("weight") = py::none(), py::arg("ignore_index") = -100);

  // ---------------------------------------------------------------- multi-class hinge
  auto check_mm = [](const py::array& x, const py::object& p_arg, double margin, const char* op) {
    need_ndim(x, 2, op, "input");
    PYDLK_NEED(x.shape(1) >= 1,
               std::string(op) + ": input has no classes (shape " + str_shape(x) + ")");
    const int p = (int)int_arg(p_arg, op, "p", 1, 3);
    PYDLK_NEED(std::isfinite(margin), std::string(op) + ": margin must be finite");
    return p;
  };
  m.def("multi_margin_loss_forward",
        [check_mm](py::array x, py::array target, py::object p_arg, double margin,
                   py::object weight) {
    const char* op = "multi_margin_loss";
    DType dt = need_float(x, op, "input");
    const int p = check_mm(x, p_arg, margin, op);
    ClassView v = class_view(x, op);
    check_class_target(target, v, op, false, 0);
    ArrayArg w = class_weight(weight, v, dt, op);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      const T* wp = w.cdata<T>();
      py::array loss = empty<T>(v.per_sample, op, "loss");
      double total[2];
      T* lp = ptr<T>(loss);
      const T* xp = cptr<T>(x);
      const int64_t* tp = cptr<int64_t>(target);
      {
        KernelScope k;
        multi_margin_forward<T>(lp, total, xp, tp, wp, v.outer, v.C, p, margin);
      }
      return py::make_tuple(loss, total[0], total[1]);
    });
  },
        py::arg("input"), py::arg("target"), py::arg("p") = 1, py::arg("margin") = 1.0,
        py::arg("weight") = py::none(), "Returns (loss per sample, sum of losses, N).");

  m.def("multi_margin_loss_backward",
        [check_mm](py::object grad, double grad_scalar, py::array x, py::array target,
                   py::object p_arg, double margin, py::object weight) {
    const char* op = "multi_margin_loss_backward";
    DType dt = need_float(x, op, "input");
    const int p = check_mm(x, p_arg, margin, op);
    ClassView v = class_view(x, op);
    check_class_target(target, v, op, false, 0);
    ArrayArg w = class_weight(weight, v, dt, op);
    ArrayArg g = sample_grad(grad, v, dt, op);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      const T* wp = w.cdata<T>();
      const T* gp = g.cdata<T>();
      py::array dx = empty<T>({x.shape(0), x.shape(1)}, op, "grad_input", {x.data()});
      T* dxp = ptr<T>(dx);
      const T* xp = cptr<T>(x);
      const int64_t* tp = cptr<int64_t>(target);
      {
        KernelScope k;
        multi_margin_backward<T>(dxp, gp, grad_scalar, xp, tp, wp, v.outer, v.C, p, margin);
      }
      return dx;
    });
  },
        py::arg("grad_output"), py::arg("grad_scalar"), py::arg("input"), py::arg("target"),
        py::arg("p") = 1, py::arg("margin") = 1.0, py::arg("weight") = py::none());

  // binary_cross_entropy_with_logits: weight / pos_weight of input's size or of its last dim's
  m.def("bce_with_logits_forward",
        [](py::array x, py::array target, py::object weight, py::object pos_weight,
           bool per_element) {
    const char* op = "bce_with_logits_forward";
    DType dt = need_float(x, op, "input");
    need_dtype(target, dt, op, "target");
    need_shape(target, shape_of(x), op, "target");
    ArrayArg w = opt_array(weight, op, "weight"), pw = opt_array(pos_weight, op, "pos_weight");
    const index_t n = x.size(), period = bce_period(x, w, pw, dt, op);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::object loss = py::none();
      T* lp = nullptr;
      if (per_element) {
        py::array arr = empty<T>(shape_of(x), op, "loss", {x.data()});
        lp = ptr<T>(arr);
        loss = arr;
      }
      double total = 0;
      const T *xp = cptr<T>(x), *tp = cptr<T>(target);
      const T *wp = w.cdata<T>(), *pwp = pw.cdata<T>();
      {
        KernelScope k;
        bce_logits_forward<T>(lp, &total, xp, tp, wp, pwp, n, period);
      }
      return py::make_tuple(loss, total);
    });
  },
        py::arg("input"), py::arg("target"), py::arg("weight") = py::none(),
        py::arg("pos_weight") = py::none(), py::arg("per_element") = true,
        "(loss per element or None, sum of the losses) of binary cross-entropy on logits; weight "
        "and pos_weight None, of input's size, or of its last dimension's (C-contiguous, input's "
        "dtype; both given: one size).");
  m.def("bce_with_logits_backward",
        [](py::array grad, py::array x, py::array target, py::object weight, py::object pos_weight,
           double scale) {
    const char* op = "bce_with_logits_backward";
    DType dt = need_float(x, op, "input");
    need_dtype(target, dt, op, "target");
    need_shape(target, shape_of(x), op, "target");
    need_dtype(grad, dt, op, "grad");
    const bool per_element = grad.size() == x.size() && grad.ndim() == x.ndim();
    PYDLK_NEED(per_element || grad.size() == 1,
               std::string(op) + ": grad must have input's shape " + str_shape(x) +
                   " or hold one value, got shape " + str_shape(grad));
    if (per_element) need_shape(grad, shape_of(x), op, "grad");
    ArrayArg w = opt_array(weight, op, "weight"), pw = opt_array(pos_weight, op, "pos_weight");
    const index_t n = x.size(), period = bce_period(x, w, pw, dt, op);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array dx = empty<T>(shape_of(x), op, "grad_input", {x.data()});
      T* dxp = ptr<T>(dx);
      const T *xp = cptr<T>(x), *tp = cptr<T>(target), *gp = cptr<T>(grad);
      const T *wp = w.cdata<T>(), *pwp = pw.cdata<T>();
      const double g0 = per_element ? scale : double(gp[0]) * scale;
      {
        KernelScope k;
        bce_logits_backward<T>(dxp, per_element ? gp : nullptr, g0, xp, tp, wp, pwp, n, period);
      }
      return dx;
    });
  },
        py::arg("grad"), py::arg("input"), py::arg("target"), py::arg("weight") = py::none(),
        py::arg("pos_weight") = py::none(), py::arg("scale") = 1.0,
        "The input's gradient of binary cross-entropy on logits for grad of input's shape "
        "(reduction 'none') or one value (the reduced loss's gradient), times scale (1 / n for "
        "'mean').");
}

}  // namespace pydlk
