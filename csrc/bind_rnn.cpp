// Bindings for csrc/rnn.cpp.
#include "bind_util.h"
#include "rnn.h"

namespace pydlk {

static const char* kModes = "mode must be 0 (RNN_TANH), 1 (RNN_RELU), 2 (LSTM) or 3 (GRU)";

struct RnnSizes { index_t S, N, I, H, G; };

static RnnSizes check_rnn(const char* op, const py::array& x, const py::array& h0,
                          const py::object& c0, const py::array& w_ih, const py::array& w_hh,
                          const py::object& b_ih, const py::object& b_hh, int mode, DType dt) {
  need(mode >= 0 && mode <= 3, std::string(op) + ": " + kModes);
  need_ndim(x, 3, op, "input");
  need_dtype(w_ih, dt, op, "weight_ih");
  need_dtype(w_hh, dt, op, "weight_hh");
  need_dtype(h0, dt, op, "h0");
  need_ndim(w_ih, 2, op, "weight_ih");
  need_ndim(w_hh, 2, op, "weight_hh");
  RnnSizes s{x.shape(0), x.shape(1), x.shape(2), w_hh.shape(1), rnn_gates(mode)};
  need(w_ih.shape(1) == s.I, std::string(op) + ": input has " + std::to_string(s.I) +
                                 " features, weight_ih expects " + std::to_string(w_ih.shape(1)));
  need_shape(w_hh, {s.G * s.H, s.H}, op, "weight_hh");
  need_shape(w_ih, {s.G * s.H, s.I}, op, "weight_ih");
  need_shape(h0, {s.N, s.H}, op, "h0");
  if (mode == kLstm) {
    need(!c0.is_none(), std::string(op) + ": c0 is required for LSTM");
    py::array c = c0.cast<py::array>();
    need_dtype(c, dt, op, "c0");
    need_shape(c, {s.N, s.H}, op, "c0");
  }
  need(b_ih.is_none() == b_hh.is_none(), std::string(op) + ": bias_ih and bias_hh must both be given or both None");
  if (!b_ih.is_none()) {
    py::array a = b_ih.cast<py::array>(), b = b_hh.cast<py::array>();
    need_dtype(a, dt, op, "bias_ih");
    need_dtype(b, dt, op, "bias_hh");
    need_shape(a, {s.G * s.H}, op, "bias_ih");
    need_shape(b, {s.G * s.H}, op, "bias_hh");
  }
  return s;
}

template <typename T>
static const T* opt(const py::object& o) {
  return o.is_none() ? nullptr : cptr<T>(o.cast<py::array>());
}

void bind_rnn(py::module_& m) {
  m.def("rnn_forward", [](py::array x, py::array h0, py::object c0, py::array w_ih, py::array w_hh,
                          py::object b_ih, py::object b_hh, int mode) {
    DType dt = need_float(x, "rnn_forward", "input");
    RnnSizes s = check_rnn("rnn_forward", x, h0, c0, w_ih, w_hh, b_ih, b_hh, mode, dt);
    return dispatch(dt, [&](auto tag) {
      using T = decltype(tag);
      py::array h_all = empty<T>({s.S, s.N, s.H});
      py::array c_all = empty<T>({mode == kLstm ? s.S : 0, s.N, s.H});
      py::array gates = empty<T>({s.S, s.N, rnn_saved_gates(mode) * s.H});
      py::array ws = empty<T>({mode == kGru ? s.N : 0, 3 * s.H});
      T *hp = ptr<T>(h_all), *cp = ptr<T>(c_all), *gp = ptr<T>(gates), *wp = ptr<T>(ws);
      const T* c0p = opt<T>(c0);
      {
        KernelScope k;
        rnn_forward<T>(hp, cp, gp, wp, cptr<T>(x), cptr<T>(h0), c0p, cptr<T>(w_ih), cptr<T>(w_hh),
                       opt<T>(b_ih), opt<T>(b_hh), s.S, s.N, s.I, s.H, mode);
      }
      return py::make_tuple(h_all, c_all, gates);
    });
  }, py::arg("input"), py::arg("h0"), py::arg("c0"), py::arg("weight_ih"), py::arg("weight_hh"),
     py::arg("bias_ih"), py::arg("bias_hh"), py::arg("mode"),
     "One layer, one direction over a sequence. input (S, N, I) time-major; h0, c0 (N, H); "
     "returns (h_all (S, N, H), c_all (S, N, H) for LSTM, saved gates).");

  m.def("rnn_backward", [](py::array dy, py::object dh_last, py::object dc_last, py::array x,
                           py::array h0, py::object c0, py::array w_ih, py::array w_hh,
                           bool has_bias, py::array h_all, py::array c_all, py::array gates,
                           int mode, bool need_dx, bool need_dh0, bool need_weights) {
    const char* op = "rnn_backward";
    DType dt = need_float(x, op, "input");
    RnnSizes s = check_rnn(op, x, h0, c0, w_ih, w_hh, py::none(), py::none(), mode, dt);
    need_dtype(dy, dt, op, "grad_output");
    need_shape(dy, {s.S, s.N, s.H}, op, "grad_output");
    need_dtype(h_all, dt, op, "h_all");
    need_shape(h_all, {s.S, s.N, s.H}, op, "h_all");
    need_dtype(c_all, dt, op, "c_all");
    need_shape(c_all, {mode == kLstm ? s.S : 0, s.N, s.H}, op, "c_all");
    need_dtype(gates, dt, op, "gates");
    need_shape(gates, {s.S, s.N, rnn_saved_gates(mode) * s.H}, op, "gates");
    for (auto* p : {&dh_last, &dc_last}) {
      if (!p->is_none()) {
        py::array a = p->cast<py::array>();
        need_dtype(a, dt, op, p == &dh_last ? "grad_h_n" : "grad_c_n");
        need_shape(a, {s.N, s.H}, op, p == &dh_last ? "grad_h_n" : "grad_c_n");
      }
    }
    return dispatch(dt, [&](auto tag) {
      using T = decltype(tag);
      index_t GH = s.G * s.H;
      py::object dx = py::none(), dh0 = py::none(), dc0 = py::none();
      py::object dwi = py::none(), dwh = py::none(), dbi = py::none(), dbh = py::none();
      T *dxp = nullptr, *dh0p = nullptr, *dc0p = nullptr, *dwip = nullptr, *dwhp = nullptr,
        *dbip = nullptr, *dbhp = nullptr;
      auto alloc = [&](py::object& o, T*& p, std::vector<py::ssize_t> shape) {
        py::array a = empty<T>(shape); p = ptr<T>(a); o = a;
      };
      if (need_dx) alloc(dx, dxp, {s.S, s.N, s.I});
      if (need_dh0) {
        alloc(dh0, dh0p, {s.N, s.H});
        if (mode == kLstm) alloc(dc0, dc0p, {s.N, s.H});
      }
      if (need_weights) {
        alloc(dwi, dwip, {GH, s.I});
        alloc(dwh, dwhp, {GH, s.H});
        if (has_bias) { alloc(dbi, dbip, {GH}); alloc(dbh, dbhp, {GH}); }
      }
      // Workspaces (reused per thread: large sequences would otherwise fault in fresh pages).
      thread_local std::vector<T> ws;
      size_t need_ws = (size_t)(s.S * s.N * GH) * (mode == kGru ? 2 : 1) + 2 * (size_t)(s.N * s.H);
      if (ws.size() < need_ws) ws.resize(need_ws);
      T* dgates = ws.data();
      T* dgh = mode == kGru ? dgates + s.S * s.N * GH : nullptr;
      T* dh = dgates + s.S * s.N * GH * (mode == kGru ? 2 : 1);
      T* dc = dh + s.N * s.H;
      {
        KernelScope k;
        rnn_backward<T>(dxp, dh0p, dc0p, dwip, dwhp, dbip, dbhp, dgates, dgh, dh, dc, cptr<T>(dy),
                        opt<T>(dh_last), opt<T>(dc_last), cptr<T>(x), cptr<T>(h0), opt<T>(c0),
                        cptr<T>(w_ih), cptr<T>(w_hh), cptr<T>(h_all), cptr<T>(c_all),
                        cptr<T>(gates), s.S, s.N, s.I, s.H, mode);
      }
      return py::make_tuple(dx, dh0, dc0, dwi, dwh, dbi, dbh);
    });
  }, py::arg("grad_output"), py::arg("grad_h_n"), py::arg("grad_c_n"), py::arg("input"),
     py::arg("h0"), py::arg("c0"), py::arg("weight_ih"), py::arg("weight_hh"), py::arg("has_bias"),
     py::arg("h_all"), py::arg("c_all"), py::arg("gates"), py::arg("mode"),
     py::arg("need_input") = true, py::arg("need_h0") = true, py::arg("need_weights") = true,
     "Returns (dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh); None where not asked for.");
}

}  // namespace pydlk
