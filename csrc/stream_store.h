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
#include <cstring>
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

// dst[0..n) = src[0..n) with streaming stores over the whole 64-byte lines of dst, plain stores
// for the values before the first and after the last. src: a row just computed, in L1.
// Whole lines only: where rows do not start on a line (an out= from np.empty_like is 16-byte
// aligned), the line two rows share would otherwise take streaming stores from one row and
// plain ones from the other, and a partly streamed line costs a read-modify-write (layer norm
// forward on (4096, 1024), out 48 bytes past a line: 691 -> 319 us; its backward's dx 832 ->
// 662; 2 threads, Zen 5).
PYDLK_INLINE void stream_copy(float* dst, const float* src, index_t n) {
  index_t i = 0;
#if defined(__AVX__)
  for (; i < n && (reinterpret_cast<uintptr_t>(dst + i) & 63u) != 0; ++i) dst[i] = src[i];
  for (; i + 16 <= n; i += 16) {
    _mm256_stream_ps(dst + i, _mm256_loadu_ps(src + i));
    _mm256_stream_ps(dst + i + 8, _mm256_loadu_ps(src + i + 8));
  }
#endif
  for (; i < n; ++i) dst[i] = src[i];
}

// An output that a kernel writes beside its inputs but that starts 1 to 1024 bytes past one of
// them modulo 4 KiB (store_aliases_ahead, common.h; a preallocated out= placed there by its
// caller: new outputs are placed clear of it, bind_util.h's empty()) is computed into an L1
// buffer, a chunk or a row at a time, and copied out from there: the computing loop's stores
// hit L1 and leave at once, and the buffer sits 2 KiB from the output modulo 4 KiB, so the
// copy's loads never wait on its stores. (Layer norm forward on (4096, 1024) with out 64 bytes
// past x: 3.0 ms direct, about 1.3 through the buffer, 1.2 with out clear of x.)
template <typename T>
constexpr index_t kBounce = 4096 / sizeof(T);  // values per chunk
template <typename T>
constexpr index_t kBounceBuf = 2 * kBounce<T>;  // a chunk, and 4 KiB to place it in
template <typename T>
constexpr index_t kRowSlot = kStreamRow + kBounce<T>;  // a row, and 4 KiB to place it in

// Where in a buffer of n + 4 KiB / sizeof(T) values the copy of dst's n values starts.
template <typename T>
PYDLK_INLINE T* bounce_slot(T* buf, const T* dst) {
  const uintptr_t b = reinterpret_cast<uintptr_t>(buf), d = reinterpret_cast<uintptr_t>(dst);
  return buf + ((d + 2048 - b) & 4095u) / sizeof(T);
}

// out[0, n) by body(q, i0, m), which writes values [i0, i0 + m) of out into q[0, m): straight
// into out, or with `bounce` chunk by chunk through buf (kBounceBuf<T> values).
template <typename T, typename F>
PYDLK_INLINE void write_chunks(T* out, index_t n, bool bounce, T* buf, F body) {
  if (!bounce) {
    body(out, 0, n);
    return;
  }
  for (index_t i0 = 0; i0 < n; i0 += kBounce<T>) {
    const index_t m = n - i0 < kBounce<T> ? n - i0 : kBounce<T>;
    T* q = bounce_slot(buf, out + i0);
    body(q, i0, m);
    std::memcpy(out + i0, q, size_t(m) * sizeof(T));
  }
}

// Streaming stores are weakly ordered: each thread fences after its last one, before the
// barrier that hands its output to other threads (or back to Python).
PYDLK_INLINE void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

}  // namespace pydlk
