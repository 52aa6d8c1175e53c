// Bindings for csrc/pool2d.cpp.
#include "bind_util.h"

namespace pydlk {
void bind_pool2d(py::module_& m) { (void)m; }
}  // namespace pydlk
