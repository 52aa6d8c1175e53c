// LDL^T factorization with Bunch-Kaufman pivoting (?sytrf, ?hetrf) and the solve from it
// (?sytrs, ?hetrs) for batches of row-major matrices, lower triangle: what
// torch.linalg.ldl_factor_ex and ldl_solve compute, on OpenBLAS's LAPACK.
//
// LAPACK is column-major and torch's factorization reads the lower triangle (uplo = 'L'). The
// row-major lower triangle seen column-major is the upper one, and sytrf with uplo = 'U' is a
// different factorization (U D U^T, pivoting from the last column), so each matrix is
// transposed into a column-major buffer, factored or solved, and transposed back, as
// linalg.cpp's getrf does; the copies are O(n^2) against the O(n^3) factorization. One matrix
// per thread of the OpenMP team, the BLAS single-threaded inside (blas.h says why).
//
// Small matrices and matrices holding a NaN are factored by sytf2_rowmajor below instead, the
// unblocked algorithm (LAPACK's sytf2/hetf2) on the row-major matrix, written as
// pydlk/linalg/_ldl.py's array code (the GPU's) computes it:
// - small (n <= 64): no transposes and no BLAS call per column. Measured on one core here, per
//   matrix, against OpenBLAS's sytrf: float64 0.08 against 0.14 us at n = 4, 0.63 against 1.0
//   at n = 16, 10.4 against 15.3 at n = 64 (even at n = 96, 27 against 31); complex128 22
//   against 34 us at n = 64, level at n = 96. For real matrices it also gives torch's factors
//   bit for bit: its LAPACK runs the unblocked algorithm at these sizes, without fused
//   multiply-adds, where OpenBLAS's kernels differ in the last bits from n = 17 (float64).
// - NaN: OpenBLAS's LAPACK (reference LAPACK 3.12) ends a column whose diagonal is NaN as
//   singular (its DISNAN test), torch's LAPACK (MKL) compares max(|a_kk|, colmax) with zero as
//   x86's max does, where a NaN |a_kk| gives colmax. The array code follows torch's rule, so
//   a matrix with a NaN gets the GPU path's info and pivots, which equal torch's more often
//   (56 of 104 random NaN patterns, against 42 for OpenBLAS's; MKL's handling of NaN in its
//   other steps is its own, and no rule here matches it everywhere).
#include <algorithm>
#include <cmath>
#include <complex>
#include <type_traits>
#include <vector>

#include "linalg.h"

// sytf2_rowmajor rounds each product and each difference on its own, as LAPACK's reference code
// and torch's LAPACK do for small real matrices: fused multiply-adds, which GCC forms from
// a - b * c by default, round once and gave other last bits than torch's from n = 2 up. (GCC's
// vectorizer may still fuse complex products; torch's complex factors differ from every
// implementation here in the last bits anyway.)
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

using cfloat = std::complex<float>;
using cdouble = std::complex<double>;

extern "C" {
// scipy-openblas32's LAPACK: symbol prefix scipy_, 32-bit integers, and gfortran's hidden
// length argument after the others for each CHARACTER argument (uplo).
#define PYDLK_SYTRF(name, T)                                                          \
  void name(const char* uplo, const int* n, T* a, const int* lda, int* ipiv, T* work, \
            const int* lwork, int* info, size_t uplo_len);
#define PYDLK_SYTRS(name, T)                                                             \
  void name(const char* uplo, const int* n, const int* nrhs, const T* a, const int* lda, \
            const int* ipiv, T* b, const int* ldb, int* info, size_t uplo_len);
PYDLK_SYTRF(scipy_ssytrf_, float)
PYDLK_SYTRF(scipy_dsytrf_, double)
PYDLK_SYTRF(scipy_csytrf_, cfloat)
PYDLK_SYTRF(scipy_zsytrf_, cdouble)
PYDLK_SYTRF(scipy_chetrf_, cfloat)
PYDLK_SYTRF(scipy_zhetrf_, cdouble)
PYDLK_SYTRS(scipy_ssytrs_, float)
PYDLK_SYTRS(scipy_dsytrs_, double)
PYDLK_SYTRS(scipy_csytrs_, cfloat)
PYDLK_SYTRS(scipy_zsytrs_, cdouble)
PYDLK_SYTRS(scipy_chetrs_, cfloat)
PYDLK_SYTRS(scipy_zhetrs_, cdouble)
#undef PYDLK_SYTRF
#undef PYDLK_SYTRS
void scipy_openblas_set_num_threads(int n);
}

namespace pydlk {

namespace {

// ?sytrf / ?hetrf with uplo = 'L'. For real T, Hermitian is symmetric: hermitian is ignored.
void sytrf(bool, int n, float* a, int* ipiv, float* w, int lw, int* info) {
  const int lda = std::max(n, 1);
  scipy_ssytrf_("L", &n, a, &lda, ipiv, w, &lw, info, 1);
}
void sytrf(bool, int n, double* a, int* ipiv, double* w, int lw, int* info) {
  const int lda = std::max(n, 1);
  scipy_dsytrf_("L", &n, a, &lda, ipiv, w, &lw, info, 1);
}
void sytrf(bool herm, int n, cfloat* a, int* ipiv, cfloat* w, int lw, int* info) {
  const int lda = std::max(n, 1);
  (herm ? scipy_chetrf_ : scipy_csytrf_)("L", &n, a, &lda, ipiv, w, &lw, info, 1);
}
void sytrf(bool herm, int n, cdouble* a, int* ipiv, cdouble* w, int lw, int* info) {
  const int lda = std::max(n, 1);
  (herm ? scipy_zhetrf_ : scipy_zsytrf_)("L", &n, a, &lda, ipiv, w, &lw, info, 1);
}

// ?sytrs / ?hetrs with uplo = 'L' on B (n, nrhs) column-major.
void sytrs(bool, int n, int nrhs, const float* a, const int* ipiv, float* b, int* info) {
  const int ld = std::max(n, 1);
  scipy_ssytrs_("L", &n, &nrhs, a, &ld, ipiv, b, &ld, info, 1);
}
void sytrs(bool, int n, int nrhs, const double* a, const int* ipiv, double* b, int* info) {
  const int ld = std::max(n, 1);
  scipy_dsytrs_("L", &n, &nrhs, a, &ld, ipiv, b, &ld, info, 1);
}
void sytrs(bool herm, int n, int nrhs, const cfloat* a, const int* ipiv, cfloat* b, int* info) {
  const int ld = std::max(n, 1);
  (herm ? scipy_chetrs_ : scipy_csytrs_)("L", &n, &nrhs, a, &ld, ipiv, b, &ld, info, 1);
}
void sytrs(bool herm, int n, int nrhs, const cdouble* a, const int* ipiv, cdouble* b, int* info) {
  const int ld = std::max(n, 1);
  (herm ? scipy_zhetrs_ : scipy_zsytrs_)("L", &n, &nrhs, a, &ld, ipiv, b, &ld, info, 1);
}

// Scalar arithmetic of sytf2_rowmajor, written as NumPy computes it (so that it reproduces
// the array code): complex products by the textbook formula, complex quotients by Smith's
// method (NumPy's), pivot sizes as LAPACK's |Re| + |Im|.
template <typename T>
struct Scalar {
  using R = T;
  static R re(T a) { return a; }
  static T conj(T a) { return a; }
  static R mag(T a) { return std::abs(a); }
  static R abs(T a) { return std::abs(a); }
  static T mul(T a, T b) { return a * b; }
  static T div(T a, T b) { return a / b; }
  static T scale(R r, T a) { return r * a; }
  static bool isnan(T a) { return a != a; }
};
template <typename R_>
struct Scalar<std::complex<R_>> {
  using R = R_;
  using T = std::complex<R>;
  static R re(T a) { return a.real(); }
  static T conj(T a) { return {a.real(), -a.imag()}; }
  static R mag(T a) { return std::abs(a.real()) + std::abs(a.imag()); }
  static R abs(T a) { return std::hypot(a.real(), a.imag()); }
  static T mul(T a, T b) {
    return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
  }
  static T div(T a, T b) {
    const R ar = a.real(), ai = a.imag(), br = b.real(), bi = b.imag();
    if (std::abs(br) >= std::abs(bi)) {
      if (br == 0 && bi == 0) return {ar / std::abs(br), ai / std::abs(bi)};
      const R rat = bi / br, scl = R(1) / (br + bi * rat);
      return {(ar + ai * rat) * scl, (ai - ar * rat) * scl};
    }
    const R rat = br / bi, scl = R(1) / (bi + br * rat);
    return {(ar * rat + ai) * scl, (ai * rat - ar) * scl};
  }
  static T scale(R r, T a) { return {r * a.real(), r * a.imag()}; }
  static bool isnan(T a) { return a.real() != a.real() || a.imag() != a.imag(); }
};

// LAPACK's unblocked Bunch-Kaufman (sytf2, hetf2 for complex `herm`; uplo = 'L', alpha =
// (1 + sqrt(17)) / 8) on the lower triangle of the row-major (n, n) matrix m (a Hermitian one's
// diagonal real), in place: L and D as sytrf leaves them, LAPACK's pivots in piv; returns info.
// Only the lower triangle is read or written. w: 2n scratch. Comparisons and maxima treat NaN
// as the array code's NumPy calls do (argmax and max take the first NaN).
template <typename T>
int sytf2_rowmajor(T* m, int n, int32_t* piv, bool herm, T* w) {
  using S = Scalar<T>;
  using R = typename S::R;
  const R alpha = R((1.0 + std::sqrt(17.0)) / 8.0);
  auto at = [&](int i, int j) -> T& { return m[(index_t)i * n + j]; };
  auto dmag = [&](T a) { return herm ? std::abs(S::re(a)) : S::mag(a); };  // a diagonal's size
  auto cj = [&](T a) { return herm ? S::conj(a) : a; };  // the upper triangle's value
  int info = 0;
  int k = 0;
  while (k < n) {
    const R absakk = dmag(at(k, k));
    int imax = k;
    R colmax = 0;
    if (k + 1 < n) {
      imax = k + 1;
      colmax = S::mag(at(k + 1, k));
      for (int i = k + 2; i < n && colmax == colmax; ++i) {
        const R v = S::mag(at(i, k));
        if (v > colmax || v != v) imax = i, colmax = v;
      }
    }
    // max(|a_kk|, colmax) == 0 as torch's LAPACK computes it: a NaN |a_kk| gives colmax
    const R big = absakk != absakk ? colmax : colmax != colmax ? colmax : std::max(absakk, colmax);
    if (big == 0) {  // a zero column: D[k, k] is singular, L's column stays zero
      if (info == 0) info = k + 1;
      piv[k] = k + 1;
      ++k;
      continue;
    }
    const bool c1 = absakk >= alpha * colmax;
    // the largest off-diagonal entry of row/column imax in the trailing block (NaN if any)
    R rowmax = colmax;
    if (k + 1 < n) {
      rowmax = 0;
      for (int j = k; j < n && rowmax == rowmax; ++j) {
        if (j == imax) continue;
        const R v = S::mag(j < imax ? at(imax, j) : at(j, imax));
        if (v > rowmax || v != v) rowmax = v;
      }
    }
    const R safe = rowmax == 0 ? R(1) : rowmax;
    const bool c2 = absakk >= alpha * colmax * (colmax / safe);
    const bool c3 = dmag(at(imax, imax)) >= alpha * rowmax;
    // a 2x2 block needs a next row; the tests above always give a 1x1 block in the last one
    const bool two = !(c1 || c2 || c3) && k + 1 < n;
    const int kk = two ? k + 1 : k, kp = (c1 || c2) ? k : imax;
    if (kp != kk) {
      // the symmetric interchange of rows and columns kk < kp of the trailing block, in its
      // lower triangle (sytf2's swaps)
      for (int i = kp + 1; i < n; ++i) std::swap(at(i, kk), at(i, kp));
      for (int j = kk + 1; j < kp; ++j) {
        const T t = at(j, kk);
        at(j, kk) = cj(at(kp, j));
        at(kp, j) = cj(t);
      }
      at(kp, kk) = cj(at(kp, kk));
      std::swap(at(kk, kk), at(kp, kp));
      if (two) std::swap(at(k + 1, k), at(kp, k));
    }
    if (!two) {
      if (k + 1 < n) {
        // A -= x d^-1 x^T (x^H) on the trailing block, x the column below d = a_kk; x d^-1 is L's
        const T dkk = at(k, k);
        const R r1 = R(1) / S::re(dkk);
        const T d11 = S::div(T(1), dkk);
        T* y = w;
        for (int j = k + 1; j < n; ++j)
          y[j] = herm ? S::conj(S::scale(r1, at(j, k))) : S::mul(d11, at(j, k));
        for (int i = k + 1; i < n; ++i) {
          const T xi = at(i, k);
          for (int j = k + 1; j <= i; ++j) at(i, j) = at(i, j) - S::mul(xi, y[j]);
          if (herm) at(i, i) = S::re(at(i, i));
        }
        for (int i = k + 1; i < n; ++i)
          at(i, k) = herm ? S::scale(r1, at(i, k)) : S::mul(at(i, k), d11);
      }
      piv[k] = kp + 1;
      ++k;
      continue;
    }
    if (k + 2 < n) {
      // A -= [x0 x1] D^-1 [x0 x1]^T (^H) with D the 2x2 block at k; [wk wkp1] = [x0 x1] D^-1
      // are L's two columns (sytf2's formulas, scaled by D's off-diagonal entry)
      const T a21 = at(k + 1, k);
      T* wk = w;
      T* wkp1 = w + n;
      if (herm) {
        const R d = S::abs(a21);
        const R d11 = S::re(at(k + 1, k + 1)) / d, d22 = S::re(at(k, k)) / d;
        const R tt = R(1) / (d11 * d22 - 1);
        const T d21 = S::scale(R(1) / d, a21);
        const R dd = tt / d;
        for (int j = k + 2; j < n; ++j) {
          const T ak = at(j, k), ak1 = at(j, k + 1);
          wk[j] = S::scale(dd, S::scale(d11, ak) - S::mul(d21, ak1));
          wkp1[j] = S::scale(dd, S::scale(d22, ak1) - S::mul(S::conj(d21), ak));
        }
      } else {
        const T d11 = S::div(at(k + 1, k + 1), a21), d22 = S::div(at(k, k), a21);
        const T t = S::div(T(1), S::mul(d11, d22) - T(1));
        const T d21 = S::div(t, a21);
        for (int j = k + 2; j < n; ++j) {
          const T ak = at(j, k), ak1 = at(j, k + 1);
          wk[j] = S::mul(d21, S::mul(d11, ak) - ak1);
          wkp1[j] = S::mul(d21, S::mul(d22, ak1) - ak);
        }
      }
      for (int i = k + 2; i < n; ++i) {
        const T x0 = at(i, k), x1 = at(i, k + 1);
        for (int j = k + 2; j <= i; ++j)
          at(i, j) = (at(i, j) - S::mul(x0, cj(wk[j]))) - S::mul(x1, cj(wkp1[j]));
        if (herm) at(i, i) = S::re(at(i, i));
      }
      for (int i = k + 2; i < n; ++i) at(i, k) = wk[i], at(i, k + 1) = wkp1[i];
    }
    piv[k] = piv[k + 1] = -(kp + 1);
    k += 2;
  }
  return info;
}

// dst (cols, rows) row-major = src (rows, cols) row-major transposed, in 32x32 tiles so that
// both sides stay in cache.
template <typename T>
void transpose(T* dst, const T* src, int rows, int cols) {
  constexpr int kTile = 32;
  for (int i0 = 0; i0 < rows; i0 += kTile)
    for (int j0 = 0; j0 < cols; j0 += kTile) {
      const int i1 = std::min(i0 + kTile, rows), j1 = std::min(j0 + kTile, cols);
      for (int i = i0; i < i1; ++i)
        for (int j = j0; j < j1; ++j) dst[(index_t)j * rows + i] = src[(index_t)i * cols + j];
    }
}

// The lower triangle of the row-major (n, n) src into the column-major dst (the rest of dst is
// not written: LAPACK's uplo = 'L' does not read it), in tiles. Returns whether it holds a NaN.
template <typename T>
bool lower_to_colmajor(T* dst, const T* src, int n) {
  constexpr int kTile = 32;
  bool nan = false;
  for (int i0 = 0; i0 < n; i0 += kTile)
    for (int j0 = 0; j0 <= i0; j0 += kTile) {
      const int i1 = std::min(i0 + kTile, n), j1 = std::min(j0 + kTile, n);
      for (int i = i0; i < i1; ++i)
        for (int j = j0; j < std::min(j1, i + 1); ++j) {
          const T v = src[(index_t)i * n + j];
          nan |= Scalar<T>::isnan(v);
          dst[(index_t)j * n + i] = v;
        }
    }
  return nan;
}

// dst row-major = the lower triangle of the column-major src, zeros above the diagonal.
template <typename T>
void colmajor_to_lower(T* dst, const T* src, int n) {
  constexpr int kTile = 32;
  for (int i0 = 0; i0 < n; i0 += kTile)
    for (int j0 = 0; j0 <= i0; j0 += kTile) {
      const int i1 = std::min(i0 + kTile, n), j1 = std::min(j0 + kTile, n);
      for (int i = i0; i < i1; ++i)
        for (int j = j0; j < std::min(j1, i + 1); ++j)
          dst[(index_t)i * n + j] = src[(index_t)j * n + i];
    }
  for (int i = 0; i + 1 < n; ++i)
    std::fill(dst + (index_t)i * n + i + 1, dst + (index_t)(i + 1) * n, T(0));
}

// How `batch` independent factorizations or solves of about `flops` each are spread: over our
// OpenMP team (`team` threads, one matrix at a time each, in chunks of `chunk` matrices), on
// one thread when all of it is too little to wake a team for (DESIGN.md's grain), or, for
// fewer matrices than threads that are each large, one after another on OpenBLAS's threads
// (ours idle meanwhile), as linalg.cpp's getrf.
struct Plan {
  int team;
  index_t chunk;
  bool blas_threads;
};
Plan plan(index_t batch, double flops) {
  const bool blas = batch < num_threads() && !in_parallel() && flops >= 4e6;
  const bool worth = parallel_worth_it((index_t)std::min(double(batch) * (flops + 64), 1e18));
  const int team =
      blas || !worth || in_parallel() ? 1 : (int)std::min<index_t>(num_threads(), batch);
  // small matrices in chunks of about 16k flops: the dynamic schedule costs per chunk taken
  return {team, std::max<index_t>(1, (index_t)(16384 / (flops + 64))), blas};
}

// m (row-major, n x n) = the lower triangle of src, zeros above; a Hermitian matrix's diagonal
// real (hetrf drops its imaginary part). m may be src.
template <typename T>
void copy_lower(T* m, const T* src, int n, bool herm) {
  for (int i = 0; i < n; ++i) {
    T* row = m + (index_t)i * n;
    std::copy(src + (index_t)i * n, src + (index_t)i * n + i + 1, row);
    if (herm) row[i] = T(Scalar<T>::re(row[i]));
    std::fill(row + i + 1, row + n, T(0));
  }
}

// Up to this order sytf2_rowmajor beats OpenBLAS's sytrf (see the top of the file).
constexpr int kSmallN = 64;

}  // namespace

template <typename T>
void ldl_factor(T* ld, int32_t* piv, int32_t* info, const T* a, index_t batch, int n,
                bool hermitian) {
  if (batch == 0) return;
  // real matrices: Hermitian is symmetric (sytrf; the array code's symmetric formulas)
  hermitian = hermitian && !std::is_same<T, typename Scalar<T>::R>::value;
  const index_t nn = (index_t)n * n;
  const bool small = n <= kSmallN;
  // The workspace query (lwork = -1) once per call: the optimal size depends on n alone (n
  // times ilaenv's block size).
  int lwork = 1;
  if (!small) {
    T query{};
    int inf = 0, ipiv_dummy = 0;
    sytrf(hermitian, n, nullptr, &ipiv_dummy, &query, -1, &inf);
    lwork = std::max(1, (int)Scalar<T>::re(query));
  }
  const Plan p = plan(batch, (double)nn * n / 3);
  if (p.blas_threads) scipy_openblas_set_num_threads(num_threads());
#pragma omp parallel num_threads(p.team) if (p.team > 1)
  {
    // column-major matrix and LAPACK's workspace, or sytf2_rowmajor's scratch
    std::vector<T> buf(small ? 0 : nn), work(small ? 2 * (size_t)n : (size_t)lwork);
#pragma omp for schedule(dynamic, p.chunk)
    for (index_t b = 0; b < batch; ++b) {
      const T* src = a + b * nn;
      T* out = ld + b * nn;
      int32_t* pv = piv + b * n;
      if (small || lower_to_colmajor(buf.data(), src, n)) {
        if (!small) work.resize(std::max<size_t>(work.size(), 2 * (size_t)n));
        copy_lower(out, src, n, hermitian);
        info[b] = sytf2_rowmajor(out, n, pv, hermitian, work.data());
        continue;
      }
      int inf = 0;
      sytrf(hermitian, n, buf.data(), pv, work.data(), lwork, &inf);
      info[b] = inf;  // never negative: the arguments are checked by the binding
      colmajor_to_lower(out, buf.data(), n);
    }
  }
  if (p.blas_threads) scipy_openblas_set_num_threads(1);
}

template <typename T>
void ldl_solve(T* x, const T* ld, const int32_t* piv, const T* b, index_t batch, int n, int nrhs,
               bool hermitian) {
  if (batch == 0 || n == 0 || nrhs == 0) return;
  const index_t nn = (index_t)n * n, nk = (index_t)n * nrhs;
  const Plan p = plan(batch, 2.0 * nn * nrhs);
  if (p.blas_threads) scipy_openblas_set_num_threads(num_threads());
#pragma omp parallel num_threads(p.team) if (p.team > 1)
  {
    std::vector<T> lbuf(nn), bbuf(nrhs == 1 ? 0 : nk);
#pragma omp for schedule(dynamic, p.chunk)
    for (index_t i = 0; i < batch; ++i) {
      lower_to_colmajor(lbuf.data(), ld + i * nn, n);
      // B (n, nrhs) row-major is its transpose column-major; one column needs no copy
      T* xb = x + i * nk;
      T* cm = nrhs == 1 ? xb : bbuf.data();
      if (nrhs == 1) std::copy(b + i * nk, b + (i + 1) * nk, xb);
      else transpose(cm, b + i * nk, n, nrhs);
      int inf = 0;  // 0: the binding checked the arguments and the pivots
      sytrs(hermitian, n, nrhs, lbuf.data(), piv + i * n, cm, &inf);
      if (nrhs != 1) transpose(xb, cm, nrhs, n);
    }
  }
  if (p.blas_threads) scipy_openblas_set_num_threads(1);
}

#define PYDLK_LDL(T)                                                                 \
  template void ldl_factor<T>(T*, int32_t*, int32_t*, const T*, index_t, int, bool); \
  template void ldl_solve<T>(T*, const T*, const int32_t*, const T*, index_t, int, int, bool);
PYDLK_LDL(float)
PYDLK_LDL(double)
PYDLK_LDL(cfloat)
PYDLK_LDL(cdouble)
#undef PYDLK_LDL

}  // namespace pydlk
