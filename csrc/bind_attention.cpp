// Bindings for csrc/attention.cpp.
#include "attention.h"
#include "bind_util.h"

namespace pydlk {

void bind_attention(py::module_& m) {
  m.def("attn_softmax_forward_", [](py::array p) {
    DType dt = need_float(p, "attn_softmax_forward_", "scores");
    PYDLK_NEED(p.ndim() >= 1, "attn_softmax_forward_: scores must have at least 1 dimension");
    PYDLK_NEED(p.writeable(),
               "attn_softmax_forward_: scores must be writeable (it is overwritten)");
    index_t C = p.ndim() ? p.shape(p.ndim() - 1) : 1;
    index_t R = C ? p.size() / C : 0;
    dispatch(dt, [&](auto tag) {
      using T = decltype(tag);
      T* pp = ptr<T>(p);
      {
        KernelScope k;
        attn_softmax_forward<T>(pp, R, C);
      }
      return 0;
    });
  }, py::arg("scores"), "Softmax over the last axis, in place (scores become probabilities).");

  m.def("attn_softmax_backward_",
        [](py::array dp, py::array p) {
    DType dt = need_float(p, "attn_softmax_backward_", "probs");
    need_dtype(dp, dt, "attn_softmax_backward_", "grad_probs");
    PYDLK_NEED(dp.ndim() == p.ndim(),
               "attn_softmax_backward_: grad_probs must have the shape of probs " + str_shape(p) +
                   ", got " + str_shape(dp));
    for (py::ssize_t i = 0; i < p.ndim(); ++i)
      PYDLK_NEED(dp.shape(i) == p.shape(i),
                 "attn_softmax_backward_: grad_probs must have the shape of probs " + str_shape(p) +
                     ", got " + str_shape(dp));
    PYDLK_NEED(dp.writeable(),
               "attn_softmax_backward_: grad_probs must be writeable (it is overwritten)");
    index_t C = p.ndim() ? p.shape(p.ndim() - 1) : 1;
    index_t R = C ? p.size() / C : 0;
    dispatch(dt, [&](auto tag) {
      using T = decltype(tag);
      T* dpp = ptr<T>(dp);
      {
        KernelScope k;
        attn_softmax_backward<T>(dpp, cptr<T>(p), R, C);
      }
      return 0;
    });
  }, py::arg("grad_probs"), py::arg("probs"),
        "In place: grad_probs becomes the gradient of the scores, p * (g - sum(p * g)).");
}

}  // namespace pydlk
