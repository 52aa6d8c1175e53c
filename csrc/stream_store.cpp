// The size from which kernels write their outputs with streaming stores (stream_store.h).
#include "stream_store.h"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>

namespace pydlk {

namespace {

// The last-level cache's size as Linux reports it (sysfs: the highest cache level of CPU 0).
// glibc's sysconf(_SC_LEVEL3_CACHE_SIZE) was seen to report 320 MiB on a VM whose L3 is 32 MiB.
size_t last_level_cache() {
  size_t best = 0;
  int best_level = 0;
  for (int i = 0; i < 10; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::ifstream lf(dir + "level"), sf(dir + "size");
    int level = 0;
    std::string size;
    if (!(lf >> level) || !(sf >> size) || size.empty()) continue;
    size_t v = std::strtoull(size.c_str(), nullptr, 10);
    const char unit = size.back();
    if (unit == 'K') v <<= 10;
    else if (unit == 'M') v <<= 20;
    if (level >= best_level && v > 0) best = v, best_level = level;
  }
  return best;
}

size_t default_threshold() {
  const size_t llc = last_level_cache();
  return llc > 0 ? llc / 2 : size_t(16) << 20;
}

std::atomic<size_t> g_threshold{default_threshold()};

}  // namespace

size_t stream_threshold() { return g_threshold.load(std::memory_order_relaxed); }

void set_stream_threshold(int64_t bytes) {
  g_threshold.store(bytes < 0 ? default_threshold() : size_t(bytes), std::memory_order_relaxed);
}

bool stream_output(size_t bytes) { return bytes > 0 && bytes >= stream_threshold(); }

}  // namespace pydlk
