// bfloat16 matrix products with float32 accumulation, for autocast: AMX tiles (tdpbf16ps) where
// the CPU and the kernel allow them, else AVX512_BF16 (vdpbf16ps).
//
// Operands are float32 (or raw bf16 bits) in memory; packing rounds them to bf16 (round to
// nearest even) on the way into the kernel's panels, so no bf16 copy of a tensor is ever made.
// Products of two bf16 values are exact in float32; sums are float32. The result is float32.
// Everything here runs only where bf16_cpu_supported() is true (the file is compiled with
// -mavx512bf16; calling it on another CPU would be an illegal instruction).
#pragma once
#include <cstddef>
#include <cstdint>

#include "common.h"

namespace pydlk {

// The CPU has AVX512F/BW/VL and AVX512_BF16 (checked once, by cpuid).
bool bf16_cpu_supported();

// The CPU has AMX-BF16 and the kernel let this process use the tile registers (Linux asks each
// process to request them: arch_prctl(ARCH_REQ_XCOMP_PERM)). Checked and requested once.
bool bf16_amx_supported();
// Whether products packed from now on use AMX: supported and allowed. Allowed by default;
// pydlk.backends.cpu.allow_amx = False keeps them on AVX512_BF16 (same sums, other order).
bool bf16_amx_enabled();
bool bf16_amx_allowed();
void set_bf16_amx_allowed(bool allowed);

// A strided matrix view: element (lane j, depth k) is p[j * sl + k * sk]. For A (M x K) the lanes
// are rows; for B (K x N) they are columns. T is float or uint16_t (bf16 bits).
template <typename T>
struct BfMat {
  const T* p;
  index_t sl, sk;
};

// A packed once into a caller's buffer of bf16_packed_a_slots(M, K) slots and shared read-only
// by the threads (see bf16_gemm.cpp for the layout). The caller owns the memory: this file is
// compiled for AVX-512, so it instantiates no library template that another file could share.
// amx: the layout the AMX tiles read (panels of 32 rows), chosen when A was packed.
struct BfPackedA {
  const uint32_t* buf;
  index_t M, K;
  bool amx;
};
// Slots for either layout (the larger), so that a buffer sized before packing always fits.
size_t bf16_packed_a_slots(index_t M, index_t K);
// Where the panel holding row m starts (m a multiple of the panel height, 32 covers both).
size_t bf16_packed_a_offset(bool amx, index_t m, index_t K);

// Pack all of A (M x K) into dst (parallel over panels unless inside a parallel region).
template <typename T>
BfPackedA bf16_pack_a(uint32_t* dst, BfMat<T> A, index_t M, index_t K);

// C (M x [n0, n1)) = (accumulate ? C : bias) + A @ B[:, n0:n1] on the calling thread; bias
// null (zero) or a row vector of C's N columns (bias[n0..n1) used), added as each tile is
// stored. C is row-major with row stride ldc. Uses a per-thread panel buffer of its own.
template <typename T>
void bf16_gemm_packed(float* C, index_t ldc, bool accumulate, const BfPackedA& pa, BfMat<T> B,
                      index_t n0, index_t n1, const float* bias = nullptr);

// C (M x N) = (accumulate ? C : bias) + A (M x K) @ B (K x N), split over the OpenMP team when
// large (and run on the calling thread inside a parallel region); bias as bf16_gemm_packed's.
// ws: a buffer of bf16_gemm_ws_slots(M, K) slots for the packed A (of every thread).
size_t bf16_gemm_ws_slots(index_t M, index_t K);
template <typename TA, typename TB>
void bf16_gemm(float* C, index_t ldc, bool accumulate, index_t M, index_t N, index_t K, BfMat<TA> A,
               BfMat<TB> B, uint32_t* ws, const float* bias = nullptr);

// float32 -> bf16 bits, round to nearest even (NaN stays NaN); the scalar reference.
inline uint16_t bf16_round(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

}  // namespace pydlk
