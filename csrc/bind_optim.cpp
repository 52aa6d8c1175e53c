// Bindings for csrc/optim.cpp. Every array is a C-contiguous float32/float64 buffer of the same
// dtype and element count as `param` (an optimiser arena's flat buffers, though any shape is
// accepted); state arrays are written in place. Optional states are None.
#include <cmath>
#include <string>

#include "bind_util.h"
#include "optim.h"

namespace pydlk {

namespace {

// The same dtype and element count as param, and writable when the kernel writes it.
void need_like(const py::array& a, const py::array& param, DType dt, bool writes, const char* op,
               const char* name) {
  need_dtype(a, dt, op, name);
  PYDLK_NEED(a.size() == param.size(), std::string(op) + ": " + name + " has " +
                                           std::to_string(a.size()) + " elements, param has " +
                                           std::to_string(param.size()));
  if (writes) PYDLK_NEED(a.writeable(), std::string(op) + ": " + name + " must be writable");
}

// An optional state array: nullptr for None.
ArrayArg opt_state(const py::object& o, const py::array& param, DType dt, const char* op,
                   const char* name) {
  ArrayArg a = out_arg(o, op, name);
  if (a.given()) need_like(a.arr(), param, dt, true, op, name);
  return a;
}

void need_finite(double v, const char* op, const char* name, bool nonneg = true) {
  PYDLK_NEED(std::isfinite(v) && (!nonneg || v >= 0), std::string(op) + ": " + name + " must be " +
                                                          (nonneg ? "finite and >= 0" : "finite") +
                                                          ", got " + std::to_string(v));
}

DType need_param(const py::array& p, const char* op) {
  DType dt = need_float(p, op, "param");
  PYDLK_NEED(p.writeable(), std::string(op) + ": param must be writable");
  return dt;
}

// The hyperparameters every Adam-family step shares.
void need_betas_eps(const char* op, double lr, double beta1, double beta2, double eps,
                    double weight_decay, double l1) {
  need_finite(lr, op, "lr"), need_finite(eps, op, "eps");
  need_finite(weight_decay, op, "weight_decay"), need_finite(l1, op, "l1");
  PYDLK_NEED(beta1 >= 0 && beta1 < 1,
             std::string(op) + ": beta1 must be in [0, 1), got " + std::to_string(beta1));
  PYDLK_NEED(beta2 >= 0 && beta2 < 1,
             std::string(op) + ": beta2 must be in [0, 1), got " + std::to_string(beta2));
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def(
      "sgd_step",
      [](py::array param, py::object momentum_buffer, py::array grad, double lr, double momentum,
         double dampening, double weight_decay, double l1, bool nesterov, bool maximize,
         bool first) {
    const char* op = "sgd_step";
    DType dt = need_param(param, op);
    need_like(grad, param, dt, false, op, "grad");
    need_finite(lr, op, "lr"), need_finite(momentum, op, "momentum");
    need_finite(dampening, op, "dampening", false), need_finite(weight_decay, op, "weight_decay");
    need_finite(l1, op, "l1");
    PYDLK_NEED(momentum == 0 || !momentum_buffer.is_none(),
               "sgd_step: momentum_buffer is required when momentum != 0");
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      ArrayArg buf_a = opt_state(momentum_buffer, param, dt, op, "momentum_buffer");
      T* buf = buf_a.data<T>();
      T* p = ptr<T>(param);
      const T* g = cptr<T>(grad);
      {
        KernelScope k;
        sgd_step<T>(p, buf, g, param.size(), lr, momentum, dampening, weight_decay, l1, nesterov,
                    maximize, first);
      }
      return 0;
    });
  },
      py::arg("param"), py::arg("momentum_buffer"), py::arg("grad"), py::arg("lr"),
      py::arg("momentum") = 0.0, py::arg("dampening") = 0.0, py::arg("weight_decay") = 0.0,
      py::arg("l1") = 0.0, py::arg("nesterov") = false, py::arg("maximize") = false,
      py::arg("first") = false,
      "In-place SGD step (torch.optim.SGD's formula); first=True starts the momentum buffer at g.");

  m.def(
      "adam_step",
      [](py::array param, py::array exp_avg, py::array exp_avg_sq, py::object max_exp_avg_sq,
         py::array grad, double lr, double beta1, double beta2, double eps, double weight_decay,
         double l1, py::object step_arg, bool decoupled, bool maximize) {
    const char* op = "adam_step";
    const int64_t step = int_arg(step_arg, op, "step", 1, INT64_MAX);
    DType dt = need_param(param, op);
    need_like(exp_avg, param, dt, true, op, "exp_avg");
    need_like(exp_avg_sq, param, dt, true, op, "exp_avg_sq");
    need_like(grad, param, dt, false, op, "grad");
    need_finite(lr, op, "lr"), need_finite(eps, op, "eps"),
        need_finite(weight_decay, op, "weight_decay");
    need_finite(l1, op, "l1");
    PYDLK_NEED(beta1 >= 0 && beta1 < 1,
               "adam_step: beta1 must be in [0, 1), got " + std::to_string(beta1));
    PYDLK_NEED(beta2 >= 0 && beta2 < 1,
               "adam_step: beta2 must be in [0, 1), got " + std::to_string(beta2));
    double bc1 = 1 - std::pow(beta1, (double)step), bc2 = 1 - std::pow(beta2, (double)step);
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      ArrayArg vmax_a = opt_state(max_exp_avg_sq, param, dt, op, "max_exp_avg_sq");
      T* vmax = vmax_a.data<T>();
      T *p = ptr<T>(param), *mm = ptr<T>(exp_avg), *v = ptr<T>(exp_avg_sq);
      const T* g = cptr<T>(grad);
      {
        KernelScope k;
        adam_step<T>(p, mm, v, vmax, g, param.size(), lr, beta1, beta2, eps, weight_decay, l1, bc1,
                     bc2, decoupled, maximize);
      }
      return 0;
    });
  },
      py::arg("param"), py::arg("exp_avg"), py::arg("exp_avg_sq"), py::arg("max_exp_avg_sq"),
      py::arg("grad"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
      py::arg("weight_decay") = 0.0, py::arg("l1") = 0.0, py::arg("step") = 1,
      py::arg("decoupled") = false, py::arg("maximize") = false,
      "In-place Adam (decoupled=True: AdamW) step number `step` (>= 1); max_exp_avg_sq (amsgrad) or None.");

  // Adamax, NAdam, RAdam: torch.optim's arguments per call; the step-dependent coefficients
  // are computed here in double, once per call.
  m.def("adamax_step",
        [](py::array param, py::array exp_avg, py::array exp_inf, py::array grad, double lr,
           double beta1, double beta2, double eps, double weight_decay, double l1,
           py::object step_arg, bool maximize) {
    const char* op = "adamax_step";
    const int64_t step = int_arg(step_arg, op, "step", 1, INT64_MAX);
    DType dt = need_param(param, op);
    need_like(exp_avg, param, dt, true, op, "exp_avg");
    need_like(exp_inf, param, dt, true, op, "exp_inf");
    need_like(grad, param, dt, false, op, "grad");
    need_betas_eps(op, lr, beta1, beta2, eps, weight_decay, l1);
    const double clr = lr / (1 - std::pow(beta1, (double)step));
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      T *p = ptr<T>(param), *mm = ptr<T>(exp_avg), *u = ptr<T>(exp_inf);
      const T* g = cptr<T>(grad);
      {
        KernelScope k;
        adamax_step<T>(p, mm, u, g, param.size(), clr, beta1, beta2, eps, weight_decay, l1,
                       maximize);
      }
      return 0;
    });
  },
        py::arg("param"), py::arg("exp_avg"), py::arg("exp_inf"), py::arg("grad"), py::arg("lr"),
        py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay") = 0.0,
        py::arg("l1") = 0.0, py::arg("step") = 1, py::arg("maximize") = false,
        "In-place Adamax step number `step` (>= 1), torch.optim.Adamax's formula.");

  m.def("nadam_step",
        [](py::array param, py::array exp_avg, py::array exp_avg_sq, py::array grad, double lr,
           double beta1, double beta2, double eps, double weight_decay, double l1, double mu,
           double mu_next, double mu_product, py::object step_arg, bool decoupled, bool maximize) {
    const char* op = "nadam_step";
    const int64_t step = int_arg(step_arg, op, "step", 1, INT64_MAX);
    DType dt = need_param(param, op);
    need_like(exp_avg, param, dt, true, op, "exp_avg");
    need_like(exp_avg_sq, param, dt, true, op, "exp_avg_sq");
    need_like(grad, param, dt, false, op, "grad");
    need_betas_eps(op, lr, beta1, beta2, eps, weight_decay, l1);
    need_finite(mu, op, "mu"), need_finite(mu_next, op, "mu_next");
    need_finite(mu_product, op, "mu_product");
    // mu_product includes this step's mu: 1 - mu_product is 0 only for beta1 = 1, refused above
    // unless mu_product was given wrong.
    PYDLK_NEED(mu_product < 1 && mu_product * mu_next < 1,
               "nadam_step: mu_product must be < 1 (the product of the momentum coefficients "
               "up to this step), got " +
                   std::to_string(mu_product));
    const double bc2 = 1 - std::pow(beta2, (double)step);
    const double shrink = decoupled ? 1 - lr * weight_decay : 1.0;
    const double cg = lr * (1 - mu) / (1 - mu_product);
    const double cm = lr * mu_next / (1 - mu_product * mu_next);
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      T *p = ptr<T>(param), *mm = ptr<T>(exp_avg), *v = ptr<T>(exp_avg_sq);
      const T* g = cptr<T>(grad);
      {
        KernelScope k;
        nadam_step<T>(p, mm, v, g, param.size(), shrink, cg, cm, beta1, beta2, bc2, eps,
                      decoupled ? 0.0 : weight_decay, l1, maximize);
      }
      return 0;
    });
  },
        py::arg("param"), py::arg("exp_avg"), py::arg("exp_avg_sq"), py::arg("grad"), py::arg("lr"),
        py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay") = 0.0,
        py::arg("l1") = 0.0, py::arg("mu") = 0.0, py::arg("mu_next") = 0.0,
        py::arg("mu_product") = 0.0, py::arg("step") = 1, py::arg("decoupled") = false,
        py::arg("maximize") = false,
        "In-place NAdam step number `step` (>= 1), torch.optim.NAdam's formula; mu, mu_next: this "
        "and the next step's momentum coefficients; mu_product: the product of mu up to and "
        "including this step's.");

  m.def("radam_step",
        [](py::array param, py::array exp_avg, py::array exp_avg_sq, py::array grad, double lr,
           double beta1, double beta2, double eps, double weight_decay, double l1,
           py::object step_arg, bool decoupled, bool maximize) {
    const char* op = "radam_step";
    const int64_t step = int_arg(step_arg, op, "step", 1, INT64_MAX);
    DType dt = need_param(param, op);
    need_like(exp_avg, param, dt, true, op, "exp_avg");
    need_like(exp_avg_sq, param, dt, true, op, "exp_avg_sq");
    need_like(grad, param, dt, false, op, "grad");
    need_betas_eps(op, lr, beta1, beta2, eps, weight_decay, l1);
    const double t = (double)step, bc1 = 1 - std::pow(beta1, t), bc2 = 1 - std::pow(beta2, t);
    // The length of the approximated simple moving average (Liu et al., eq. 6): the variance
    // of the adaptive rate is tractable, and the rectified step taken, when rho_t > 5.
    const double rho_inf = 2 / (1 - beta2) - 1;
    const double rho_t = rho_inf - 2 * t * std::pow(beta2, t) / bc2;
    const bool adaptive = rho_t > 5.0;
    double step_size = lr / bc1;
    if (adaptive)
      step_size *=
          std::sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) *
          std::sqrt(bc2);
    const double shrink = decoupled ? 1 - lr * weight_decay : 1.0;
    dispatch(dt, [&](auto tag) {
      using T = decltype(tag);
      T *p = ptr<T>(param), *mm = ptr<T>(exp_avg), *v = ptr<T>(exp_avg_sq);
      const T* g = cptr<T>(grad);
      {
        KernelScope k;
        radam_step<T>(p, mm, v, g, param.size(), shrink, step_size, adaptive, beta1, beta2, eps,
                      decoupled ? 0.0 : weight_decay, l1, maximize);
      }
      return 0;
    });
  },
        py::arg("param"), py::arg("exp_avg"), py::arg("exp_avg_sq"), py::arg("grad"), py::arg("lr"),
        py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay") = 0.0,
        py::arg("l1") = 0.0, py::arg("step") = 1, py::arg("decoupled") = false,
        py::arg("maximize") = false,
        "In-place RAdam step number `step` (>= 1), torch.optim.RAdam's formula (rectified once "
        "rho_t > 5, a momentum step before).");

  m.def("rmsprop_step",
        [](py::array param, py::array square_avg, py::object grad_avg, py::object momentum_buffer,
           py::array grad, double lr, double alpha, double eps, double weight_decay, double l1,
           double momentum, bool maximize) {
    const char* op = "rmsprop_step";
    DType dt = need_param(param, op);
    need_like(square_avg, param, dt, true, op, "square_avg");
    need_like(grad, param, dt, false, op, "grad");
    need_finite(lr, op, "lr"), need_finite(eps, op, "eps"),
        need_finite(weight_decay, op, "weight_decay");
    need_finite(l1, op, "l1"), need_finite(momentum, op, "momentum");
    PYDLK_NEED(alpha >= 0 && alpha <= 1,
               "rmsprop_step: alpha must be in [0, 1], got " + std::to_string(alpha));
    PYDLK_NEED(momentum == 0 || !momentum_buffer.is_none(),
               "rmsprop_step: momentum_buffer is required when momentum > 0");
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      ArrayArg ga_a = opt_state(grad_avg, param, dt, op, "grad_avg");
      T* ga = ga_a.data<T>();
      ArrayArg buf_a = opt_state(momentum_buffer, param, dt, op, "momentum_buffer");
      T* buf = buf_a.data<T>();
      T *p = ptr<T>(param), *sq = ptr<T>(square_avg);
      const T* g = cptr<T>(grad);
      {
        KernelScope k;
        rmsprop_step<T>(p, sq, ga, buf, g, param.size(), lr, alpha, eps, weight_decay, l1, momentum,
                        maximize);
      }
      return 0;
    });
  },
        py::arg("param"), py::arg("square_avg"), py::arg("grad_avg"), py::arg("momentum_buffer"),
        py::arg("grad"), py::arg("lr"), py::arg("alpha"), py::arg("eps"),
        py::arg("weight_decay") = 0.0, py::arg("l1") = 0.0, py::arg("momentum") = 0.0,
        py::arg("maximize") = false,
        "In-place RMSprop step; grad_avg (centered) and momentum_buffer (momentum > 0) or None.");

  m.def("adagrad_step",
        [](py::array param, py::array state_sum, py::array grad, double lr, double lr_decay,
           double eps, double weight_decay, double l1, py::object step_arg, bool maximize) {
    const char* op = "adagrad_step";
    const int64_t step = int_arg(step_arg, op, "step", 1, INT64_MAX);
    DType dt = need_param(param, op);
    need_like(state_sum, param, dt, true, op, "state_sum");
    need_like(grad, param, dt, false, op, "grad");
    need_finite(lr, op, "lr"), need_finite(lr_decay, op, "lr_decay"), need_finite(eps, op, "eps");
    need_finite(weight_decay, op, "weight_decay"), need_finite(l1, op, "l1");
    double clr = lr / (1 + (double)(step - 1) * lr_decay);
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      T *p = ptr<T>(param), *s = ptr<T>(state_sum);
      const T* g = cptr<T>(grad);
      {
        KernelScope k;
        adagrad_step<T>(p, s, g, param.size(), clr, eps, weight_decay, l1, maximize);
      }
      return 0;
    });
  },
        py::arg("param"), py::arg("state_sum"), py::arg("grad"), py::arg("lr"),
        py::arg("lr_decay") = 0.0, py::arg("eps") = 1e-10, py::arg("weight_decay") = 0.0,
        py::arg("l1") = 0.0, py::arg("step") = 1, py::arg("maximize") = false,
        "In-place Adagrad step number `step` (>= 1).");

  m.def("average_update",
        [](py::array average, py::array input, double weight) {
    const char* op = "average_update";
    DType dt = need_float(average, op, "average");
    PYDLK_NEED(average.writeable(), "average_update: average must be writable");
    need_dtype(input, dt, op, "input");
    PYDLK_NEED(input.size() == average.size(),
               "average_update: input has " + std::to_string(input.size()) +
                   " elements, average has " + std::to_string(average.size()));
    need_finite(weight, op, "weight");
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      T* a = ptr<T>(average);
      const T* x = cptr<T>(input);
      {
        KernelScope k;
        average_update<T>(a, x, average.size(), weight);
      }
      return 0;
    });
  }, py::arg("average"), py::arg("input"), py::arg("weight"),
        "average += weight * (input - average), in place.");

  m.def(
      "norm_reduce",
      [](py::array x, double norm_type) {
    DType dt = need_float(x, "norm_reduce", "x");
    PYDLK_NEED(!std::isnan(norm_type), "norm_reduce: norm_type must not be NaN");
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      const T* xp = cptr<T>(x);
      double r;
      {
        KernelScope k;
        r = norm_reduce<T>(xp, x.size(), norm_type);
      }
      return r;
    });
  }, py::arg("x"), py::arg("norm_type") = 2.0,
      "sum |x|^p (p = 2: sum of squares; inf/-inf: max/min |x|; 0: count of non-zeros), in double.");

  m.def("scale_", [](py::array x, double c) {
    DType dt = need_float(x, "scale_", "x");
    PYDLK_NEED(x.writeable(), "scale_: x must be writable");
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      T* xp = ptr<T>(x);
      {
        KernelScope k;
        scale_inplace<T>(xp, x.size(), c);
      }
      return 0;
    });
  }, py::arg("x"), py::arg("c"), "x *= c in place.");

  m.def("add_", [](py::array x, py::array other) {
    const char* op = "add_";
    DType dt = need_float(x, op, "x");
    PYDLK_NEED(x.writeable(), "add_: x must be writable");
    need_dtype(other, dt, op, "other");
    PYDLK_NEED(other.size() == x.size(), "add_: other has " + std::to_string(other.size()) +
                                             " elements, x has " + std::to_string(x.size()));
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      T* xp = ptr<T>(x);
      const T* yp = cptr<T>(other);
      // threads split the elements: a partial overlap would read values already updated
      const bool apart = xp + x.size() <= yp || yp + x.size() <= xp;
      PYDLK_NEED(apart || xp == yp,
                 "add_: x and other overlap in memory (other than being the same)");
      {
        KernelScope k;
        add_inplace<T>(xp, yp, x.size());
      }
      return 0;
    });
  }, py::arg("x"), py::arg("other"), "x += other in place (other: as many elements, same dtype).");
}

}  // namespace pydlk
