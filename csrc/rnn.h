// Recurrent layers (RNN tanh/relu, LSTM, GRU): one layer, one direction, a whole sequence.
// Torch's weight layout and gate order: LSTM (i, f, g, o), GRU (r, z, n) with
// n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
#pragma once
#include "common.h"

namespace pydlk {

enum RnnMode { kRnnTanh = 0, kRnnRelu = 1, kLstm = 2, kGru = 3 };

// Gates per hidden unit: 1 (RNN), 4 (LSTM), 3 (GRU).
inline int rnn_gates(int mode) { return mode == kLstm ? 4 : mode == kGru ? 3 : 1; }
// Width of the saved-gate buffer per (t, n): 0 (RNN), 4H (LSTM), 4H (GRU: r, z, n, W_hn h + b_hn).
inline int rnn_saved_gates(int mode) { return mode == kLstm || mode == kGru ? 4 : 0; }

template <typename T>
void rnn_forward(T* h_all, T* c_all, T* gates, T* ws, const T* x, const T* h0, const T* c0,
                 const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh, index_t S, index_t N,
                 index_t I, index_t H, int mode);

template <typename T>
void rnn_backward(T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dgates, T* dgh,
                  T* dh, T* dc, const T* dy, const T* dh_last, const T* dc_last, const T* x,
                  const T* h0, const T* c0, const T* w_ih, const T* w_hh, const T* h_all,
                  const T* c_all, const T* gates, index_t S, index_t N, index_t I, index_t H,
                  int mode);

}  // namespace pydlk
