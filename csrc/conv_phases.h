// The input gradient of a strided convolution, one output phase at a time (the direct bf16
// kernel and the AMX one both split dx this way; see bf16_conv_direct.cpp and
// bf16_conv_amx.cpp). Along one axis (input length n, kernel k, dilation d, padding p, stride
// st): dx position i*st + a (phase a) is reached by the taps r with r*d = a + p (mod st), each
// from dy position i - e_r, e_r = (r*d - a - p) / st.
//
// Internal linkage on purpose: the files that include this are compiled with different
// instruction sets, and a shared inline definition could be handed to either (bf16_kernel.h).
#pragma once
#include "common.h"

namespace pydlk {

// e_r of tap r in phase a (exact: r is a tap of the phase).
static inline index_t shift_of(index_t r, index_t d, index_t a, index_t p, index_t st) {
  return (r * d - a - p) / st;
}
// True if tap r reaches phase a.
static inline bool tap_in(index_t r, index_t d, index_t a, index_t p, index_t st) {
  return ((r * d - a - p) % st + st) % st == 0;
}
// Positions of phase a in an axis of n: a, a + st, ... < n.
static inline index_t phase_count(index_t n, index_t a, index_t st) {
  return n > a ? (n - a + st - 1) / st : 0;
}

}  // namespace pydlk
