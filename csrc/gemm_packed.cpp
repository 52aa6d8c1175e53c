// C = A @ B (+ C) with B packed once (see gemm_packed.h for why).
//
// Register block: 12 rows of A x one 32-column panel of B = 24 accumulators of 16 floats; per k
// two panel loads, 12 broadcasts of A and 24 FMAs. K runs in chunks of kKc so that a panel's
// chunk (kKc x 32 floats, 32 KB) stays in L1 while every row block of A passes over it. Threads
// split the panels: each writes its own columns of C, so the result does not depend on the
// thread count. The loops carry target("avx512f...") and run only after packed_gemm_supported().
#include "gemm_packed.h"

#include <algorithm>
#include <cstring>

namespace pydlk {

namespace {

constexpr index_t kL = 16;    // floats per vector
constexpr index_t kNR = 32;   // columns per panel (2 vectors)
constexpr index_t kMR = 12;   // rows per register block
constexpr index_t kKc = 256;  // k per chunk

typedef float V __attribute__((vector_size(64)));

inline index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }

// C[i, 0:nc] (+)= sum_k A[i, k] Bp[k, :] for i < MR, k < kc; nc < 32 only in the last panel.
template <int MR>
PYDLK_AVX512 __attribute__((always_inline)) inline void block(const float* A, index_t lda,
                                                              const float* Bp, index_t kc, float* C,
                                                              index_t ldc, bool add, index_t nc) {
  V c[MR][2];
  for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = V{};
  for (index_t k = 0; k < kc; ++k) {
    V b0, b1;
    std::memcpy(&b0, Bp + k * kNR, sizeof(V));
    std::memcpy(&b1, Bp + k * kNR + kL, sizeof(V));
    for (int i = 0; i < MR; ++i) {
      const float a = A[i * lda + k];
      c[i][0] += a * b0;
      c[i][1] += a * b1;
    }
  }
  for (int i = 0; i < MR; ++i) {
    float* ci = C + i * ldc;
    if (nc == kNR) {
      V o0 = c[i][0], o1 = c[i][1];
      if (add) {
        V p0, p1;
        std::memcpy(&p0, ci, sizeof(V));
        std::memcpy(&p1, ci + kL, sizeof(V));
        o0 += p0;
        o1 += p1;
      }
      std::memcpy(ci, &o0, sizeof(V));
      std::memcpy(ci + kL, &o1, sizeof(V));
    } else {
      float t[kNR];
      std::memcpy(t, &c[i][0], sizeof(V));
      std::memcpy(t + kL, &c[i][1], sizeof(V));
      for (index_t j = 0; j < nc; ++j) ci[j] = add ? ci[j] + t[j] : t[j];
    }
  }
}

PYDLK_AVX512 void rows_block(int mr, const float* A, index_t lda, const float* Bp, index_t kc,
                             float* C, index_t ldc, bool add, index_t nc) {
  switch (mr) {
    case 1: return block<1>(A, lda, Bp, kc, C, ldc, add, nc);
    case 2: return block<2>(A, lda, Bp, kc, C, ldc, add, nc);
    case 3: return block<3>(A, lda, Bp, kc, C, ldc, add, nc);
    case 4: return block<4>(A, lda, Bp, kc, C, ldc, add, nc);
    case 5: return block<5>(A, lda, Bp, kc, C, ldc, add, nc);
    case 6: return block<6>(A, lda, Bp, kc, C, ldc, add, nc);
    case 7: return block<7>(A, lda, Bp, kc, C, ldc, add, nc);
    case 8: return block<8>(A, lda, Bp, kc, C, ldc, add, nc);
    case 9: return block<9>(A, lda, Bp, kc, C, ldc, add, nc);
    case 10: return block<10>(A, lda, Bp, kc, C, ldc, add, nc);
    case 11: return block<11>(A, lda, Bp, kc, C, ldc, add, nc);
    default: return block<12>(A, lda, Bp, kc, C, ldc, add, nc);
  }
}

// One panel's columns of C, all rows, all of K.
PYDLK_AVX512 void panel(index_t M, index_t K, const float* A, index_t lda, const float* Bp,
                        bool accumulate, float* C, index_t ldc, index_t nc) {
  for (index_t k0 = 0; k0 < K; k0 += kKc) {
    const index_t kc = std::min(kKc, K - k0);
    const bool add = accumulate || k0 > 0;
    for (index_t i0 = 0; i0 < M; i0 += kMR)
      rows_block(int(std::min(kMR, M - i0)), A + i0 * lda + k0, lda, Bp + k0 * kNR, kc,
                 C + i0 * ldc, ldc, add, nc);
  }
}

}  // namespace

bool packed_gemm_supported() { return cpu_has_avx512(); }

size_t packed_b_floats(index_t K, index_t N) { return size_t(ceil_div(N, kNR) * kNR * K); }

void pack_b(float* dst, const float* src, index_t ld, bool trans, index_t K, index_t N) {
  const index_t np = ceil_div(N, kNR);
#pragma omp parallel for if (parallel_worth_it(K * N))
  for (index_t p = 0; p < np; ++p) {
    float* d = dst + p * K * kNR;
    for (index_t k = 0; k < K; ++k)
      for (index_t jj = 0; jj < kNR; ++jj) {
        const index_t j = p * kNR + jj;
        d[k * kNR + jj] = j >= N ? 0.0f : trans ? src[j * ld + k] : src[k * ld + j];
      }
  }
}

void gemm_packed(index_t M, index_t N, index_t K, const float* A, index_t lda, const float* Bp,
                 bool accumulate, float* C, index_t ldc, int nt) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (index_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.0f);
    return;
  }
  const index_t np = ceil_div(N, kNR);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && np > 1)
  for (index_t p = 0; p < np; ++p)
    panel(M, K, A, lda, Bp + p * K * kNR, accumulate, C + p * kNR, ldc, std::min(kNR, N - p * kNR));
}

}  // namespace pydlk
