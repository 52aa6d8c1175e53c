"""Attention's row softmax on the GPU, in place, as csrc/attention.cpp: the (..., S) score buffer
becomes the probabilities (a row masked everywhere, all -inf, gives zeros), and in the backward
the gradient of the probabilities becomes the gradient of the scores, p (g - sum p g)."""

from ._common import Source, check_float, check_like, i64, launch_rows

_CODE = r"""
extern "C" __global__ void attn_fwd(T* p, i64 C) {
  T* row = p + (i64)blockIdx.x * C;
  T m = -pos_inf();
  for (i64 j = threadIdx.x; j < C; j += blockDim.x) m = row[j] > m ? row[j] : m;
  m = block_max(m);
  if (m == -pos_inf()) {
    for (i64 j = threadIdx.x; j < C; j += blockDim.x) row[j] = (T)0;
    return;
  }
  double s = 0;
  for (i64 j = threadIdx.x; j < C; j += blockDim.x) {
    const T e = exp(row[j] - m);
    row[j] = e;
    s += (double)e;
  }
  const T inv = (T)(1.0 / block_sum(s));
  for (i64 j = threadIdx.x; j < C; j += blockDim.x) row[j] *= inv;
}

extern "C" __global__ void attn_bwd(T* dp, const T* p, i64 C) {
  T* g = dp + (i64)blockIdx.x * C;
  const T* pr = p + (i64)blockIdx.x * C;
  double dot = 0;
  for (i64 j = threadIdx.x; j < C; j += blockDim.x) dot += (double)g[j] * (double)pr[j];
  const T d = (T)block_sum(dot);
  for (i64 j = threadIdx.x; j < C; j += blockDim.x) g[j] = pr[j] * (g[j] - d);
}
"""

_SRC = Source("attention", _CODE, ("attn_fwd", "attn_bwd"))


def _rows(a):
    C = a.shape[-1] if a.ndim else 1
    return (a.size // C if C else 0), C


def attn_softmax_forward_(scores):
    """Softmax over the last axis, in place (scores become probabilities)."""
    op = "attn_softmax_forward_"
    s = check_float(scores, op, "scores")
    if s.ndim < 1:
        raise ValueError(f"{op}: scores must have at least 1 dimension")
    if s is not scores:
        raise ValueError(f"{op}: scores must be C-contiguous (it is overwritten)")
    R, C = _rows(s)
    launch_rows(_SRC("attn_fwd", s.dtype), R, (s, i64(C)), op=op)


def attn_softmax_backward_(grad_probs, probs):
    """In place: grad_probs becomes the gradient of the scores, p * (g - sum(p * g))."""
    op = "attn_softmax_backward_"
    p = check_float(probs, op, "probs")
    dp = check_like(grad_probs, p.dtype, op, "grad_probs", p.shape)
    if dp is not grad_probs:
        raise ValueError(f"{op}: grad_probs must be C-contiguous (it is overwritten)")
    R, C = _rows(p)
    launch_rows(_SRC("attn_bwd", p.dtype), R, (dp, p, i64(C)), op=op)
