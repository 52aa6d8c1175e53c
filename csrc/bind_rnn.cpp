// Bindings for csrc/rnn.cpp.
#include "bind_util.h"

namespace pydlk {
void bind_rnn(py::module_& m) { (void)m; }
}  // namespace pydlk
