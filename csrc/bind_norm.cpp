// Bindings for csrc/norm.cpp: batch norm, layer norm, group norm, instance norm.
// Every output may be passed in preallocated (out=, grad_input=, ...): same dtype, right shape,
// C-contiguous and writable; otherwise it is allocated here.
#include <cmath>
#include <vector>

#include "bind_util.h"
#include "norm.h"

namespace pydlk {

namespace {

// A given output array (checked) or a new one.
template <typename T>
py::array out_array(const py::object& given, const Shape& shape, DType dt, const char* op,
                    const char* name, Near near = {}) {
  return out_or_empty<T>(given, dt, shape, op, name, near);
}

// An optional (C,) parameter (None or an array-like), held for the call.
ArrayArg opt_param(const py::object& o, py::ssize_t C, DType dt, const char* op, const char* name) {
  ArrayArg a = opt_array(o, op, name);
  if (a.given()) {
    need_dtype(a.arr(), dt, op, name);
    need_shape(a.arr(), {C}, op, name);
  }
  return a;
}

// An optional (C,) buffer updated in place (running stats): None or a writable ndarray.
ArrayArg opt_buffer(const py::object& o, py::ssize_t C, DType dt, const char* op,
                    const char* name) {
  ArrayArg a = out_arg(o, op, name);
  if (a.given()) {
    need_dtype(a.arr(), dt, op, name);
    need_shape(a.arr(), {C}, op, name);
  }
  return a;
}

// A saved statistic (mean/rstd) of the given shape.
template <typename T>
const T* saved(const py::array& a, const Shape& shape, DType dt, const char* op, const char* name) {
  need_dtype(a, dt, op, name);
  need_shape(a, shape, op, name);
  return cptr<T>(a);
}

void need_eps(double eps, const char* op) {
  PYDLK_NEED(std::isfinite(eps) && eps >= 0,
             std::string(op) + ": eps must be a finite number >= 0, got " + std::to_string(eps));
}

void need_momentum(double m, const char* op) {
  PYDLK_NEED(std::isfinite(m),
             std::string(op) + ": momentum must be a finite number, got " + std::to_string(m));
}

py::ssize_t spatial(const py::array& x) {
  py::ssize_t S = 1;
  for (py::ssize_t i = 2; i < x.ndim(); ++i) S *= x.shape(i);
  return S;
}

void need_nc(const py::array& x, const char* op) {
  PYDLK_NEED(x.ndim() >= 2,
             std::string(op) + ": input must be at least 2-D (N, C, *), got shape " + str_shape(x));
}

std::string torch_size(const py::array& x) {
  std::string s = "[";
  for (py::ssize_t i = 0; i < x.ndim(); ++i) s += (i ? ", " : "") + std::to_string(x.shape(i));
  return s + "]";
}

py::object maybe(bool want, py::array& a) { return want ? py::object(a) : py::object(py::none()); }

// Shared by the layer/group/instance norm forward bindings.
template <typename T>
py::tuple rownorm_forward_call(const py::array& x, const T* wp, const T* bp, index_t R, index_t G,
                               index_t K, index_t S, double eps, DType dt, const Shape& stat_shape,
                               const py::object& out, const py::object& mean,
                               const py::object& rstd, const char* op, T* var = nullptr) {
  const T* xp = cptr<T>(x);
  py::array y = out_array<T>(out, shape_of(x), dt, op, "out", {xp});
  py::array m = out_array<T>(mean, stat_shape, dt, op, "mean");
  py::array r = out_array<T>(rstd, stat_shape, dt, op, "rstd");
  T *yp = ptr<T>(y), *mp = ptr<T>(m), *rp = ptr<T>(r);
  {
    KernelScope k;
    rownorm_forward<T>(yp, mp, rp, var, xp, wp, bp, R, G, K, S, eps);
  }
  return py::make_tuple(y, m, r);
}

template <typename T>
py::tuple rownorm_backward_call(const py::array& dy, const py::array& x, const T* wp, const T* mp,
                                const T* rp, index_t R, index_t G, index_t K, index_t S,
                                bool need_x, bool need_w, bool need_b, DType dt,
                                const py::object& gx, const py::object& gw, const py::object& gb,
                                const char* op) {
  py::array dx, dw, db;
  T *dxp = nullptr, *dwp = nullptr, *dbp = nullptr;
  Shape P = {(py::ssize_t)(G * K)};
  const T *gp = cptr<T>(dy), *xp = cptr<T>(x);
  if (need_x) {
    dx = out_array<T>(gx, shape_of(x), dt, op, "grad_input", {xp, gp});
    dxp = ptr<T>(dx);
  }
  if (need_w) {
    dw = out_array<T>(gw, P, dt, op, "grad_weight");
    dwp = ptr<T>(dw);
  }
  if (need_b) {
    db = out_array<T>(gb, P, dt, op, "grad_bias");
    dbp = ptr<T>(db);
  }
  const int nt = num_threads();
  double* ws = (need_w || need_b) ? workspace_of<double>(rownorm_workspace(G, K, nt), op) : nullptr;
  {
    KernelScope k;
    rownorm_backward<T>(dxp, dwp, dbp, gp, xp, wp, mp, rp, R, G, K, S, ws, nt);
  }
  return py::make_tuple(maybe(need_x, dx), maybe(need_w, dw), maybe(need_b, db));
}

// (N, C, H/2, W/2): the 2x2 / stride-2 max pool's output shape for a 4-D input x (H, W >= 2).
Shape pooled_shape(const py::array& x, const char* op) {
  PYDLK_NEED(x.ndim() == 4 && x.shape(2) >= 2 && x.shape(3) >= 2,
             std::string(op) + ": input must be 4-D (N, C, H, W) with H and W at least 2 (the " +
                 "2x2 pool's window), got shape " + str_shape(x));
  return {x.shape(0), x.shape(1), x.shape(2) / 2, x.shape(3) / 2};
}

// The fused pool's arg-max bytes (see batchnorm_forward), checked: C-contiguous uint8, pooled shape.
const uint8_t* pool_argmax_arg(const py::array& a, const Shape& shape, const char* op) {
  const bool c = (a.flags() & py::array::c_style) != 0;
  if (!(py::isinstance<py::array_t<uint8_t>>(a) && c))
    throw py::type_error(std::string(op) + ": argmax must be a C-contiguous uint8 array, got " +
                         py::str(a.dtype()).cast<std::string>() + (c ? "" : " (not C-contiguous)"));
  need_shape(a, shape, op, "argmax");
  return cptr<uint8_t>(a);
}

// Batch norm forward, plain (op "batch_norm"), fused with an add and relu ("batch_norm_add_relu":
// y = relu(bn(x) + residual), residual None for none), or fused with relu and a 2x2 / stride-2
// max pool (pool; "batch_norm_relu_max_pool2d").
py::tuple bn_forward(py::array x, py::object weight, py::object bias, py::object running_mean,
                     py::object running_var, bool training, double momentum, double eps,
                     py::object out, py::object save_mean, py::object save_rstd,
                     py::object residual, bool relu, const char* op, bool pool = false) {
  DType dt = need_float(x, op, "input");
  need_nc(x, op);
  const Shape out_shape = pool ? pooled_shape(x, op) : shape_of(x);
  need_eps(eps, op);
  need_momentum(momentum, op);
  const py::ssize_t N = x.shape(0), C = x.shape(1), S = spatial(x);
  if (training)
    PYDLK_NEED(N * S != 1, std::string(op) +
                               ": Expected more than 1 value per channel when "
                               "training, got input size " +
                               torch_size(x));
  else
    PYDLK_NEED(!running_mean.is_none() && !running_var.is_none(),
               std::string(op) +
                   ": running_mean and running_var must be given in evaluation mode "
                   "(training=False)");
  return dispatch(dt, [&](auto t) {
    using T = decltype(t);
    ArrayArg weight_a = opt_param(weight, C, dt, op, "weight");
    const T* wp = weight_a.cdata<T>();
    ArrayArg bias_a = opt_param(bias, C, dt, op, "bias");
    const T* bp = bias_a.cdata<T>();
    ArrayArg running_mean_a = opt_buffer(running_mean, C, dt, op, "running_mean");
    T* rm = running_mean_a.data<T>();
    ArrayArg running_var_a = opt_buffer(running_var, C, dt, op, "running_var");
    T* rv = running_var_a.data<T>();
    ArrayArg residual_a = opt_array(residual, op, "residual");
    const T* resp = nullptr;
    if (residual_a.given()) {
      need_dtype(residual_a.arr(), dt, op, "residual");
      PYDLK_NEED(shape_of(residual_a.arr()) == shape_of(x),
                 std::string(op) + ": residual must have the input's shape " + str_shape(x) +
                     ", got " + str_shape(residual_a.arr()));
      resp = residual_a.cdata<T>();
    }
    const T* xp = cptr<T>(x);
    py::array y = out_array<T>(out, out_shape, dt, op, "out", {xp, resp});
    py::array sm = out_array<T>(save_mean, {C}, dt, op, "save_mean");
    py::array sr = out_array<T>(save_rstd, {C}, dt, op, "save_rstd");
    T *yp = ptr<T>(y), *smp = ptr<T>(sm), *srp = ptr<T>(sr);
    py::array arg = pool ? py::array(empty<uint8_t>(out_shape, op, "argmax")) : py::array();
    uint8_t* argp = pool ? ptr<uint8_t>(arg) : nullptr;
    const int nt = num_threads();
    double* ws = workspace_of<double>(batchnorm_workspace(C, nt), op);
    {
      KernelScope k;
      batchnorm_forward<T>(yp, smp, srp, rm, rv, xp, wp, bp, N, C, S, training, momentum, eps, ws,
                           nt, resp, relu, pool ? index_t(x.shape(3)) : 0, argp);
    }
    if (pool) return py::tuple(py::make_tuple(y, sm, sr, arg));
    return py::tuple(py::make_tuple(y, sm, sr));
  });
}

// Batch norm backward, plain or (fused) of the fused add + relu: relu_out its output, or None
// when the forward had no residual, and then the relu's mask comes from x and `bias` (the
// forward's); need_residual: also return the residual's gradient, the masked grad_output.
py::tuple bn_backward(py::array dy, py::array x, py::object weight, py::array save_mean,
                      py::array save_rstd, bool training, bool need_input, bool need_weight,
                      bool need_bias, py::object grad_input, py::object grad_weight,
                      py::object grad_bias, bool fused, py::object relu_out, py::object bias,
                      bool need_residual, py::object grad_residual, const char* op,
                      py::object pool_argmax = py::none()) {
  const bool pool = !pool_argmax.is_none();
  DType dt = need_float(x, op, "input");
  need_nc(x, op);
  need_dtype(dy, dt, op, "grad_output");
  const Shape dy_shape = pool ? pooled_shape(x, op) : shape_of(x);
  PYDLK_NEED(shape_of(dy) == dy_shape, std::string(op) + ": grad_output must have the " +
                                           (pool ? "pooled output's" : "input's") + " shape " +
                                           str_dims(dy_shape) + ", got " + str_shape(dy));
  const py::ssize_t N = x.shape(0), C = x.shape(1), S = spatial(x);
  return dispatch(dt, [&](auto t) {
    using T = decltype(t);
    ArrayArg weight_a = opt_param(weight, C, dt, op, "weight");
    const T* wp = weight_a.cdata<T>();
    const T* mp = saved<T>(save_mean, {C}, dt, op, "save_mean");
    const T* rp = saved<T>(save_rstd, {C}, dt, op, "save_rstd");
    const T* yp = relu_out.is_none() ? nullptr : saved<T>(relu_out, shape_of(x), dt, op, "output");
    const bool from_input = fused && !yp;  // the mask from x, w and bias
    const uint8_t* argp =
        pool ? pool_argmax_arg(pool_argmax.cast<py::array>(), dy_shape, op) : nullptr;
    PYDLK_NEED(!from_input || !need_residual,
               std::string(op) + ": need_residual needs output (the forward's result)");
    ArrayArg bias_a = opt_param(from_input ? bias : py::none(), C, dt, op, "bias");
    py::array dx, dw, db, dr;
    T *dxp = nullptr, *dwp = nullptr, *dbp = nullptr, *drp = nullptr;
    const T *gp = cptr<T>(dy), *xp = cptr<T>(x);
    if (need_input) {
      dx = out_array<T>(grad_input, shape_of(x), dt, op, "grad_input", {xp, gp, yp});
      dxp = ptr<T>(dx);
    }
    if (need_weight) {
      dw = out_array<T>(grad_weight, {C}, dt, op, "grad_weight");
      dwp = ptr<T>(dw);
    }
    if (need_bias) {
      db = out_array<T>(grad_bias, {C}, dt, op, "grad_bias");
      dbp = ptr<T>(db);
    }
    if (yp && need_residual) {  // the masked gradient, also the residual's
      dr = out_array<T>(grad_residual, shape_of(x), dt, op, "grad_residual", {gp, yp, xp});
      drp = ptr<T>(dr);
    }
    const int nt = num_threads();
    double* ws = workspace_of<double>(batchnorm_workspace(C, nt), op);
    {
      KernelScope k;
      batchnorm_backward<T>(dxp, dwp, dbp, gp, xp, wp, mp, rp, N, C, S, training, ws, nt, yp, drp,
                            from_input, bias_a.cdata<T>(), pool ? index_t(x.shape(3)) : 0, argp);
    }
    if (!fused || pool)  // the pooled form has no residual
      return py::tuple(
          py::make_tuple(maybe(need_input, dx), maybe(need_weight, dw), maybe(need_bias, db)));
    return py::tuple(py::make_tuple(maybe(need_input, dx), maybe(need_weight, dw),
                                    maybe(need_bias, db), maybe(need_residual, dr)));
  });
}

}  // namespace

void bind_norm(py::module_& m) {
  // ---------------------------------------------------------------- batch norm
  m.def("batchnorm_forward",
        [](py::array x, py::object weight, py::object bias, py::object running_mean,
           py::object running_var, bool training, double momentum, double eps, py::object out,
           py::object save_mean, py::object save_rstd) {
    return bn_forward(x, weight, bias, running_mean, running_var, training, momentum, eps, out,
                      save_mean, save_rstd, py::none(), false, "batch_norm");
  },
        py::arg("input"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
        py::arg("running_mean") = py::none(), py::arg("running_var") = py::none(),
        py::arg("training") = false, py::arg("momentum") = 0.1, py::arg("eps") = 1e-5,
        py::arg("out") = py::none(), py::arg("save_mean") = py::none(),
        py::arg("save_rstd") = py::none(),
        "Batch norm over input (N, C, *). Returns (out, save_mean, save_rstd), stats (C,).\n"
        "training: batch statistics; running_mean/running_var (if given) updated in place with\n"
        "momentum (running_var with the unbiased variance). Otherwise the running stats are used.");

  m.def("batchnorm_backward",
        [](py::array dy, py::array x, py::object weight, py::array save_mean, py::array save_rstd,
           bool training, bool need_input, bool need_weight, bool need_bias, py::object grad_input,
           py::object grad_weight, py::object grad_bias) {
    return bn_backward(dy, x, weight, save_mean, save_rstd, training, need_input, need_weight,
                       need_bias, grad_input, grad_weight, grad_bias, false, py::none(), py::none(),
                       false, py::none(), "batch_norm_backward");
  },
        py::arg("grad_output"), py::arg("input"), py::arg("weight"), py::arg("save_mean"),
        py::arg("save_rstd"), py::arg("training"), py::arg("need_input") = true,
        py::arg("need_weight") = true, py::arg("need_bias") = true,
        py::arg("grad_input") = py::none(), py::arg("grad_weight") = py::none(),
        py::arg("grad_bias") = py::none(),
        "Returns (grad_input, grad_weight, grad_bias); None where not asked for. save_mean and\n"
        "save_rstd are batchnorm_forward's; training selects the batch-statistics backward.");

  // Batch norm fused with the add and ReLU that follow it in a ResNet block (and with a plain
  // ReLU, residual None): one pass writes relu(bn(x) + residual) instead of three.
  m.def("batchnorm_add_relu_forward",
        [](py::array x, py::object residual, py::object weight, py::object bias,
           py::object running_mean, py::object running_var, bool training, double momentum,
           double eps, py::object out, py::object save_mean, py::object save_rstd) {
    return bn_forward(x, weight, bias, running_mean, running_var, training, momentum, eps, out,
                      save_mean, save_rstd, residual, true, "batch_norm_add_relu");
  },
        py::arg("input"), py::arg("residual") = py::none(), py::arg("weight") = py::none(),
        py::arg("bias") = py::none(), py::arg("running_mean") = py::none(),
        py::arg("running_var") = py::none(), py::arg("training") = false, py::arg("momentum") = 0.1,
        py::arg("eps") = 1e-5, py::arg("out") = py::none(), py::arg("save_mean") = py::none(),
        py::arg("save_rstd") = py::none(),
        "relu(batch_norm(input) + residual) (residual None: relu(batch_norm(input))), bitwise the\n"
        "separate ops' output. Returns (out, save_mean, save_rstd) as batchnorm_forward.");

  m.def("batchnorm_add_relu_backward",
        [](py::array dy, py::object y, py::array x, py::object weight, py::array save_mean,
           py::array save_rstd, bool training, bool need_input, bool need_weight, bool need_bias,
           bool need_residual, py::object grad_input, py::object grad_weight, py::object grad_bias,
           py::object grad_residual, py::object bias) {
    return bn_backward(dy, x, weight, save_mean, save_rstd, training, need_input, need_weight,
                       need_bias, grad_input, grad_weight, grad_bias, true, y, bias, need_residual,
                       grad_residual, "batch_norm_add_relu_backward");
  },
        py::arg("grad_output"), py::arg("output"), py::arg("input"), py::arg("weight"),
        py::arg("save_mean"), py::arg("save_rstd"), py::arg("training"),
        py::arg("need_input") = true, py::arg("need_weight") = true, py::arg("need_bias") = true,
        py::arg("need_residual") = true, py::arg("grad_input") = py::none(),
        py::arg("grad_weight") = py::none(), py::arg("grad_bias") = py::none(),
        py::arg("grad_residual") = py::none(), py::arg("bias") = py::none(),
        "Backward of batchnorm_add_relu_forward (output: its result). Returns (grad_input,\n"
        "grad_weight, grad_bias, grad_residual); None where not asked for. grad_residual is\n"
        "grad_output masked by the relu, as relu_backward computes it. output None (a forward\n"
        "without residual; need_residual False): the relu's mask is recomputed from input,\n"
        "save_mean, save_rstd, weight and bias (the forward's bias) instead of read, the same\n"
        "bits with a third less memory traffic.");

  // Batch norm fused with the ReLU and the 2x2 / stride-2 max pool that follow it in LeNet- and
  // VGG-style nets: the forward writes only the pooled output (no full-size activation, no
  // arg-max indices); the backward finds the arg-maxes again from the input.
  m.def("batchnorm_relu_maxpool2d_forward",
        [](py::array x, py::object weight, py::object bias, py::object running_mean,
           py::object running_var, bool training, double momentum, double eps, py::object out,
           py::object save_mean, py::object save_rstd) {
    return bn_forward(x, weight, bias, running_mean, running_var, training, momentum, eps, out,
                      save_mean, save_rstd, py::none(), true, "batch_norm_relu_max_pool2d", true);
  },
        py::arg("input"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
        py::arg("running_mean") = py::none(), py::arg("running_var") = py::none(),
        py::arg("training") = false, py::arg("momentum") = 0.1, py::arg("eps") = 1e-5,
        py::arg("out") = py::none(), py::arg("save_mean") = py::none(),
        py::arg("save_rstd") = py::none(),
        "max_pool2d(relu(batch_norm(input)), 2) for input (N, C, H, W), H and W >= 2: out\n"
        "(N, C, H/2, W/2), bitwise the separate ops' output. Returns (out, save_mean, save_rstd,\n"
        "argmax): the statistics as batchnorm_forward's (running stats updated in the same way),\n"
        "argmax (N, C, H/2, W/2) uint8 each window's arg-max, 0..3 for its top-left, top-right,\n"
        "bottom-left, bottom-right value.");

  m.def(
      "batchnorm_relu_maxpool2d_backward",
      [](py::array dy, py::array argmax, py::array x, py::object weight, py::object bias,
         py::array save_mean, py::array save_rstd, bool training, bool need_input, bool need_weight,
         bool need_bias, py::object grad_input, py::object grad_weight, py::object grad_bias) {
    return bn_backward(dy, x, weight, save_mean, save_rstd, training, need_input, need_weight,
                       need_bias, grad_input, grad_weight, grad_bias, true, py::none(), bias, false,
                       py::none(), "batch_norm_relu_max_pool2d_backward", argmax);
  },
      py::arg("grad_output"), py::arg("argmax"), py::arg("input"), py::arg("weight"),
      py::arg("bias"), py::arg("save_mean"), py::arg("save_rstd"), py::arg("training"),
      py::arg("need_input") = true, py::arg("need_weight") = true, py::arg("need_bias") = true,
      py::arg("grad_input") = py::none(), py::arg("grad_weight") = py::none(),
      py::arg("grad_bias") = py::none(),
      "Backward of batchnorm_relu_maxpool2d_forward: grad_output (N, C, H/2, W/2); argmax\n"
      "(its low two bits are read) and input the forward's; weight and bias its parameters\n"
      "(None: 1 and 0). Returns (grad_input, grad_weight, grad_bias); None where not asked\n"
      "for. max_pool2d's backward followed by batchnorm_add_relu_backward's (the sums skip the\n"
      "zeros between arg-maxes, so they may round differently).");

  // ---------------------------------------------------------------- layer norm
  m.def(
      "layernorm_forward",
      [](py::array x, py::object weight, py::object bias, double eps, py::object out,
         py::object mean, py::object rstd) {
    const char* op = "layer_norm";
    DType dt = need_float(x, op, "input");
    need_ndim(x, 2, op, "input");
    need_eps(eps, op);
    const py::ssize_t M = x.shape(0), D = x.shape(1);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      ArrayArg weight_a = opt_param(weight, D, dt, op, "weight");
      const T* wp = weight_a.cdata<T>();
      ArrayArg bias_a = opt_param(bias, D, dt, op, "bias");
      const T* bp = bias_a.cdata<T>();
      return rownorm_forward_call<T>(x, wp, bp, M, 1, D, 1, eps, dt, {M}, out, mean, rstd, op);
    });
  },
      py::arg("input"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
      py::arg("eps") = 1e-5, py::arg("out") = py::none(), py::arg("mean") = py::none(),
      py::arg("rstd") = py::none(),
      "Layer norm of each row of input (M, D); weight, bias (D,) or None. Returns (out, mean, rstd),\n"
      "stats (M,).");

  m.def("layernorm_backward",
        [](py::array dy, py::array x, py::object weight, py::array mean, py::array rstd,
           bool need_input, bool need_weight, bool need_bias, py::object grad_input,
           py::object grad_weight, py::object grad_bias) {
    const char* op = "layer_norm_backward";
    DType dt = need_float(x, op, "input");
    need_ndim(x, 2, op, "input");
    need_dtype(dy, dt, op, "grad_output");
    PYDLK_NEED(shape_of(dy) == shape_of(x), std::string(op) +
                                                ": grad_output must have the input's "
                                                "shape " +
                                                str_shape(x) + ", got " + str_shape(dy));
    const py::ssize_t M = x.shape(0), D = x.shape(1);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      ArrayArg weight_a = opt_param(weight, D, dt, op, "weight");
      const T* wp = weight_a.cdata<T>();
      const T* mp = saved<T>(mean, {M}, dt, op, "mean");
      const T* rp = saved<T>(rstd, {M}, dt, op, "rstd");
      return rownorm_backward_call<T>(dy, x, wp, mp, rp, M, 1, D, 1, need_input, need_weight,
                                      need_bias, dt, grad_input, grad_weight, grad_bias, op);
    });
  },
        py::arg("grad_output"), py::arg("input"), py::arg("weight"), py::arg("mean"),
        py::arg("rstd"), py::arg("need_input") = true, py::arg("need_weight") = true,
        py::arg("need_bias") = true, py::arg("grad_input") = py::none(),
        py::arg("grad_weight") = py::none(), py::arg("grad_bias") = py::none(),
        "Returns (grad_input, grad_weight (D,), grad_bias (D,)); None where not asked for.");

  // ---------------------------------------------------------------- group norm
  auto check_groups = [](const py::array& x, const py::object& num_groups, const char* op) {
    const py::ssize_t G = int_arg(num_groups, op, "num_groups", 1, kIntLimit);
    PYDLK_NEED(x.shape(1) % G == 0, std::string(op) + ": num_groups=" + std::to_string(G) +
                                        " must divide the number of channels, input has " +
                                        std::to_string(x.shape(1)) + " (shape " + str_shape(x) +
                                        ")");
    return G;
  };

  m.def("groupnorm_forward",
        [check_groups](py::array x, py::object num_groups_arg, py::object weight, py::object bias,
                       double eps, py::object out, py::object mean, py::object rstd) {
    const char* op = "group_norm";
    DType dt = need_float(x, op, "input");
    need_nc(x, op);
    need_eps(eps, op);
    const py::ssize_t G = check_groups(x, num_groups_arg, op);
    const py::ssize_t N = x.shape(0), C = x.shape(1), S = spatial(x);
    PYDLK_NEED(N * (C / G) * S != 1, std::string(op) +
                                         ": Expected more than 1 value per channel when "
                                         "training, got input size " +
                                         torch_size(x));
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      ArrayArg weight_a = opt_param(weight, C, dt, op, "weight");
      const T* wp = weight_a.cdata<T>();
      ArrayArg bias_a = opt_param(bias, C, dt, op, "bias");
      const T* bp = bias_a.cdata<T>();
      return rownorm_forward_call<T>(x, wp, bp, N * G, G, C / G, S, eps, dt, {N, G}, out, mean,
                                     rstd, op);
    });
  },
        py::arg("input"), py::arg("num_groups"), py::arg("weight") = py::none(),
        py::arg("bias") = py::none(), py::arg("eps") = 1e-5, py::arg("out") = py::none(),
        py::arg("mean") = py::none(), py::arg("rstd") = py::none(),
        "Group norm of input (N, C, *) with C/num_groups channels per group; weight, bias (C,).\n"
        "Returns (out, mean, rstd), stats (N, num_groups).");

  m.def("groupnorm_backward",
        [check_groups](py::array dy, py::array x, py::object num_groups_arg, py::object weight,
                       py::array mean, py::array rstd, bool need_input, bool need_weight,
                       bool need_bias, py::object grad_input, py::object grad_weight,
                       py::object grad_bias) {
    const char* op = "group_norm_backward";
    DType dt = need_float(x, op, "input");
    need_nc(x, op);
    const py::ssize_t G = check_groups(x, num_groups_arg, op);
    need_dtype(dy, dt, op, "grad_output");
    PYDLK_NEED(shape_of(dy) == shape_of(x), std::string(op) +
                                                ": grad_output must have the input's "
                                                "shape " +
                                                str_shape(x) + ", got " + str_shape(dy));
    const py::ssize_t N = x.shape(0), C = x.shape(1), S = spatial(x);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      ArrayArg weight_a = opt_param(weight, C, dt, op, "weight");
      const T* wp = weight_a.cdata<T>();
      const T* mp = saved<T>(mean, {N, G}, dt, op, "mean");
      const T* rp = saved<T>(rstd, {N, G}, dt, op, "rstd");
      return rownorm_backward_call<T>(dy, x, wp, mp, rp, N * G, G, C / G, S, need_input,
                                      need_weight, need_bias, dt, grad_input, grad_weight,
                                      grad_bias, op);
    });
  },
        py::arg("grad_output"), py::arg("input"), py::arg("num_groups"), py::arg("weight"),
        py::arg("mean"), py::arg("rstd"), py::arg("need_input") = true,
        py::arg("need_weight") = true, py::arg("need_bias") = true,
        py::arg("grad_input") = py::none(), py::arg("grad_weight") = py::none(),
        py::arg("grad_bias") = py::none(),
        "Returns (grad_input, grad_weight (C,), grad_bias (C,)); None where not asked for.");

  // ---------------------------------------------------------------- instance norm
  // With the input's statistics: group norm with num_groups = C (the backward is
  // groupnorm_backward with num_groups = C), plus torch's running-stats update. With the running
  // stats instead (use_input_stats=False) it is batchnorm_forward with training=False.
  m.def("instancenorm_forward",
        [](py::array x, py::object weight, py::object bias, py::object running_mean,
           py::object running_var, double momentum, double eps, py::object out, py::object mean,
           py::object rstd) {
    const char* op = "instance_norm";
    DType dt = need_float(x, op, "input");
    need_nc(x, op);
    need_eps(eps, op);
    need_momentum(momentum, op);
    const py::ssize_t N = x.shape(0), C = x.shape(1), S = spatial(x);
    PYDLK_NEED(S != 1, std::string(op) +
                           ": Expected more than 1 spatial element when training, "
                           "got input size " +
                           torch_size(x));
    PYDLK_NEED(running_mean.is_none() == running_var.is_none(),
               std::string(op) + ": give both running_mean and running_var, or neither");
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      ArrayArg weight_a = opt_param(weight, C, dt, op, "weight");
      const T* wp = weight_a.cdata<T>();
      ArrayArg bias_a = opt_param(bias, C, dt, op, "bias");
      const T* bp = bias_a.cdata<T>();
      ArrayArg running_mean_a = opt_buffer(running_mean, C, dt, op, "running_mean");
      T* rm = running_mean_a.data<T>();
      ArrayArg running_var_a = opt_buffer(running_var, C, dt, op, "running_var");
      T* rv = running_var_a.data<T>();
      std::vector<T> var(rm ? N * C : 0);
      py::tuple r = rownorm_forward_call<T>(x, wp, bp, N * C, C, 1, S, eps, dt, {N, C}, out, mean,
                                            rstd, op, rm ? var.data() : nullptr);
      if (rm) {
        const T* mp = cptr<T>(r[1].cast<py::array>());
        KernelScope k;
        instancenorm_update_running<T>(rm, rv, mp, var.data(), N, C, S, momentum);
      }
      return r;
    });
  },
        py::arg("input"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
        py::arg("running_mean") = py::none(), py::arg("running_var") = py::none(),
        py::arg("momentum") = 0.1, py::arg("eps") = 1e-5, py::arg("out") = py::none(),
        py::arg("mean") = py::none(), py::arg("rstd") = py::none(),
        "Instance norm of input (N, C, *) with the input's statistics; returns (out, mean, rstd),\n"
        "stats (N, C). running_mean/running_var (C,), if given, are updated in place with the\n"
        "batch average of the per-instance mean and unbiased variance.");
}

}  // namespace pydlk
