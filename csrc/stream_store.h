// Non-temporal ("streaming") stores for outputs too large to stay in cache.
//
// Why: a plain store first reads the cache line it writes (read for ownership). An output that
// will have left the last-level cache before anyone reads it pays that read for nothing: a
// 64 MiB copy here ran at 35 GB/s with plain stores and 49 GB/s streaming; a 8 MiB one, which
// stays in the 32 MiB L3, ran at 170 GB/s plain and 54 streaming. So kernels that write a large
// output row by row compute each row into a small buffer (in L1) and stream it out, only when
// the output is at least half the last-level cache (its input is at least as large: together
// they would not stay cached).
#pragma once
#include <cstddef>
#include <cstdint>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "common.h"

namespace pydlk {

// Whether an output of `bytes` is written with streaming stores (see above).
bool stream_output(size_t bytes);
// The size from which outputs stream: half the last-level cache (as Linux reports it in sysfs;
// 16 MiB if unknown).
// pydlk._C.set_stream_threshold changes it (0: every output streams; tests use that to cover
// the streaming paths on small tensors); a negative value restores the default.
size_t stream_threshold();
void set_stream_threshold(int64_t bytes);

// Rows up to this many values go through a stack buffer of the caller's (16 KiB of float).
constexpr index_t kStreamRow = 4096;

// dst[0..n) = src[0..n) with streaming stores where dst is 32-byte aligned (plain stores for
// the few values before that and after the last whole vector). src: a row just computed, in L1.
PYDLK_INLINE void stream_copy(float* dst, const float* src, index_t n) {
  index_t i = 0;
#if defined(__AVX__)
  for (; i < n && (reinterpret_cast<uintptr_t>(dst + i) & 31u) != 0; ++i) dst[i] = src[i];
  for (; i + 8 <= n; i += 8) _mm256_stream_ps(dst + i, _mm256_loadu_ps(src + i));
#endif
  for (; i < n; ++i) dst[i] = src[i];
}

// Streaming stores are weakly ordered: each thread fences after its last one, before the
// barrier that hands its output to other threads (or back to Python).
PYDLK_INLINE void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

}  // namespace pydlk
