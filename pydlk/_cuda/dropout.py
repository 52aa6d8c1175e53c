"""Dropout on the GPU with the same Philox4x32-10 stream as ``pydlk._C`` (csrc/philox.h,
csrc/dropout.cpp), so a (seed, offset) pair gives the same mask on either device.

The scheme, exactly as the CPU's: element i of a call with (seed, offset) uses the Philox block
with counter (offset / 4 + i / 4) as a 64-bit number in words 0-1 (words 2-3 zero), key
(seed low 32 bits, seed high 32 bits), and takes lane i % 4 of its four outputs. Its uniform is
(r >> 8) * 2^-24; it is kept when (r >> 8) >= ceil(p * 2^24). The packed mask holds element i in
bit i % 32 of uint32 word i / 32.
"""

import numpy as np

from ._common import (
    Source,
    check_float,
    check_like,
    i64,
    launch,
    out_or_new,
    scalar,
)

_CODE = r"""
// One Philox4x32-10 block (csrc/philox.h, philox::block).
__device__ __forceinline__ void philox_block(u32 c[4], u32 k0, u32 k1) {
  for (int r = 0; r < 10; ++r) {
    const u32 lo0 = 0xD2511F53u * c[0], hi0 = __umulhi(0xD2511F53u, c[0]);
    const u32 lo1 = 0xCD9E8D57u * c[2], hi1 = __umulhi(0xCD9E8D57u, c[2]);
    const u32 n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
    c[0] = n0; c[1] = lo1; c[2] = n2; c[3] = lo0;
    k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
  }
}

// The uint32 of element i for (seed, offset): counter offset/4 + i/4, lane i%4.
__device__ __forceinline__ u32 philox_at(u64 seed, u64 offset, u64 i) {
  const u64 c = offset / 4 + i / 4;
  u32 v[4] = {(u32)c, (u32)(c >> 32), 0u, 0u};
  philox_block(v, (u32)seed, (u32)(seed >> 32));
  return v[i & 3];
}

extern "C" __global__ void philox_uniform_k(T* out, i64 n, u64 seed, u64 offset) {
  GRID_STRIDE(i, n) out[i] = (T)(philox_at(seed, offset, (u64)i) >> 8) * (T)(1.0 / 16777216.0);
}

extern "C" __global__ void bernoulli_mask_k(T* out, i64 n, u32 thr, T sc, u64 seed, u64 offset) {
  GRID_STRIDE(i, n) out[i] = (philox_at(seed, offset, (u64)i) >> 8) >= thr ? sc : (T)0;
}

// One thread per mask word: its 32 elements (the mask word is written whole, no atomics).
extern "C" __global__ void dropout_fwd(T* y, u32* mask, const T* x, i64 n, u32 thr, T sc,
                                       u64 seed, u64 offset, int write_mask) {
  const i64 words = (n + 31) / 32;
  GRID_STRIDE(w, words) {
    u32 bits = 0;
    const i64 e = (w + 1) * 32 < n ? (w + 1) * 32 : n;
    u32 v[4] = {0u, 0u, 0u, 0u};
    for (i64 i = w * 32; i < e; ++i) {
      if ((i & 3) == 0) {  // a new block every 4 elements (w * 32 is a multiple of 4)
        const u64 c = offset / 4 + (u64)i / 4;
        v[0] = (u32)c; v[1] = (u32)(c >> 32); v[2] = 0u; v[3] = 0u;
        philox_block(v, (u32)seed, (u32)(seed >> 32));
      }
      const bool keep = (v[i & 3] >> 8) >= thr;
      y[i] = x[i] * (keep ? sc : (T)0);
      bits |= (u32)keep << (i - w * 32);
    }
    if (write_mask) mask[w] = bits;
  }
}

// grad_input = grad_output * keep * scale; keep from the bit mask, or regenerated (has_mask 0).
extern "C" __global__ void dropout_bwd(T* dx, const T* dy, const u32* mask, i64 n, u32 thr, T sc,
                                       u64 seed, u64 offset, int has_mask) {
  GRID_STRIDE(i, n) {
    const bool keep = has_mask ? ((mask[i >> 5] >> (i & 31)) & 1u) != 0u
                               : (philox_at(seed, offset, (u64)i) >> 8) >= thr;
    dx[i] = dy[i] * (keep ? sc : (T)0);
  }
}

// y[r, j] = x[r, j] * m[r]: channel dropout's forward and backward.
extern "C" __global__ void rowscale_k(T* y, const T* x, const T* m, i64 inner, i64 n) {
  GRID_STRIDE(i, n) y[i] = x[i] * m[i / inner];
}

extern "C" __global__ void philox_blocks_k(u32* out, u64 counter, u64 seed, i64 nblocks) {
  GRID_STRIDE(j, nblocks) {
    const u64 c = counter + (u64)j;
    u32 v[4] = {(u32)c, (u32)(c >> 32), 0u, 0u};
    philox_block(v, (u32)seed, (u32)(seed >> 32));
    for (int l = 0; l < 4; ++l) out[4 * j + l] = v[l];
  }
}

extern "C" __global__ void philox_one_k(u32* c, u32 k0, u32 k1) {
  if (threadIdx.x == 0 && blockIdx.x == 0) philox_block(c, k0, k1);
}
"""

_SRC = Source(
    "dropout",
    _CODE,
    (
        "philox_uniform_k",
        "bernoulli_mask_k",
        "dropout_fwd",
        "dropout_bwd",
        "rowscale_k",
        "philox_blocks_k",
        "philox_one_k",
    ),
)


def _u64(v, op, name):
    v = int(v)
    if not 0 <= v < 2**64:
        raise OverflowError(f"{op}: {name} must be in [0, 2^64), got {v}")
    return np.uint64(v)


def _check_p(p, op):
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"{op}: p must be in [0, 1], got {p}")


def keep_threshold(p: float) -> int:
    """ceil(p * 2^24): keep when the top 24 bits of the draw are >= this (csrc/philox.h)."""
    t = p * 16777216.0
    k = int(t)
    return k + 1 if k < t else k


def _keep_scale(p):
    return 0.0 if p >= 1.0 else 1.0 / (1.0 - p)


def philox4x32_10(counter, key):
    """One Philox4x32-10 block (for known-answer tests): four uint32 words."""
    cp = __import__("cupy")
    if len(counter) != 4 or len(key) != 2:
        raise ValueError("philox4x32_10: counter must have 4 words and key 2")
    c = cp.asarray(np.asarray(counter, dtype=np.uint32))
    _SRC("philox_one_k", np.float32)((1,), (1,), (c, np.uint32(key[0]), np.uint32(key[1])))
    return tuple(int(v) for v in c.get())


def philox_blocks16(counter, seed, impl="auto"):
    """The 64 numbers of counters counter .. counter+15 in element order (a CuPy uint32 array).
    impl is accepted for the CPU signature; the GPU has one implementation."""
    cp = __import__("cupy")
    if impl not in ("auto", "portable", "avx2", "avx512"):
        raise ValueError(
            f"philox_blocks16: impl must be auto, portable, avx2 or avx512, got {impl}"
        )
    out = cp.empty(64, cp.uint32)
    launch(
        _SRC("philox_blocks_k", np.float32),
        16,
        (
            out,
            _u64(counter, "philox_blocks16", "counter"),
            _u64(seed, "philox_blocks16", "seed"),
            i64(16),
        ),
    )
    return out


def philox_uniform(out, seed, offset):
    """Fills out with uniforms in [0, 1); element i uses counter offset/4 + i/4, lane i%4."""
    op = "philox_uniform"
    o = check_float(out, op, "out")
    if o is not out:
        raise ValueError(f"{op}: out must be C-contiguous")
    launch(
        _SRC("philox_uniform_k", o.dtype),
        o.size,
        (o, i64(o.size), _u64(seed, op, "seed"), _u64(offset, op, "offset")),
    )
    return out


def bernoulli_mask(out, p, scale, seed, offset):
    """out[i] = scale where uniform_i >= p else 0 (keep probability 1 - p). Returns out."""
    op = "bernoulli_mask"
    _check_p(p, op)
    o = check_float(out, op, "out")
    if o is not out:
        raise ValueError(f"{op}: out must be C-contiguous")
    launch(
        _SRC("bernoulli_mask_k", o.dtype),
        o.size,
        (
            o,
            i64(o.size),
            np.uint32(keep_threshold(p)),
            scalar(o.dtype, scale),
            _u64(seed, op, "seed"),
            _u64(offset, op, "offset"),
        ),
    )
    return out


def _check_mask(mask, n, op):
    cp = __import__("cupy")
    if not isinstance(mask, cp.ndarray) or mask.dtype != np.uint32 or not mask.flags.c_contiguous:
        raise TypeError(f"{op}: mask must be a C-contiguous uint32 array")
    if mask.shape != ((n + 31) // 32,):
        raise ValueError(
            f"{op}: mask must have shape ({(n + 31) // 32},) (one bit per element), "
            f"got {tuple(mask.shape)}"
        )
    return mask


def dropout_forward(input, p, seed, offset, out=None, mask=None, save_mask=True):
    """Inverted dropout: y = input * keep / (1 - p). Returns (y, mask): the packed keep mask
    (uint32, one bit per element) or None when save_mask is False and no mask is given."""
    cp = __import__("cupy")
    op = "dropout"
    _check_p(p, op)
    x = check_float(input, op, "input")
    n = x.size
    y = out_or_new(out, x.shape, x.dtype, op)
    if mask is not None:
        m = _check_mask(mask, n, op)
    elif save_mask:
        m = cp.empty((n + 31) // 32, cp.uint32)
    else:
        m = None
    launch(
        _SRC("dropout_fwd", x.dtype),
        (n + 31) // 32,
        (
            y,
            m if m is not None else cp.empty(1, cp.uint32),
            x,
            i64(n),
            np.uint32(keep_threshold(p)),
            scalar(x.dtype, _keep_scale(p)),
            _u64(seed, op, "seed"),
            _u64(offset, op, "offset"),
            np.int32(m is not None),
        ),
    )
    return y, m


def dropout_backward(grad_output, mask, p, seed, offset, out=None):
    """grad_input = grad_output * keep / (1 - p); keep read from mask, or regenerated from
    (seed, offset) when mask is None."""
    cp = __import__("cupy")
    op = "dropout_backward"
    _check_p(p, op)
    dy = check_float(grad_output, op, "grad_output")
    n = dy.size
    m = _check_mask(mask, n, op) if mask is not None else None
    dx = out_or_new(out, dy.shape, dy.dtype, op)
    launch(
        _SRC("dropout_bwd", dy.dtype),
        n,
        (
            dx,
            dy,
            m if m is not None else cp.empty(1, cp.uint32),
            i64(n),
            np.uint32(keep_threshold(p)),
            scalar(dy.dtype, _keep_scale(p)),
            _u64(seed, op, "seed"),
            _u64(offset, op, "offset"),
            np.int32(m is not None),
        ),
    )
    return dx


def channel_scale(input, scale, out=None):
    """y[n, c, ...] = input[n, c, ...] * scale[n, c] (channel dropout's forward and backward)."""
    op = "channel_scale"
    x = check_float(input, op, "input")
    if x.ndim < 2:
        raise ValueError(
            f"{op}: input must have at least 2 dimensions (N, C, ...), got {tuple(x.shape)}"
        )
    s = check_like(scale, x.dtype, op, "scale", x.shape[:2])
    rows = x.shape[0] * x.shape[1]
    inner = x.size // rows if rows else 0
    y = out_or_new(out, x.shape, x.dtype, op)
    launch(_SRC("rowscale_k", x.dtype), x.size, (y, x, s, i64(max(inner, 1)), i64(x.size)))
    return y
