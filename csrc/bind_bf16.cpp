// Bindings for the bf16 products (csrc/bf16_gemm.cpp, csrc/bf16_ops.cpp): float32 in and out,
// bf16 inside. Each raises RuntimeError on a CPU without AVX512_BF16 (Python falls back first).
#include <cstdint>
#include <string>
#include <vector>

#include "bf16_gemm.h"
#include "bf16_ops.h"
#include "bind_util.h"
#include "conv2d.h"

namespace pydlk {

ConvShape check_conv(const py::array& x, const py::array& w, DType dt, const py::object& stride,
                     const py::object& padding, const py::object& dilation,
                     const py::object& groups_arg, const char* op);

namespace {

void need_bf16_cpu(const char* op) {
  if (!bf16_cpu_supported())
    throw std::runtime_error(std::string(op) +
                             ": this CPU has no AVX512_BF16 instructions (bf16 products)");
}

// float32, or uint16 holding bf16 bits (a bfloat16 array viewed as uint16), C-contiguous 2-D.
bool is_bits(const py::array& a, const char* op, const char* name) {
  need_ndim(a, 2, op, name);
  bool c = (a.flags() & py::array::c_style) != 0;
  if (c && py::isinstance<py::array_t<float>>(a)) return false;
  if (c && py::isinstance<py::array_t<uint16_t>>(a)) return true;
  throw py::type_error(std::string(op) + ": " + name +
                       " must be a C-contiguous float32 or bfloat16 (as uint16 bits) array, got " +
                       py::str(a.dtype()).cast<std::string>() + (c ? "" : " (not C-contiguous)"));
}

py::array new_f32(index_t rows, index_t cols, const char* op, const char* name) {
  return empty<float>({(py::ssize_t)rows, (py::ssize_t)cols}, op, name);
}

}  // namespace

void bind_bf16(py::module_& m) {
  m.def("bf16_supported", &bf16_cpu_supported,
        "True where the CPU has AVX512_BF16 (the bf16 products can run).");
  m.def("bf16_amx_supported", &bf16_amx_supported,
        "True where the CPU has AMX-BF16 and the OS let this process use the tiles.");
  m.def("get_bf16_amx", &bf16_amx_allowed,
        "Whether the bf16 products may run on AMX tiles (pydlk.backends.cpu.allow_amx).");
  m.def("set_bf16_amx", &set_bf16_amx_allowed, py::arg("allowed"),
        "Allow (True) or forbid (False) AMX for the bf16 products packed from now on.");

  m.def("gemm_bf16",
        [](py::array a, py::array b) {
    const char* op = "gemm_bf16";
    bool abits = is_bits(a, op, "a"), bbits = is_bits(b, op, "b");
    PYDLK_NEED(abits == bbits, std::string(op) + ": a and b must have the same dtype");
    PYDLK_NEED(a.shape(1) == b.shape(0), std::string(op) + ": a is " + str_shape(a) + " and b is " +
                                             str_shape(b) + ": inner sizes differ");
    need_bf16_cpu(op);
    index_t M = a.shape(0), K = a.shape(1), N = b.shape(1);
    py::array c = new_f32(M, N, op, "output");
    float* cp = ptr<float>(c);
    std::vector<uint32_t> ws(bf16_gemm_ws_slots(M, K));
    {
      KernelScope k;
      if (abits)
        bf16_gemm(cp, N, false, M, N, K, BfMat<uint16_t>{cptr<uint16_t>(a), K, 1},
                  BfMat<uint16_t>{cptr<uint16_t>(b), 1, N}, ws.data());
      else
        bf16_gemm(cp, N, false, M, N, K, BfMat<float>{cptr<float>(a), K, 1},
                  BfMat<float>{cptr<float>(b), 1, N}, ws.data());
    }
    return c;
  }, py::arg("a"), py::arg("b"),
        "a (M, K) @ b (K, N) as float32: operands rounded to bf16, products summed in float32.");

  m.def("linear_bf16_forward",
        [](py::array x, py::array w, py::object bias) {
    const char* op = "linear_bf16";
    need_dtype(x, DType::f32, op, "input");
    need_ndim(x, 2, op, "input");
    need_dtype(w, DType::f32, op, "weight");
    need_ndim(w, 2, op, "weight");
    PYDLK_NEED(w.shape(1) == x.shape(1),
               std::string(op) + ": input has " + std::to_string(x.shape(1)) +
                   " features, weight expects " + std::to_string(w.shape(1)));
    ArrayArg b = opt_array(bias, op, "bias");
    if (b.given()) {
      need_dtype(b.arr(), DType::f32, op, "bias");
      need_shape(b.arr(), {w.shape(0)}, op, "bias");
    }
    need_bf16_cpu(op);
    index_t N = x.shape(0), IN = x.shape(1), OUT = w.shape(0);
    py::array y = new_f32(N, OUT, op, "output");
    float* yp = ptr<float>(y);
    const float* bp = b.cdata<float>();
    {
      KernelScope k;
      linear_bf16_forward(yp, cptr<float>(x), cptr<float>(w), bp, N, IN, OUT);
    }
    return y;
  }, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(),
        "y = input @ weight.T + bias with bf16 products; float32 in and out.");

  m.def("linear_bf16_backward",
        [](py::array dy, py::array x, py::array w, bool need_dx, bool need_dw, bool need_db) {
    const char* op = "linear_bf16_backward";
    need_dtype(x, DType::f32, op, "input");
    need_ndim(x, 2, op, "input");
    need_dtype(w, DType::f32, op, "weight");
    need_ndim(w, 2, op, "weight");
    PYDLK_NEED(w.shape(1) == x.shape(1),
               std::string(op) + ": input and weight disagree on features");
    need_dtype(dy, DType::f32, op, "grad_output");
    need_shape(dy, {x.shape(0), w.shape(0)}, op, "grad_output");
    need_bf16_cpu(op);
    index_t N = x.shape(0), IN = x.shape(1), OUT = w.shape(0);
    py::object dx = py::none(), dw = py::none(), db = py::none();
    float *dxp = nullptr, *dwp = nullptr, *dbp = nullptr;
    if (need_dx) {
      py::array a = new_f32(N, IN, op, "grad_input");
      dxp = ptr<float>(a);
      dx = a;
    }
    if (need_dw) {
      py::array a = new_f32(OUT, IN, op, "grad_weight");
      dwp = ptr<float>(a);
      dw = a;
    }
    if (need_db) {
      py::array a = empty<float>({(py::ssize_t)OUT}, op, "grad_bias");
      dbp = ptr<float>(a);
      db = a;
    }
    {
      KernelScope k;
      linear_bf16_backward(dxp, dwp, dbp, cptr<float>(dy), cptr<float>(x), cptr<float>(w), N, IN,
                           OUT);
    }
    return py::make_tuple(dx, dw, db);
  }, py::arg("grad_output"), py::arg("input"), py::arg("weight"), py::arg("need_input") = true,
        py::arg("need_weight") = true, py::arg("need_bias") = true,
        "Returns (grad_input, grad_weight, grad_bias) with bf16 products; None where not asked.");

  m.def("conv2d_bf16_forward",
        [](py::array x, py::array w, py::object bias, py::object stride, py::object padding,
           py::object dilation) {
    const char* op = "conv2d_bf16";
    need_dtype(x, DType::f32, op, "input");
    ConvShape s = check_conv(x, w, DType::f32, stride, padding, dilation, py::int_(1), op);
    ArrayArg b = opt_array(bias, op, "bias");
    if (b.given()) {
      need_dtype(b.arr(), DType::f32, op, "bias");
      need_shape(b.arr(), {(py::ssize_t)s.K}, op, "bias");
    }
    need_bf16_cpu(op);
    py::array y = empty<float>(
        {(py::ssize_t)s.N, (py::ssize_t)s.K, (py::ssize_t)s.OH, (py::ssize_t)s.OW}, op, "output");
    float* yp = ptr<float>(y);
    const float* bp = b.cdata<float>();
    {
      KernelScope k;
      conv2d_bf16_forward(yp, cptr<float>(x), cptr<float>(w), bp, s);
    }
    return y;
  },
        py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
        py::arg("padding") = 0, py::arg("dilation") = 1,
        "2-D convolution (groups=1) with bf16 products; float32 in and out.");

  m.def("conv2d_bf16_backward",
        [](py::array dy, py::array x, py::array w, py::object stride, py::object padding,
           py::object dilation, bool need_dx, bool need_dw, bool need_db) {
    const char* op = "conv2d_bf16_backward";
    need_dtype(x, DType::f32, op, "input");
    ConvShape s = check_conv(x, w, DType::f32, stride, padding, dilation, py::int_(1), op);
    need_dtype(dy, DType::f32, op, "grad_output");
    need_shape(dy, {(py::ssize_t)s.N, (py::ssize_t)s.K, (py::ssize_t)s.OH, (py::ssize_t)s.OW}, op,
               "grad_output");
    need_bf16_cpu(op);
    py::object dx = py::none(), dw = py::none(), db = py::none();
    float *dxp = nullptr, *dwp = nullptr, *dbp = nullptr;
    if (need_dx) {
      py::array a = empty<float>(shape_of(x), op, "grad_input");
      dxp = ptr<float>(a);
      dx = a;
    }
    if (need_dw) {
      py::array a = empty<float>(shape_of(w), op, "grad_weight");
      dwp = ptr<float>(a);
      dw = a;
    }
    if (need_db) {
      py::array a = empty<float>({(py::ssize_t)s.K}, op, "grad_bias");
      dbp = ptr<float>(a);
      db = a;
    }
    {
      KernelScope k;
      conv2d_bf16_backward(dxp, dwp, dbp, cptr<float>(dy), cptr<float>(x), cptr<float>(w), s);
    }
    return py::make_tuple(dx, dw, db);
  },
        py::arg("grad_output"), py::arg("input"), py::arg("weight"), py::arg("stride") = 1,
        py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("need_input") = true,
        py::arg("need_weight") = true, py::arg("need_bias") = true,
        "Returns (grad_input, grad_weight, grad_bias) with bf16 products; None where not asked.");
}

}  // namespace pydlk
