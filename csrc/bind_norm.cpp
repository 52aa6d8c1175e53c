// Bindings for csrc/norm.cpp.
#include "bind_util.h"

namespace pydlk {
void bind_norm(py::module_& m) { (void)m; }
}  // namespace pydlk
