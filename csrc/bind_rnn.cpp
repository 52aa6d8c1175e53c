// Bindings for csrc/rnn.cpp.
#include "bind_util.h"
#include "rnn.h"

namespace pydlk {

struct RnnSizes {
  index_t S, N, I, H, G;
};

// An optional (shape) array argument of the input's dtype, held for the call.
static ArrayArg opt_state(const py::object& o, const Shape& shape, DType dt, const char* op,
                          const char* name) {
  ArrayArg a = opt_array(o, op, name);
  if (a.given()) {
    need_dtype(a.arr(), dt, op, name);
    need_shape(a.arr(), shape, op, name);
  }
  return a;
}

static int mode_arg(const py::object& mode, const char* op) {
  return (int)int_arg(mode, op, "mode (0 RNN_TANH, 1 RNN_RELU, 2 LSTM, 3 GRU)", 0, 4);
}

// Checks the arrays every call takes. c0 (None or (N, H)) is required for LSTM; other modes
// accept None or a valid array and never read it.
static RnnSizes check_rnn(const char* op, const py::array& x, const py::array& h0,
                          const py::array& w_ih, const py::array& w_hh, int mode, DType dt) {
  need_ndim(x, 3, op, "input");
  need_dtype(w_ih, dt, op, "weight_ih");
  need_dtype(w_hh, dt, op, "weight_hh");
  need_dtype(h0, dt, op, "h0");
  need_ndim(w_ih, 2, op, "weight_ih");
  need_ndim(w_hh, 2, op, "weight_hh");
  // The GEMMs take int sizes; with each size below 2**31 the products below fit in int64.
  need_int_dims(x, op, "input");
  need_int_dims(w_ih, op, "weight_ih");
  need_int_dims(w_hh, op, "weight_hh");
  RnnSizes s{x.shape(0), x.shape(1), x.shape(2), w_hh.shape(1), rnn_gates(mode)};
  PYDLK_NEED(w_ih.shape(1) == s.I, std::string(op) + ": input has " + std::to_string(s.I) +
                                       " features, weight_ih expects " +
                                       std::to_string(w_ih.shape(1)));
  need_shape(w_hh, {s.G * s.H, s.H}, op, "weight_hh");
  need_shape(w_ih, {s.G * s.H, s.I}, op, "weight_ih");
  need_shape(h0, {s.N, s.H}, op, "h0");
  return s;
}

static ArrayArg check_c0(const py::object& c0, const RnnSizes& s, int mode, DType dt,
                         const char* op) {
  ArrayArg c = opt_state(c0, {s.N, s.H}, dt, op, "c0");
  PYDLK_NEED(mode != kLstm || c.given(), std::string(op) + ": c0 is required for LSTM");
  return c;
}

void bind_rnn(py::module_& m) {
  m.def("rnn_forward",
        [](py::array x, py::array h0, py::object c0, py::array w_ih, py::array w_hh,
           py::object b_ih, py::object b_hh, py::object mode_) {
    const char* op = "rnn_forward";
    const int mode = mode_arg(mode_, op);
    DType dt = need_float(x, op, "input");
    RnnSizes s = check_rnn(op, x, h0, w_ih, w_hh, mode, dt);
    ArrayArg c = check_c0(c0, s, mode, dt, op);
    ArrayArg bi = opt_state(b_ih, {s.G * s.H}, dt, op, "bias_ih");
    ArrayArg bh = opt_state(b_hh, {s.G * s.H}, dt, op, "bias_hh");
    PYDLK_NEED(bi.given() == bh.given(),
               std::string(op) + ": bias_ih and bias_hh must both be given or both None");
    return dispatch(dt, [&](auto tag) {
      using T = decltype(tag);
      py::array h_all = empty<T>({s.S, s.N, s.H}, op, "h_all");
      py::array c_all = empty<T>({mode == kLstm ? s.S : 0, s.N, s.H}, op, "c_all");
      py::array gates = empty<T>({s.S, s.N, rnn_saved_gates(mode) * s.H}, op, "gates");
      py::array ws = empty<T>({mode == kGru ? s.N : 0, 3 * s.H}, op, "workspace");
      T *hp = ptr<T>(h_all), *cp = ptr<T>(c_all), *gp = ptr<T>(gates), *wp = ptr<T>(ws);
      const T* c0p = mode == kLstm ? c.cdata<T>() : nullptr;
      {
        KernelScope k;
        rnn_forward<T>(hp, cp, gp, wp, cptr<T>(x), cptr<T>(h0), c0p, cptr<T>(w_ih), cptr<T>(w_hh),
                       bi.cdata<T>(), bh.cdata<T>(), s.S, s.N, s.I, s.H, mode);
      }
      return py::make_tuple(h_all, c_all, gates);
    });
  },
        py::arg("input"), py::arg("h0"), py::arg("c0"), py::arg("weight_ih"), py::arg("weight_hh"),
        py::arg("bias_ih"), py::arg("bias_hh"), py::arg("mode"),
        "One layer, one direction over a sequence. input (S, N, I) time-major; h0, c0 (N, H); "
        "returns (h_all (S, N, H), c_all (S, N, H) for LSTM, saved gates).");

  m.def("rnn_backward",
        [](py::array dy, py::object dh_last, py::object dc_last, py::array x, py::array h0,
           py::object c0, py::array w_ih, py::array w_hh, bool has_bias, py::array h_all,
           py::array c_all, py::array gates, py::object mode_, bool need_dx, bool need_dh0,
           bool need_weights) {
    const char* op = "rnn_backward";
    const int mode = mode_arg(mode_, op);
    DType dt = need_float(x, op, "input");
    RnnSizes s = check_rnn(op, x, h0, w_ih, w_hh, mode, dt);
    ArrayArg c = check_c0(c0, s, mode, dt, op);
    need_dtype(dy, dt, op, "grad_output");
    need_shape(dy, {s.S, s.N, s.H}, op, "grad_output");
    need_dtype(h_all, dt, op, "h_all");
    need_shape(h_all, {s.S, s.N, s.H}, op, "h_all");
    need_dtype(c_all, dt, op, "c_all");
    need_shape(c_all, {mode == kLstm ? s.S : 0, s.N, s.H}, op, "c_all");
    need_dtype(gates, dt, op, "gates");
    need_shape(gates, {s.S, s.N, rnn_saved_gates(mode) * s.H}, op, "gates");
    ArrayArg dhl = opt_state(dh_last, {s.N, s.H}, dt, op, "grad_h_n");
    ArrayArg dcl = opt_state(dc_last, {s.N, s.H}, dt, op, "grad_c_n");
    return dispatch(dt, [&](auto tag) {
      using T = decltype(tag);
      index_t GH = s.G * s.H;
      py::object dx = py::none(), dh0 = py::none(), dc0 = py::none();
      py::object dwi = py::none(), dwh = py::none(), dbi = py::none(), dbh = py::none();
      T *dxp = nullptr, *dh0p = nullptr, *dc0p = nullptr, *dwip = nullptr, *dwhp = nullptr,
        *dbip = nullptr, *dbhp = nullptr;
      auto alloc = [&](py::object& o, T*& p, std::vector<py::ssize_t> shape) {
        py::array a = empty<T>(shape, op, "gradient");
        p = ptr<T>(a);
        o = a;
      };
      if (need_dx) alloc(dx, dxp, {s.S, s.N, s.I});
      if (need_dh0) {
        alloc(dh0, dh0p, {s.N, s.H});
        if (mode == kLstm) alloc(dc0, dc0p, {s.N, s.H});
      }
      if (need_weights) {
        alloc(dwi, dwip, {GH, s.I});
        alloc(dwh, dwhp, {GH, s.H});
        if (has_bias) {
          alloc(dbi, dbip, {GH});
          alloc(dbh, dbhp, {GH});
        }
      }
      // Workspaces (reused per thread: large sequences would otherwise fault in fresh pages).
      const index_t need_ws =
          checked_numel({s.S, s.N, GH * (mode == kGru ? 2 : 1)}, sizeof(T), op, "workspace") +
          2 * s.N * s.H;
      T* dgates = workspace_of<T>(need_ws, op);
      T* dgh = mode == kGru ? dgates + s.S * s.N * GH : nullptr;
      T* dh = dgates + s.S * s.N * GH * (mode == kGru ? 2 : 1);
      T* dc = dh + s.N * s.H;
      {
        KernelScope k;
        rnn_backward<T>(dxp, dh0p, dc0p, dwip, dwhp, dbip, dbhp, dgates, dgh, dh, dc, cptr<T>(dy),
                        dhl.cdata<T>(), mode == kLstm ? dcl.cdata<T>() : nullptr, cptr<T>(x),
                        cptr<T>(h0), mode == kLstm ? c.cdata<T>() : nullptr, cptr<T>(w_ih),
                        cptr<T>(w_hh), cptr<T>(h_all), cptr<T>(c_all), cptr<T>(gates), s.S, s.N,
                        s.I, s.H, mode);
      }
      return py::make_tuple(dx, dh0, dc0, dwi, dwh, dbi, dbh);
    });
  },
        py::arg("grad_output"), py::arg("grad_h_n"), py::arg("grad_c_n"), py::arg("input"),
        py::arg("h0"), py::arg("c0"), py::arg("weight_ih"), py::arg("weight_hh"),
        py::arg("has_bias"), py::arg("h_all"), py::arg("c_all"), py::arg("gates"), py::arg("mode"),
        py::arg("need_input") = true, py::arg("need_h0") = true, py::arg("need_weights") = true,
        "Returns (dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh); None where not asked for.");
}

}  // namespace pydlk
