// Bindings for csrc/attention.cpp.
#include "bind_util.h"

namespace pydlk {
void bind_attention(py::module_& m) { (void)m; }
}  // namespace pydlk
