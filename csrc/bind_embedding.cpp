// Bindings for csrc/embedding.cpp: embedding_backward(grad_output, indices, num_weights).
#include <string>

#include "bind_util.h"
#include "embedding.h"

namespace pydlk {

void bind_embedding(py::module_& m) {
  m.def("embedding_backward",
        [](py::array dy, py::array idx, py::object num_weights) {
    const char* op = "embedding_backward";
    DType dt = need_float(dy, op, "grad_output");
    need_ndim(dy, 2, op, "grad_output");
    need_int64(idx, op, "indices");
    need_ndim(idx, 1, op, "indices");
    PYDLK_NEED(idx.shape(0) == dy.shape(0),
               std::string(op) + ": indices must hold one index per row of grad_output (" +
                   std::to_string(dy.shape(0)) + "), got " + std::to_string(idx.shape(0)));
    const int64_t v = int_arg(num_weights, op, "num_weights", 0, kIntLimit);
    const index_t n = dy.shape(0), d = dy.shape(1);
    const int64_t* ip = static_cast<const int64_t*>(idx.data());
    for (index_t i = 0; i < n; ++i)
      PYDLK_NEED(ip[i] >= 0 && ip[i] < v, std::string(op) + ": index " + std::to_string(ip[i]) +
                                              " is out of range for " + std::to_string(v) +
                                              " weight rows");
    return dispatch(dt, [&](auto t) {
      using T = decltype(t);
      py::array dw = empty<T>({(py::ssize_t)v, (py::ssize_t)d}, op, "grad_weight");
      T* wp = ptr<T>(dw);
      const T* gp = cptr<T>(dy);
      {
        KernelScope k;
        embedding_backward<T>(wp, gp, ip, n, d, v);
      }
      return dw;
    });
  }, py::arg("grad_output"), py::arg("indices"), py::arg("num_weights"),
        "The weight gradient of an embedding lookup: a (num_weights, D) array of zeros with each "
        "row of grad_output (N, D) added into row indices[i] (int64, in range); repeated indices "
        "accumulate.");
}

}  // namespace pydlk
