// Bindings for csrc/optim.cpp.
#include "bind_util.h"

namespace pydlk {
void bind_optim(py::module_& m) { (void)m; }
}  // namespace pydlk
