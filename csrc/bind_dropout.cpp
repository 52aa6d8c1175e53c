// Bindings for csrc/dropout.cpp.
#include "bind_util.h"

namespace pydlk {
void bind_dropout(py::module_& m) { (void)m; }
}  // namespace pydlk
