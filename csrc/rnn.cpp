// Recurrent layers over a whole sequence: the input projection of every time step in one GEMM,
// then per step one GEMM for the recurrent product (against W_hh packed once, gemm_packed.h,
// where the CPU has AVX-512 and the type is float32) and one fused pass for the gate
// nonlinearities and the state update. The backward runs the steps in reverse with the same
// fused pass, then the weight gradients of all steps in one GEMM each.
#include "rnn.h"

// The gate loops compare floats (clamps); without this GCC will not if-convert them under the
// default -ftrapping-math and the loops stay scalar. No FP exception is ever unmasked here.
#pragma GCC optimize("no-trapping-math")

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "blas.h"
#include "gemm_packed.h"
#include "vmath.h"

namespace pydlk {

// The recurrent product of every step, C (M, n) (+)= A (M, k) @ op(W_hh), with op(W_hh)[k, j] =
// w[j * ld + k] (trans) or w[k * ld + j]. float32 on AVX-512: W_hh packed once here and reused
// by every step; else a BLAS call per step (which packs W_hh again each time). Measured on
// the LSTM of bench/test_rnn.py (seq 32, batch 64, 128 -> 256, 2 threads, six alternating
// runs): forward 6.5-7.8 ms against 7.9-8.5, backward 12.3-13.5 against 13.8-15.2.
template <typename T>
class Recurrent {
 public:
  Recurrent(const T* w, index_t ld, bool trans, index_t k, index_t n)
      : w_(w), ld_(ld), trans_(trans), k_(k), n_(n) {
    if constexpr (std::is_same<T, float>::value) {
      if (packed_gemm_supported() && k > 0 && n > 0) {
        packed_.resize(packed_b_floats(k, n));
        pack_b(packed_.data(), w, ld, trans, k, n);
      }
    }
  }
  void mul(index_t M, const T* A, index_t lda, bool accumulate, T* C, index_t ldc) const {
    if (M <= 0 || n_ <= 0) return;
    if constexpr (std::is_same<T, float>::value) {
      if (!packed_.empty()) {
        const int nt = parallel_worth_it(M * n_ * k_ / 16) ? num_threads() : 1;
        gemm_packed(M, n_, k_, A, lda, packed_.data(), accumulate, C, ldc, nt);
        return;
      }
    }
    if (k_ <= 0) {  // C = beta C
      if (!accumulate)
        for (index_t i = 0; i < M; ++i)
          for (index_t j = 0; j < n_; ++j) C[i * ldc + j] = T(0);
      return;
    }
    gemm(false, trans_, (int)M, (int)n_, (int)k_, T(1), A, (int)lda, w_, (int)ld_,
         accumulate ? T(1) : T(0), C, (int)ldc);
  }

 private:
  const T* w_;
  index_t ld_;
  bool trans_;
  index_t k_, n_;
  std::vector<float> packed_;
};

// The gate nonlinearities use vexp (vmath.h): float's is branch-free so the gate loops
// vectorise; double's is std::exp (gradient checks).

template <typename T>
static inline T sigm(T v) {
  return T(1) / (T(1) + vexp(-v));
}
// tanh(v) = 2 sigmoid(2v) - 1 (float: absolute error ~1e-7); double: std::tanh.
static inline float ftanh(float v) { return 2.0f / (1.0f + vexp(-2.0f * v)) - 1.0f; }
static inline double ftanh(double v) { return std::tanh(v); }

// One batch row of the fused gate passes. Every pointer names a distinct H-long slice
// (restrict), so the loops vectorise.
template <typename T>
static inline void lstm_row(T* __restrict gi, T* __restrict gf, T* __restrict gg, T* __restrict go,
                            T* __restrict c, T* __restrict h, const T* __restrict cp, index_t H) {
  for (index_t j = 0; j < H; ++j) {
    T i = sigm(gi[j]), f = sigm(gf[j]), gv = ftanh(gg[j]), o = sigm(go[j]);
    T cv = f * cp[j] + i * gv;
    gi[j] = i;
    gf[j] = f;
    gg[j] = gv;
    go[j] = o;
    c[j] = cv;
    h[j] = o * ftanh(cv);
  }
}

template <typename T>
static inline void gru_row(T* __restrict gr, T* __restrict gz, T* __restrict gn, T* __restrict gb,
                           T* __restrict h, const T* __restrict hr, const T* __restrict hz,
                           const T* __restrict hn, const T* __restrict hp, index_t H) {
  for (index_t j = 0; j < H; ++j) {
    T r = sigm(gr[j] + hr[j]);
    T z = sigm(gz[j] + hz[j]);
    T b = hn[j];
    T nv = ftanh(gn[j] + r * b);
    gr[j] = r;
    gz[j] = z;
    gn[j] = nv;
    gb[j] = b;
    h[j] = (T(1) - z) * nv + z * hp[j];
  }
}

template <typename T>
static inline void lstm_row_backward(T* __restrict di, T* __restrict df, T* __restrict dg,
                                     T* __restrict dout, T* __restrict dc, const T* __restrict dh,
                                     const T* __restrict dy, const T* __restrict gi,
                                     const T* __restrict gf, const T* __restrict gg,
                                     const T* __restrict go, const T* __restrict c,
                                     const T* __restrict cp, index_t H) {
  for (index_t j = 0; j < H; ++j) {
    T i = gi[j], f = gf[j], gv = gg[j], o = go[j];
    T dhv = dh[j] + dy[j];
    T tc = ftanh(c[j]);
    T dcv = dc[j] + dhv * o * (T(1) - tc * tc);
    di[j] = dcv * gv * i * (T(1) - i);
    df[j] = dcv * cp[j] * f * (T(1) - f);
    dg[j] = dcv * i * (T(1) - gv * gv);
    dout[j] = dhv * tc * o * (T(1) - o);
    dc[j] = dcv * f;
  }
}

// dh is read (carried gradient) and overwritten with its direct part dh z.
template <typename T>
static inline void gru_row_backward(T* __restrict dr, T* __restrict dz, T* __restrict dn,
                                    T* __restrict qr, T* __restrict qz, T* __restrict qn,
                                    T* __restrict dh, const T* __restrict dy,
                                    const T* __restrict gr, const T* __restrict gz,
                                    const T* __restrict gn, const T* __restrict gb,
                                    const T* __restrict hp, index_t H) {
  for (index_t j = 0; j < H; ++j) {
    T r = gr[j], z = gz[j], nv = gn[j], b = gb[j];
    T dhv = dh[j] + dy[j];
    T dan = dhv * (T(1) - z) * (T(1) - nv * nv);
    T dpr = dan * b * r * (T(1) - r);
    T dpz = dhv * (hp[j] - nv) * z * (T(1) - z);
    dr[j] = dpr;
    dz[j] = dpz;
    dn[j] = dan;
    qr[j] = dpr;
    qz[j] = dpz;
    qn[j] = dan * r;
    dh[j] = dhv * z;
  }
}

// pre (S*N, G*H) = x (S*N, I) @ w_ih^T + b_ih (+ b_hh for the gates where the two biases just add).
// ld is pre's row stride (G*H, or 4H for GRU whose 4th block holds W_hn h + b_hn later).
template <typename T>
static void input_projection(T* pre, index_t ld, const T* x, const T* w_ih, const T* b_ih,
                             const T* b_hh, index_t SN, index_t I, index_t GH, bool add_bhh) {
#pragma omp parallel for if (parallel_worth_it(SN * GH))
  for (index_t r = 0; r < SN; ++r) {
    T* p = pre + r * ld;
    for (index_t j = 0; j < GH; ++j)
      p[j] = (b_ih ? b_ih[j] : T(0)) + (add_bhh && b_hh ? b_hh[j] : T(0));
  }
  if (I > 0 && SN > 0)
    gemm(false, true, (int)SN, (int)GH, (int)I, T(1), x, (int)I, w_ih, (int)I, T(1), pre, (int)ld);
}

// x (S, N, I); h0, c0 (N, H); w_ih (G*H, I); w_hh (G*H, H); b_ih, b_hh (G*H) or null.
// Out: h_all (S, N, H); c_all (S, N, H) (LSTM only); gates (S, N, 4H) (LSTM: i, f, g, o after
// their nonlinearities; GRU: r, z, n, and W_hn h + b_hn); ws (N, 3H) (GRU only).
template <typename T>
PYDLK_SIMD void rnn_forward(T* h_all, T* c_all, T* gates, T* ws, const T* x, const T* h0,
                            const T* c0, const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh,
                            index_t S, index_t N, index_t I, index_t H, int mode) {
  const index_t G = rnn_gates(mode), GH = G * H;
  if (S == 0 || N == 0 || H == 0) return;
  const Recurrent<T> rec(w_hh, H, true, H, GH);
  if (mode == kLstm) {
    input_projection(gates, 4 * H, x, w_ih, b_ih, b_hh, S * N, I, GH, true);
    for (index_t t = 0; t < S; ++t) {
      T* g = gates + t * N * 4 * H;
      const T* hp = t ? h_all + (t - 1) * N * H : h0;
      const T* cp = t ? c_all + (t - 1) * N * H : c0;
      rec.mul(N, hp, H, true, g, GH);
      T* h = h_all + t * N * H;
      T* c = c_all + t * N * H;
#pragma omp parallel for if (parallel_worth_it(N * H * 2))
      for (index_t n = 0; n < N; ++n) {
        T* gn = g + n * 4 * H;
        lstm_row(gn, gn + H, gn + 2 * H, gn + 3 * H, c + n * H, h + n * H, cp + n * H, H);
      }
    }
  } else if (mode == kGru) {
    // gates[:, :, 0:3H] = x W_ih^T + b_ih; the hidden part W_hh h + b_hh goes to ws per step.
    input_projection(gates, 4 * H, x, w_ih, b_ih, b_hh, S * N, I, GH, false);
    for (index_t t = 0; t < S; ++t) {
      T* g = gates + t * N * 4 * H;
      const T* hp = t ? h_all + (t - 1) * N * H : h0;
#pragma omp parallel for if (parallel_worth_it(N * GH))
      for (index_t n = 0; n < N; ++n)
        for (index_t j = 0; j < GH; ++j) ws[n * GH + j] = b_hh ? b_hh[j] : T(0);
      rec.mul(N, hp, H, true, ws, GH);
      T* h = h_all + t * N * H;
#pragma omp parallel for if (parallel_worth_it(N * H * 2))
      for (index_t n = 0; n < N; ++n) {
        T* gn = g + n * 4 * H;
        const T* hn = ws + n * GH;
        gru_row(gn, gn + H, gn + 2 * H, gn + 3 * H, h + n * H, hn, hn + H, hn + 2 * H, hp + n * H,
                H);
      }
    }
  } else {
    // h_t = act(x W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), the pre-activation built in h_all.
    input_projection(h_all, H, x, w_ih, b_ih, b_hh, S * N, I, H, true);
    for (index_t t = 0; t < S; ++t) {
      T* h = h_all + t * N * H;
      const T* hp = t ? h_all + (t - 1) * N * H : h0;
      rec.mul(N, hp, H, true, h, H);
      const index_t NH = N * H;
      if (mode == kRnnTanh) {
        for (index_t k = 0; k < NH; ++k) h[k] = ftanh(h[k]);
      } else {
        for (index_t k = 0; k < NH; ++k) h[k] = h[k] > T(0) ? h[k] : T(0);
      }
    }
  }
}

// Backward. dy (S, N, H): gradient of every output h_t; dh_last, dc_last (N, H) or null: of the
// final states returned separately. Workspaces: dgates (S, N, G*H) the pre-activation gradients
// of the input projection; dgh (S, N, 3H) (GRU: of W_hh h + b_hh, which differs from dgates in
// the n block); dh, dc (N, H) the carried state gradients.
//
// LSTM, with c = f c' + i g and h = o tanh(c):
//   do = dh tanh(c);  dc += dh o (1 - tanh(c)^2);  di = dc g;  df = dc c';  dg = dc i;  dc' = dc f
//   pre-activation: di i(1-i), df f(1-f), dg (1-g^2), do o(1-o);  dh' = dpre @ W_hh.
// GRU, with h = (1-z) n + z h', n = tanh(a_n + r b_n), b_n = W_hn h' + b_hn:
//   dn = dh (1-z);  dz = dh (h' - n);  da_n = dn (1-n^2);  db_n = da_n r;  dr = da_n b_n
//   dpre_r = dr r(1-r);  dpre_z = dz z(1-z);  dh' = dh z + [dpre_r, dpre_z, db_n] @ W_hh.
// RNN: dpre = dh (1 - h^2) (tanh) or dh [h > 0] (relu);  dh' = dpre @ W_hh.
template <typename T>
PYDLK_SIMD void rnn_backward(T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh,
                             T* dgates, T* dgh, T* dh, T* dc, const T* dy, const T* dh_last,
                             const T* dc_last, const T* x, const T* h0, const T* c0, const T* w_ih,
                             const T* w_hh, const T* h_all, const T* c_all, const T* gates,
                             index_t S, index_t N, index_t I, index_t H, int mode) {
  const index_t G = rnn_gates(mode), GH = G * H, NH = N * H;
  for (index_t k = 0; k < NH; ++k) dh[k] = dh_last ? dh_last[k] : T(0);
  if (mode == kLstm)
    for (index_t k = 0; k < NH; ++k) dc[k] = dc_last ? dc_last[k] : T(0);
  const T* drec = mode == kGru ? dgh : dgates;  // what multiplies W_hh
  const Recurrent<T> rec(w_hh, H, false, GH, H);
  for (index_t t = S - 1; t >= 0; --t) {
    const T* dyt = dy + t * NH;
    T* dg = dgates + t * N * GH;
    if (mode == kLstm) {
      const T* g = gates + t * N * 4 * H;
      const T* c = c_all + t * NH;
      const T* cp = t ? c_all + (t - 1) * NH : c0;
#pragma omp parallel for if (parallel_worth_it(NH * 2))
      for (index_t n = 0; n < N; ++n) {
        const T* gn = g + n * 4 * H;
        T* dgn = dg + n * GH;
        const index_t k = n * H;
        lstm_row_backward(dgn, dgn + H, dgn + 2 * H, dgn + 3 * H, dc + k, dh + k, dyt + k, gn,
                          gn + H, gn + 2 * H, gn + 3 * H, c + k, cp + k, H);
      }
      rec.mul(N, dg, GH, false, dh, H);
    } else if (mode == kGru) {
      const T* g = gates + t * N * 4 * H;
      const T* hp = t ? h_all + (t - 1) * NH : h0;
      T* dq = dgh + t * N * GH;
#pragma omp parallel for if (parallel_worth_it(NH * 2))
      for (index_t n = 0; n < N; ++n) {
        const T* gn = g + n * 4 * H;
        T* dgn = dg + n * GH;
        T* dqn = dq + n * GH;
        const index_t k = n * H;
        gru_row_backward(dgn, dgn + H, dgn + 2 * H, dqn, dqn + H, dqn + 2 * H, dh + k, dyt + k, gn,
                         gn + H, gn + 2 * H, gn + 3 * H, hp + k, H);
      }
      rec.mul(N, dq, GH, true, dh, H);
    } else {
      const T* h = h_all + t * NH;
      if (mode == kRnnTanh) {
        for (index_t k = 0; k < NH; ++k) dg[k] = (dh[k] + dyt[k]) * (T(1) - h[k] * h[k]);
      } else {
        for (index_t k = 0; k < NH; ++k) dg[k] = h[k] > T(0) ? dh[k] + dyt[k] : T(0);
      }
      rec.mul(N, dg, H, false, dh, H);
    }
  }
  if (dh0)
    for (index_t k = 0; k < NH; ++k) dh0[k] = dh[k];
  if (dc0 && mode == kLstm)
    for (index_t k = 0; k < NH; ++k) dc0[k] = dc[k];
  const index_t SN = S * N;
  // dx (S*N, I) = dgates (S*N, GH) @ W_ih (GH, I)
  if (dx && SN * I > 0) {
    if (GH == 0) {
      for (index_t k = 0; k < SN * I; ++k) dx[k] = T(0);
    } else
      gemm(false, false, (int)SN, (int)I, (int)GH, T(1), dgates, (int)GH, w_ih, (int)I, T(0), dx,
           (int)I);
  }
  // dW_ih (GH, I) = dgates^T @ x
  if (dw_ih && GH * I > 0) {
    if (SN == 0) {
      for (index_t k = 0; k < GH * I; ++k) dw_ih[k] = T(0);
    } else
      gemm(true, false, (int)GH, (int)I, (int)SN, T(1), dgates, (int)GH, x, (int)I, T(0), dw_ih,
           (int)I);
  }
  // dW_hh (GH, H) = sum_t drec_t^T @ h_{t-1}: step 0 against h0, steps 1.. against h_all[:-1].
  if (dw_hh && GH * H > 0) {
    if (N == 0 || S == 0) {
      for (index_t k = 0; k < GH * H; ++k) dw_hh[k] = T(0);
    } else {
      gemm(true, false, (int)GH, (int)H, (int)N, T(1), drec, (int)GH, h0, (int)H, T(0), dw_hh,
           (int)H);
      if (S > 1)
        gemm(true, false, (int)GH, (int)H, (int)((S - 1) * N), T(1), drec + N * GH, (int)GH, h_all,
             (int)H, T(1), dw_hh, (int)H);
    }
  }
  // Bias gradients: column sums in double. Threads split blocks of 16 columns (the columns they
  // write); within a block every row contributes one contiguous 16-wide run, so the sums
  // vectorise. For LSTM and RNN the two biases get the same gradient (drec == dgates).
  if (db_ih || db_hh) {
    const bool same = drec == dgates;
    const index_t nblk = (GH + 15) / 16;
#pragma omp parallel for if (parallel_worth_it(SN * GH))
    for (index_t b = 0; b < nblk; ++b) {
      const index_t j0 = b * 16, w = GH - j0 < 16 ? GH - j0 : 16;
      double si[16] = {0}, sh[16] = {0};
      for (index_t r = 0; r < SN; ++r) {
        const T* gi = dgates + r * GH + j0;
        for (index_t jj = 0; jj < w; ++jj) si[jj] += gi[jj];
        if (!same) {
          const T* gh = drec + r * GH + j0;
          for (index_t jj = 0; jj < w; ++jj) sh[jj] += gh[jj];
        }
      }
      for (index_t jj = 0; jj < w; ++jj) {
        if (db_ih) db_ih[j0 + jj] = T(si[jj]);
        if (db_hh) db_hh[j0 + jj] = T(same ? si[jj] : sh[jj]);
      }
    }
  }
}

#define PYDLK_RNN_INST(T)                                                                         \
  template void rnn_forward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*,  \
                               const T*, const T*, index_t, index_t, index_t, index_t, int);      \
  template void rnn_backward<T>(T*, T*, T*, T*, T*, T*, T*, T*, T*, T*, T*, const T*, const T*,   \
                                const T*, const T*, const T*, const T*, const T*, const T*,       \
                                const T*, const T*, const T*, index_t, index_t, index_t, index_t, \
                                int);
PYDLK_RNN_INST(float)
PYDLK_RNN_INST(double)

}  // namespace pydlk
