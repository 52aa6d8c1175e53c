// Bindings for csrc/loss.cpp.
#include "bind_util.h"

namespace pydlk {
void bind_loss(py::module_& m) { (void)m; }
}  // namespace pydlk
