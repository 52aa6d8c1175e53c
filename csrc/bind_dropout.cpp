// Bindings for csrc/dropout.cpp: Philox uniforms, Bernoulli masks, inverted dropout, channel
// scaling. Outputs may be passed in (out=, mask=) so a caller can reuse warm memory; out may be
// the input itself (in-place dropout).
#include <algorithm>
#include <array>
#include <string>

#include <pybind11/stl.h>

#include "bind_util.h"
#include "dropout.h"
#include "philox.h"

namespace pydlk {

static void check_p(double p, const char* op) {
  PYDLK_NEED(p >= 0.0 && p <= 1.0,
             std::string(op) + ": p must be in [0, 1], got " + std::to_string(p));
}

static index_t numel(const py::array& a) { return (index_t)a.size(); }

// A writable output of x's dtype and shape: `out` when given (checked), else a new array
// placed next to x (empty()).
template <typename T>
static py::array out_like(const py::object& out, const py::array& x, DType dt, const char* op,
                          const char* name) {
  return out_or_empty<T>(out, dt, shape_of(x), op, name, {x.data()});
}

static void need_mask(const py::array& m, index_t n, const char* op) {
  bool c = (m.flags() & py::array::c_style) != 0;
  if (!(py::isinstance<py::array_t<uint32_t>>(m) && c))
    throw py::type_error(std::string(op) + ": mask must be a C-contiguous uint32 array, got " +
                         py::str(m.dtype()).cast<std::string>());
  PYDLK_NEED(m.ndim() == 1 && m.shape(0) == (n + 31) / 32,
             std::string(op) + ": mask must have shape (" + std::to_string((n + 31) / 32) +
                 ",) (one bit per element), got " + str_shape(m));
}

void bind_dropout(py::module_& m) {
  m.def("philox4x32_10",
        [](py::object counter, py::object key) {
    const char* op = "philox4x32_10";
    auto words = [op](const py::object& o, size_t n, const char* name) {
      std::string want = std::string(op) + ": " + name + " must be a sequence of " +
                         std::to_string(n) + " ints in [0, 2**32), got " + short_repr(o);
      if (!py::isinstance<py::sequence>(o) || py::isinstance<py::str>(o) ||
          py::isinstance<py::bytes>(o))
        throw py::type_error(want);
      // PySequence_Size, not size(): a 0-d ndarray is a sequence without a length.
      const Py_ssize_t len = PySequence_Size(o.ptr());
      if (len < 0) {
        PyErr_Clear();
        throw py::type_error(want);
      }
      PYDLK_NEED(size_t(len) == n, want);
      py::sequence s = py::reinterpret_borrow<py::sequence>(o);
      std::array<uint32_t, 4> w{};
      for (size_t i = 0; i < n; ++i) w[i] = (uint32_t)int_arg(s[i], op, name, 0, int64_t(1) << 32);
      return w;
    };
    std::array<uint32_t, 4> c4 = words(counter, 4, "counter"), k2 = words(key, 2, "key");
    uint32_t c[4] = {c4[0], c4[1], c4[2], c4[3]};
    philox::block(c, k2[0], k2[1]);
    return py::make_tuple(c[0], c[1], c[2], c[3]);
  }, py::arg("counter"), py::arg("key"),
        "One Philox4x32-10 block (for known-answer tests): four uint32 words.");

  m.def("philox_blocks16",
        [](py::object counter_arg, py::object seed_arg, const std::string& impl) {
    const uint64_t counter = uint_arg(counter_arg, "philox_blocks16", "counter");
    const uint64_t seed = uint_arg(seed_arg, "philox_blocks16", "seed");
    philox::BlocksFn f = philox::blocks16_impl();
    if (impl == "portable") {
      f = &philox::blocks16_portable;
#ifdef PYDLK_PHILOX_X86
    } else if (impl == "avx2") {
      f = &philox::blocks16_avx2;
    } else if (impl == "avx512") {
      PYDLK_NEED(__builtin_cpu_supports("avx512f"), "philox_blocks16: this CPU has no AVX-512");
      f = &philox::blocks16_avx512;
#endif
    } else {
      PYDLK_NEED(impl == "auto",
                 "philox_blocks16: impl must be auto, portable, avx2 or avx512 "
                 "(where built), got " +
                     impl);
    }
    py::array_t<uint32_t> out(64);
    f(out.mutable_data(), counter, seed);
    return out;
  }, py::arg("counter"), py::arg("seed"), py::arg("impl") = "auto",
        "The 64 numbers of counters counter .. counter+15 in element order (for tests).");

  m.def("philox_uniform",
        [](py::array out, py::object seed_arg, py::object offset_arg) {
    const char* op = "philox_uniform";
    DType dt = need_float(out, op, "out");
    need_writable(out, op, "out");
    const uint64_t seed = uint_arg(seed_arg, op, "seed"),
                   offset = uint_arg(offset_arg, op, "offset");
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      T* o = ptr<T>(out);
      index_t n = numel(out);
      {
        KernelScope k;
        philox_uniform<T>(o, n, seed, offset);
      }
      return 0;
    });
    return out;
  }, py::arg("out"), py::arg("seed"), py::arg("offset"),
        "Fills out with uniforms in [0, 1) from Philox4x32-10; element i uses counter "
        "offset/4 + i/4, lane i%4. Returns out.");

  m.def("bernoulli_mask",
        [](py::array out, double p, double scale, py::object seed_arg, py::object offset_arg) {
    const char* op = "bernoulli_mask";
    check_p(p, op);
    DType dt = need_float(out, op, "out");
    need_writable(out, op, "out");
    const uint64_t seed = uint_arg(seed_arg, op, "seed"),
                   offset = uint_arg(offset_arg, op, "offset");
    dispatch(dt, [&](auto t) {
      using T = decltype(t);
      T* o = ptr<T>(out);
      index_t n = numel(out);
      {
        KernelScope k;
        bernoulli_mask<T>(o, n, p, scale, seed, offset);
      }
      return 0;
    });
    return out;
  }, py::arg("out"), py::arg("p"), py::arg("scale"), py::arg("seed"), py::arg("offset"),
        "out[i] = scale where uniform_i >= p else 0 (keep probability 1 - p). Returns out.");

  m.def("dropout_forward",
        [](py::array x, double p, py::object seed_arg, py::object offset_arg, py::object out,
           py::object mask, bool save_mask) {
    const char* op = "dropout";
    check_p(p, op);
    DType dt = need_float(x, op, "input");
    const uint64_t seed = uint_arg(seed_arg, op, "seed"),
                   offset = uint_arg(offset_arg, op, "offset");
    index_t n = numel(x);
    ArrayArg mask_a = out_arg(mask, op, "mask");
    if (mask_a.given()) need_mask(mask_a.arr(), n, op);
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array y = out_like<T>(out, x, dt, "dropout", "out");
      py::object mo = py::none();
      uint32_t* mp = nullptr;
      if (mask_a.given()) {
        mp = mask_a.data<uint32_t>();
        mo = mask_a.obj;
      } else if (save_mask) {
        py::array ma = empty<uint32_t>({(py::ssize_t)((n + 31) / 32)}, op, "mask");
        mp = ptr<uint32_t>(ma);
        mo = ma;
      }
      T* yp = ptr<T>(y);
      const T* xp = cptr<T>(x);
      {
        KernelScope k;
        dropout_forward<T>(yp, mp, xp, n, p, seed, offset);
      }
      return py::make_tuple(y, mo);
    });
  },
        py::arg("input"), py::arg("p"), py::arg("seed"), py::arg("offset"),
        py::arg("out") = py::none(), py::arg("mask") = py::none(), py::arg("save_mask") = true,
        "Inverted dropout: y = input * keep / (1 - p). Returns (y, mask): mask is the packed keep "
        "mask (uint32, one bit per element) or None when save_mask is False and no mask is given.");

  m.def("dropout_backward",
        [](py::array dy, py::object mask, double p, py::object seed_arg, py::object offset_arg,
           py::object out) {
    const char* op = "dropout_backward";
    check_p(p, op);
    DType dt = need_float(dy, op, "grad_output");
    const uint64_t seed = uint_arg(seed_arg, op, "seed"),
                   offset = uint_arg(offset_arg, op, "offset");
    index_t n = numel(dy);
    ArrayArg mask_a = opt_array(mask, op, "mask");
    if (mask_a.given()) need_mask(mask_a.arr(), n, op);
    const uint32_t* mp = mask_a.cdata<uint32_t>();
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array dx = out_like<T>(out, dy, dt, "dropout_backward", "out");
      T* dxp = ptr<T>(dx);
      const T* dyp = cptr<T>(dy);
      {
        KernelScope k;
        dropout_backward<T>(dxp, dyp, mp, n, p, seed, offset);
      }
      return dx;
    });
  },
        py::arg("grad_output"), py::arg("mask"), py::arg("p"), py::arg("seed"), py::arg("offset"),
        py::arg("out") = py::none(),
        "grad_input = grad_output * keep / (1 - p); keep read from mask, or regenerated from "
        "(seed, offset) when mask is None.");

  m.def("channel_scale",
        [](py::array x, py::array scale, py::object out) {
    DType dt = need_float(x, "channel_scale", "input");
    PYDLK_NEED(
        x.ndim() >= 2,
        "channel_scale: input must have at least 2 dimensions (N, C, ...), got " + str_shape(x));
    need_dtype(scale, dt, "channel_scale", "scale");
    need_shape(scale, {x.shape(0), x.shape(1)}, "channel_scale", "scale");
    index_t rows = x.shape(0) * x.shape(1);
    index_t inner = rows ? numel(x) / rows : 0;
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array y = out_like<T>(out, x, dt, "channel_scale", "out");
      T* yp = ptr<T>(y);
      {
        KernelScope k;
        rowscale<T>(yp, cptr<T>(x), cptr<T>(scale), rows, inner);
      }
      return y;
    });
  }, py::arg("input"), py::arg("scale"), py::arg("out") = py::none(),
        "y[n, c, ...] = input[n, c, ...] * scale[n, c] (channel dropout's forward and backward).");
}

}  // namespace pydlk
