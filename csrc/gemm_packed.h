// A float32 matrix product against a right-hand matrix packed once and reused: the recurrent
// product of an RNN (h_{t-1} @ W_hh^T forward, dpre_t @ W_hh backward) multiplies the same W_hh
// at every time step, and a BLAS call per step packs it again each time (a fifth of the LSTM's
// time went to OpenBLAS's packing). AVX-512 only (packed_gemm_supported); elsewhere, and for
// float64, the callers keep the BLAS.
#pragma once
#include <cstddef>

#include "common.h"

namespace pydlk {

bool packed_gemm_supported();

// Floats the packed form of a (K, N) matrix takes: 32-column panels [panel][k][32], zero past N.
size_t packed_b_floats(index_t K, index_t N);

// Packs B (K, N): B[k, j] = src[k * ld + j], or with trans src[j * ld + k].
void pack_b(float* dst, const float* src, index_t ld, bool trans, index_t K, index_t N);

// C (M, N, row stride ldc) = A (M, K, row stride lda) @ B, plus C when accumulate, on nt threads.
void gemm_packed(index_t M, index_t N, index_t K, const float* A, index_t lda, const float* Bp,
                 bool accumulate, float* C, index_t ldc, int nt);

}  // namespace pydlk
