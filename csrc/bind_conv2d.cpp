// Bindings for csrc/conv2d.cpp.
#include "bind_util.h"

namespace pydlk {
void bind_conv2d(py::module_& m) { (void)m; }
}  // namespace pydlk
