#pragma once
// im2col and col2im of the gemm path for the downsampling layers of CIFAR-sized ResNets:
// float32, stride 2 both ways, no dilation, three columns of taps with padding 1 along W (the
// 3x3 layers) or one without padding (the 1x1 shortcuts), and even images W = 2*OW with OW =
// 4, 8 or 16 (32 -> 16, 16 -> 8 and 8 -> 4 wide).
//
// There an image row splits into its even and odd columns, each one vector of OW floats, and
// tap column q of output column ow reads input column 2*ow + q - pw:
//     3 columns, pw = 1:  q = 0: odd column ow - 1   q = 1: even column ow   q = 2: odd column ow
//     1 column, pw = 0:   q = 0: even column ow
// so im2col writes its rows of a tap row as the odd half shifted up one lane, the even half
// and the odd half, and col2im sums a row of dx in the two halves (the q = 0 rows of 3 shifted
// down one lane) and interleaves them once. The general loops pad each plane in a buffer, copy
// with strided loads, and in col2im zero dx and add every tap into memory: q = 2 read back the
// columns q = 0 had just stored two floats off, and such a load waits for the stores it spans
// to reach the cache. Same sums in the same order (taps by row, then column), so the same bits.
// Everything here is inlined into its caller's clone (an includer silences GCC's -Wpsabi: the
// 64-byte vectors cross no call).
#include <cstring>
#include <type_traits>
#include <utility>

#include "conv2d.h"

namespace pydlk {
namespace s2rows {

template <int N>
struct Vec;
template <>
struct Vec<4> {
  typedef float type __attribute__((vector_size(16)));
};
template <>
struct Vec<8> {
  typedef float type __attribute__((vector_size(32)));
};
template <>
struct Vec<16> {
  typedef float type __attribute__((vector_size(64)));
};
template <int N>
using vec = typename Vec<N>::type;
template <int N>
using lanes = std::make_index_sequence<N>;

// The even / odd columns of the 2N-wide row (a, b).
template <int N, size_t... I>
PYDLK_INLINE vec<N> evens(vec<N> a, vec<N> b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, (2 * I)...);
}
template <int N, size_t... I>
PYDLK_INLINE vec<N> odds(vec<N> a, vec<N> b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, (2 * I + 1)...);
}
// Lane j takes a[j - 1] (0 for lane 0) / a[j + 1] (0 for the last lane).
template <int N, size_t... I>
PYDLK_INLINE vec<N> shift_up(vec<N> a, std::index_sequence<I...>) {
  return __builtin_shufflevector(vec<N>{}, a, (I == 0 ? 0 : N + I - 1)...);
}
template <int N, size_t... I>
PYDLK_INLINE vec<N> shift_down(vec<N> a, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, vec<N>{}, (I + 1)...);
}
// The first / second N floats of the row e0 o0 e1 o1 ...
template <int N, size_t... I>
PYDLK_INLINE vec<N> zip_lo(vec<N> e, vec<N> o, std::index_sequence<I...>) {
  return __builtin_shufflevector(e, o, (I % 2 ? N + I / 2 : I / 2)...);
}
template <int N, size_t... I>
PYDLK_INLINE vec<N> zip_hi(vec<N> e, vec<N> o, std::index_sequence<I...>) {
  return __builtin_shufflevector(e, o, (I % 2 ? N + N / 2 + I / 2 : N / 2 + I / 2)...);
}

template <int N>
PYDLK_INLINE vec<N> load(const float* p) {
  vec<N> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <int N>
PYDLK_INLINE void store(float* p, vec<N> v) {
  std::memcpy(p, &v, sizeof v);
}

// col[(c, r, q), (i, oh, ow)] as im2col (conv2d.cpp) writes it, for N = OW and S = 3 or 1 tap
// columns.
template <int N, int S>
PYDLK_INLINE void im2col_n(float* col, const float* x, index_t nb, index_t c0, const ConvShape& s) {
  const index_t HW = s.H * s.W, OHW = s.OH * N, Q = nb * OHW;
  for (index_t c = 0; c < s.Cg(); ++c)
    for (index_t r = 0; r < s.R; ++r) {
      float* row = col + (c * s.R + r) * S * Q;  // tap columns q = 0 ... S - 1 are Q apart
      for (index_t i = 0; i < nb; ++i) {
        const float* xc = x + (i * s.C + c0 + c) * HW;
        for (index_t oh = 0; oh < s.OH; ++oh) {
          const index_t ih = 2 * oh + r - s.ph;
          vec<N> e{}, o{};  // zero rows in the padding
          if (ih >= 0 && ih < s.H) {
            const vec<N> a = load<N>(xc + ih * s.W), b = load<N>(xc + ih * s.W + N);
            e = evens<N>(a, b, lanes<N>{});
            if constexpr (S == 3) o = odds<N>(a, b, lanes<N>{});
          }
          float* d = row + i * OHW + oh * N;
          if constexpr (S == 3) {
            store<N>(d, shift_up<N>(o, lanes<N>{}));
            store<N>(d + Q, e);
            store<N>(d + 2 * Q, o);
          } else {
            store<N>(d, e);
          }
        }
      }
    }
}

// dx[i, c0 + c] from col as col2im (conv2d.cpp) sums it, for N = OW and S = 3 or 1 tap
// columns; overwrites the planes.
template <int N, int S>
PYDLK_INLINE void col2im_n(float* dx, const float* col, index_t nb, index_t c0,
                           const ConvShape& s) {
  const index_t HW = s.H * s.W, OHW = s.OH * N, Q = nb * OHW;
  for (index_t i = 0; i < nb; ++i)
    for (index_t c = 0; c < s.Cg(); ++c) {
      float* d = dx + (i * s.C + c0 + c) * HW;
      const float* cc = col + c * s.R * S * Q + i * OHW;
      for (index_t ih = 0; ih < s.H; ++ih) {
        vec<N> e{}, o{};
        for (index_t r = 0; r < s.R; ++r) {
          const index_t t = ih + s.ph - r;  // 2*oh for the output row this tap row came from
          if (t < 0 || t % 2 || t / 2 >= s.OH) continue;
          const float* src = cc + r * S * Q + (t / 2) * N;
          if constexpr (S == 3) {
            o += shift_down<N>(load<N>(src), lanes<N>{});
            e += load<N>(src + Q);
            o += load<N>(src + 2 * Q);
          } else {
            e += load<N>(src);
          }
        }
        store<N>(d + ih * s.W, zip_lo<N>(e, o, lanes<N>{}));
        store<N>(d + ih * s.W + N, zip_hi<N>(e, o, lanes<N>{}));
      }
    }
}

// pe[m] = row[2m], po[m] = row[2m + 1] for m < W/2, with W = 8, 16 or 32 (false otherwise: the
// caller's loop runs). conv2d_direct512.cpp's stride-2 phase planes.
template <int N>
PYDLK_INLINE void split_row_n(float* pe, float* po, const float* row) {
  const vec<N> a = load<N>(row), b = load<N>(row + N);
  store<N>(pe, evens<N>(a, b, lanes<N>{}));
  store<N>(po, odds<N>(a, b, lanes<N>{}));
}
PYDLK_INLINE bool split_row(float* pe, float* po, const float* row, index_t W) {
  switch (W) {
    case 32: return split_row_n<16>(pe, po, row), true;
    case 16: return split_row_n<8>(pe, po, row), true;
    case 8: return split_row_n<4>(pe, po, row), true;
    default: return false;
  }
}

inline bool fits(const ConvShape& s) {
  return s.sh == 2 && s.sw == 2 && s.dh == 1 && s.dw == 1 &&
         ((s.S == 3 && s.pw == 1) || (s.S == 1 && s.pw == 0)) && s.W == 2 * s.OW &&
         (s.OW == 4 || s.OW == 8 || s.OW == 16);
}

template <int S>
PYDLK_INLINE void im2col_s(float* col, const float* x, index_t nb, index_t c0, const ConvShape& s) {
  if (s.OW == 16) im2col_n<16, S>(col, x, nb, c0, s);
  else if (s.OW == 8) im2col_n<8, S>(col, x, nb, c0, s);
  else im2col_n<4, S>(col, x, nb, c0, s);
}
template <int S>
PYDLK_INLINE void col2im_s(float* dx, const float* col, index_t nb, index_t c0,
                           const ConvShape& s) {
  if (s.OW == 16) col2im_n<16, S>(dx, col, nb, c0, s);
  else if (s.OW == 8) col2im_n<8, S>(dx, col, nb, c0, s);
  else col2im_n<4, S>(dx, col, nb, c0, s);
}

// False where the shape is not one of these (the caller's general loops run).
template <typename T>
PYDLK_INLINE bool im2col(T* col, const T* x, index_t nb, index_t c0, const ConvShape& s) {
  if constexpr (!std::is_same_v<T, float>) return false;
  else {
    if (!fits(s)) return false;
    if (s.S == 3) im2col_s<3>(col, x, nb, c0, s);
    else im2col_s<1>(col, x, nb, c0, s);
    return true;
  }
}
template <typename T>
PYDLK_INLINE bool col2im(T* dx, const T* col, index_t nb, index_t c0, const ConvShape& s) {
  if constexpr (!std::is_same_v<T, float>) return false;
  else {
    if (!fits(s)) return false;
    if (s.S == 3) col2im_s<3>(dx, col, nb, c0, s);
    else col2im_s<1>(dx, col, nb, c0, s);
    return true;
  }
}

}  // namespace s2rows
}  // namespace pydlk
