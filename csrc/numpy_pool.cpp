// NumPy's data allocator (NEP 49, PyDataMem_SetHandler) with a cache of freed large blocks.
//
// Why: glibc maps every block above 32 MiB afresh and unmaps it on free (mallopt cannot raise
// that limit; bind.cpp already keeps smaller blocks in the heap), so an op that returns a
// 64 MiB array pays a page fault and the kernel's zeroing for every 4 KiB of it, every call.
// Dropout on 16M floats as users call it (two fresh 64 MiB outputs per step) spent half its
// 20 ms there on a Zen 4, against 10 ms with warm outputs. Here blocks of 32 MiB and more are
// kept when NumPy frees them, up to a cap, and handed out again for a request of about the same
// size (at most 1/8 smaller than the block): the pages stay mapped and warm, as in torch's
// CUDA caching allocator. Everything else (smaller blocks, realloc) goes to the handler NumPy
// had before, its own small-block cache included, so small arrays behave exactly as before.
//
// The handler is NumPy's allocator for the context that imports pydlk (NumPy keeps it in a
// context variable: other threads keep NumPy's default); every array remembers the handler
// that allocated it, so its free always comes back here. np.zeros comes as calloc: a reused
// block is cleared with memset, still cheaper than faulting in zeroed pages. PYDLK_MALLOC_POOL=0
// leaves NumPy's allocator alone; numpy_pool_release() returns the cached blocks to the system.
#include "numpy_pool.h"

#if defined(__GLIBC__)
#include <malloc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace pydlk {

namespace py = pybind11;

namespace {

constexpr size_t kMinBlock = size_t(32) << 20;  // smaller: the glibc heap already reuses them

// NumPy's handler structs (numpy/ndarraytypes.h, version 1, stable since NumPy 1.22).
struct Allocator {
  void* ctx;
  void* (*malloc)(void* ctx, size_t size);
  void* (*calloc)(void* ctx, size_t nelem, size_t elsize);
  void* (*realloc)(void* ctx, void* ptr, size_t new_size);
  void (*free)(void* ctx, void* ptr, size_t size);
};
struct Handler {
  char name[127];
  uint8_t version;
  Allocator allocator;
};

struct Block {
  void* p;
  size_t cap;  // malloc_usable_size
};

struct Pool {
  std::mutex mu;
  std::vector<Block> blocks;  // the most recently freed last
  size_t cached = 0;          // bytes in blocks
  size_t limit = 0;           // the cap on cached
  size_t hits = 0, misses = 0;
};
Pool g_pool;
bool g_installed = false;
const Allocator* g_prev = nullptr;  // NumPy's handler before this one (kept alive forever)

// A cached block that holds size bytes and is at most 1/8 larger, or null.
void* take(size_t size) {
  std::lock_guard<std::mutex> lock(g_pool.mu);
  for (size_t i = g_pool.blocks.size(); i-- > 0;) {
    const Block b = g_pool.blocks[i];
    if (b.cap >= size && b.cap - size <= size / 8) {
      g_pool.blocks.erase(g_pool.blocks.begin() + std::ptrdiff_t(i));
      g_pool.cached -= b.cap;
      ++g_pool.hits;
      return b.p;
    }
  }
  ++g_pool.misses;
  return nullptr;
}

void* pool_malloc(void*, size_t size) {
  if (size >= kMinBlock)
    if (void* p = take(size)) return p;
  return g_prev->malloc(g_prev->ctx, size);
}

void* pool_calloc(void*, size_t nelem, size_t elsize) {
  if (elsize != 0 && nelem > SIZE_MAX / elsize) return nullptr;
  const size_t size = nelem * elsize;
  if (size >= kMinBlock)
    if (void* p = take(size)) return std::memset(p, 0, size);
  return g_prev->calloc(g_prev->ctx, nelem, elsize);
}

// A live block is one of the previous handler's (the pool holds only freed ones).
void* pool_realloc(void*, void* p, size_t size) { return g_prev->realloc(g_prev->ctx, p, size); }

void pool_free(void*, void* p, size_t size) {
  if (!p) return;
  // Large blocks come from malloc (NumPy's default handler caches only small ones), so
  // malloc_usable_size tells what a block can hold.
  const size_t cap = size >= kMinBlock ? malloc_usable_size(p) : 0;
  std::vector<Block> drop;  // given back after the lock is released
  {
    std::lock_guard<std::mutex> lock(g_pool.mu);
    if (cap < kMinBlock || cap > g_pool.limit) {
      drop.push_back({p, size});
    } else {
      g_pool.blocks.push_back({p, cap});
      g_pool.cached += cap;
      size_t oldest = 0;  // over the cap: the least recently freed go
      while (g_pool.cached > g_pool.limit) {
        g_pool.cached -= g_pool.blocks[oldest].cap;
        drop.push_back(g_pool.blocks[oldest++]);
      }
      g_pool.blocks.erase(g_pool.blocks.begin(), g_pool.blocks.begin() + std::ptrdiff_t(oldest));
    }
  }
  for (const Block& b : drop) g_prev->free(g_prev->ctx, b.p, b.cap);
}

Handler g_handler = {"pydlk_pool", 1, {nullptr, pool_malloc, pool_calloc, pool_realloc, pool_free}};

// NumPy's C-API table, from the capsule pybind11 also reads (no NumPy headers at build time).
void** numpy_api() {
  py::object mod;
  try {
    mod = py::module_::import("numpy._core._multiarray_umath");  // NumPy 2
  } catch (py::error_already_set&) {
    mod = py::module_::import("numpy.core._multiarray_umath");  // NumPy 1.x
  }
  py::capsule api = mod.attr("_ARRAY_API").cast<py::capsule>();
  return static_cast<void**>(api.get_pointer());
}

size_t release_all() {
  std::vector<Block> blocks;
  {
    std::lock_guard<std::mutex> lock(g_pool.mu);
    blocks.swap(g_pool.blocks);
    g_pool.cached = 0;
  }
  size_t bytes = 0;
  for (const Block& b : blocks) {
    bytes += b.cap;
    g_prev->free(g_prev->ctx, b.p, b.cap);
  }
  return bytes;
}

}  // namespace

std::string install_numpy_pool() {
  const char* env = std::getenv("PYDLK_MALLOC_POOL");
  if (env && std::string(env) == "0") return "NumPy's default (PYDLK_MALLOC_POOL=0)";
  // The cap: 1 GiB, or an eighth of the machine's memory where that is less.
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  size_t limit = size_t(1) << 30;
  if (pages > 0 && page > 0 && size_t(pages) * size_t(page) / 8 < limit)
    limit = size_t(pages) * size_t(page) / 8;
  g_pool.limit = limit;
  try {
    void** api = numpy_api();
    // PyDataMem_SetHandler and PyDataMem_GetHandler are slots 304 and 305 of NumPy's C API
    // (numpy/__multiarray_api.h).
    auto set_handler = reinterpret_cast<PyObject* (*)(PyObject*)>(api[304]);
    auto get_handler = reinterpret_cast<PyObject* (*)()>(api[305]);
    PyObject* prev = get_handler();  // a new reference, never released: g_prev points into it
    if (!prev) throw py::error_already_set();
    auto* prev_handler = static_cast<Handler*>(PyCapsule_GetPointer(prev, "mem_handler"));
    if (!prev_handler) throw py::error_already_set();
    // Only over NumPy's own handler: its large blocks are plain malloc blocks, which
    // malloc_usable_size can measure; another library's allocator is left in place.
    const std::string prev_name(prev_handler->name,
                                strnlen(prev_handler->name, sizeof(prev_handler->name)));
    if (prev_handler->version != 1 || prev_name != "default_allocator")
      return "left as it was (" + prev_name + ")";
    g_prev = &prev_handler->allocator;
    // The capsule lives as long as the process: every array keeps a reference to it.
    PyObject* capsule = PyCapsule_New(&g_handler, "mem_handler", nullptr);
    if (!capsule) throw py::error_already_set();
    PyObject* old = set_handler(capsule);
    if (!old) throw py::error_already_set();
    Py_DECREF(old);
    g_installed = true;
    return "cached above 32 MiB, up to " + std::to_string(limit >> 20) + " MiB";
  } catch (py::error_already_set& e) {
    e.restore();
    PyErr_Clear();
    return "NumPy's default (the handler could not be installed)";
  }
}

void bind_numpy_pool(py::module_& m) {
  m.def("numpy_pool_stats",
        [] {
    std::lock_guard<std::mutex> lock(g_pool.mu);
    py::dict d;
    d["installed"] = g_installed;
    d["cached_bytes"] = g_pool.cached;
    d["blocks"] = g_pool.blocks.size();
    d["limit_bytes"] = g_pool.limit;
    d["min_block_bytes"] = kMinBlock;
    d["hits"] = g_pool.hits;
    d["misses"] = g_pool.misses;
    return d;
  },
        "The large-block cache of pydlk's NumPy allocator: installed, cached_bytes, blocks, "
        "limit_bytes, min_block_bytes, hits and misses (requests of min_block_bytes or more).");
  m.def("numpy_pool_release", &release_all,
        "Returns the cached blocks to the system (as torch.cuda.empty_cache); the bytes freed.");
}

}  // namespace pydlk

#else  // not glibc: malloc_usable_size and glibc's mapping limit are glibc's; NumPy's default.
namespace pydlk {
namespace py = pybind11;
std::string install_numpy_pool() { return "NumPy's default (not a glibc system)"; }
void bind_numpy_pool(py::module_& m) {
  m.def("numpy_pool_stats", [] {
    py::dict d;
    d["installed"] = false;
    return d;
  }, "The large-block cache of pydlk's NumPy allocator (glibc systems only).");
  m.def("numpy_pool_release", [] { return size_t(0); },
        "Returns the cached blocks to the system; the bytes freed.");
}
}  // namespace pydlk
#endif
