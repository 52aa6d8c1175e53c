// NumPy's data allocator for this process's main thread, with a cache of freed large blocks.
// See numpy_pool.cpp for why and how.
#pragma once
#include <pybind11/pybind11.h>

#include <string>

namespace pydlk {

// Installs the handler (PyDataMem_SetHandler) unless PYDLK_MALLOC_POOL=0; returns a line for
// show_config. Called once, at import, with the GIL held.
std::string install_numpy_pool();

// _C.numpy_pool_stats() and _C.numpy_pool_release().
void bind_numpy_pool(pybind11::module_& m);

}  // namespace pydlk
