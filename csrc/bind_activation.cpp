// Bindings for csrc/activation.cpp.
#include "bind_util.h"

namespace pydlk {
void bind_activation(py::module_& m) { (void)m; }
}  // namespace pydlk
